/* store/store.c: the archive store (see store.h and docs/store.md).
 *
 * Untrusted tar streams are parsed only in a child started through cpb_sandbox_run
 * (sandbox.h; the writer's goes through spawn_child, which does not wait); what the child
 * reports comes back as frames of a small fixed format (struct frame) that the parent checks
 * again before believing any of it: paths are re-cleaned, globs re-matched, contents
 * re-hashed.  The parent's own libarchive use is writing, never reading.
 */
#include "config.h"
#include "store/store.h"
#include "json.h"
#include "hash.h"
#include "paths.h"
#include "sandbox.h"
#include "xalloc.h"
#include "buf.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CPB_DEFINE_CLEANUP_FUNC (struct archive *, archive_read_free)
#define _cleanup_archive_read_ _cleanup_ (archive_read_freep)
static inline void
archive_write_freep (struct archive **a)
{
  if (*a)
    archive_write_free (*a);
}
#define _cleanup_archive_write_ _cleanup_ (archive_write_freep)

/* Bounds on what a tar stream or a manifest may make us hold or do. */
#define MEMBER_PATH_MAX 4096
#define MEMBERS_MAX 1000000
#define MANIFEST_MAX (16u * 1024 * 1024)
#define MESSAGE_MAX 4096
#define COPY_BLOCK 65536

/* ---------------------------------------------------------------- names and manifests */

static int
task_state_from_name (const char *name, enum cpb_task_state *ret)
{
  int s = cpb_task_state_from_name (name);

  /* Only what a finished attempt can be; the manifest spells it in lower case. */
  if ((s != CPB_TASK_DONE && s != CPB_TASK_FAILED && s != CPB_TASK_CANCELLED) ||
      strcmp (name, cpb_task_state_word (s)) != 0)
    return -1;
  *ret = s;
  return 0;
}

static void
files_free (struct cpb_manifest_file *files, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (files[i].path);
  free (files);
}

void
cpb_task_manifest_free (struct cpb_task_manifest *m)
{
  if (m == NULL)
    return;
  free (m->namespace);
  free (m->batch);
  free (m->task);
  for (size_t i = 0; i < m->n_params; i++)
    {
      free (m->params[i].key);
      free (m->params[i].value);
    }
  free (m->params);
  cpb_strv_free (m->command);
  free (m->image_id);
  free (m->image_digest);
  free (m->node);
  files_free (m->files, m->n_files);
  free (m);
}

void
cpb_task_manifests_free (struct cpb_task_manifest **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    cpb_task_manifest_free (v[i]);
  free (v);
}

static char *
dup_or_null (const char *s)
{
  return s ? cpb_xstrdup (s) : NULL;
}

struct cpb_task_manifest *
cpb_task_manifest_dup (const struct cpb_task_manifest *m)
{
  struct cpb_task_manifest *d = cpb_xmalloc (sizeof *d);
  size_t n_cmd = 0;

  *d = *m;
  d->namespace = dup_or_null (m->namespace);
  d->batch = dup_or_null (m->batch);
  d->task = dup_or_null (m->task);
  d->image_id = dup_or_null (m->image_id);
  d->image_digest = dup_or_null (m->image_digest);
  d->node = dup_or_null (m->node);
  d->params = cpb_xcalloc (m->n_params + 1, sizeof *d->params);
  for (size_t i = 0; i < m->n_params; i++)
    {
      d->params[i].key = cpb_xstrdup (m->params[i].key);
      d->params[i].value = cpb_xstrdup (m->params[i].value ? m->params[i].value : "");
    }
  d->command = NULL;
  if (m->command)
    {
      while (m->command[n_cmd])
        n_cmd++;
      d->command = cpb_xcalloc (n_cmd + 1, sizeof *d->command);
      for (size_t i = 0; i < n_cmd; i++)
        d->command[i] = cpb_xstrdup (m->command[i]);
    }
  d->files = cpb_xcalloc (m->n_files + 1, sizeof *d->files);
  for (size_t i = 0; i < m->n_files; i++)
    {
      d->files[i] = m->files[i];
      d->files[i].path = cpb_xstrdup (m->files[i].path);
    }
  return d;
}

static void
format_time (time_t t, char out[32])
{
  struct tm tm;

  if (t <= 0 || gmtime_r (&t, &tm) == NULL)
    {
      out[0] = '\0';
      return;
    }
  strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
parse_time (const char *s, time_t *ret)
{
  struct tm tm = { 0 };
  const char *end;

  if (s == NULL || s[0] == '\0')
    {
      *ret = 0;
      return 0;
    }
  end = strptime (s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == NULL || *end != '\0')
    return -1;
  *ret = timegm (&tm);
  return 0;
}

static void
gen_time (yajl_gen g, const char *key, time_t t)
{
  char buf[32];

  format_time (t, buf);
  cpb_json_gen_key (g, key);
  cpb_json_gen_string (g, buf[0] ? buf : NULL);
}

static void
gen_double (yajl_gen g, const char *key, double v)
{
  cpb_json_gen_key (g, key);
  yajl_gen_double (g, v);
}

static void
gen_helper (yajl_gen g, const struct cpb_task_manifest *m)
{
  cpb_json_gen_key (g, "helper");
  if (!m->has_helper)
    {
      yajl_gen_null (g);
      return;
    }
  yajl_gen_map_open (g);
  gen_double (g, "wall_seconds", m->wall_seconds);
  gen_double (g, "user_seconds", m->user_seconds);
  gen_double (g, "sys_seconds", m->sys_seconds);
  cpb_json_gen_key_int (g, "max_rss_kib", m->max_rss_kib);
  cpb_json_gen_key_bool (g, "timed_out", m->timed_out);
  yajl_gen_map_close (g);
}

static void
gen_files (yajl_gen g, const struct cpb_task_manifest *m)
{
  cpb_json_gen_key (g, "files");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < m->n_files; i++)
    {
      char mode[8];

      snprintf (mode, sizeof mode, "%04o", (unsigned)(m->files[i].mode & 07777));
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "path", m->files[i].path);
      cpb_json_gen_key_int (g, "size", (int64_t)m->files[i].size);
      cpb_json_gen_key_string (g, "sha256", m->files[i].sha256);
      cpb_json_gen_key_string (g, "mode", mode);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
}

static void
gen_params (yajl_gen g, const struct cpb_task_manifest *m)
{
  cpb_json_gen_key (g, "params");
  yajl_gen_map_open (g);
  for (size_t i = 0; i < m->n_params; i++)
    cpb_json_gen_key_string (g, m->params[i].key, m->params[i].value);
  yajl_gen_map_close (g);
}

char *
cpb_task_manifest_to_json (const struct cpb_task_manifest *m, size_t *ret_len, cpb_error **err)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  char *out;

  yajl_gen_map_open (g);
  cpb_json_gen_key_int (g, "version", 1);
  cpb_json_gen_key_string (g, "namespace", m->namespace);
  cpb_json_gen_key_string (g, "batch", m->batch);
  cpb_json_gen_key_string (g, "task", m->task);
  cpb_json_gen_key_int (g, "index", m->index);
  gen_params (g, m);
  cpb_json_gen_key (g, "command");
  cpb_json_gen_strv (g, (const char *const *)m->command);
  cpb_json_gen_key (g, "image");
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "id", m->image_id);
  cpb_json_gen_key_string (g, "digest", m->image_digest);
  yajl_gen_map_close (g);
  cpb_json_gen_key_string (g, "node", m->node);
  cpb_json_gen_key_string (g, "state", cpb_task_state_word (m->state));
  cpb_json_gen_key_int (g, "exit_code", m->exit_code);
  cpb_json_gen_key_int (g, "signal", m->signal);
  cpb_json_gen_key_int (g, "attempt", m->attempt);
  gen_time (g, "started", m->started);
  gen_time (g, "finished", m->finished);
  gen_helper (g, m);
  gen_files (g, m);
  yajl_gen_map_close (g);
  /* Our keys and nesting cannot be wrong; only invalid UTF-8 (in a parameter, a command, a
     node name) makes the generator refuse. */
  out = cpb_json_gen_finish (g, ret_len, err);
  if (out == NULL)
    cpb_error_prefix (err, "manifest of task '%s'", m->task ? m->task : "");
  return out;
}

static int
manifest_files_from_json (const char *name, yajl_val arr, struct cpb_task_manifest *m,
                          cpb_error **err)
{
  size_t n = YAJL_IS_ARRAY (arr) ? arr->u.array.len : 0;

  if (arr && !YAJL_IS_ARRAY (arr))
    return cpb_error_set (err, CPB_ERR_FAILED, "%s: 'files' is not an array", name);
  m->files = cpb_xcalloc (n + 1, sizeof *m->files);
  for (size_t i = 0; i < n; i++)
    {
      yajl_val f = arr->u.array.values[i];
      const char *path = cpb_json_get_string (f, "path");
      const char *sha = cpb_json_get_string (f, "sha256");
      const char *mode = cpb_json_get_string (f, "mode");
      _cleanup_free_ char *clean = path ? cpb_store_clean_member (path) : NULL;
      int64_t size;

      if (clean == NULL || strcmp (clean, path) != 0 || sha == NULL || strlen (sha) != 64 ||
          !cpb_json_get_int64 (f, "size", &size) || size < 0)
        return cpb_error_set (err, CPB_ERR_FAILED, "%s: files[%zu] is malformed", name, i);
      m->files[i].path = TAKE_PTR (clean);
      m->files[i].size = (uint64_t)size;
      memcpy (m->files[i].sha256, sha, 65);
      m->files[i].mode = mode ? (mode_t)strtoul (mode, NULL, 8) & 07777 : 0644;
      m->n_files++;
    }
  return 0;
}

static void
manifest_params_from_json (yajl_val obj, struct cpb_task_manifest *m)
{
  _cleanup_strv_free_ char **keys = NULL;
  _cleanup_strv_free_ char **values = NULL;
  size_t n = cpb_json_string_map (obj, &keys, &values);

  m->params = cpb_xcalloc (n + 1, sizeof *m->params);
  for (size_t i = 0; i < n; i++)
    {
      m->params[i].key = TAKE_PTR (keys[i]);
      m->params[i].value = TAKE_PTR (values[i]);
    }
  m->n_params = n;
}

static void
manifest_helper_from_json (yajl_val h, struct cpb_task_manifest *m)
{
  int64_t rss = 0;

  if (!YAJL_IS_OBJECT (h))
    return;
  m->has_helper = true;
  cpb_json_get_double (h, "wall_seconds", &m->wall_seconds);
  cpb_json_get_double (h, "user_seconds", &m->user_seconds);
  cpb_json_get_double (h, "sys_seconds", &m->sys_seconds);
  if (cpb_json_get_int64 (h, "max_rss_kib", &rss))
    m->max_rss_kib = rss;
  m->timed_out = cpb_json_get_bool (h, "timed_out", false);
}

static int
manifest_scalars_from_json (const char *name, yajl_val v, struct cpb_task_manifest *m,
                            cpb_error **err)
{
  int64_t n;

  if (cpb_json_get_int64 (v, "index", &n))
    m->index = (long)n;
  if (cpb_json_get_int64 (v, "exit_code", &n))
    m->exit_code = (int)n;
  if (cpb_json_get_int64 (v, "signal", &n))
    m->signal = (int)n;
  if (cpb_json_get_int64 (v, "attempt", &n))
    m->attempt = (int)n;
  if (task_state_from_name (cpb_json_get_string (v, "state"), &m->state) < 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%s: missing or unknown 'state'", name);
  if (parse_time (cpb_json_get_string (v, "started"), &m->started) < 0 ||
      parse_time (cpb_json_get_string (v, "finished"), &m->finished) < 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%s: times must be RFC 3339 UTC", name);
  return 0;
}

int
cpb_task_manifest_from_json (const char *name, const char *text, size_t len,
                             struct cpb_task_manifest **ret, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val v = NULL;
  _cleanup_task_manifest_ struct cpb_task_manifest *m = cpb_xzalloc (sizeof *m);

  if (len > MANIFEST_MAX)
    return cpb_error_set (err, CPB_ERR_FAILED, "%s: manifest larger than %u bytes", name,
                          MANIFEST_MAX);
  if (cpb_json_parse (text, len, &v, err) < 0)
    {
      if (err && *err)
        (*err)->kind = CPB_ERR_FAILED;
      return cpb_error_prefix (err, "%s", name);
    }
  m->namespace = cpb_json_dup_string (v, "namespace");
  m->batch = cpb_json_dup_string (v, "batch");
  m->task = cpb_json_dup_string (v, "task");
  if (m->namespace == NULL || m->batch == NULL || m->task == NULL)
    return cpb_error_set (err, CPB_ERR_FAILED, "%s: missing namespace, batch or task", name);
  if (manifest_scalars_from_json (name, v, m, err) < 0)
    return -1;
  m->command = cpb_json_strv (cpb_json_get (v, "command"));
  m->image_id = cpb_json_dup_string (cpb_json_get (v, "image"), "id");
  m->image_digest = cpb_json_dup_string (cpb_json_get (v, "image"), "digest");
  m->node = cpb_json_dup_string (v, "node");
  manifest_params_from_json (cpb_json_get (v, "params"), m);
  manifest_helper_from_json (cpb_json_get (v, "helper"), m);
  if (manifest_files_from_json (name, cpb_json_get (v, "files"), m, err) < 0)
    return -1;
  *ret = TAKE_PTR (m);
  return 0;
}

/* ---------------------------------------------------------------- globs and member names */

/* Match the components of PAT against those of PATH, both at the start of a component. */
static bool
glob_from (const char *pat, const char *path)
{
  const char *pend, *send;
  char *pc, *sc;

  if (*pat == '\0')
    return *path == '\0';
  pend = strchrnul (pat, '/');
  if (pend - pat == 2 && pat[0] == '*' && pat[1] == '*')
    {
      const char *rest = *pend ? pend + 1 : pend;

      for (const char *p = path;;)
        {
          if (glob_from (rest, p))
            return true;
          if (*p == '\0')
            return false;
          p = strchrnul (p, '/');
          if (*p)
            p++;
        }
    }
  if (*path == '\0')
    return false;
  send = strchrnul (path, '/');
  pc = strndupa (pat, pend - pat);
  sc = strndupa (path, send - path);
  if (fnmatch (pc, sc, 0) != 0)
    return false;
  return glob_from (*pend ? pend + 1 : pend, *send ? send + 1 : send);
}

bool
cpb_glob_match (const char *pattern, const char *path)
{
  /* "./x" and "x" name the same output; so do "dir/" and "dir". */
  while (pattern[0] == '.' && pattern[1] == '/')
    pattern += 2;
  if (strlen (pattern) > MEMBER_PATH_MAX || strlen (path) > MEMBER_PATH_MAX)
    return false;
  if (pattern[0] != '\0' && pattern[strlen (pattern) - 1] == '/')
    pattern = strndupa (pattern, strlen (pattern) - 1);
  return glob_from (pattern, path);
}

bool
cpb_glob_match_tree (const char *pattern, const char *path)
{
  if (cpb_glob_match (pattern, path))
    return true;
  for (const char *p = strchr (path, '/'); p; p = strchr (p + 1, '/'))
    if (cpb_glob_match (pattern, strndupa (path, p - path)))
      return true;
  return false;
}

static bool
match_any (char *const *globs, const char *path)
{
  for (size_t i = 0; globs && globs[i]; i++)
    if (cpb_glob_match_tree (globs[i], path))
      return true;
  return false;
}

char *
cpb_store_clean_member (const char *name)
{
  _cleanup_buf_ cpb_buf out = CPB_BUF_INIT;
  const char *p = name;

  if (name[0] == '\0' || name[0] == '/' || strlen (name) > MEMBER_PATH_MAX)
    return NULL;
  while (*p)
    {
      const char *end = strchrnul (p, '/');
      size_t len = end - p;

      if (len == 2 && p[0] == '.' && p[1] == '.')
        return NULL;
      if (len > 0 && !(len == 1 && p[0] == '.'))
        {
          if (out.len)
            cpb_buf_putc (&out, '/');
          cpb_buf_append (&out, p, len);
        }
      p = *end ? end + 1 : end;
    }
  return out.len ? cpb_buf_steal (&out, NULL) : cpb_xstrdup ("");
}

/* Members under .cpb/ are cpb's own (manifest, logs): a task cannot smuggle in a fake one. */
static bool
is_reserved (const char *clean)
{
  return strcmp (clean, ".cpb") == 0 || strncmp (clean, ".cpb/", 5) == 0;
}

/* ---------------------------------------------------------------- the child and its frames */

/* What a parsing child reports: a header, NAME_LEN bytes of name, then SIZE bytes of data
   (file contents, a link target, a digest, a message).  Fixed-size and bounded, so the parent
   reads it with no parser to speak of. */
enum frame_type
{
  FRAME_FILE = 'F',     /* a regular file and its contents */
  FRAME_DIR = 'D',      /* a directory */
  FRAME_LINK = 'L',     /* a hard link to an earlier file: data is the target's name */
  FRAME_HASH = 'H',     /* verify: a member's size and its sha256 (data: 64 hex) */
  FRAME_MANIFEST = 'M', /* verify: the contents of .cpb/manifest.json */
  FRAME_COUNT = 'C',    /* extract: number of files extracted, in size */
  FRAME_ERROR = 'E',    /* the child failed: data is the message */
  FRAME_END = 'Z',      /* the child finished everything it was asked */
};

#define FRAME_MAGIC 0x46425043u /* "CPBF" */

struct frame
{
  uint32_t magic;
  uint32_t type;
  uint32_t mode;
  uint32_t name_len;
  uint64_t size;
  int64_t mtime;
};

static int
write_all (int fd, const void *data, size_t len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      p += n;
      len -= n;
    }
  return 0;
}

/* Read exactly LEN bytes; returns LEN, 0 at a clean end of file before any byte, -1 on error
   or a short read (errno EPROTO). */
static ssize_t
read_all (int fd, void *data, size_t len)
{
  size_t got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, (char *)data + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      if (n == 0)
        {
          if (got == 0)
            return 0;
          errno = EPROTO;
          return -1;
        }
      got += n;
    }
  return got;
}

/* In the child: a frame header and name; SIZE bytes of DATA follow when DATA is not NULL
   (otherwise the caller streams them). */
static int
frame_emit (int fd, int type, mode_t mode, const char *name, uint64_t size, time_t mtime,
            const void *data)
{
  struct frame f = { FRAME_MAGIC, type, mode, name ? strlen (name) : 0, size, mtime };

  if (write_all (fd, &f, sizeof f) < 0 || write_all (fd, name, f.name_len) < 0)
    return -1;
  return data ? write_all (fd, data, size) : 0;
}

/* The last failure of the child's work, for its error (cpb_sandbox_run hands it back). */
static char child_message[MESSAGE_MAX];

static int __attribute__ ((format (printf, 2, 3))) child_fail (int fd, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (child_message, sizeof child_message, fmt, ap);
  va_end (ap);
  if (fd >= 0)
    frame_emit (fd, FRAME_ERROR, 0, "", strlen (child_message), 0, child_message);
  return -1;
}

/* End of a child's work: its result, with the message of child_fail as the error. */
static int
child_result (int r, cpb_error **err)
{
  if (r < 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%s",
                          child_message[0] ? child_message : "the parsing child failed");
  return r;
}

/* In the parent: the next frame header and its name (NUL-terminated, MEMBER_PATH_MAX + 1
   bytes).  Returns 1 for a frame, 0 at end of file. */
static int
frame_read (int fd, struct frame *f, char *name, cpb_error **err)
{
  ssize_t n = read_all (fd, f, sizeof *f);

  if (n == 0)
    return 0;
  if (n < 0)
    return cpb_error_errno (err, errno, "reading from the parsing child");
  if (f->magic != FRAME_MAGIC || f->name_len > MEMBER_PATH_MAX)
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent a malformed frame");
  if (read_all (fd, name, f->name_len) != (ssize_t)f->name_len)
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent a truncated frame");
  name[f->name_len] = '\0';
  if (memchr (name, '\0', f->name_len))
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent a name with a NUL byte");
  return 1;
}

/* The child's error message, bounded, as the error of the operation. */
static int
frame_read_error (int fd, const struct frame *f, cpb_error **err)
{
  char msg[MESSAGE_MAX + 1];
  size_t len = f->size < MESSAGE_MAX ? f->size : MESSAGE_MAX;

  if (read_all (fd, msg, len) != (ssize_t)len)
    len = 0;
  msg[len] = '\0';
  return cpb_error_set (err, CPB_ERR_FAILED, "%s", len ? msg : "the parsing child failed");
}

/* Run FN (ARG, IN_FD, OUT_FD) in the sandbox (sandbox.h) without waiting for it: the writer
   feeds the child while it parses, and cpb_sandbox_run waits, so a plain forked process
   holding only IN_FD and OUT_FD does the waiting.  Its exit status is the sandbox's verdict;
   the child's own words are in the frames it wrote. */
static pid_t
spawn_child (cpb_sandbox_fn fn, void *arg, int in_fd, int out_fd, cpb_error **err)
{
  pid_t pid = fork ();

  if (pid < 0)
    return cpb_error_errno (err, errno, "cannot fork the parsing child");
  if (pid > 0)
    return pid;

  prctl (PR_SET_PDEATHSIG, SIGKILL);
  in_fd = fcntl (in_fd, F_DUPFD, 10);
  out_fd = fcntl (out_fd, F_DUPFD, 10);
  if (in_fd < 0 || out_fd < 0 || dup2 (in_fd, 0) < 0 || dup2 (out_fd, 1) < 0)
    _exit (127);
  close_range (3, ~0U, 0);
  _exit (cpb_sandbox_run (fn, arg, 0, 1, NULL) < 0 ? 1 : 0);
}

static int
reap_child (pid_t pid, cpb_error **err)
{
  int status;

  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return cpb_error_errno (err, errno, "waiting for the parsing child");
  if (WIFSIGNALED (status))
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child was killed by signal %d",
                          WTERMSIG (status));
  if (WEXITSTATUS (status) != 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child failed (exit %d)",
                          WEXITSTATUS (status));
  return 0;
}

/* Hand *FROM to ERR (which may be NULL: the caller does not want it).  Returns -1. */
static int
error_move (cpb_error **err, cpb_error **from)
{
  if (err)
    {
      cpb_error_free (*err);
      *err = cpb_error_take (from);
    }
  return -1;
}

/* A file with no name in directory DIR (it vanishes with its last descriptor, so a crash
   leaves nothing to clean up), or an unlinked temporary where O_TMPFILE is not supported. */
static int
anonymous_file (const char *dir, cpb_error **err)
{
  _cleanup_free_ char *tmpl = NULL;
  int fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

  if (fd >= 0)
    return fd;
  tmpl = cpb_xasprintf ("%s/.cpb-spool-XXXXXX", dir);
  fd = mkostemp (tmpl, O_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot create a temporary file in '%s'", dir);
  unlink (tmpl);
  return fd;
}

/* ---------------------------------------------------------------- the filter child */

/* Stream the data of the current member into a FRAME_FILE; the size in the tar header is
   announced first, so a stream that delivers less (or more) is an error, never a short file. */
static int
filter_emit_file (struct archive *a, struct archive_entry *e, const char *name, int out_fd)
{
  int64_t size = archive_entry_size (e);
  int64_t got = 0;
  char buf[COPY_BLOCK];
  la_ssize_t n;

  if (size < 0)
    return child_fail (out_fd, "member '%s' has no size", name);
  if (frame_emit (out_fd, FRAME_FILE, archive_entry_perm (e) & 0777, name, size,
                  archive_entry_mtime (e), NULL) < 0)
    return child_fail (out_fd, "writing the spool: %s", strerror (errno));
  while ((n = archive_read_data (a, buf, sizeof buf)) > 0)
    {
      if (got + n > size || write_all (out_fd, buf, n) < 0)
        return child_fail (out_fd, "member '%s' is longer than its header says", name);
      got += n;
    }
  if (n < 0)
    return child_fail (out_fd, "member '%s': %s", name, archive_error_string (a));
  if (got != size)
    return child_fail (out_fd, "member '%s' is truncated", name);
  return 0;
}

static int
filter_member (struct archive *a, struct archive_entry *e, char *const *outputs, int out_fd)
{
  const char *raw = archive_entry_pathname (e);
  const char *link = archive_entry_hardlink (e);
  _cleanup_free_ char *name = raw ? cpb_store_clean_member (raw) : NULL;
  _cleanup_free_ char *target = NULL;

  /* Names that climb out or hide among cpb's own files are never outputs: drop them. */
  if (name == NULL || name[0] == '\0' || is_reserved (name) || !match_any (outputs, name))
    return 0;
  if (link)
    {
      target = cpb_store_clean_member (link);
      if (target == NULL || target[0] == '\0')
        return 0;
      return frame_emit (out_fd, FRAME_LINK, 0, name, strlen (target), 0, target);
    }
  switch (archive_entry_filetype (e))
    {
    case AE_IFDIR:
      return frame_emit (out_fd, FRAME_DIR, archive_entry_perm (e) & 0777, name, 0,
                         archive_entry_mtime (e), NULL);
    case AE_IFREG:
      return filter_emit_file (a, e, name, out_fd);
    default:
      /* Symbolic links, devices, fifos: never stored (docs/store.md, "safety"). */
      return 0;
    }
}

/* Read the rest of IN_FD: the writer of the stream must never see a closed pipe just because
   the tar end marker came before the padding. */
static void
drain (int fd)
{
  char buf[COPY_BLOCK];

  while (read (fd, buf, sizeof buf) > 0 || errno == EINTR)
    ;
}

static int
filter_stream (int in_fd, int out_fd, char *const *outputs)
{
  _cleanup_archive_read_ struct archive *a = archive_read_new ();
  struct archive_entry *e;
  size_t count = 0;
  int r;

  archive_read_support_format_tar (a);
  if (archive_read_open_fd (a, in_fd, COPY_BLOCK) != ARCHIVE_OK)
    return child_fail (out_fd, "%s", archive_error_string (a));
  while ((r = archive_read_next_header (a, &e)) != ARCHIVE_EOF)
    {
      if (r < ARCHIVE_WARN)
        return child_fail (out_fd, "%s", archive_error_string (a));
      if (++count > MEMBERS_MAX)
        return child_fail (out_fd, "more than %d members", MEMBERS_MAX);
      if (filter_member (a, e, outputs, out_fd) < 0)
        return -1;
    }
  drain (in_fd);
  return frame_emit (out_fd, FRAME_END, 0, "", 0, 0, NULL);
}

/* The child's whole job: tar stream in, frames out, FRAME_END or FRAME_ERROR last. */
static int
filter_child (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  return child_result (filter_stream (in_fd, out_fd, arg), err);
}

int
cpb_store_filter_for_fuzzing (int in_fd, int out_fd, char *const *outputs)
{
  return filter_stream (in_fd, out_fd, outputs);
}

/* ---------------------------------------------------------------- the writer */

enum entry_source
{
  SRC_SPOOL, /* OFFSET in the spool file */
  SRC_MEM,   /* MEM */
  SRC_FILE,  /* the first SIZE bytes of FILE */
  SRC_NONE,  /* a directory */
};

struct wentry
{
  char *path;
  enum entry_source source;
  mode_t mode;
  time_t mtime;
  uint64_t size;
  char sha256[65];
  off_t offset;
  char *mem;
  char *file;
  size_t seq; /* arrival order: a later member of the same name replaces an earlier one */
};

struct cpb_store_writer
{
  char *dir; /* ROOT/NS/BATCH */
  char *task;
  struct cpb_task_manifest *m;
  char **outputs;
  struct wentry *entries;
  size_t n_entries;
  size_t n_logs;
  int spool; /* frames from the filter child */
  int sock;  /* our end of the stream to the filter child */
  pid_t child;
  bool fed;
  bool failed;
  bool committed;
};

static struct wentry *
writer_add (cpb_store_writer *w, const char *path, enum entry_source source)
{
  struct wentry *e;

  if (w->n_entries % 64 == 0)
    w->entries = cpb_xrealloc (w->entries, (w->n_entries + 64) * sizeof *w->entries);
  e = &w->entries[w->n_entries];
  memset (e, 0, sizeof *e);
  e->path = cpb_xstrdup (path);
  e->source = source;
  e->seq = w->n_entries++;
  return e;
}

static void
wentry_clear (struct wentry *e)
{
  free (e->path);
  free (e->mem);
  free (e->file);
}

static char **
strv_dup (char *const *v)
{
  size_t n = 0;
  char **d;

  while (v && v[n])
    n++;
  d = cpb_xcalloc (n + 1, sizeof *d);
  for (size_t i = 0; i < n; i++)
    d[i] = cpb_xstrdup (v[i]);
  return d;
}

static int
check_manifest_names (const struct cpb_task_manifest *m, cpb_error **err)
{
  if (m->namespace == NULL || m->batch == NULL || m->task == NULL)
    return cpb_error_set (err, CPB_ERR_INPUT, "a task manifest needs namespace, batch and task");
  if (cpb_check_name ("namespace", m->namespace, err) < 0 ||
      cpb_check_name ("batch", m->batch, err) < 0 || cpb_check_name ("task", m->task, err) < 0)
    return -1;
  return 0;
}

cpb_store_writer *
cpb_store_writer_new (const char *root, const struct cpb_task_manifest *m, char *const *outputs,
                      cpb_error **err)
{
  cpb_store_writer *w;
  _cleanup_free_ char *dir = NULL;

  if (check_manifest_names (m, err) < 0)
    return NULL;
  dir = cpb_xasprintf ("%s/%s/%s", root, m->namespace, m->batch);
  if (cpb_mkdir_p (dir, 0755, err) < 0)
    {
      cpb_error_prefix (err, "archive store");
      return NULL;
    }
  w = cpb_xzalloc (sizeof *w);
  w->dir = TAKE_PTR (dir);
  w->task = cpb_xstrdup (m->task);
  w->m = cpb_task_manifest_dup (m);
  files_free (w->m->files, w->m->n_files);
  w->m->files = NULL;
  w->m->n_files = 0;
  w->outputs = strv_dup (outputs);
  w->spool = -1;
  w->sock = -1;
  w->child = -1;
  return w;
}

static int
writer_start_child (cpb_store_writer *w, cpb_error **err)
{
  int sv[2];

  w->spool = anonymous_file (w->dir, err);
  if (w->spool < 0)
    return -1;
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return cpb_error_errno (err, errno, "cannot create a socket pair");
  w->child = spawn_child (filter_child, w->outputs, sv[1], w->spool, err);
  close (sv[1]);
  if (w->child < 0)
    {
      close (sv[0]);
      return -1;
    }
  w->sock = sv[0];
  return 0;
}

/* End the stream and collect the child.  Its own message, when it has one, is in the spool
   and says more than its exit status: the caller reads the spool first. */
static int
writer_finish_child (cpb_store_writer *w, cpb_error **err)
{
  pid_t pid = w->child;

  if (pid < 0)
    return 0;
  if (w->sock >= 0)
    close (TAKE_FD (w->sock));
  w->child = -1;
  return reap_child (pid, err);
}

static int
send_all (int fd, const void *data, size_t len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      p += n;
      len -= n;
    }
  return 0;
}

static int writer_read_spool (cpb_store_writer *w, cpb_error **err);

/* The child stopped reading before the end: it failed, and said why in the spool. */
static int
writer_child_quit (cpb_store_writer *w, int errnum, cpb_error **err)
{
  _cleanup_error_ cpb_error *child_err = NULL;

  w->failed = true;
  writer_finish_child (w, &child_err);
  if (writer_read_spool (w, err) < 0)
    return cpb_error_prefix (err, "reading the task's tar stream");
  if (child_err)
    {
      error_move (err, &child_err);
      return cpb_error_prefix (err, "reading the task's tar stream");
    }
  return cpb_error_errno (err, errnum, "reading the task's tar stream");
}

int
cpb_store_writer_feed (cpb_store_writer *w, const void *data, size_t len, cpb_error **err)
{
  if (w->failed || w->committed)
    return cpb_error_set (err, CPB_ERR_FAILED, "the archive writer is finished");
  if (w->child < 0 && w->fed)
    return cpb_error_set (err, CPB_ERR_FAILED, "a task's tar stream can be fed only once");
  if (w->child < 0 && writer_start_child (w, err) < 0)
    {
      w->failed = true;
      return -1;
    }
  w->fed = true;
  if (send_all (w->sock, data, len) < 0)
    return writer_child_quit (w, errno, err);
  return 0;
}

int
cpb_store_writer_feed_fd (cpb_store_writer *w, int fd, cpb_error **err)
{
  char buf[COPY_BLOCK];
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return cpb_error_errno (err, errno, "reading the task's tar stream");
      if (cpb_store_writer_feed (w, buf, n, err) < 0)
        return -1;
    }
  /* An empty stream still goes through the child, which calls it what it is. */
  if (!w->fed)
    return cpb_store_writer_feed (w, "", 0, err);
  return 0;
}

static int
writer_check_log (cpb_store_writer *w, const char *name, cpb_error **err)
{
  _cleanup_free_ char *path = cpb_xasprintf (".cpb/%s", name);

  if (w->failed || w->committed)
    return cpb_error_set (err, CPB_ERR_FAILED, "the archive writer is finished");
  if (strcmp (name, "stdout") != 0 && strcmp (name, "stderr") != 0 &&
      strcmp (name, "result.json") != 0)
    return cpb_error_set (err, CPB_ERR_INPUT, "unknown log '%s'", name);
  for (size_t i = 0; i < w->n_entries; i++)
    if (strcmp (w->entries[i].path, path) == 0)
      return cpb_error_set (err, CPB_ERR_INPUT, "log '%s' added twice", name);
  return 0;
}

int
cpb_store_writer_add_log (cpb_store_writer *w, const char *name, const void *data, size_t len,
                          cpb_error **err)
{
  _cleanup_free_ char *path = cpb_xasprintf (".cpb/%s", name);
  struct wentry *e;

  if (writer_check_log (w, name, err) < 0)
    return -1;
  e = writer_add (w, path, SRC_MEM);
  e->mem = cpb_xmalloc (len + 1);
  memcpy (e->mem, data, len);
  e->size = len;
  e->mode = 0644;
  e->mtime = time (NULL);
  cpb_sha256_hex (data, len, e->sha256);
  return 0;
}

int
cpb_store_writer_add_log_file (cpb_store_writer *w, const char *name, const char *path,
                               cpb_error **err)
{
  _cleanup_free_ char *member = cpb_xasprintf (".cpb/%s", name);
  struct stat st;
  struct wentry *e;
  char hex[65];

  if (writer_check_log (w, name, err) < 0)
    return -1;
  if (stat (path, &st) < 0)
    return cpb_error_errno (err, errno, "cannot stat '%s'", path);
  if (!S_ISREG (st.st_mode))
    return cpb_error_set (err, CPB_ERR_INPUT, "log '%s' is not a regular file", path);
  if (cpb_sha256_file (path, hex, err) < 0)
    return -1;
  e = writer_add (w, member, SRC_FILE);
  e->file = cpb_xstrdup (path);
  e->size = st.st_size;
  e->mode = 0644;
  e->mtime = st.st_mtime;
  memcpy (e->sha256, hex, sizeof hex);
  return 0;
}

/* ---- reading the spool back: every claim of the child is checked again here */

static int
spool_check_name (cpb_store_writer *w, const char *name, cpb_error **err)
{
  _cleanup_free_ char *clean = cpb_store_clean_member (name);

  if (clean == NULL || clean[0] == '\0' || strcmp (clean, name) != 0 || is_reserved (name) ||
      !match_any (w->outputs, name))
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent an unexpected member '%s'",
                          name);
  return 0;
}

static int
spool_file (cpb_store_writer *w, const struct frame *f, const char *name, cpb_error **err)
{
  _cleanup_sha256_ cpb_sha256 *h = cpb_sha256_new ();
  off_t offset = lseek (w->spool, 0, SEEK_CUR);
  char buf[COPY_BLOCK];
  struct wentry *e;

  if (spool_check_name (w, name, err) < 0)
    return -1;
  for (uint64_t left = f->size; left > 0;)
    {
      size_t chunk = left < sizeof buf ? left : sizeof buf;
      if (read_all (w->spool, buf, chunk) != (ssize_t)chunk)
        return cpb_error_set (err, CPB_ERR_FAILED, "member '%s' is truncated in the spool", name);
      cpb_sha256_update (h, buf, chunk);
      left -= chunk;
    }
  e = writer_add (w, name, SRC_SPOOL);
  e->offset = offset;
  e->size = f->size;
  e->mode = f->mode & 0777;
  e->mtime = f->mtime;
  cpb_sha256_finish (TAKE_PTR (h), e->sha256);
  return 0;
}

static int
spool_link (cpb_store_writer *w, const struct frame *f, const char *name, cpb_error **err)
{
  char target[MEMBER_PATH_MAX + 1];
  struct wentry *e;

  if (spool_check_name (w, name, err) < 0)
    return -1;
  if (f->size > MEMBER_PATH_MAX || read_all (w->spool, target, f->size) != (ssize_t)f->size)
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent a malformed link");
  target[f->size] = '\0';
  /* A hard link to a kept file is stored as a second copy of it (links are never stored); a
     link to a file that was not kept has nothing to copy and is dropped. */
  for (size_t i = w->n_entries; i-- > 0;)
    if (w->entries[i].source == SRC_SPOOL && strcmp (w->entries[i].path, target) == 0)
      {
        struct wentry copy = w->entries[i];

        e = writer_add (w, name, SRC_SPOOL);
        e->offset = copy.offset;
        e->size = copy.size;
        e->mode = copy.mode;
        e->mtime = copy.mtime;
        memcpy (e->sha256, copy.sha256, sizeof e->sha256);
        break;
      }
  return 0;
}

static int
spool_frame (cpb_store_writer *w, const struct frame *f, const char *name, cpb_error **err)
{
  struct wentry *e;

  switch (f->type)
    {
    case FRAME_ERROR:
      return frame_read_error (w->spool, f, err);
    case FRAME_FILE:
      return spool_file (w, f, name, err);
    case FRAME_LINK:
      return spool_link (w, f, name, err);
    case FRAME_DIR:
      if (spool_check_name (w, name, err) < 0)
        return -1;
      e = writer_add (w, name, SRC_NONE);
      e->mode = (f->mode & 0777) | 0700;
      e->mtime = f->mtime;
      return 0;
    default:
      return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent an unexpected frame");
    }
}

static int
writer_read_spool (cpb_store_writer *w, cpb_error **err)
{
  char name[MEMBER_PATH_MAX + 1];
  struct frame f;
  bool ended = false;
  int r;

  if (w->spool < 0)
    return 0;
  if (lseek (w->spool, 0, SEEK_SET) < 0)
    return cpb_error_errno (err, errno, "cannot rewind the spool");
  while ((r = frame_read (w->spool, &f, name, err)) > 0)
    {
      if (ended)
        return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child wrote past its end");
      if (f.type == FRAME_END)
        ended = true;
      else if (spool_frame (w, &f, name, err) < 0)
        return -1;
    }
  if (r < 0)
    return -1;
  if (!ended)
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child stopped before the end");
  return 0;
}

/* ---- writing the tarball */

/* cpb's own members first (logs), then outputs by name; equal names by arrival. */
static int
wentry_cmp (const void *pa, const void *pb)
{
  const struct wentry *a = pa, *b = pb;
  int ra = is_reserved (a->path), rb = is_reserved (b->path), c;

  if (ra != rb)
    return rb - ra;
  c = strcmp (a->path, b->path);
  if (c)
    return c;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sort, keep the last of equal names (as tar extraction would), and list the files. */
static void
writer_settle (cpb_store_writer *w)
{
  size_t kept = 0;

  if (w->n_entries > 0)
    qsort (w->entries, w->n_entries, sizeof *w->entries, wentry_cmp);
  for (size_t i = 0; i < w->n_entries; i++)
    {
      if (i + 1 < w->n_entries && strcmp (w->entries[i].path, w->entries[i + 1].path) == 0)
        {
          wentry_clear (&w->entries[i]);
          continue;
        }
      w->entries[kept++] = w->entries[i];
    }
  w->n_entries = kept;
  w->m->files = cpb_xcalloc (kept + 1, sizeof *w->m->files);
  for (size_t i = 0; i < kept; i++)
    {
      const struct wentry *e = &w->entries[i];
      struct cpb_manifest_file *mf;

      if (e->source == SRC_NONE)
        continue;
      mf = &w->m->files[w->m->n_files++];
      mf->path = cpb_xstrdup (e->path);
      mf->size = e->size;
      mf->mode = e->mode;
      memcpy (mf->sha256, e->sha256, sizeof mf->sha256);
    }
}

static int
archive_put (struct archive *a, const void *data, size_t len, cpb_error **err)
{
  if (len && archive_write_data (a, data, len) != (la_ssize_t)len)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "writing the archive: %s", archive_error_string (a));
  return 0;
}

static int
member_data (struct archive *a, const struct wentry *e, int spool, cpb_error **err)
{
  _cleanup_close_ int fd = -1;
  char buf[COPY_BLOCK];
  uint64_t done = 0;

  if (e->source == SRC_MEM)
    return archive_put (a, e->mem, e->size, err);
  if (e->source == SRC_FILE)
    {
      fd = open (e->file, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return cpb_error_errno (err, errno, "cannot open '%s'", e->file);
    }
  while (done < e->size)
    {
      size_t chunk = e->size - done < sizeof buf ? e->size - done : sizeof buf;
      ssize_t n = e->source == SRC_SPOOL ? pread (spool, buf, chunk, e->offset + done)
                                         : read (fd, buf, chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return cpb_error_set (err, CPB_ERR_SYSTEM, "member '%s' shrank while archiving", e->path);
      if (archive_put (a, buf, n, err) < 0)
        return -1;
      done += n;
    }
  return 0;
}

static int
write_member (struct archive *a, const struct wentry *e, int spool, cpb_error **err)
{
  struct archive_entry *ae = archive_entry_new ();
  int r;

  archive_entry_set_pathname (ae, e->path);
  archive_entry_set_filetype (ae, e->source == SRC_NONE ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm (ae, e->mode);
  archive_entry_set_mtime (ae, e->mtime, 0);
  archive_entry_set_size (ae, e->source == SRC_NONE ? 0 : (la_int64_t)e->size);
  r = archive_write_header (a, ae);
  archive_entry_free (ae);
  if (r != ARCHIVE_OK)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "writing member '%s': %s", e->path,
                          archive_error_string (a));
  if (e->source == SRC_NONE)
    return 0;
  return member_data (a, e, spool, err);
}

/* The whole tarball into FD: manifest first, so `tar xf - .cpb/manifest.json` and readers of
   the first member need not decompress the rest. */
static int
write_tarball (cpb_store_writer *w, int fd, const char *json, size_t json_len, cpb_error **err)
{
  _cleanup_archive_write_ struct archive *a = archive_write_new ();
  struct wentry manifest = { .path = (char *)".cpb/manifest.json",
                             .source = SRC_MEM,
                             .mode = 0644,
                             .size = json_len,
                             .mem = (char *)json };

  manifest.mtime = w->m->finished ? w->m->finished : time (NULL);
  if (archive_write_add_filter_zstd (a) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted (a) != ARCHIVE_OK ||
      archive_write_open_fd (a, fd) != ARCHIVE_OK)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot start the archive: %s",
                          archive_error_string (a));
  if (write_member (a, &manifest, w->spool, err) < 0)
    return -1;
  for (size_t i = 0; i < w->n_entries; i++)
    if (write_member (a, &w->entries[i], w->spool, err) < 0)
      return -1;
  if (archive_write_close (a) != ARCHIVE_OK)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "finishing the archive: %s",
                          archive_error_string (a));
  return 0;
}

typedef int (*fill_fn) (cpb_store_writer *w, int fd, const char *json, size_t len, cpb_error **err);

static int
fill_json (cpb_store_writer *w, int fd, const char *json, size_t len, cpb_error **err)
{
  if (write_all (fd, json, len) < 0)
    return cpb_error_errno (err, errno, "writing the manifest");
  return 0;
}

/* Write DIR/NAME through DIR/.NAME.tmp-PID: fill, fsync, rename.  Whatever fails, the file
   previously at DIR/NAME is untouched and the temporary is gone. */
static int
replace_file (cpb_store_writer *w, const char *name, fill_fn fill, const char *json, size_t len,
              cpb_error **err)
{
  _cleanup_free_ char *tmp = cpb_xasprintf ("%s/.%s.tmp-%d", w->dir, name, (int)getpid ());
  _cleanup_free_ char *final = cpb_xasprintf ("%s/%s", w->dir, name);
  _cleanup_close_ int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);

  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot create '%s'", tmp);
  if (fill (w, fd, json, len, err) < 0)
    goto fail;
  if (fsync (fd) < 0)
    {
      cpb_error_errno (err, errno, "cannot sync '%s'", tmp);
      goto fail;
    }
  if (rename (tmp, final) < 0)
    {
      cpb_error_errno (err, errno, "cannot rename '%s' to '%s'", tmp, final);
      goto fail;
    }
  return 0;
fail:
  unlink (tmp);
  return -1;
}

static int
writer_write_files (cpb_store_writer *w, char **ret_path, cpb_error **err)
{
  _cleanup_free_ char *json = NULL, *tar_name = NULL, *json_name = NULL;
  _cleanup_close_ int dfd = -1;
  size_t len;

  json = cpb_task_manifest_to_json (w->m, &len, err);
  if (json == NULL)
    return -1;
  tar_name = cpb_xasprintf ("%s.tar.zst", w->task);
  json_name = cpb_xasprintf ("%s.json", w->task);
  /* The tarball first: it is the truth, TASK.json only a copy for quick reads, and a crash
     between the two leaves a stale copy rather than a manifest without its archive. */
  if (replace_file (w, tar_name, write_tarball, json, len, err) < 0 ||
      replace_file (w, json_name, fill_json, json, len, err) < 0)
    return -1;
  dfd = open (w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync (dfd) < 0)
    return cpb_error_errno (err, errno, "cannot sync directory '%s'", w->dir);
  if (ret_path)
    *ret_path = cpb_xasprintf ("%s/%s", w->dir, tar_name);
  return 0;
}

int
cpb_store_writer_commit (cpb_store_writer *w, char **ret_path, cpb_error **err)
{
  _cleanup_error_ cpb_error *child_err = NULL;

  if (w->failed || w->committed)
    return cpb_error_set (err, CPB_ERR_FAILED, "the archive writer is finished");
  w->failed = true;
  writer_finish_child (w, &child_err);
  if (writer_read_spool (w, err) < 0)
    return cpb_error_prefix (err, "reading the task's tar stream");
  if (child_err)
    {
      error_move (err, &child_err);
      return cpb_error_prefix (err, "reading the task's tar stream");
    }
  writer_settle (w);
  if (writer_write_files (w, ret_path, err) < 0)
    return cpb_error_prefix (err, "archiving task '%s'", w->task);
  w->failed = false;
  w->committed = true;
  return 0;
}

const struct cpb_task_manifest *
cpb_store_writer_manifest (const cpb_store_writer *w)
{
  return w->m;
}

void
cpb_store_writer_free (cpb_store_writer *w)
{
  if (w == NULL)
    return;
  if (w->child > 0)
    {
      kill (w->child, SIGKILL);
      writer_finish_child (w, NULL);
    }
  if (w->sock >= 0)
    close (w->sock);
  if (w->spool >= 0)
    close (w->spool);
  for (size_t i = 0; i < w->n_entries; i++)
    wentry_clear (&w->entries[i]);
  free (w->entries);
  cpb_strv_free (w->outputs);
  cpb_task_manifest_free (w->m);
  free (w->task);
  free (w->dir);
  free (w);
}

/* ---------------------------------------------------------------- reading */

char *
cpb_store_task_path (const char *root, const char *ns, const char *batch, const char *task,
                     bool json)
{
  return cpb_xasprintf ("%s/%s/%s/%s.%s", root, ns, batch, task, json ? "json" : "tar.zst");
}

static int
read_bounded (const char *path, size_t max, char **ret, size_t *ret_len, cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  _cleanup_free_ char *text = NULL;
  struct stat st;
  ssize_t n;

  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open '%s'", path);
  if (fstat (fd, &st) < 0)
    return cpb_error_errno (err, errno, "cannot stat '%s'", path);
  if (!S_ISREG (st.st_mode) || (uint64_t)st.st_size > max)
    return cpb_error_set (err, CPB_ERR_FAILED, "'%s' is not a regular file of at most %zu bytes",
                          path, max);
  text = cpb_xmalloc (st.st_size + 1);
  n = read_all (fd, text, st.st_size);
  if (n < 0 || n != st.st_size)
    return cpb_error_errno (err, n < 0 ? errno : EIO, "cannot read '%s'", path);
  text[n] = '\0';
  *ret_len = n;
  *ret = TAKE_PTR (text);
  return 0;
}

int
cpb_store_read_manifest (const char *path, struct cpb_task_manifest **ret, cpb_error **err)
{
  _cleanup_free_ char *text = NULL;
  size_t len = 0;

  if (read_bounded (path, MANIFEST_MAX, &text, &len, err) < 0)
    return -1;
  return cpb_task_manifest_from_json (path, text, len, ret, err);
}

static bool
has_suffix (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);

  return n > m && strcmp (s + n - m, suffix) == 0;
}

static int
manifest_cmp (const void *pa, const void *pb)
{
  const struct cpb_task_manifest *a = *(const struct cpb_task_manifest *const *)pa;
  const struct cpb_task_manifest *b = *(const struct cpb_task_manifest *const *)pb;

  if (a->index != b->index)
    return a->index < b->index ? -1 : 1;
  return strcmp (a->task, b->task);
}

int
cpb_store_list_tasks (const char *root, const char *ns, const char *batch,
                      struct cpb_task_manifest ***ret, size_t *ret_n, cpb_error **err)
{
  _cleanup_free_ char *dir = cpb_xasprintf ("%s/%s/%s", root, ns, batch);
  _cleanup_closedir_ DIR *d = opendir (dir);
  struct cpb_task_manifest **v = NULL;
  size_t n = 0;
  struct dirent *de;

  if (d == NULL && errno == ENOENT)
    return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no batch '%s' in namespace '%s' of '%s'", batch,
                          ns, root);
  if (d == NULL)
    return cpb_error_errno (err, errno, "cannot open '%s'", dir);
  while ((de = readdir (d)))
    {
      _cleanup_free_ char *path = NULL;

      if (de->d_name[0] == '.' || !has_suffix (de->d_name, ".json"))
        continue;
      path = cpb_xasprintf ("%s/%s", dir, de->d_name);
      v = cpb_xrealloc (v, (n + 1) * sizeof *v);
      if (cpb_store_read_manifest (path, &v[n], err) < 0)
        {
          cpb_task_manifests_free (v, n);
          return -1;
        }
      n++;
    }
  if (n > 0)
    qsort (v, n, sizeof *v, manifest_cmp);
  *ret = v;
  *ret_n = n;
  return 0;
}

void
cpb_store_batches_free (struct cpb_store_batch *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].namespace);
      free (v[i].batch);
    }
  free (v);
}

/* Fill B's counts and sizes from the files of its directory. */
static int
batch_scan (const char *root, struct cpb_store_batch *b, cpb_error **err)
{
  _cleanup_free_ char *dir = cpb_xasprintf ("%s/%s/%s", root, b->namespace, b->batch);
  struct cpb_task_manifest **tasks = NULL;
  _cleanup_closedir_ DIR *d = opendir (dir);
  struct dirent *de;
  struct stat st;

  if (d == NULL)
    return cpb_error_errno (err, errno, "cannot open '%s'", dir);
  if (fstat (dirfd (d), &st) == 0)
    b->newest = st.st_mtime;
  while ((de = readdir (d)))
    if (de->d_name[0] != '.' && fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG (st.st_mode))
      b->bytes += st.st_size;
  if (cpb_store_list_tasks (root, b->namespace, b->batch, &tasks, &b->tasks, err) < 0)
    return -1;
  for (size_t i = 0; i < b->tasks; i++)
    {
      b->done += tasks[i]->state == CPB_TASK_DONE;
      b->failed += tasks[i]->state == CPB_TASK_FAILED;
      b->cancelled += tasks[i]->state == CPB_TASK_CANCELLED;
      if (i == 0 || tasks[i]->finished > b->newest)
        b->newest = tasks[i]->finished ? tasks[i]->finished : b->newest;
    }
  cpb_task_manifests_free (tasks, b->tasks);
  return 0;
}

static int
batch_cmp (const void *pa, const void *pb)
{
  const struct cpb_store_batch *a = pa, *b = pb;
  int c = strcmp (a->namespace, b->namespace);

  if (c)
    return c;
  if (a->newest != b->newest)
    return a->newest > b->newest ? -1 : 1;
  return strcmp (a->batch, b->batch);
}

/* Append the batches of namespace NS to *V. */
static int
list_namespace (const char *root, const char *ns, struct cpb_store_batch **v, size_t *n,
                cpb_error **err)
{
  _cleanup_free_ char *dir = cpb_xasprintf ("%s/%s", root, ns);
  _cleanup_closedir_ DIR *d = opendir (dir);
  struct dirent *de;

  if (d == NULL)
    return errno == ENOENT || errno == ENOTDIR
               ? 0
               : cpb_error_errno (err, errno, "cannot open '%s'", dir);
  while ((de = readdir (d)))
    {
      struct cpb_store_batch *b;
      struct stat st;

      if (de->d_name[0] == '.' || fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
          !S_ISDIR (st.st_mode))
        continue;
      *v = cpb_xrealloc (*v, (*n + 1) * sizeof **v);
      b = &(*v)[(*n)++];
      memset (b, 0, sizeof *b);
      b->namespace = cpb_xstrdup (ns);
      b->batch = cpb_xstrdup (de->d_name);
      if (batch_scan (root, b, err) < 0)
        return -1;
    }
  return 0;
}

int
cpb_store_list_batches (const char *root, const char *ns, struct cpb_store_batch **ret,
                        size_t *ret_n, cpb_error **err)
{
  _cleanup_closedir_ DIR *d = NULL;
  struct cpb_store_batch *v = NULL;
  struct dirent *de;
  size_t n = 0;
  int r = 0;

  if (ns)
    r = list_namespace (root, ns, &v, &n, err);
  else if ((d = opendir (root)) == NULL && errno != ENOENT)
    return cpb_error_errno (err, errno, "cannot open '%s'", root);
  while (r == 0 && d && (de = readdir (d)))
    if (de->d_name[0] != '.' && (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN))
      r = list_namespace (root, de->d_name, &v, &n, err);
  if (r < 0)
    {
      cpb_store_batches_free (v, n);
      return -1;
    }
  if (n > 0)
    qsort (v, n, sizeof *v, batch_cmp);
  *ret = v;
  *ret_n = n;
  return 0;
}

/* ---------------------------------------------------------------- verify */

static int
open_task_archive (struct archive *a, int fd, int out_fd)
{
  archive_read_support_format_tar (a);
  archive_read_support_filter_zstd (a);
  if (archive_read_open_fd (a, fd, COPY_BLOCK) != ARCHIVE_OK)
    return child_fail (out_fd, "%s", archive_error_string (a));
  return 0;
}

/* In the child: hash the current member and report its name, size and digest. */
static int
verify_hash_member (struct archive *a, const char *name, int out_fd)
{
  _cleanup_sha256_ cpb_sha256 *h = cpb_sha256_new ();
  char buf[COPY_BLOCK], hex[65];
  uint64_t size = 0;
  la_ssize_t n;

  while ((n = archive_read_data (a, buf, sizeof buf)) > 0)
    {
      cpb_sha256_update (h, buf, n);
      size += n;
    }
  if (n < 0)
    return child_fail (out_fd, "member '%s': %s", name, archive_error_string (a));
  cpb_sha256_finish (TAKE_PTR (h), hex);
  return frame_emit (out_fd, FRAME_HASH, 0, name, 64, (time_t)size, hex);
}

static int
verify_manifest_member (struct archive *a, struct archive_entry *e, int out_fd)
{
  int64_t size = archive_entry_size (e);
  _cleanup_free_ char *text = NULL;
  la_ssize_t n;

  if (size < 0 || size > MANIFEST_MAX)
    return child_fail (out_fd, "the manifest has no size or is too large");
  text = cpb_xmalloc (size + 1);
  n = archive_read_data (a, text, size);
  if (n != size)
    return child_fail (out_fd, "the manifest is truncated");
  return frame_emit (out_fd, FRAME_MANIFEST, 0, "", size, 0, text);
}

static int
verify_members (int in_fd, int out_fd)
{
  _cleanup_archive_read_ struct archive *a = archive_read_new ();
  struct archive_entry *e;
  size_t count = 0;
  int r;

  if (open_task_archive (a, in_fd, out_fd) < 0)
    return -1;
  while ((r = archive_read_next_header (a, &e)) != ARCHIVE_EOF)
    {
      const char *name = archive_entry_pathname (e);

      if (r < ARCHIVE_WARN)
        return child_fail (out_fd, "%s", archive_error_string (a));
      if (++count > MEMBERS_MAX || name == NULL || strlen (name) > MEMBER_PATH_MAX)
        return child_fail (out_fd, "too many members or an overlong name");
      if (count == 1 && strcmp (name, ".cpb/manifest.json") != 0)
        return child_fail (out_fd, "the first member is not .cpb/manifest.json");
      if (count == 1)
        r = verify_manifest_member (a, e, out_fd);
      else if (archive_entry_filetype (e) == AE_IFREG && archive_entry_hardlink (e) == NULL)
        r = verify_hash_member (a, name, out_fd);
      else if (archive_entry_filetype (e) == AE_IFDIR)
        r = 0;
      else
        return child_fail (out_fd, "member '%s' is neither a file nor a directory", name);
      if (r < 0)
        return -1;
    }
  return frame_emit (out_fd, FRAME_END, 0, "", 0, 0, NULL);
}

static int
verify_child (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  return child_result (verify_members (in_fd, out_fd), err);
}

/* Frames of a child that ran to its end, handed to ON_FRAME; the child's error wins. */
typedef int (*frame_fn) (int fd, const struct frame *f, const char *name, void *data,
                         cpb_error **err);

static int
read_frames (int fd, frame_fn on_frame, void *data, cpb_error **err)
{
  char name[MEMBER_PATH_MAX + 1];
  struct frame f;
  int r;

  if (lseek (fd, 0, SEEK_SET) < 0)
    return cpb_error_errno (err, errno, "cannot rewind the spool");
  while ((r = frame_read (fd, &f, name, err)) > 0)
    {
      if (f.type == FRAME_END)
        return 0;
      if (f.type == FRAME_ERROR)
        return frame_read_error (fd, &f, err);
      if (on_frame (fd, &f, name, data, err) < 0)
        return -1;
    }
  return r < 0 ? -1 : cpb_error_set (err, CPB_ERR_FAILED, "the parsing child stopped early");
}

struct verify_state
{
  const char *path;
  struct cpb_task_manifest *m;
  bool *seen;
};

static int
verify_frame (int fd, const struct frame *f, const char *name, void *data, cpb_error **err)
{
  struct verify_state *v = data;
  _cleanup_free_ char *text = NULL;
  char hex[65];

  if (f->type == FRAME_MANIFEST && v->m == NULL && f->size <= MANIFEST_MAX)
    {
      text = cpb_xmalloc (f->size + 1);
      if (read_all (fd, text, f->size) != (ssize_t)f->size)
        return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent a truncated manifest");
      if (cpb_task_manifest_from_json (".cpb/manifest.json", text, f->size, &v->m, err) < 0)
        return -1;
      v->seen = cpb_xcalloc (v->m->n_files + 1, sizeof *v->seen);
      return 0;
    }
  if (f->type != FRAME_HASH || v->m == NULL || f->size != 64 || read_all (fd, hex, 64) != 64)
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child sent an unexpected frame");
  hex[64] = '\0';
  for (size_t i = 0; i < v->m->n_files; i++)
    if (!v->seen[i] && strcmp (v->m->files[i].path, name) == 0)
      {
        v->seen[i] = true;
        if (v->m->files[i].size != (uint64_t)f->mtime || strcmp (v->m->files[i].sha256, hex))
          return cpb_error_set (err, CPB_ERR_FAILED, "member '%s' does not match the manifest",
                                name);
        return 0;
      }
  return cpb_error_set (err, CPB_ERR_FAILED, "member '%s' is not in the manifest", name);
}

static const char *
tmp_dir (void)
{
  const char *t = getenv ("TMPDIR");

  return t && t[0] == '/' ? t : "/tmp";
}

int
cpb_store_verify (const char *archive_path, cpb_error **err)
{
  struct verify_state v = { archive_path, NULL, NULL };
  _cleanup_close_ int afd = open (archive_path, O_RDONLY | O_CLOEXEC);
  _cleanup_close_ int spool = -1;
  int r;

  if (afd < 0)
    return cpb_error_errno (err, errno, "cannot open '%s'", archive_path);
  spool = anonymous_file (tmp_dir (), err);
  if (spool < 0)
    return -1;
  /* The child writes to a file, not a pipe: cpb_sandbox_run waits for it, and a pipe nobody
     reads would fill up and stall it. */
  r = cpb_sandbox_run (verify_child, NULL, afd, spool, err);
  if (r >= 0)
    r = read_frames (spool, verify_frame, &v, err);
  for (size_t i = 0; r >= 0 && v.m && i < v.m->n_files; i++)
    if (!v.seen[i])
      r = cpb_error_set (err, CPB_ERR_FAILED, "member '%s' of the manifest is missing",
                         v.m->files[i].path);
  if (r >= 0 && v.m == NULL)
    r = cpb_error_set (err, CPB_ERR_FAILED, "no manifest");
  cpb_task_manifest_free (v.m);
  free (v.seen);
  return r < 0 ? cpb_error_prefix (err, "verifying '%s'", archive_path) : 0;
}

/* ---------------------------------------------------------------- safe extraction */

/* Why member E may not be extracted at all, or NULL.  Checked on every member, selected or
   not: an archive holding one hostile member is not trusted for any. */
static const char *
refusal (struct archive_entry *e, const char *raw, const char *clean)
{
  const char *hard = archive_entry_hardlink (e);
  const char *sym = archive_entry_symlink (e);
  _cleanup_free_ char *hard_clean = NULL, *sym_clean = NULL;

  if (raw[0] == '/')
    return "absolute path";
  if (clean == NULL)
    return "'..' in its path";
  if (hard)
    {
      hard_clean = cpb_store_clean_member (hard);
      return hard_clean == NULL || hard_clean[0] == '\0' ? "hard link out of the directory" : NULL;
    }
  switch (archive_entry_filetype (e))
    {
    case AE_IFREG:
    case AE_IFDIR:
      return NULL;
    case AE_IFLNK:
      /* Only links that lead downwards: a target without '..' cannot leave the directory,
         whatever other links it passes through (docs/store.md, "safety"). */
      if (sym == NULL || sym[0] == '/')
        return "symbolic link to an absolute path";
      sym_clean = cpb_store_clean_member (sym);
      return sym_clean == NULL || sym_clean[0] == '\0' ? "symbolic link out of the directory"
                                                       : NULL;
    default:
      return "device node, fifo or socket";
    }
}

static bool
selected (const struct cpb_fetch_options *o, const char *name)
{
  if (o->includes && o->includes[0] && !match_any (o->includes, name))
    return false;
  return !match_any (o->excludes, name);
}

static int
extract_copy (struct archive *a, struct archive *disk, const char *name, int out_fd)
{
  const void *buf;
  size_t len;
  la_int64_t off;
  int r;

  while ((r = archive_read_data_block (a, &buf, &len, &off)) == ARCHIVE_OK)
    if (archive_write_data_block (disk, buf, len, off) < ARCHIVE_OK)
      return child_fail (out_fd, "member '%s': %s", name, archive_error_string (disk));
  if (r != ARCHIVE_EOF)
    return child_fail (out_fd, "member '%s': %s", name, archive_error_string (a));
  if (archive_write_finish_entry (disk) < ARCHIVE_OK)
    return child_fail (out_fd, "member '%s': %s", name, archive_error_string (disk));
  return 0;
}

/* One member: refuse, skip, or write it below the current directory (the staging one). */
static int
extract_member (struct archive *a, struct archive *disk, struct archive_entry *e,
                const struct cpb_fetch_options *o, size_t *files, int out_fd)
{
  const char *raw = archive_entry_pathname (e);
  _cleanup_free_ char *clean = raw ? cpb_store_clean_member (raw) : NULL;
  _cleanup_free_ char *hard = NULL;
  const char *why = raw ? refusal (e, raw, clean) : "no name";

  if (why)
    return child_fail (out_fd, "refusing member '%s': %s", raw ? raw : "", why);
  if (clean[0] == '\0' || !selected (o, clean))
    return 0;
  if (archive_entry_hardlink (e))
    {
      hard = cpb_store_clean_member (archive_entry_hardlink (e));
      if (!selected (o, hard))
        return 0;
      archive_entry_set_hardlink (e, hard);
    }
  archive_entry_set_pathname (e, clean);
  archive_entry_set_perm (e, (archive_entry_perm (e) & 0777) |
                                 (archive_entry_filetype (e) == AE_IFDIR ? 0700 : 0600));
  if (archive_write_header (disk, e) < ARCHIVE_OK)
    return child_fail (out_fd, "refusing member '%s': %s", raw, archive_error_string (disk));
  if (archive_entry_filetype (e) == AE_IFREG)
    (*files)++;
  return extract_copy (a, disk, raw, out_fd);
}

static int
extract_members (int in_fd, const struct cpb_fetch_options *o)
{
  _cleanup_archive_read_ struct archive *a = archive_read_new ();
  _cleanup_archive_write_ struct archive *disk = archive_write_disk_new ();
  struct archive_entry *e;
  size_t count = 0, files = 0;
  int r;

  /* libarchive's own guards on top of refusal(): no '..', no absolute names, never write
     through a symbolic link, never restore owners or set-id bits. */
  archive_write_disk_set_options (
      disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
  if (open_task_archive (a, in_fd, -1) < 0)
    return -1;
  while ((r = archive_read_next_header (a, &e)) != ARCHIVE_EOF)
    {
      if (r < ARCHIVE_WARN)
        return child_fail (-1, "%s", archive_error_string (a));
      if (++count > MEMBERS_MAX || files >= INT32_MAX)
        return child_fail (-1, "more than %d members", MEMBERS_MAX);
      if (extract_member (a, disk, e, o, &files, -1) < 0)
        return -1;
    }
  if (archive_write_close (disk) != ARCHIVE_OK)
    return child_fail (-1, "%s", archive_error_string (disk));
  return (int)files;
}

/* In the sandbox: extract the archive on IN_FD into the directory OUT_FD; the result is the
   number of files. */
static int
extract_child (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  if (fchdir (out_fd) < 0)
    return cpb_error_errno (err, errno, "cannot enter the staging directory");
  return child_result (extract_members (in_fd, arg), err);
}

/* rm -rf NAME in DFD without following any symbolic link: what it removes may have been
   written by a hostile archive. */
static int
remove_tree_at (int dfd, const char *name)
{
  _cleanup_closedir_ DIR *d = NULL;
  struct dirent *de;
  int fd;

  if (unlinkat (dfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -1;
  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 || (d = fdopendir (fd)) == NULL)
    {
      if (fd >= 0)
        close (fd);
      return -1;
    }
  while ((de = readdir (d)))
    if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
      remove_tree_at (dirfd (d), de->d_name);
  return unlinkat (dfd, name, AT_REMOVEDIR);
}

static int
remove_tree (const char *path)
{
  return remove_tree_at (AT_FDCWD, path);
}

/* Move STAGING to FINAL, replacing what FINAL held only when FORCE, and only once the new
   contents are complete. */
static int
extract_install (const char *dest, const char *staging, const char *final, bool force,
                 cpb_error **err)
{
  _cleanup_free_ char *old = NULL;

  if (rename (staging, final) == 0)
    return 0;
  if ((errno != EEXIST && errno != ENOTEMPTY && errno != ENOTDIR) || !force)
    return cpb_error_errno (err, errno, "cannot create '%s'", final);
  old = cpb_xasprintf ("%s/.cpb-old-XXXXXX", dest);
  if (mkdtemp (old) == NULL)
    return cpb_error_errno (err, errno, "cannot create a directory in '%s'", dest);
  if (rename (final, old) < 0 || rename (staging, final) < 0)
    {
      cpb_error_errno (err, errno, "cannot replace '%s'", final);
      rename (old, final);
      remove_tree (old);
      return -1;
    }
  remove_tree (old);
  return 0;
}

int
cpb_store_extract (const char *archive_path, const char *dest, const char *task,
                   const struct cpb_fetch_options *opts, size_t *ret_files, cpb_error **err)
{
  _cleanup_free_ char *final = NULL, *staging = NULL;
  _cleanup_close_ int sfd = -1, afd = -1;
  struct stat st;
  int files = -1;

  if (cpb_check_name ("task", task, err) < 0 || cpb_mkdir_p (dest, 0755, err) < 0)
    return -1;
  final = cpb_xasprintf ("%s/%s", dest, task);
  if (!opts->force && lstat (final, &st) == 0)
    {
      cpb_error_set (err, CPB_ERR_FAILED, "'%s' already exists (--force replaces it)", final);
      return cpb_error_prefix (err, "task '%s'", task);
    }
  staging = cpb_xasprintf ("%s/.cpb-fetch-XXXXXX", dest);
  if (mkdtemp (staging) == NULL)
    return cpb_error_errno (err, errno, "cannot create a directory in '%s'", dest);
  sfd = open (staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  afd = open (archive_path, O_RDONLY | O_CLOEXEC);
  if (sfd < 0 || afd < 0)
    cpb_error_errno (err, errno, "cannot open '%s'", sfd < 0 ? staging : archive_path);
  else
    files = cpb_sandbox_run (extract_child, (void *)opts, afd, sfd, err);
  if (files < 0 || fchmod (sfd, 0755) < 0 ||
      extract_install (dest, staging, final, opts->force, err) < 0)
    {
      remove_tree (staging);
      return cpb_error_prefix (err, "task '%s'", task);
    }
  if (ret_files)
    *ret_files = (size_t)files;
  return 0;
}

/* ---------------------------------------------------------------- pruning */

int
cpb_parse_duration (const char *text, time_t *ret, cpb_error **err)
{
  static const struct
  {
    char unit;
    long seconds;
  } units[] = {
    { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 7 * 86400 },
  };
  char *end;
  long long n;

  errno = 0;
  n = strtoll (text, &end, 10);
  if (end == text || n < 0 || errno || n > (1LL << 40))
    return cpb_error_set (err, CPB_ERR_INPUT, "invalid duration '%s' (e.g. 30d, 12h, 90m)", text);
  if (*end == '\0')
    {
      *ret = n;
      return 0;
    }
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (end[0] == units[i].unit && end[1] == '\0')
      {
        *ret = n * units[i].seconds;
        return 0;
      }
  return cpb_error_set (err, CPB_ERR_INPUT, "invalid duration '%s' (units: s, m, h, d, w)", text);
}

/* Whether RULE removes B, the RANK-th newest batch of its namespace among the candidates. */
static bool
prune_selects (const struct cpb_prune_rule *rule, const struct cpb_store_batch *b, size_t rank,
               time_t now)
{
  if (rule->batch_glob && fnmatch (rule->batch_glob, b->batch, 0) != 0)
    return false;
  if (rule->keep_last >= 0 && rank < (size_t)rule->keep_last)
    return false;
  if (rule->older_than > 0 && b->newest > now - rule->older_than)
    return false;
  return rule->keep_last >= 0 || rule->older_than > 0;
}

static int
prune_batch (const char *root, const struct cpb_store_batch *b, cpb_error **err)
{
  _cleanup_free_ char *dir = cpb_xasprintf ("%s/%s/%s", root, b->namespace, b->batch);
  _cleanup_free_ char *hidden =
      cpb_xasprintf ("%s/%s/.%s.prune-%d", root, b->namespace, b->batch, (int)getpid ());

  if (rename (dir, hidden) < 0)
    return cpb_error_errno (err, errno, "cannot rename '%s'", dir);
  if (remove_tree (hidden) < 0)
    return cpb_error_errno (err, errno, "cannot remove '%s'", hidden);
  return 0;
}

/* Remove what crashed writers and interrupted prunes left in DIR: hidden `.NAME.tmp-PID`
   files and `.NAME.prune-PID` directories untouched for a day.  The age, not the PID, says
   they are dead: a store shared between hosts sees other hosts' PIDs. */
static void
sweep_leftovers (const char *dir, time_t now)
{
  _cleanup_closedir_ DIR *d = opendir (dir);
  struct dirent *de;
  struct stat st;

  while (d && (de = readdir (d)))
    if (de->d_name[0] == '.' && (strstr (de->d_name, ".tmp-") || strstr (de->d_name, ".prune-")) &&
        fstatat (dirfd (d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime < now - 86400)
      remove_tree_at (dirfd (d), de->d_name);
}

int
cpb_store_prune (const char *root, const struct cpb_prune_rule *rule, time_t now,
                 struct cpb_store_batch **ret, size_t *ret_n, cpb_error **err)
{
  struct cpb_store_batch *all = NULL, *out = NULL;
  _cleanup_free_ char *prev_ns = NULL, *dir = NULL;
  size_t n = 0, n_out = 0, rank = 0;
  int r = 0;

  if (cpb_store_list_batches (root, rule->ns, &all, &n, err) < 0)
    return -1;
  out = cpb_xcalloc (n + 1, sizeof *out);
  for (size_t i = 0; i < n && r == 0; i++)
    {
      bool candidate = !rule->batch_glob || fnmatch (rule->batch_glob, all[i].batch, 0) == 0;

      if (prev_ns == NULL || strcmp (all[i].namespace, prev_ns) != 0)
        {
          free (prev_ns);
          prev_ns = cpb_xstrdup (all[i].namespace);
          rank = 0;
          if (!rule->dry_run)
            {
              dir = cpb_xasprintf ("%s/%s", root, prev_ns);
              sweep_leftovers (dir, now);
              free (TAKE_PTR (dir));
            }
        }
      if (prune_selects (rule, &all[i], rank, now))
        {
          if (!rule->dry_run && (r = prune_batch (root, &all[i], err)) < 0)
            break;
          out[n_out++] = all[i];
          memset (&all[i], 0, sizeof all[i]);
        }
      else if (!rule->dry_run)
        {
          dir = cpb_xasprintf ("%s/%s/%s", root, prev_ns, all[i].batch);
          sweep_leftovers (dir, now);
          free (TAKE_PTR (dir));
        }
      rank += candidate;
    }
  cpb_store_batches_free (all, n);
  if (r < 0)
    {
      cpb_store_batches_free (out, n_out);
      return -1;
    }
  *ret = out;
  *ret_n = n_out;
  return 0;
}

/* ---------------------------------------------------------------- one file out of a tar */

/* In the sandbox child: copy the data of the first member of the tar on IN_FD to OUT_FD;
   it must be a regular file of at most *ARG bytes. */
static int
single_child (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  _cleanup_archive_read_ struct archive *a = archive_read_new ();
  const size_t max = *(const size_t *)arg;
  struct archive_entry *e;
  char buf[COPY_BLOCK];
  size_t total = 0;
  la_ssize_t n;
  int r = ARCHIVE_FATAL;

  archive_read_support_format_tar (a);
  if (archive_read_open_fd (a, in_fd, COPY_BLOCK) != ARCHIVE_OK ||
      (r = archive_read_next_header (a, &e)) < ARCHIVE_WARN)
    return cpb_error_set (err, CPB_ERR_FAILED, "not a tar stream: %s", archive_error_string (a));
  if (r == ARCHIVE_EOF)
    return cpb_error_set (err, CPB_ERR_FAILED, "the tar stream is empty");
  if (archive_entry_filetype (e) != AE_IFREG || archive_entry_hardlink (e) != NULL)
    return cpb_error_set (err, CPB_ERR_FAILED, "the tar stream does not hold a regular file");
  while ((n = archive_read_data (a, buf, sizeof buf)) > 0)
    {
      if ((size_t)n > max - total)
        return cpb_error_set (err, CPB_ERR_FAILED, "the file is larger than %zu bytes", max);
      if (write_all (out_fd, buf, (size_t)n) < 0)
        return cpb_error_errno (err, errno, "writing the file out");
      total += (size_t)n;
    }
  if (n < 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%s", archive_error_string (a));
  return 0;
}

int
cpb_store_read_single (const void *tar, size_t len, size_t max, char **ret_data, size_t *ret_len,
                       cpb_error **err)
{
  _cleanup_close_ int in_fd = memfd_create ("cpb-tar", MFD_CLOEXEC);
  _cleanup_close_ int out_fd = memfd_create ("cpb-file", MFD_CLOEXEC);
  _cleanup_free_ char *data = NULL;
  off_t size;

  if (in_fd < 0 || out_fd < 0)
    return cpb_error_errno (err, errno, "memfd_create");
  if (write_all (in_fd, tar, len) < 0 || lseek (in_fd, 0, SEEK_SET) < 0)
    return cpb_error_errno (err, errno, "spooling the tar stream");
  if (cpb_sandbox_run (single_child, &max, in_fd, out_fd, err) < 0)
    return -1;
  /* The child is not believed: its output is bounded again here. */
  size = lseek (out_fd, 0, SEEK_END);
  if (size < 0 || (uint64_t)size > max)
    return cpb_error_set (err, CPB_ERR_FAILED, "the parsing child wrote %lld bytes (at most %zu)",
                          (long long)size, max);
  data = cpb_xmalloc ((size_t)size + 1);
  if (pread (out_fd, data, (size_t)size, 0) != size)
    return cpb_error_errno (err, errno ? errno : EIO, "reading the parsing child's output");
  data[size] = '\0';
  if (ret_len)
    *ret_len = (size_t)size;
  *ret_data = TAKE_PTR (data);
  return 0;
}
