/* Unit tests for the build context: the streamed tar holds exactly the entries, in order,
   with their contents and modes; the hash follows contents but not mtimes; writer errors
   reach the caller. */
#include "config.h"
#include "tap.h"

#include <errno.h>
#include "build/buildctx.h"
#include "buf.h"
#include "xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

static char dir[] = "/tmp/test-buildctx.XXXXXX";

static void
write_file (const char *name, const char *text)
{
  _cleanup_free_ char *path = cpb_xasprintf ("%s/%s", dir, name);
  FILE *f = fopen (path, "we");

  fputs (text, f);
  fclose (f);
}

static char *
path_of (const char *name)
{
  return cpb_xasprintf ("%s/%s", dir, name);
}

/* Read the tar from FD into one line per member: "name type mode size contents". */
static char *
list_tar (int fd)
{
  struct archive *a = archive_read_new ();
  struct archive_entry *e;
  cpb_buf out = CPB_BUF_INIT;

  archive_read_support_format_tar (a);
  if (archive_read_open_fd (a, fd, 4096) != ARCHIVE_OK)
    return NULL;
  while (archive_read_next_header (a, &e) == ARCHIVE_OK)
    {
      char data[256] = "";
      la_ssize_t n = archive_read_data (a, data, sizeof data - 1);

      data[n > 0 ? n : 0] = '\0';
      cpb_buf_printf (&out, "%s %c %04o %lld %s%s|", archive_entry_pathname (e),
                      archive_entry_filetype (e) == AE_IFDIR   ? 'd'
                      : archive_entry_filetype (e) == AE_IFLNK ? 'l'
                                                               : 'f',
                      (unsigned)archive_entry_perm (e), (long long)archive_entry_size (e), data,
                      archive_entry_symlink (e) ? archive_entry_symlink (e) : "");
    }
  archive_read_free (a);
  return cpb_buf_steal (&out, NULL);
}

static void
test_stream (void)
{
  _cleanup_free_ char *a = path_of ("a.txt"), *d = path_of ("tree");
  const struct cpb_buildctx_entry entries[] = {
    { .name = "Containerfile", .data = "FROM x\n", .len = 7 },
    { .name = "files/0/a.txt", .src = a, .mode = 0755 },
    { .name = "files/1/tree", .src = d },
  };
  _cleanup_error_ cpb_error *err = NULL;
  cpb_buildctx_stream *s = NULL;
  _cleanup_free_ char *listing = NULL;
  int fd = -1;

  ok (cpb_buildctx_stream_start (entries, 3, &fd, &s, &err) == 0, "the writer starts");
  listing = list_tar (fd);
  close (fd);
  ok (cpb_buildctx_stream_finish (s, &err) == 0, "the writer ends without error");
  is_str (listing,
          "Containerfile f 0644 7 FROM x\n|"
          "files/0/a.txt f 0755 6 hello\n|"
          "files/1/tree/ d 0750 0 |"
          "files/1/tree/b f 0600 2 b\n|"
          "files/1/tree/link l 0777 0 ../a.txt|"
          "files/1/tree/sub/ d 0755 0 |"
          "files/1/tree/sub/c f 0644 2 c\n|",
          "the tar holds every entry, directories walked in name order, links kept");
}

static void
test_hash (void)
{
  _cleanup_free_ char *a = path_of ("a.txt"), *d = path_of ("tree");
  const struct cpb_buildctx_entry entries[] = {
    { .name = "files/0/a.txt", .src = a, .mode = 0755 },
    { .name = "files/1/tree", .src = d },
  };
  struct cpb_buildctx_entry moded[2];
  char h1[CPB_SHA256_HEX_LEN + 1], h2[CPB_SHA256_HEX_LEN + 1], h3[CPB_SHA256_HEX_LEN + 1];
  _cleanup_error_ cpb_error *err = NULL;
  struct utimbuf old = { 1000000, 1000000 };
  _cleanup_free_ char *c = path_of ("tree/sub/c");

  ok (cpb_buildctx_hash (entries, 2, h1, &err) == 0, "the context hashes");
  utime (c, &old);
  cpb_buildctx_hash (entries, 2, h2, &err);
  is_str (h2, h1, "an older mtime does not change the hash");
  write_file ("tree/sub/c", "C\n");
  cpb_buildctx_hash (entries, 2, h3, &err);
  ok (strcmp (h3, h1) != 0, "a changed file deep in a directory changes the hash");
  write_file ("tree/sub/c", "c\n");
  memcpy (moded, entries, sizeof moded);
  moded[0].mode = 0700;
  cpb_buildctx_hash (moded, 2, h3, &err);
  ok (strcmp (h3, h1) != 0, "a changed mode changes the hash");
  moded[0].mode = 0755;
  moded[0].name = "files/0/b.txt";
  cpb_buildctx_hash (moded, 2, h3, &err);
  ok (strcmp (h3, h1) != 0, "a changed name changes the hash");
}

static void
test_errors (void)
{
  _cleanup_free_ char *big = path_of ("big"), *missing = path_of ("missing");
  const struct cpb_buildctx_entry gone[] = { { .name = "files/0/x", .src = missing } };
  const struct cpb_buildctx_entry large[] = { { .name = "files/0/big", .src = big } };
  _cleanup_error_ cpb_error *err = NULL;
  char hex[CPB_SHA256_HEX_LEN + 1];
  cpb_buildctx_stream *s = NULL;
  int fd = -1, out;
  char buf[16];

  ok (cpb_buildctx_hash (gone, 1, hex, &err) < 0, "hashing a missing file fails");
  ok (err && strstr (err->msg, "missing") != NULL, "naming it: %s", err ? err->msg : "");
  cpb_error_free (TAKE_PTR (err));

  cpb_buildctx_stream_start (gone, 1, &fd, &s, &err);
  while (read (fd, buf, sizeof buf) > 0)
    ;
  close (fd);
  ok (cpb_buildctx_stream_finish (s, &err) < 0, "a missing file fails the stream's writer");
  cpb_error_free (TAKE_PTR (err));

  out = open (big, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ok (ftruncate (out, 8 << 20) == 0, "an 8 MiB file");
  close (out);
  cpb_buildctx_stream_start (large, 1, &fd, &s, &err);
  ok (read (fd, buf, sizeof buf) == sizeof buf, "the reader takes a few bytes");
  close (fd);
  ok (cpb_buildctx_stream_finish (s, &err) < 0, "a reader that went away fails the writer");
  /* A socketpair reader that closes with unread data gives the writer ECONNRESET, one that
     closes with an empty buffer EPIPE: which one depends on timing, both mean it went away. */
  ok (err && (err->errno_value == EPIPE || err->errno_value == ECONNRESET),
      "as the reader gone (EPIPE or ECONNRESET): %s", err ? err->msg : "");
}

int
main (void)
{
  _cleanup_free_ char *cmd = NULL;

  if (mkdtemp (dir) == NULL)
    return 1;
  write_file ("a.txt", "hello\n");
  cmd = cpb_xasprintf ("mkdir -p %s/tree/sub && chmod 0750 %s/tree && chmod 0755 %s/tree/sub "
                       "&& ln -s ../a.txt %s/tree/link",
                       dir, dir, dir, dir);
  if (system (cmd) != 0)
    return 1;
  write_file ("tree/b", "b\n");
  write_file ("tree/sub/c", "c\n");
  {
    _cleanup_free_ char *b = path_of ("tree/b"), *c = path_of ("tree/sub/c");
    chmod (b, 0600);
    chmod (c, 0644);
  }

  test_stream ();
  test_hash ();
  test_errors ();

  free (cmd);
  cmd = cpb_xasprintf ("rm -rf %s", dir);
  system (cmd);
  return done_testing ();
}
