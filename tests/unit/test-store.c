/* Unit tests for the archive store: globs, the writer's filter and manifest, atomic
   replacement, verification, safe extraction of hostile archives, listing and pruning. */
#include "config.h"
#include "tap.h"
#include "store/store.h"
#include "paths.h"
#include "hash.h"
#include "xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* One member of a tar built for a test: 'f' file (data), 'd' dir, 's' symlink and 'h' hard
   link (data is the target), 'c' character device. */
struct member
{
  char type;
  const char *name;
  const char *data;
};

static char *
make_tar (const struct member *m, size_t n, bool zstd, size_t *ret_len)
{
  struct archive *a = archive_write_new ();
  size_t cap = 1 << 20, used = 0;
  char *buf = cpb_xmalloc (cap);

  if (zstd)
    archive_write_add_filter_zstd (a);
  archive_write_set_format_pax_restricted (a);
  archive_write_open_memory (a, buf, cap, &used);
  for (size_t i = 0; i < n; i++)
    {
      struct archive_entry *e = archive_entry_new ();

      archive_entry_set_pathname (e, m[i].name);
      archive_entry_set_perm (e, 0644);
      archive_entry_set_mtime (e, 1700000000, 0);
      switch (m[i].type)
        {
        case 'f':
          archive_entry_set_filetype (e, AE_IFREG);
          archive_entry_set_size (e, strlen (m[i].data));
          break;
        case 'd':
          archive_entry_set_filetype (e, AE_IFDIR);
          archive_entry_set_perm (e, 0755);
          break;
        case 's':
          archive_entry_set_filetype (e, AE_IFLNK);
          archive_entry_set_symlink (e, m[i].data);
          break;
        case 'h':
          archive_entry_set_filetype (e, AE_IFREG);
          archive_entry_set_hardlink (e, m[i].data);
          break;
        default:
          archive_entry_set_filetype (e, AE_IFCHR);
          archive_entry_set_rdev (e, 0x0103);
          break;
        }
      archive_write_header (a, e);
      if (m[i].type == 'f')
        archive_write_data (a, m[i].data, strlen (m[i].data));
      archive_entry_free (e);
    }
  archive_write_close (a);
  archive_write_free (a);
  *ret_len = used;
  return buf;
}

static void
write_file (const char *path, const void *data, size_t len)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

  if (fd < 0 || write (fd, data, len) != (ssize_t)len)
    abort ();
  close (fd);
}

static char *
read_text (const char *path)
{
  FILE *f = fopen (path, "re");
  char *buf = cpb_xzalloc (1 << 16);

  if (f)
    {
      size_t n = fread (buf, 1, (1 << 16) - 1, f);
      buf[n] = '\0';
      fclose (f);
    }
  return buf;
}

static bool
exists (const char *dir, const char *name)
{
  _cleanup_free_ char *p = cpb_xasprintf ("%s/%s", dir, name);
  struct stat st;

  return lstat (p, &st) == 0;
}

/* Names in DIR, sorted and space-separated ("" for an empty directory). */
static char *
dir_names (const char *dir)
{
  struct dirent **list;
  int n = scandir (dir, &list, NULL, alphasort);
  char *out = cpb_xstrdup ("");

  for (int i = 0; i < n; i++)
    {
      if (strcmp (list[i]->d_name, ".") && strcmp (list[i]->d_name, ".."))
        {
          char *next = cpb_xasprintf ("%s%s%s", out, out[0] ? " " : "", list[i]->d_name);
          free (out);
          out = next;
        }
      free (list[i]);
    }
  if (n >= 0)
    free (list);
  return out;
}

static void
test_globs (void)
{
  ok (cpb_glob_match ("*.csv", "a.csv"), "* matches in one component");
  ok (!cpb_glob_match ("*.csv", "d/a.csv"), "* does not cross '/'");
  ok (cpb_glob_match ("**/*.csv", "a.csv"), "**/ matches zero directories");
  ok (cpb_glob_match ("**/*.csv", "x/y/z/a.csv"), "**/ matches many directories");
  ok (cpb_glob_match ("out/**/r?.[ct]sv", "out/1/2/r1.tsv"), "?, [..] and ** together");
  ok (!cpb_glob_match ("out/**/r?.[ct]sv", "out/1/2/r10.tsv"), "? is exactly one character");
  ok (cpb_glob_match ("out/**", "out/a/b"), "dir/** matches everything below");
  ok (cpb_glob_match ("[!a]x", "bx") && !cpb_glob_match ("[!a]x", "ax"), "negated class");
  ok (cpb_glob_match ("a\\*b", "a*b") && !cpb_glob_match ("a\\*b", "axb"), "backslash escapes");
  ok (cpb_glob_match ("./results/", "results"), "leading ./ and trailing / are ignored");
  ok (cpb_glob_match_tree ("results", "results/deep/file"), "a matched directory keeps its tree");
  ok (!cpb_glob_match_tree ("results", "results2/file"), "but not a sibling with the prefix");
}

static void
test_clean_member (void)
{
  char *c;

  c = cpb_store_clean_member ("./a//b/./c/");
  is_str (c, "a/b/c", "'.', empty components and trailing '/' are dropped");
  free (c);
  c = cpb_store_clean_member ("./");
  is_str (c, "", "the root entry is empty");
  free (c);
  ok (cpb_store_clean_member ("a/../../x") == NULL, "'..' is refused");
  ok (cpb_store_clean_member ("/etc/passwd") == NULL, "absolute names are refused");
}

static struct cpb_task_manifest *
sample_manifest (const char *task, enum cpb_task_state state, time_t finished)
{
  static struct cpb_kv params[] = { { (char *)"alpha", (char *)"0.5" },
                                    { (char *)"seed", (char *)"7" } };
  static char *cmd[] = { (char *)"sh", (char *)"-c", (char *)"run", NULL };
  struct cpb_task_manifest m = {
    .namespace = (char *)"alice",
    .batch = (char *)"sweep",
    .task = (char *)task,
    .index = 3,
    .params = params,
    .n_params = 2,
    .command = cmd,
    .image_id = (char *)"0123abcd",
    .image_digest = (char *)"sha256:feed",
    .node = (char *)"lab3",
    .state = state,
    .exit_code = state == CPB_TASK_DONE ? 0 : 2,
    .attempt = 2,
    .started = finished - 60,
    .finished = finished,
    .has_helper = true,
    .wall_seconds = 1.5,
    .user_seconds = 1.25,
    .sys_seconds = 0.125,
    .max_rss_kib = 2048,
    .timed_out = false,
  };

  return cpb_task_manifest_dup (&m);
}

static const struct member container_stream[] = {
  { 'd', "./", NULL },
  { 'd', "./out/", NULL },
  { 'f', "./out/a.csv", "1,2,3\n" },
  { 'f', "./out/b.txt", "not an output\n" },
  { 'd', "./out/sub/", NULL },
  { 'f', "./out/sub/c.csv", "4,5\n" },
  { 'f', "./tmp/junk", "scratch\n" },
  { 's', "./link", "/etc/passwd" },
  { 'd', "./results/", NULL },
  { 'f', "./results/r1", "result one\n" },
  { 'h', "./out/hard", "./out/a.csv" },
  { 'f', "./.cpb/manifest.json", "{\"forged\": true}" },
  { 'f', "../escape", "evil\n" },
  { 'c', "./out/dev", NULL },
};
static char *const outputs[] = { (char *)"out/**/*.csv",
                                 (char *)"results",
                                 (char *)"out/hard",
                                 (char *)"link",
                                 (char *)".cpb/**",
                                 (char *)"out/dev",
                                 NULL };

/* Write ROOT/alice/sweep/TASK from the container stream fed in CHUNK-byte pieces. */
static int
write_task (const char *root, const char *task, size_t chunk, time_t finished, cpb_error **err)
{
  _cleanup_store_writer_ cpb_store_writer *w = NULL;
  _cleanup_task_manifest_ struct cpb_task_manifest *m =
      sample_manifest (task, CPB_TASK_DONE, finished);
  _cleanup_free_ char *tar = NULL;
  size_t len;

  tar = make_tar (container_stream, sizeof container_stream / sizeof container_stream[0], false,
                  &len);
  w = cpb_store_writer_new (root, m, outputs, err);
  if (w == NULL)
    return -1;
  for (size_t off = 0; off < len; off += chunk)
    if (cpb_store_writer_feed (w, tar + off, off + chunk < len ? chunk : len - off, err) < 0)
      return -1;
  if (cpb_store_writer_add_log (w, "stdout", "hello\n", 6, err) < 0 ||
      cpb_store_writer_add_log (w, "stderr", "", 0, err) < 0)
    return -1;
  return cpb_store_writer_commit (w, NULL, err);
}

static void
test_writer (const char *root)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *json = cpb_store_task_path (root, "alice", "sweep", "t1", true);
  _cleanup_free_ char *tarball = cpb_store_task_path (root, "alice", "sweep", "t1", false);
  _cleanup_task_manifest_ struct cpb_task_manifest *m = NULL;
  char hex[65];
  const char *want[] = { ".cpb/stderr", ".cpb/stdout",   "out/a.csv",
                         "out/hard",    "out/sub/c.csv", "results/r1" };
  bool same = true;

  ok (write_task (root, "t1", 7, 1700000000, &err) == 0, "a task archive is written from a stream "
                                                         "fed 7 bytes at a time");
  if (err)
    diag ("%s", err->msg);
  ok (access (tarball, R_OK) == 0 && access (json, R_OK) == 0, "TASK.tar.zst and TASK.json exist");
  ok (cpb_store_read_manifest (json, &m, &err) == 0, "TASK.json reads back");
  if (m == NULL)
    return;
  is_int (m->n_files, 6, "only the declared outputs and the logs are kept");
  for (size_t i = 0; i < 6 && i < m->n_files; i++)
    same = same && strcmp (m->files[i].path, want[i]) == 0;
  ok (same, "no link, device, junk, '..' member or forged .cpb/ file got in");
  cpb_sha256_hex ("1,2,3\n", 6, hex);
  is_str (m->files[2].sha256, hex, "sha256 of out/a.csv");
  is_int (m->files[2].size, 6, "size of out/a.csv");
  is_str (m->files[3].sha256, hex, "a hard link is stored as a copy of its target");
  is_str (m->params[1].key, "seed", "params keep their order");
  is_str (m->command[2], "run", "the command is kept");
  is_str (m->image_digest, "sha256:feed", "the image digest is kept");
  is_int (m->attempt, 2, "attempt");
  is_int (m->finished, 1700000000, "finished time round-trips through RFC 3339");
  ok (m->has_helper && m->max_rss_kib == 2048 && m->wall_seconds == 1.5, "helper figures");
  ok (cpb_store_verify (tarball, &err) == 0, "the archive verifies against its manifest");
  if (err)
    diag ("%s", err->msg);
}

static void
test_atomic (const char *root)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *tarball = cpb_store_task_path (root, "alice", "sweep", "t1", false);
  _cleanup_free_ char *dir = cpb_xasprintf ("%s/alice/sweep", root);
  _cleanup_task_manifest_ struct cpb_task_manifest *m =
      sample_manifest ("t1", CPB_TASK_FAILED, 1700000500);
  _cleanup_free_ char *tar = NULL, *before = NULL, *after = NULL, *names = NULL;
  cpb_store_writer *w;
  size_t len;
  pid_t pid;

  cpb_sha256_file (tarball, (before = cpb_xzalloc (65)), &err);
  tar = make_tar (container_stream, 4, false, &len);

  w = cpb_store_writer_new (root, m, outputs, &err);
  ok (w && cpb_store_writer_feed (w, tar, len / 2, &err) == 0, "a second attempt starts writing");
  cpb_store_writer_free (w);
  cpb_sha256_file (tarball, (after = cpb_xzalloc (65)), &err);
  is_str (after, before, "a writer freed midway leaves the old archive as it was");

  /* A writer killed in the middle of its work, as a crash would. */
  pid = fork ();
  if (pid == 0)
    {
      w = cpb_store_writer_new (root, m, outputs, NULL);
      cpb_store_writer_feed (w, tar, len / 2, NULL);
      kill (getpid (), SIGKILL);
    }
  waitpid (pid, NULL, 0);
  free (after);
  cpb_sha256_file (tarball, (after = cpb_xzalloc (65)), &err);
  is_str (after, before, "a writer killed midway leaves the old archive as it was");

  w = cpb_store_writer_new (root, m, outputs, &err);
  cpb_store_writer_feed (w, "this is not a tar stream at all, not even close........", 56, &err);
  ok (cpb_store_writer_commit (w, NULL, &err) < 0, "a garbage stream fails the commit");
  ok (err && strstr (err->msg, "reading the task's tar stream") != NULL, "saying where: %s",
      err ? err->msg : "");
  cpb_store_writer_free (w);
  free (after);
  cpb_sha256_file (tarball, (after = cpb_xzalloc (65)), &err);
  is_str (after, before, "and the old archive stays");
  names = dir_names (dir);
  is_str (names, "t1.json t1.tar.zst", "no temporary file is left behind");
}

static void
test_verify_tampered (const char *root)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *path = cpb_xasprintf ("%s/tampered.tar.zst", root);
  _cleanup_free_ char *json = NULL, *tar = NULL;
  _cleanup_task_manifest_ struct cpb_task_manifest *m = sample_manifest ("t9", CPB_TASK_DONE, 1);
  struct cpb_manifest_file f = { (char *)"x", 3, "", 0644 };
  size_t len;

  memset (f.sha256, 'a', 64);
  free (m->files);
  m->files = cpb_xmalloc (sizeof f);
  m->files[0] = f;
  m->files[0].path = cpb_xstrdup ("x");
  m->n_files = 1;
  json = cpb_task_manifest_to_json (m, NULL, &err);
  {
    const struct member members[] = { { 'f', ".cpb/manifest.json", json }, { 'f', "x", "abc" } };
    tar = make_tar (members, 2, true, &len);
  }
  write_file (path, tar, len);
  ok (cpb_store_verify (path, &err) < 0, "a member whose digest differs fails verification");
  ok (err && strstr (err->msg, "member 'x' does not match the manifest"), "naming the member");
  {
    free (m->node);
    m->node = cpb_xstrdup ("lab\xff");
    _cleanup_free_ char *out = NULL;
    _cleanup_task_manifest_ struct cpb_task_manifest *back = NULL;
    size_t out_len = 0;
    out = cpb_task_manifest_to_json (m, &out_len, &err);
    ok (out && cpb_task_manifest_from_json ("t9", out, out_len, &back, &err) == 0,
        "a manifest with invalid UTF-8 in a field is still a valid document");
    is_str (back ? back->node : NULL, "lab?", "with the stray byte replaced");
  }
}

/* Extract a crafted archive and expect a refusal naming WHAT, with nothing left in DEST. */
static void
expect_refused (const char *root, const char *label, const struct member *m, size_t n,
                const char *what)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *path = cpb_xasprintf ("%s/crafted.tar.zst", root);
  _cleanup_free_ char *dest = cpb_xasprintf ("%s/dest-%s", root, label);
  _cleanup_free_ char *tar = NULL, *names = NULL;
  struct cpb_fetch_options opts = { 0 };
  size_t len;

  tar = make_tar (m, n, true, &len);
  write_file (path, tar, len);
  ok (cpb_store_extract (path, dest, "t1", &opts, NULL, &err) < 0, "%s: refused", label);
  ok (err && strstr (err->msg, what) != NULL, "%s: the error names '%s' (%s)", label, what,
      err ? err->msg : "no error");
  names = dir_names (dest);
  is_str (names, "", "%s: nothing is left in the destination", label);
}

static void
test_extract_hostile (const char *root)
{
  const struct member dotdot[] = { { 'f', "ok", "fine" }, { 'f', "../x", "evil" } };
  const struct member absolute[] = { { 'f', "/etc/x", "evil" } };
  const struct member through[] = { { 's', "l", "/" }, { 'f', "l/x", "evil" } };
  const struct member relative_out[] = { { 's', "l", "a/../../.." }, { 'f', "l/x", "evil" } };
  const struct member hard[] = { { 'h', "h", "../outside" } };
  const struct member device[] = { { 'c', "dev", NULL } };
  /* A link that stays inside passes refusal(); writing through it is libarchive's guard. */
  const struct member via_link[] = { { 'd', "sub", NULL },
                                     { 's', "l", "sub" },
                                     { 'f', "l/x", "through a link" } };
  struct stat st;

  expect_refused (root, "dotdot", dotdot, 2, "'../x'");
  expect_refused (root, "absolute", absolute, 1, "'/etc/x'");
  expect_refused (root, "symlink-root", through, 2, "'l'");
  expect_refused (root, "symlink-up", relative_out, 2, "'l'");
  expect_refused (root, "hardlink", hard, 1, "'h'");
  expect_refused (root, "device", device, 1, "'dev'");
  expect_refused (root, "through-link", via_link, 3, "'l/x'");
  ok (lstat ("/etc/x", &st) < 0, "nothing was written to /etc/x");
}

static void
test_extract_filters (const char *root)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *tarball = cpb_store_task_path (root, "alice", "sweep", "t1", false);
  _cleanup_free_ char *dest = cpb_xasprintf ("%s-fetched", root);
  _cleanup_free_ char *task_dir = cpb_xasprintf ("%s/t1", dest);
  _cleanup_free_ char *a = NULL, *a_path = cpb_xasprintf ("%s/out/a.csv", task_dir);
  char *inc[] = { (char *)"out", NULL }, *exc[] = { (char *)"**/c.csv", NULL };
  struct cpb_fetch_options opts = { inc, exc, false };
  size_t files = 0;

  ok (cpb_store_extract (tarball, dest, "t1", &opts, &files, &err) == 0, "extract with filters");
  if (err)
    diag ("%s", err->msg);
  is_int (files, 2, "two files pass --include out --exclude '**/c.csv'");
  ok (exists (task_dir, "out/a.csv") && exists (task_dir, "out/hard"), "the included files");
  ok (!exists (task_dir, "out/sub/c.csv") && !exists (task_dir, "results"), "not the others");
  a = read_text (a_path);
  is_str (a, "1,2,3\n", "with their contents");
  ok (cpb_store_extract (tarball, dest, "t1", &opts, NULL, &err) < 0,
      "an existing task dir is kept");
  ok (err && strstr (err->msg, "already exists"), "and the user told");
  opts.includes = NULL;
  opts.excludes = NULL;
  opts.force = true;
  ok (cpb_store_extract (tarball, dest, "t1", &opts, &files, &err) == 0, "--force replaces it");
  is_int (files, 7, "all six files and the manifest this time");
  ok (exists (task_dir, ".cpb/manifest.json") && exists (task_dir, "results/r1"),
      "logs, manifest too");
  {
    _cleanup_free_ char *names = dir_names (dest);
    is_str (names, "t1", "no staging or old directory is left");
  }
}

static void
test_list_and_prune (const char *root)
{
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_task_manifest **tasks = NULL;
  struct cpb_store_batch *b = NULL;
  struct cpb_prune_rule rule = { .keep_last = -1 };
  size_t n = 0;
  time_t d;

  ok (write_task (root, "t2", 4096, 1700000100, &err) == 0, "a second task");
  ok (cpb_store_list_tasks (root, "alice", "sweep", &tasks, &n, &err) == 0, "list the batch");
  is_int (n, 2, "two tasks");
  cpb_task_manifests_free (tasks, n);
  ok (cpb_store_list_tasks (root, "alice", "nope", &tasks, &n, &err) < 0, "an unknown batch fails");

  /* Two more batches, older and newer. */
  for (int i = 0; i < 2; i++)
    {
      _cleanup_store_writer_ cpb_store_writer *w = NULL;
      _cleanup_task_manifest_ struct cpb_task_manifest *m =
          sample_manifest ("t1", CPB_TASK_FAILED, i ? 1800000000 : 1600000000);
      free (m->batch);
      m->batch = cpb_xstrdup (i ? "newer" : "older");
      w = cpb_store_writer_new (root, m, NULL, &err);
      ok (w && cpb_store_writer_commit (w, NULL, &err) == 0, "batch '%s' with logs only", m->batch);
    }
  ok (cpb_store_list_batches (root, NULL, &b, &n, &err) == 0, "list the store");
  is_int (n, 3, "three batches");
  if (n == 3)
    {
      is_str (b[0].batch, "newer", "newest first");
      is_int (b[1].tasks, 2, "task count");
      is_int (b[1].done, 2, "done count");
      is_int (b[2].failed, 1, "failed count");
      ok (b[1].bytes > 0, "sizes");
    }
  cpb_store_batches_free (b, n);

  rule.keep_last = 2;
  rule.dry_run = true;
  ok (cpb_store_prune (root, &rule, 1900000000, &b, &n, &err) == 0,
      "prune --keep-last 2 --dry-run");
  ok (n == 1 && strcmp (b[0].batch, "older") == 0, "would remove the oldest");
  cpb_store_batches_free (b, n);
  ok (exists (root, "alice/older/t1.json"), "but a dry run removes nothing");

  ok (cpb_parse_duration ("30d", &d, &err) == 0 && d == 30 * 86400, "30d");
  ok (cpb_parse_duration ("3x", &d, &err) < 0, "an unknown unit fails");
  {
    _cleanup_free_ char *tmp = cpb_xasprintf ("%s/alice/newer/.t1.tar.zst.tmp-4242", root);
    _cleanup_free_ char *half = cpb_xasprintf ("%s/alice/.gone.prune-4242", root);
    write_file (tmp, "half", 4);
    cpb_mkdir_p (half, 0755, &err);
  }
  rule.keep_last = -1;
  rule.dry_run = false;
  rule.older_than = 1900000000 - 1700000200;
  ok (cpb_store_prune (root, &rule, 1900000000, &b, &n, &err) == 0, "prune --older-than");
  is_int (n, 2, "two batches finished before the cut");
  cpb_store_batches_free (b, n);
  ok (!exists (root, "alice/older") && !exists (root, "alice/sweep"), "are gone");
  ok (exists (root, "alice/newer/t1.tar.zst"), "the newer one stays");
  {
    _cleanup_free_ char *ns = cpb_xasprintf ("%s/alice", root);
    _cleanup_free_ char *names = dir_names (ns);
    is_str (names, "newer", "no hidden leftovers, an interrupted prune's included");
    ok (!exists (root, "alice/newer/.t1.tar.zst.tmp-4242"),
        "a crashed writer's temporary is swept");
  }
}

/* cpb_store_read_single: the one file of a container's tar stream (the helper's report),
   bounded, and an error for anything else. */
static void
test_read_single (void)
{
  static const struct member report[] = { { 'f', "result.json", "{\"exit_code\": 0}\n" } };
  static const struct member dir[] = { { 'd', "result.json", NULL } };
  static const struct member link[] = { { 's', "result.json", "/etc/shadow" } };
  _cleanup_free_ char *tar = NULL, *data = NULL, *empty = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  size_t len = 0, got = 0;

  tar = make_tar (report, 1, false, &len);
  ok (cpb_store_read_single (tar, len, 4096, &data, &got, &err) == 0, "one file read");
  is_str (data, "{\"exit_code\": 0}\n", "its contents");
  is_int ((long)got, 17, "its length");
  ok (cpb_store_read_single (tar, len, 16, &data, NULL, &err) < 0 && err->kind == CPB_ERR_FAILED &&
          strstr (err->msg, "larger than 16 bytes"),
      "a file over the bound is refused: %s", err ? err->msg : "");
  cpb_error_free (TAKE_PTR (err));
  free (TAKE_PTR (tar));
  tar = make_tar (dir, 1, false, &len);
  ok (cpb_store_read_single (tar, len, 4096, &data, NULL, &err) < 0 &&
          strstr (err->msg, "does not hold a regular file"),
      "a directory is refused");
  cpb_error_free (TAKE_PTR (err));
  free (TAKE_PTR (tar));
  tar = make_tar (link, 1, false, &len);
  ok (cpb_store_read_single (tar, len, 4096, &data, NULL, &err) < 0, "a symlink is refused");
  cpb_error_free (TAKE_PTR (err));
  empty = make_tar (NULL, 0, false, &len);
  ok (cpb_store_read_single (empty, len, 4096, &data, NULL, &err) < 0 && strstr (err->msg, "empty"),
      "an empty tar stream is refused");
  cpb_error_free (TAKE_PTR (err));
  ok (cpb_store_read_single ("garbage, not a tar", 18, 4096, &data, NULL, &err) < 0 &&
          strstr (err->msg, "not a tar stream"),
      "garbage is refused: %s", err ? err->msg : "");
  is_str (data, "{\"exit_code\": 0}\n", "a failed read leaves *ret_data alone");
}

int
main (void)
{
  char tmp[] = "/tmp/test-store-XXXXXX";
  _cleanup_free_ char *rm = NULL, *store = NULL;

  if (mkdtemp (tmp) == NULL)
    return 1;
  store = cpb_xasprintf ("%s/store", tmp);
  test_globs ();
  test_clean_member ();
  test_writer (store);
  test_atomic (store);
  test_verify_tampered (tmp);
  test_extract_hostile (tmp);
  test_extract_filters (store);
  test_list_and_prune (store);
  test_read_single ();
  rm = cpb_xasprintf ("rm -rf '%s'", tmp);
  if (system (rm) != 0)
    diag ("could not remove %s", tmp);
  return done_testing ();
}
