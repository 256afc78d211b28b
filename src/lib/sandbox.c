/* sandbox.c: a forked, seccomp-restricted child for parsing untrusted data (sandbox.h).
 *
 * The filter is plain EPERM (not a kill) so that code in the child that tries something it
 * may not sees an ordinary error and reports it through the normal path.
 */
#include "config.h"
#include "sandbox.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp-profile.h"

/* Refused in the child, and why: exec would leave the parser's confinement for any binary
   on the host; sockets would reach the network or local daemons; ptrace and process_vm_*
   would reach other processes of the user (cpb itself); the rest are kernel surface a
   parser never needs. */
static const char *const sandbox_deny[] = {
  "execve",
  "execveat",
  "socket",
  "socketpair",
  "connect",
  "ptrace",
  "process_vm_readv",
  "process_vm_writev",
  "io_uring_setup",
  "unshare",
  "setns",
  "mount",
  "keyctl",
  "bpf",
  "userfaultfd",
  "perf_event_open",
  NULL,
};

/* What the child sends back: this header, then MSG_LEN bytes of message. */
struct sandbox_result
{
  int32_t rc;
  int32_t kind;
  int32_t errno_value;
  uint32_t msg_len;
};

#define SANDBOX_MAX_MSG 4096

static int
install_filter (void)
{
  _cleanup_seccomp_ scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);

  if (ctx == NULL)
    return -ENOMEM;
  for (const char *const *n = sandbox_deny; *n; n++)
    {
      int nr = seccomp_syscall_resolve_name (*n);
      if (nr == __NR_SCMP_ERROR)
        continue;
      int r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), nr, 0);
      if (r < 0)
        return r;
    }
  return seccomp_load (ctx);
}

static int
cmp_int (const void *a, const void *b)
{
  return *(const int *)a - *(const int *)b;
}

/* Close every descriptor but those in KEEP (N of them, -1 entries ignored). */
static void
close_all_except (int *keep, size_t n)
{
  unsigned int from = 0;

  qsort (keep, n, sizeof *keep, cmp_int);
  for (size_t i = 0; i < n; i++)
    {
      if (keep[i] < 0 || (unsigned int)keep[i] < from)
        continue;
      if ((unsigned int)keep[i] > from)
        close_range (from, (unsigned int)keep[i] - 1, 0);
      from = (unsigned int)keep[i] + 1;
    }
  close_range (from, ~0U, 0);
}

static void
write_all (int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      p += n, len -= (size_t)n;
    }
}

static void __attribute__ ((noreturn))
child_main (cpb_sandbox_fn fn, void *arg, int in_fd, int out_fd, int result_fd)
{
  _cleanup_error_ cpb_error *err = NULL;
  int keep[] = { STDERR_FILENO, in_fd, out_fd, result_fd };
  struct sandbox_result res = { 0 };
  int r;

  close_all_except (keep, sizeof keep / sizeof keep[0]);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    r = cpb_error_errno (&err, errno, "sandbox: no_new_privs");
  else if ((r = install_filter ()) < 0)
    r = cpb_error_errno (&err, -r, "sandbox: installing the seccomp filter");
  else
    r = fn (arg, in_fd, out_fd, &err);
  if (r < 0 && err == NULL)
    cpb_error_set (&err, CPB_ERR_FAILED, "sandboxed work failed without saying why");

  res.rc = r < 0 ? -1 : r;
  if (r < 0)
    {
      res.kind = (int32_t)err->kind;
      res.errno_value = err->errno_value;
      res.msg_len = (uint32_t)strnlen (err->msg, SANDBOX_MAX_MSG);
    }
  write_all (result_fd, &res, sizeof res);
  if (r < 0)
    write_all (result_fd, err->msg, res.msg_len);
  _exit (0);
}

static ssize_t
read_full (int fd, void *buf, size_t len)
{
  size_t got = 0;
  while (got < len)
    {
      ssize_t n = read (fd, (char *)buf + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? -1 : (ssize_t)got;
      got += (size_t)n;
    }
  return (ssize_t)got;
}

/* Turn what the child sent (or did not send) and how it ended into the return value. */
static int
collect (int result_fd, int wstatus, cpb_error **err)
{
  struct sandbox_result res;
  char msg[SANDBOX_MAX_MSG + 1];
  ssize_t n;

  if (WIFSIGNALED (wstatus))
    {
      int sig = WTERMSIG (wstatus);
      return cpb_error_set (err,
                            sig == SIGINT || sig == SIGTERM ? CPB_ERR_CANCELLED : CPB_ERR_FAILED,
                            "sandboxed child killed by signal %d (%s)", sig, strsignal (sig));
    }
  n = read_full (result_fd, &res, sizeof res);
  if (n != (ssize_t)sizeof res)
    return cpb_error_set (err, CPB_ERR_FAILED, "sandboxed child ended without a result");
  if (res.rc >= 0)
    return res.rc;
  n = read_full (result_fd, msg, res.msg_len > SANDBOX_MAX_MSG ? SANDBOX_MAX_MSG : res.msg_len);
  msg[n > 0 ? n : 0] = '\0';
  cpb_error_set (err,
                 res.kind >= CPB_ERR_SYSTEM && res.kind <= CPB_ERR_FAILED
                     ? (enum cpb_error_kind)res.kind
                     : CPB_ERR_FAILED,
                 "%s", msg);
  if (err && *err)
    (*err)->errno_value = res.errno_value;
  return -1;
}

struct cpb_sandbox
{
  pid_t pid;
  int result_fd;
};

int
cpb_sandbox_start (cpb_sandbox_fn fn, void *arg, int in_fd, int out_fd, cpb_sandbox **ret,
                   cpb_error **err)
{
  _cleanup_close_ int result_r = -1, result_w = -1;
  int pipefd[2];
  cpb_sandbox *sb;
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return cpb_error_errno (err, errno, "sandbox: pipe");
  result_r = pipefd[0], result_w = pipefd[1];

  pid = fork ();
  if (pid < 0)
    return cpb_error_errno (err, errno, "sandbox: fork");
  if (pid == 0)
    child_main (fn, arg, in_fd, out_fd, result_w);

  sb = cpb_xzalloc (sizeof *sb);
  sb->pid = pid;
  sb->result_fd = TAKE_FD (result_r);
  *ret = sb;
  return 0;
}

int
cpb_sandbox_wait (cpb_sandbox *sb, cpb_error **err)
{
  _cleanup_close_ int result_fd = sb->result_fd;
  pid_t pid = sb->pid;
  int wstatus;

  free (sb);
  /* The result is at most a few KiB: the child writes it and exits, so reading after the
     wait cannot deadlock on a full pipe (64 KiB). */
  while (waitpid (pid, &wstatus, 0) < 0)
    if (errno != EINTR)
      return cpb_error_errno (err, errno, "sandbox: waitpid");
  return collect (result_fd, wstatus, err);
}

int
cpb_sandbox_run (cpb_sandbox_fn fn, void *arg, int in_fd, int out_fd, cpb_error **err)
{
  cpb_sandbox *sb = NULL;

  if (cpb_sandbox_start (fn, arg, in_fd, out_fd, &sb, err) < 0)
    return -1;
  return cpb_sandbox_wait (sb, err);
}
