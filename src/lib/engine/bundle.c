/* engine/bundle.c: a task's bundle and its tar stream (see bundle.h). */
#include "config.h"
#include "engine/bundle.h"
#include "helper/protocol.h"
#include "store/store.h"
#include "xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

CPB_DEFINE_CLEANUP_FUNC (struct archive *, archive_write_free)
#define _cleanup_archive_write_ _cleanup_ (archive_write_freep)
CPB_DEFINE_CLEANUP_FUNC (struct archive *, archive_read_free)
#define _cleanup_archive_read_ _cleanup_ (archive_read_freep)
CPB_DEFINE_CLEANUP_FUNC (struct archive_entry *, archive_entry_free)
#define _cleanup_archive_entry_ _cleanup_ (archive_entry_freep)

const char *
cpb_task_workdir (const struct cpb_task *t)
{
  const char *workdir = t->settings->workdir ? t->settings->workdir : "/work";

  return workdir + strspn (workdir, "/");
}

struct cpb_bundle *
cpb_bundle_new (const char *helper_path, const struct cpb_task *t)
{
  struct cpb_bundle *b = cpb_xzalloc (sizeof *b);

  b->helper_path = cpb_xstrdup (helper_path);
  b->workdir = cpb_xstrdup (cpb_task_workdir (t));
  b->inputs = t->inputs;
  b->n_inputs = t->n_inputs;
  return b;
}

void
cpb_bundle_add_upstream (struct cpb_bundle *b, const char *archive_path, const char *prefix)
{
  b->upstream = cpb_xrealloc (b->upstream, (b->n_upstream + 1) * sizeof *b->upstream);
  b->upstream[b->n_upstream++] =
      (struct cpb_bundle_upstream){ cpb_xstrdup (archive_path), cpb_xstrdup (prefix) };
}

void
cpb_bundle_free (struct cpb_bundle *b)
{
  if (b == NULL)
    return;
  for (size_t i = 0; i < b->n_upstream; i++)
    {
      free (b->upstream[i].archive_path);
      free (b->upstream[i].prefix);
    }
  free (b->upstream);
  free (b->helper_path);
  free (b->workdir);
  free (b);
}

int
cpb_dir_each (const char *path,
              int (*fn) (void *arg, const char *entry, const char *sub, cpb_error **err),
              void *arg, cpb_error **err)
{
  struct dirent **names = NULL;
  int n = scandir (path, &names, NULL, alphasort);
  int rc = 0;

  if (n < 0)
    return cpb_error_errno (err, errno, "cannot read directory '%s'", path);
  for (int i = 0; i < n; i++)
    {
      const char *e = names[i]->d_name;

      if (rc == 0 && strcmp (e, ".") != 0 && strcmp (e, "..") != 0)
        {
          _cleanup_free_ char *sub = cpb_xasprintf ("%s/%s", path, e);

          rc = fn (arg, e, sub, err);
        }
      free (names[i]);
    }
  free (names);
  return rc;
}

/* The tar being written: directories already in it, so parents are written once. */
struct intar
{
  struct archive *a;
  char **dirs;
  size_t n_dirs;
};

static int
tar_error (struct intar *in, cpb_error **err, const char *what)
{
  return cpb_error_set (err, CPB_ERR_SYSTEM, "input tar: %s: %s", what,
                        archive_error_string (in->a) ? archive_error_string (in->a) : "error");
}

static int
tar_header (struct intar *in, const char *name, mode_t type, mode_t perm, int64_t size,
            cpb_error **err)
{
  _cleanup_archive_entry_ struct archive_entry *e = archive_entry_new ();

  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_size (e, size);
  archive_entry_set_mtime (e, time (NULL), 0);
  if (archive_write_header (in->a, e) != ARCHIVE_OK)
    return tar_error (in, err, name);
  return 0;
}

/* Write directory NAME (and its missing parents) once. */
static int
tar_dir (struct intar *in, const char *name, mode_t perm, cpb_error **err)
{
  _cleanup_free_ char *parent = cpb_xstrdup (name);
  char *slash = strrchr (parent, '/');

  for (size_t i = 0; i < in->n_dirs; i++)
    if (strcmp (in->dirs[i], name) == 0)
      return 0;
  if (slash)
    {
      *slash = '\0';
      if (tar_dir (in, parent, 0755, err) < 0)
        return -1;
    }
  in->dirs = cpb_xrealloc (in->dirs, (in->n_dirs + 1) * sizeof *in->dirs);
  in->dirs[in->n_dirs++] = cpb_xstrdup (name);
  return tar_header (in, name, AE_IFDIR, perm, 0, err);
}

static int
tar_parent (struct intar *in, const char *name, cpb_error **err)
{
  _cleanup_free_ char *parent = cpb_xstrdup (name);
  char *slash = strrchr (parent, '/');

  if (slash == NULL)
    return 0;
  *slash = '\0';
  return tar_dir (in, parent, 0755, err);
}

static int
tar_copy_fd (struct intar *in, int fd, const char *name, cpb_error **err)
{
  char buf[65536];
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) > 0)
    if (archive_write_data (in->a, buf, (size_t)n) != n)
      return tar_error (in, err, name);
  if (n < 0)
    return cpb_error_errno (err, errno, "cannot read input for '%s'", name);
  return 0;
}

static int tar_tree (struct intar *in, const char *path, const char *name, cpb_error **err);

struct tar_walk
{
  struct intar *in;
  const char *name;
};

static int
tar_entry (void *arg, const char *entry, const char *sub, cpb_error **err)
{
  const struct tar_walk *w = arg;
  _cleanup_free_ char *subname = cpb_xasprintf ("%s/%s", w->name, entry);

  return tar_tree (w->in, sub, subname, err);
}

static int
tar_dir_contents (struct intar *in, const char *path, const char *name, cpb_error **err)
{
  struct tar_walk w = { in, name };

  return cpb_dir_each (path, tar_entry, &w, err);
}

/* Add host PATH (a file, or a directory with everything below it) as NAME. */
static int
tar_tree (struct intar *in, const char *path, const char *name, cpb_error **err)
{
  _cleanup_close_ int fd = -1;
  struct stat sb;

  if (stat (path, &sb) < 0)
    return cpb_error_errno (err, errno, "input '%s'", path);
  if (S_ISDIR (sb.st_mode))
    {
      if (tar_parent (in, name, err) < 0 || tar_dir (in, name, sb.st_mode & 0777, err) < 0)
        return -1;
      return tar_dir_contents (in, path, name, err);
    }
  if (!S_ISREG (sb.st_mode))
    return 0; /* sockets, fifos and devices are not data */
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open input '%s'", path);
  if (tar_parent (in, name, err) < 0 ||
      tar_header (in, name, AE_IFREG, sb.st_mode & 0777, sb.st_size, err) < 0)
    return -1;
  return tar_copy_fd (in, fd, name, err);
}

/* Copy the outputs kept in an earlier task's archive (not its .cpb/ logs) under PREFIX. */
static int
tar_from_archive (struct intar *in, const char *archive_path, const char *prefix, cpb_error **err)
{
  _cleanup_archive_read_ struct archive *a = archive_read_new ();
  struct archive_entry *e;
  int rc;

  archive_read_support_format_tar (a);
  archive_read_support_filter_all (a);
  if (archive_read_open_filename (a, archive_path, 65536) != ARCHIVE_OK)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot read '%s': %s", archive_path,
                          archive_error_string (a));
  while ((rc = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      _cleanup_free_ char *clean = cpb_store_clean_member (archive_entry_pathname (e));
      _cleanup_free_ char *name = NULL;
      const void *buf;
      size_t len;
      la_int64_t off;

      if (clean == NULL || strncmp (clean, ".cpb", 4) == 0 ||
          archive_entry_filetype (e) != AE_IFREG)
        continue;
      name = cpb_xasprintf ("%s/%s", prefix, clean);
      if (tar_parent (in, name, err) < 0 ||
          tar_header (in, name, AE_IFREG, archive_entry_perm (e), archive_entry_size (e), err) < 0)
        return -1;
      while ((rc = archive_read_data_block (a, &buf, &len, &off)) == ARCHIVE_OK)
        if (archive_write_data (in->a, buf, len) != (la_ssize_t)len)
          return tar_error (in, err, name);
      if (rc != ARCHIVE_EOF)
        return cpb_error_set (err, CPB_ERR_SYSTEM, "reading '%s': %s", archive_path,
                              archive_error_string (a));
    }
  if (rc != ARCHIVE_EOF)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "reading '%s': %s", archive_path,
                          archive_error_string (a));
  return 0;
}

static int
tar_helper (const char *helper_path, struct intar *in, cpb_error **err)
{
  _cleanup_close_ int fd = open (helper_path, O_RDONLY | O_CLOEXEC);
  struct stat sb;

  if (fd < 0 || fstat (fd, &sb) < 0)
    return cpb_error_errno (err, errno, "cannot open cpb-helper '%s'", helper_path);
  /* Sticky and world-writable: the report must be writable whatever user the task runs as. */
  if (tar_dir (in, &CPB_HELPER_DIR[1], 01777, err) < 0 ||
      tar_header (in, &CPB_HELPER_PATH[1], AE_IFREG, 0755, sb.st_size, err) < 0)
    return -1;
  return tar_copy_fd (in, fd, &CPB_HELPER_PATH[1], err);
}

int
cpb_bundle_write_tar (const struct cpb_bundle *b, int fd, cpb_error **err)
{
  _cleanup_archive_write_ struct archive *a = archive_write_new ();
  struct intar in = { .a = a };
  int rc = -1;

  archive_write_set_format_pax_restricted (a);
  if (archive_write_open_fd (a, fd) != ARCHIVE_OK)
    {
      tar_error (&in, err, "open");
      goto out;
    }
  if (tar_helper (b->helper_path, &in, err) < 0 || tar_dir (&in, b->workdir, 0755, err) < 0)
    goto out;
  for (size_t i = 0; i < b->n_upstream; i++)
    if (tar_from_archive (&in, b->upstream[i].archive_path, b->upstream[i].prefix, err) < 0)
      goto out;
  for (size_t i = 0; i < b->n_inputs; i++)
    {
      _cleanup_free_ char *name = cpb_xasprintf ("%s/%s", b->workdir, b->inputs[i].dest);

      if (tar_tree (&in, b->inputs[i].path, name, err) < 0)
        goto out;
    }
  if (archive_write_close (a) != ARCHIVE_OK)
    {
      tar_error (&in, err, "close");
      goto out;
    }
  rc = 0;
out:
  for (size_t i = 0; i < in.n_dirs; i++)
    free (in.dirs[i]);
  free (in.dirs);
  return rc;
}
