/* store/store.h: the archive store, where the outputs of every task are kept.
 *
 *   ROOT/NAMESPACE/BATCH/TASK.tar.zst   the task's tarball: .cpb/manifest.json first, then the
 *                                       logs (.cpb/stdout, .cpb/stderr, .cpb/result.json) and
 *                                       the declared outputs under their paths in the workdir
 *   ROOT/NAMESPACE/BATCH/TASK.json      a copy of the manifest, for listing without unpacking
 *
 * docs/store.md describes the layout, the manifest and the output globs.  Two rules shape this
 * module: a half-written archive never replaces a good one (every file is written under a
 * temporary name, fsync'd and renamed), and tar streams are untrusted input (they come out of
 * containers, or out of a store someone else could write), so they are parsed in a child
 * started through cpb_sandbox_run (sandbox.h) and the parent only relays bytes and checks
 * what comes back.
 */
#ifndef CPB_STORE_H
#define CPB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "error.h"
#include "task-state.h"

struct cpb_kv
{
  char *key;
  char *value;
};

/* One member of a task archive (outputs and logs; not the manifest itself). */
struct cpb_manifest_file
{
  char *path; /* relative, '/'-separated, no '.' or '..' components */
  uint64_t size;
  char sha256[65];
  mode_t mode; /* permission bits only */
};

/* What is known about one attempt of one task, written into and beside its archive.  The run
   engine fills everything but files[]; the writer fills files[]. */
struct cpb_task_manifest
{
  char *namespace;
  char *batch;
  char *task;
  long index;            /* position of the task in the expanded workload */
  struct cpb_kv *params; /* in the order of the workload's parameters */
  size_t n_params;
  char **command; /* argv, NULL-terminated (may be NULL) */
  char *image_id;
  char *image_digest;
  char *node;
  enum cpb_task_state state; /* DONE, FAILED or CANCELLED */
  int exit_code;
  int signal;     /* 0 unless the task died of a signal */
  int attempt;    /* 1 for the first */
  time_t started; /* RFC 3339 UTC in JSON; 0 when unknown */
  time_t finished;
  bool has_helper; /* the helper's figures below are known */
  double wall_seconds;
  double user_seconds;
  double sys_seconds;
  int64_t max_rss_kib;
  bool timed_out;
  struct cpb_manifest_file *files;
  size_t n_files;
};

void cpb_task_manifest_free (struct cpb_task_manifest *m);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_task_manifest *, cpb_task_manifest_free)
#define _cleanup_task_manifest_ _cleanup_ (cpb_task_manifest_freep)

/* A deep copy, so the writer owns what it writes however the caller's copy changes. */
struct cpb_task_manifest *cpb_task_manifest_dup (const struct cpb_task_manifest *m);

/* The manifest as a JSON document (docs/store.md), NUL-terminated; NULL (and *ERR) when a
   string in it is not valid UTF-8. */
char *cpb_task_manifest_to_json (const struct cpb_task_manifest *m, size_t *ret_len,
                                 cpb_error **err);

/* Parse a manifest document; NAME is used in messages.  Bounded and strict: it is read from
   files anyone with access to the store could have written. */
int cpb_task_manifest_from_json (const char *name, const char *text, size_t len,
                                 struct cpb_task_manifest **ret, cpb_error **err);

/* Output globs, matched against paths relative to the task's workdir: `*` and `?` match
   within one path component, `[a-z]`/`[!x]` a character class, `**` as a whole component any
   number (also zero) of components, `\` escapes.  A pattern that matches a directory keeps
   everything below it.  Returns true on a match. */
bool cpb_glob_match (const char *pattern, const char *path);

/* True when PATH (relative, as in a tar member) matches PATTERN or lies below a directory that
   does: the output rule above. */
bool cpb_glob_match_tree (const char *pattern, const char *path);

/* Turn a tar member name into the store's form: drop "." and empty components (so "./a/"
   is "a", and the archive root "./" is ""), refuse (return NULL) absolute names, ".."
   components and names longer than 4096 bytes.  The check every reader and writer shares. */
char *cpb_store_clean_member (const char *name);

/* ---- writing ---- */

typedef struct cpb_store_writer cpb_store_writer;

/* Start writing the archive of M's task under ROOT (created as needed).  OUTPUTS is a
   NULL-terminated list of globs (NULL or empty keeps no outputs, only logs).  Nothing visible
   changes in the store until cpb_store_writer_commit; freeing an uncommitted writer leaves the
   previous archive of the task, if any, as it was. */
cpb_store_writer *cpb_store_writer_new (const char *root, const struct cpb_task_manifest *m,
                                        char *const *outputs, cpb_error **err);

/* Feed the next LEN bytes of the task's tar stream (e.g. from a curl write callback on
   GET /containers/ID/archive?path=WORKDIR/.).  Members that are not regular files or
   directories, or match no output, are dropped; links are never stored.  May be called with
   any chunking; a tar stream may be fed at most once per writer. */
int cpb_store_writer_feed (cpb_store_writer *w, const void *data, size_t len, cpb_error **err);

/* Feed the whole tar stream read from FD until end of file. */
int cpb_store_writer_feed_fd (cpb_store_writer *w, int fd, cpb_error **err);

/* Add a log under .cpb/NAME (NAME: "stdout", "stderr" or "result.json", the helper's
   result) from memory or from a file.  Each name at most once. */
int cpb_store_writer_add_log (cpb_store_writer *w, const char *name, const void *data, size_t len,
                              cpb_error **err);
int cpb_store_writer_add_log_file (cpb_store_writer *w, const char *name, const char *path,
                                   cpb_error **err);

/* Finish the stream, write TASK.tar.zst and TASK.json under temporary names, fsync and rename
   them into place.  *RET_PATH (optional) gets the archive's path.  After a failure the writer
   can only be freed, and the previous archive is intact. */
int cpb_store_writer_commit (cpb_store_writer *w, char **ret_path, cpb_error **err);

/* The manifest as written (files[] filled in) once committed, else as given. */
const struct cpb_task_manifest *cpb_store_writer_manifest (const cpb_store_writer *w);

void cpb_store_writer_free (cpb_store_writer *w);
CPB_DEFINE_CLEANUP_FUNC (cpb_store_writer *, cpb_store_writer_free)
#define _cleanup_store_writer_ _cleanup_ (cpb_store_writer_freep)

/* ---- reading ---- */

/* ROOT/NS/BATCH/TASK.tar.zst (or .json with JSON true): a path, not checked for existence. */
char *cpb_store_task_path (const char *root, const char *ns, const char *batch, const char *task,
                           bool json);

/* The manifests (TASK.json) of the tasks of one batch, sorted by index then name.  A batch that
   does not exist is CPB_ERR_NOT_FOUND. */
int cpb_store_list_tasks (const char *root, const char *ns, const char *batch,
                          struct cpb_task_manifest ***ret, size_t *ret_n, cpb_error **err);
void cpb_task_manifests_free (struct cpb_task_manifest **v, size_t n);

/* Read one manifest file (TASK.json). */
int cpb_store_read_manifest (const char *path, struct cpb_task_manifest **ret, cpb_error **err);

/* Check a task archive against the manifest inside it: every member listed with the same size
   and sha256, nothing missing, nothing extra.  Parsing runs in the sandbox child. */
int cpb_store_verify (const char *archive_path, cpb_error **err);

/* The contents of the one regular file a tar stream from a container holds (what
   GET /containers/ID/archive?path=FILE answers, e.g. cpb-helper's report), at most MAX bytes,
   NUL-terminated in *RET_DATA (its length in *RET_LEN if not NULL).  The stream is parsed in
   the sandbox child: it comes from inside the container, so it is untrusted. */
int cpb_store_read_single (const void *tar, size_t len, size_t max, char **ret_data,
                           size_t *ret_len, cpb_error **err);

/* One batch of the store, as `cpb archive list` shows it. */
struct cpb_store_batch
{
  char *namespace;
  char *batch;
  size_t tasks;
  size_t done;
  size_t failed;
  size_t cancelled;
  uint64_t bytes; /* on disk: tarballs and manifests */
  time_t newest;  /* the latest `finished` of its tasks (directory mtime when none) */
};

/* The batches under ROOT (of namespace NS when not NULL), sorted by namespace then newest
   first.  An absent ROOT is an empty store. */
int cpb_store_list_batches (const char *root, const char *ns, struct cpb_store_batch **ret,
                            size_t *ret_n, cpb_error **err);
void cpb_store_batches_free (struct cpb_store_batch *v, size_t n);

/* ---- fetching ---- */

struct cpb_fetch_options
{
  char *const *includes; /* NULL-terminated globs; NULL keeps every member */
  char *const *excludes; /* NULL-terminated globs; applied after includes */
  bool force;            /* replace DEST/TASK when it exists */
};

/* Extract one task archive into DEST/TASK.  Every member is checked (no absolute names, no
   '..', no device nodes or fifos, no link leading out of DEST/TASK) both by cpb and by
   libarchive's ARCHIVE_EXTRACT_SECURE_* flags; extraction runs in the sandbox child, into a
   staging directory that is renamed into place only when every member passed, so a refused
   member (named in the error) leaves nothing of the task in DEST.  *RET_FILES (optional) gets
   the number of regular files extracted. */
int cpb_store_extract (const char *archive_path, const char *dest, const char *task,
                       const struct cpb_fetch_options *opts, size_t *ret_files, cpb_error **err);

/* ---- pruning ---- */

struct cpb_prune_rule
{
  const char *ns;         /* only this namespace (NULL: all) */
  const char *batch_glob; /* only batches matching (NULL: all) */
  time_t older_than;      /* prune batches whose newest task finished before now - this (0: off) */
  long keep_last;         /* keep the N newest batches of each namespace (-1: off) */
  bool dry_run;
};

/* Remove the batches RULE selects; *RET gets what was (or, dry-run, would be) removed.  A batch
   is first renamed to a hidden name, so a crash midway never leaves a half batch listed. */
int cpb_store_prune (const char *root, const struct cpb_prune_rule *rule, time_t now,
                     struct cpb_store_batch **ret, size_t *ret_n, cpb_error **err);

/* The writer's tar filter run in-process over IN_FD, frames to OUT_FD: only for the fuzzer
   (tests/fuzz/fuzz-tar-filter.c), which needs the parser without a fork to see crashes. */
int cpb_store_filter_for_fuzzing (int in_fd, int out_fd, char *const *outputs);

/* Parse "30d", "12h", "90m", "45s", "2w" (or a bare number of seconds) into seconds. */
int cpb_parse_duration (const char *text, time_t *ret, cpb_error **err);

#endif
