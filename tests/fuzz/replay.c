/* replay.c: run a fuzz target's LLVMFuzzerTestOneInput over files, as an ordinary test.
 *
 * Every fuzz target in tests/fuzz/ is linked twice: with libFuzzer when -Dfuzzing=true,
 * and always with this driver, which feeds it each file named on the command line (each
 * regular file inside a named directory, in name order) and speaks TAP, one line per input.
 * A crash, a sanitizer report or an abort() on a broken invariant fails the test, so the
 * corpus keeps guarding against regressions in builds without clang, as systemd's fuzzers
 * do.  Inputs that once crashed belong in the corpus directory.
 */
#include "config.h"
#include "cleanup.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

/* libFuzzer's default -max_len for a new corpus is 4096; inputs are small files anyway. */
#define REPLAY_MAX_INPUT (1u << 20)

static int n_inputs;

static int
read_input (const char *path, uint8_t **ret, size_t *ret_len)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  _cleanup_free_ uint8_t *data = NULL;
  struct stat st;
  size_t len = 0;

  if (fd < 0 || fstat (fd, &st) < 0)
    return -1;
  if (st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT)
    return errno = EFBIG, -1;
  /* An exact-size heap copy, so that AddressSanitizer sees any read past the input. */
  data = cpb_xmalloc ((size_t)st.st_size ? (size_t)st.st_size : 1);
  while (len < (size_t)st.st_size)
    {
      ssize_t n = read (fd, data + len, (size_t)st.st_size - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n == 0 ? (errno = EIO, -1) : -1;
      len += (size_t)n;
    }
  *ret = TAKE_PTR (data);
  *ret_len = len;
  return 0;
}

static int
replay_file (const char *path)
{
  _cleanup_free_ uint8_t *data = NULL;
  size_t len;

  if (read_input (path, &data, &len) < 0)
    {
      printf ("not ok %d - %s: %s\n", ++n_inputs, path, strerror (errno));
      return -1;
    }
  LLVMFuzzerTestOneInput (data, len);
  printf ("ok %d - %s (%zu bytes)\n", ++n_inputs, path, len);
  fflush (stdout);
  return 0;
}

static int
name_cmp (const struct dirent **a, const struct dirent **b)
{
  return strcmp ((*a)->d_name, (*b)->d_name);
}

static int
skip_dots (const struct dirent *e)
{
  return e->d_name[0] != '.';
}

static int
replay_dir (const char *dir)
{
  struct dirent **names = NULL;
  int n = scandir (dir, &names, skip_dots, name_cmp);
  int r = 0;

  if (n < 0)
    {
      printf ("not ok %d - %s: %s\n", ++n_inputs, dir, strerror (errno));
      return -1;
    }
  for (int i = 0; i < n; i++)
    {
      _cleanup_free_ char *path = cpb_xasprintf ("%s/%s", dir, names[i]->d_name);
      struct stat st;

      if (stat (path, &st) == 0 && S_ISREG (st.st_mode) && replay_file (path) < 0)
        r = -1;
      free (names[i]);
    }
  free (names);
  return r;
}

int
main (int argc, char **argv)
{
  struct stat st;
  int r = 0;

  if (argc < 2)
    {
      fprintf (stderr, "Usage: %s FILE|DIR...\n", argv[0]);
      return 2;
    }
  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    {
      if (stat (argv[i], &st) == 0 && S_ISDIR (st.st_mode))
        r |= replay_dir (argv[i]);
      else
        r |= replay_file (argv[i]);
    }
  if (n_inputs == 0)
    printf ("not ok 1 - no inputs found\n"), n_inputs = 1, r = -1;
  printf ("1..%d\n", n_inputs);
  return r < 0 ? 1 : 0;
}
