/* build/buildctx.c: the build context tar, written by libarchive into a socket from a thread.
 *
 * One walk (walk_entries) visits every member in a fixed order; the tar writer and the
 * content hash are two visitors of it, so what is hashed is what is sent.
 */
#include "config.h"
#include "build/buildctx.h"
#include "xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Deeper trees than this are almost surely a symlink loop or a mistake in `src`. */
#define MAX_DEPTH 64
#define BLOCK_SIZE (64 * 1024)

CPB_DEFINE_CLEANUP_FUNC (struct archive *, archive_write_free)
#define _cleanup_archive_write_ _cleanup_ (archive_write_freep)
CPB_DEFINE_CLEANUP_FUNC (struct archive_entry *, archive_entry_free)
#define _cleanup_archive_entry_ _cleanup_ (archive_entry_freep)

/* One member as the visitors see it: exactly one of FD (regular file, positioned at 0),
   TARGET (symlink), DATA (in memory) is meaningful, or none for a directory. */
struct item
{
  const char *name;
  mode_t type; /* S_IFREG, S_IFDIR, S_IFLNK */
  mode_t perm;
  off_t size;
  time_t mtime;
  int fd;
  const char *target;
  const void *data;
};

typedef int (*visit_fn) (void *userdata, const struct item *it, cpb_error **err);

static int walk_dir (int dfd, const char *name, int depth, visit_fn visit, void *userdata,
                     cpb_error **err);

static int
by_name (const struct dirent **a, const struct dirent **b)
{
  return strcmp ((*a)->d_name, (*b)->d_name);
}

static int
skip_dots (const struct dirent *d)
{
  return strcmp (d->d_name, ".") != 0 && strcmp (d->d_name, "..") != 0;
}

/* Visit the file FD (already opened, stat in ST) under NAME, recursing into directories. */
static int
visit_fd (int fd, const struct stat *st, const char *name, mode_t perm, int depth, visit_fn visit,
          void *userdata, cpb_error **err)
{
  struct item it = {
    .name = name, .perm = perm ? perm : (st->st_mode & 07777), .mtime = st->st_mtime, .fd = -1
  };

  if (S_ISREG (st->st_mode))
    {
      it.type = S_IFREG;
      it.size = st->st_size;
      it.fd = fd;
      return visit (userdata, &it, err);
    }
  if (S_ISDIR (st->st_mode))
    {
      it.type = S_IFDIR;
      it.perm = st->st_mode & 07777;
      if (visit (userdata, &it, err) < 0)
        return -1;
      return walk_dir (fd, name, depth + 1, visit, userdata, err);
    }
  return cpb_error_set (err, CPB_ERR_INPUT, "'%s': not a regular file or directory", name);
}

/* Visit the member CHILD of the directory DFD, as NAME in the tar. */
static int
walk_child (int dfd, const char *child, const char *name, int depth, visit_fn visit, void *userdata,
            cpb_error **err)
{
  _cleanup_close_ int fd = -1;
  struct stat st;

  if (fstatat (dfd, child, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return cpb_error_errno (err, errno, "cannot stat '%s'", name);
  if (S_ISLNK (st.st_mode))
    {
      char target[PATH_MAX];
      ssize_t n = readlinkat (dfd, child, target, sizeof target - 1);
      struct item it = { .name = name,
                         .type = S_IFLNK,
                         .perm = 0777,
                         .mtime = st.st_mtime,
                         .fd = -1,
                         .target = target };

      if (n < 0)
        return cpb_error_errno (err, errno, "cannot read link '%s'", name);
      target[n] = '\0';
      return visit (userdata, &it, err);
    }
  fd = openat (dfd, child, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open '%s'", name);
  if (fstat (fd, &st) < 0)
    return cpb_error_errno (err, errno, "cannot stat '%s'", name);
  return visit_fd (fd, &st, name, 0, depth, visit, userdata, err);
}

static int
walk_dir (int dfd, const char *name, int depth, visit_fn visit, void *userdata, cpb_error **err)
{
  struct dirent **list = NULL;
  int n, ret = 0;

  if (depth > MAX_DEPTH)
    return cpb_error_set (err, CPB_ERR_INPUT, "'%s': directories nested too deep", name);
  n = scandirat (dfd, ".", &list, skip_dots, by_name);
  if (n < 0)
    return cpb_error_errno (err, errno, "cannot list '%s'", name);
  for (int i = 0; i < n; i++)
    {
      _cleanup_free_ char *child = cpb_xasprintf ("%s/%s", name, list[i]->d_name);

      if (ret == 0)
        ret = walk_child (dfd, list[i]->d_name, child, depth, visit, userdata, err);
      free (list[i]);
    }
  free (list);
  return ret;
}

/* Visit every entry in order: the fixed order makes both the tar and the hash stable. */
static int
walk_entries (const struct cpb_buildctx_entry *entries, size_t n, visit_fn visit, void *userdata,
              cpb_error **err)
{
  for (size_t i = 0; i < n; i++)
    {
      const struct cpb_buildctx_entry *e = &entries[i];
      _cleanup_close_ int fd = -1;
      struct stat st;

      if (e->src == NULL)
        {
          struct item it = { .name = e->name,
                             .type = S_IFREG,
                             .perm = e->mode ? e->mode : 0644,
                             .size = (off_t)e->len,
                             .mtime = time (NULL),
                             .fd = -1,
                             .data = e->data };
          if (visit (userdata, &it, err) < 0)
            return -1;
          continue;
        }
      /* The named source itself may be a symlink (a user's convenience); inside a
         directory, links are kept as links. */
      fd = open (e->src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
      if (fd < 0)
        return cpb_error_errno (err, errno, "cannot open '%s'", e->src);
      if (fstat (fd, &st) < 0)
        return cpb_error_errno (err, errno, "cannot stat '%s'", e->src);
      if (visit_fd (fd, &st, e->name, e->mode, 0, visit, userdata, err) < 0)
        return cpb_error_prefix (err, "'%s'", e->src);
    }
  return 0;
}

/* Read exactly IT->size bytes of IT->fd in blocks, handing each to SINK. */
static int
read_contents (const struct item *it, int (*sink) (void *, const void *, size_t, cpb_error **),
               void *userdata, cpb_error **err)
{
  _cleanup_free_ char *block = cpb_xmalloc (BLOCK_SIZE);
  off_t left = it->size;

  while (left > 0)
    {
      ssize_t r = read (it->fd, block, left < BLOCK_SIZE ? (size_t)left : BLOCK_SIZE);

      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        return cpb_error_errno (err, errno, "cannot read '%s'", it->name);
      /* The tar header already promised the old size: a shrinking file cannot be sent. */
      if (r == 0)
        return cpb_error_set (err, CPB_ERR_INPUT, "'%s' changed while being read", it->name);
      if (sink (userdata, block, (size_t)r, err) < 0)
        return -1;
      left -= r;
    }
  return 0;
}

/* --- the tar writer ----------------------------------------------------------------- */

struct tar_out
{
  int fd;
  int saved_errno;
};

/* send() with MSG_NOSIGNAL, so a reader that went away is an EPIPE to report, not a
   SIGPIPE that kills the process; plain write() when FD is a pipe or file (tests). */
static la_ssize_t
tar_out_write (struct archive *a, void *userdata, const void *buf, size_t len)
{
  struct tar_out *out = userdata;
  size_t done = 0;

  while (done < len)
    {
      ssize_t w = send (out->fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);

      if (w < 0 && errno == ENOTSOCK)
        w = write (out->fd, (const char *)buf + done, len - done);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          out->saved_errno = errno;
          archive_set_error (a, errno, "cannot send the build context");
          return -1;
        }
      done += (size_t)w;
    }
  return (la_ssize_t)len;
}

static int
archive_fail (struct archive *a, cpb_error **err, const char *what)
{
  int e = archive_errno (a);

  cpb_error_set (err, CPB_ERR_SYSTEM, "%s: %s%s%s", what, archive_error_string (a),
                 e > 0 ? ": " : "", e > 0 ? strerror (e) : "");
  if (err && *err && e > 0)
    (*err)->errno_value = e; /* callers tell a reader gone (EPIPE) from a full disk */
  return -1;
}

static int
tar_sink (void *userdata, const void *data, size_t len, cpb_error **err)
{
  struct archive *a = userdata;

  if (archive_write_data (a, data, len) != (la_ssize_t)len)
    return archive_fail (a, err, "writing the build context");
  return 0;
}

static int
tar_visit (void *userdata, const struct item *it, cpb_error **err)
{
  struct archive *a = userdata;
  _cleanup_archive_entry_ struct archive_entry *e = archive_entry_new ();

  archive_entry_set_pathname (e, it->name);
  archive_entry_set_filetype (e, it->type);
  archive_entry_set_perm (e, it->perm);
  archive_entry_set_mtime (e, it->mtime, 0);
  archive_entry_set_uid (e, 0);
  archive_entry_set_gid (e, 0);
  if (it->type == S_IFREG)
    archive_entry_set_size (e, it->size);
  if (it->type == S_IFLNK)
    archive_entry_set_symlink (e, it->target);
  if (archive_write_header (a, e) != ARCHIVE_OK)
    return archive_fail (a, err, "writing the build context");
  if (it->data)
    return tar_sink (a, it->data, (size_t)it->size, err);
  if (it->fd >= 0)
    return read_contents (it, tar_sink, a, err);
  return 0;
}

int
cpb_buildctx_write (int fd, const struct cpb_buildctx_entry *entries, size_t n, cpb_error **err)
{
  _cleanup_archive_write_ struct archive *a = archive_write_new ();
  struct tar_out out = { .fd = fd };

  /* pax: long names and large files without GNU extensions; buildah reads it. */
  if (archive_write_set_format_pax_restricted (a) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block (a, 1) != ARCHIVE_OK ||
      archive_write_open (a, &out, NULL, tar_out_write, NULL) != ARCHIVE_OK)
    return archive_fail (a, err, "starting the build context");
  if (walk_entries (entries, n, tar_visit, a, err) < 0)
    return -1;
  if (archive_write_close (a) != ARCHIVE_OK)
    return archive_fail (a, err, "finishing the build context");
  return 0;
}

/* --- the content hash --------------------------------------------------------------- */

static int
hash_sink (void *userdata, const void *data, size_t len, cpb_error **err)
{
  cpb_sha256_update (userdata, data, len);
  return 0;
}

static int
hash_visit (void *userdata, const struct item *it, cpb_error **err)
{
  cpb_sha256 *h = userdata;
  char head[64];
  int len;

  /* The name's NUL is hashed too, so "a" + "bc" never collides with "ab" + "c". */
  cpb_sha256_update (h, it->name, strlen (it->name) + 1);
  len = snprintf (head, sizeof head, "%o %o %lld", (unsigned)it->type, (unsigned)it->perm,
                  (long long)it->size);
  cpb_sha256_update (h, head, (size_t)len + 1);
  if (it->target)
    cpb_sha256_update (h, it->target, strlen (it->target) + 1);
  if (it->data)
    cpb_sha256_update (h, it->data, (size_t)it->size);
  if (it->fd >= 0)
    return read_contents (it, hash_sink, h, err);
  return 0;
}

int
cpb_buildctx_hash (const struct cpb_buildctx_entry *entries, size_t n,
                   char hex[CPB_SHA256_HEX_LEN + 1], cpb_error **err)
{
  _cleanup_sha256_ cpb_sha256 *h = cpb_sha256_new ();

  if (walk_entries (entries, n, hash_visit, h, err) < 0)
    return -1;
  cpb_sha256_finish (TAKE_PTR (h), hex);
  return 0;
}

/* --- the writer thread -------------------------------------------------------------- */

struct cpb_buildctx_stream
{
  pthread_t thread;
  int fd; /* the writing end, owned by the thread until it ends */
  struct cpb_buildctx_entry *entries;
  size_t n;
  cpb_error *err;
};

static void
stream_free (cpb_buildctx_stream *s)
{
  for (size_t i = 0; i < s->n; i++)
    {
      free ((char *)s->entries[i].name);
      free ((char *)s->entries[i].src);
      free ((void *)s->entries[i].data);
    }
  free (s->entries);
  cpb_error_free (s->err);
  free (s);
}

static void *
stream_thread (void *arg)
{
  cpb_buildctx_stream *s = arg;

  cpb_buildctx_write (s->fd, s->entries, s->n, &s->err);
  /* Closing is the end of the body for the reader: do it now, not in finish. */
  close (TAKE_FD (s->fd));
  return NULL;
}

static struct cpb_buildctx_entry *
copy_entries (const struct cpb_buildctx_entry *entries, size_t n)
{
  struct cpb_buildctx_entry *copy = cpb_xcalloc (n ? n : 1, sizeof *copy);

  for (size_t i = 0; i < n; i++)
    {
      copy[i] = entries[i];
      copy[i].name = cpb_xstrdup (entries[i].name);
      copy[i].src = entries[i].src ? cpb_xstrdup (entries[i].src) : NULL;
      if (entries[i].data)
        {
          void *data = cpb_xmalloc (entries[i].len ? entries[i].len : 1);
          memcpy (data, entries[i].data, entries[i].len);
          copy[i].data = data;
        }
    }
  return copy;
}

int
cpb_buildctx_stream_start (const struct cpb_buildctx_entry *entries, size_t n, int *ret_fd,
                           cpb_buildctx_stream **ret_stream, cpb_error **err)
{
  cpb_buildctx_stream *s;
  int sv[2], r;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return cpb_error_errno (err, errno, "cannot create the build context socket");
  /* The reader only reads: a half-closed socket makes that direction explicit. */
  shutdown (sv[0], SHUT_WR);
  s = cpb_xzalloc (sizeof *s);
  s->fd = sv[1];
  s->entries = copy_entries (entries, n);
  s->n = n;
  r = pthread_create (&s->thread, NULL, stream_thread, s);
  if (r != 0)
    {
      close (sv[0]);
      close (sv[1]);
      s->fd = -1;
      stream_free (s);
      return cpb_error_errno (err, r, "cannot start the build context writer");
    }
  *ret_fd = sv[0];
  *ret_stream = s;
  return 0;
}

int
cpb_buildctx_stream_finish (cpb_buildctx_stream *s, cpb_error **err)
{
  int ret = 0;

  if (s == NULL)
    return 0;
  pthread_join (s->thread, NULL);
  if (s->err)
    {
      ret = -1;
      if (err)
        {
          cpb_error_free (*err);
          *err = TAKE_PTR (s->err);
        }
    }
  stream_free (s);
  return ret;
}
