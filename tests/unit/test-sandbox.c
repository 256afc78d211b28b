/* Unit tests for the host-side sandbox (src/lib/sandbox.c): the child cannot exec or open a
 * socket, ordinary work and its results pass, errors keep their kind and message. */
#include "config.h"
#include "tap.h"
#include "error.h"
#include "sandbox.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Upper-case IN_FD into OUT_FD: the kind of work a parser does. */
static int
upcase (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  char buf[256];
  ssize_t n;
  int total = 0;

  while ((n = read (in_fd, buf, sizeof buf)) > 0)
    {
      for (ssize_t i = 0; i < n; i++)
        if (buf[i] >= 'a' && buf[i] <= 'z')
          buf[i] -= 32;
      if (write (out_fd, buf, (size_t)n) != n)
        return cpb_error_errno (err, errno, "write");
      total += (int)n;
    }
  return n < 0 ? cpb_error_errno (err, errno, "read") : total;
}

static int
try_exec (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  char *argv[] = { "/bin/true", NULL };
  execv ("/bin/true", argv);
  return cpb_error_errno (err, errno, "exec '/bin/true'");
}

static int
try_socket (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  int fd = socket (*(int *)arg, SOCK_STREAM, 0);
  if (fd < 0)
    return cpb_error_errno (err, errno, "socket");
  return 0;
}

static int
fail_input (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  return cpb_error_set (err, CPB_ERR_INPUT, "archive entry '../etc/passwd' escapes the target");
}

static int
crash (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  abort (); /* an assertion in the parser; a real SIGSEGV is caught by ASan in CI builds */
  return 0;
}

/* The child sees only IN_FD, OUT_FD and stderr of the parent's descriptors. */
static int
count_fds (void *arg, int in_fd, int out_fd, cpb_error **err)
{
  int n = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl (fd, F_GETFD) >= 0)
      n++;
  return n;
}

static void
test_work_passes (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  int in[2], out[2];
  char got[64] = "";

  ok (pipe (in) == 0 && pipe (out) == 0, "pipes");
  ok (write (in[1], "hello, tar", 10) == 10, "feed input");
  close (in[1]);
  is_int (cpb_sandbox_run (upcase, NULL, in[0], out[1], &err), 10, "result passes back");
  close (out[1]);
  ok (read (out[0], got, sizeof got - 1) == 10, "output written by the child");
  is_str (got, "HELLO, TAR", "output is the work's");
  close (in[0]);
  close (out[0]);
}

#define STREAM_BYTES (1 << 20)

static void *
feed (void *arg)
{
  int fd = *(int *)arg;
  char chunk[4096];

  memset (chunk, 'a', sizeof chunk);
  for (int i = 0; i < STREAM_BYTES / (int)sizeof chunk; i++)
    if (write (fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
      break;
  close (fd);
  return NULL;
}

/* 1 MiB through pipes, far more than a pipe holds: only works if the caller can feed and
   drain while the child runs (cpb_sandbox_start, then cpb_sandbox_wait). */
static void
test_streaming (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  cpb_sandbox *sb = NULL;
  int in[2], out[2], bad = 0;
  long got = 0;
  char buf[8192];
  ssize_t n;
  pthread_t writer;

  ok (pipe2 (in, O_CLOEXEC) == 0 && pipe2 (out, O_CLOEXEC) == 0, "stream pipes");
  ok (cpb_sandbox_start (upcase, NULL, in[0], out[1], &sb, &err) == 0, "start the child");
  close (in[0]);
  close (out[1]);
  pthread_create (&writer, NULL, feed, &in[1]);
  while ((n = read (out[0], buf, sizeof buf)) > 0)
    {
      for (ssize_t i = 0; i < n; i++)
        bad += buf[i] != 'A';
      got += n;
    }
  pthread_join (writer, NULL);
  close (out[0]);
  is_int (cpb_sandbox_wait (sb, &err), STREAM_BYTES, "the child's result after streaming");
  is_int (got, STREAM_BYTES, "every byte came back");
  is_int (bad, 0, "transformed by the child");
}

int
main (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  int inet = AF_INET, unix_family = AF_UNIX;
  int extra = open ("/dev/null", O_RDONLY);

  plan_no_plan ();
  ok (access ("/bin/true", X_OK) == 0, "/bin/true exists (so a failed exec is the filter's)");
  test_work_passes ();
  test_streaming ();

  ok (cpb_sandbox_run (try_exec, NULL, -1, -1, &err) < 0, "the child cannot exec");
  ok (err && err->errno_value == EPERM, "exec refused with EPERM");
  is_str (err ? err->msg : NULL, "exec '/bin/true': Operation not permitted", "its message passes");
  cpb_error_free (TAKE_PTR (err));

  ok (cpb_sandbox_run (try_socket, &inet, -1, -1, &err) < 0 && err->errno_value == EPERM,
      "the child cannot open an inet socket");
  cpb_error_free (TAKE_PTR (err));
  ok (cpb_sandbox_run (try_socket, &unix_family, -1, -1, &err) < 0 && err->errno_value == EPERM,
      "nor a unix socket");
  cpb_error_free (TAKE_PTR (err));

  ok (cpb_sandbox_run (fail_input, NULL, -1, -1, &err) < 0 && err->kind == CPB_ERR_INPUT,
      "an error keeps its kind");
  is_str (err ? err->msg : NULL, "archive entry '../etc/passwd' escapes the target",
          "and its message");
  cpb_error_free (TAKE_PTR (err));

  ok (cpb_sandbox_run (crash, NULL, -1, -1, &err) < 0 && err->kind == CPB_ERR_FAILED &&
          strstr (err->msg, "signal 6"),
      "a crash in the child is an error, not a crash of cpb");
  cpb_error_free (TAKE_PTR (err));

  ok (extra >= 0, "an extra descriptor is open in the parent");
  is_int (cpb_sandbox_run (count_fds, NULL, -1, -1, &err), 2,
          "the child holds only stderr and its result pipe");
  close (extra);
  return done_testing ();
}
