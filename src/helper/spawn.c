/* spawn.c: start the task in its own process group, behind cpb's seccomp filter.
 *
 * The filter is built in the helper (so a bad profile fails before anything runs) and
 * loaded by the child, which hands the seccomp listener back over a socket before exec'ing
 * the command: the helper answers the notifications, the task never holds the listener
 * (it is close-on-exec).
 */
#include "config.h"
#include "helper.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* What the child writes on the status pipe when it fails before or at exec. */
struct child_failure
{
  int stage; /* CHILD_SETUP or CHILD_EXEC */
  int err;
};
enum
{
  CHILD_SETUP = 1,
  CHILD_EXEC = 2,
};

int64_t
helper_now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool
is_executable_file (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

/* The command's path, searched in $PATH here rather than by the child: under the strict
   profile the child gets exactly one execve, so it must be the right one. */
static char *
resolve_command (const char *cmd, int *ret_errno)
{
  const char *path = getenv ("PATH");
  int err = ENOENT;

  if (strchr (cmd, '/'))
    return cpb_xstrdup (cmd);
  if (path == NULL || *path == '\0')
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const char *p = path; *p;)
    {
      size_t n = strcspn (p, ":");
      _cleanup_free_ char *cand = cpb_xasprintf ("%.*s/%s", (int)n, n ? p : ".", cmd);
      if (is_executable_file (cand))
        return TAKE_PTR (cand);
      if (access (cand, F_OK) == 0)
        err = EACCES;
      p += n + (p[n] == ':');
    }
  *ret_errno = err;
  return NULL;
}

/* Pass FD (or, when FD < 0, only a byte saying there is none) over SOCK. */
static int
send_listener (int sock, int fd)
{
  char byte = fd >= 0 ? 'N' : 'E';
  struct iovec iov = { &byte, 1 };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

  if (fd >= 0)
    {
      memset (&u, 0, sizeof u);
      msg.msg_control = u.buf;
      msg.msg_controllen = sizeof u.buf;
      struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &fd, sizeof (int));
    }
  return sendmsg (sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Receive what send_listener sent: 1 with *RET_FD set (maybe -1 for a fallback), 0 if the
   child ended without sending, -1 on error. */
static int
recv_listener (int sock, int *ret_fd)
{
  char byte;
  struct iovec iov = { &byte, 1 };
  union
  {
    char buf[CMSG_SPACE (sizeof (int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf
  };
  ssize_t n;

  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return (int)n;
  *ret_fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      memcpy (ret_fd, CMSG_DATA (c), sizeof (int));
  return 1;
}

static void __attribute__ ((noreturn)) child_fail (int status_fd, int stage, int err)
{
  struct child_failure f = { stage, err };
  if (write (status_fd, &f, sizeof f) < 0)
    {
      /* nothing left to tell anyone */
    }
  _exit (stage == CHILD_EXEC ? (err == ENOENT ? CPB_HELPER_EXIT_NOT_FOUND : CPB_HELPER_EXIT_CANNOT_EXEC)
                             : CPB_HELPER_EXIT_FAILED);
}

/* Load CTX; if the kernel refuses a listener (none there, or one already in an outer
   layer), fall back to plain EPERM refusals for the default profile.  Returns the listener
   or -1, and -2 on failure with errno set. */
static int
child_load_filter (const struct helper_opts *opts, scmp_filter_ctx ctx)
{
  int r, kernel_errno;

  /* libseccomp 2.5 answers ECANCELED for any refusal by the kernel; the kernel's own errno
     (EBUSY: a listener exists already) is still in errno right after the call. */
  errno = 0;
  r = seccomp_load (ctx);
  kernel_errno = errno ? errno : -r;

  if (r < 0 && opts->profile.notify && opts->profile.kind == CPB_PROFILE_DEFAULT)
    {
      struct cpb_profile_opts plain = opts->profile;
      _cleanup_seccomp_ scmp_filter_ctx ctx2 = NULL;
      plain.notify = false;
      if (cpb_profile_build (&plain, &ctx2, NULL, NULL) < 0)
        return errno = EINVAL, -2;
      r = seccomp_load (ctx2);
      if (r < 0)
        return errno = -r, -2;
      return -1;
    }
  if (r < 0)
    return errno = kernel_errno, -2;
  return opts->profile.notify ? seccomp_notify_fd (ctx) : -1;
}

static void __attribute__ ((noreturn))
child_run (const struct helper_opts *opts, scmp_filter_ctx ctx, const char *path, int sock,
           int status_fd)
{
  sigset_t none;
  int listener = -1;

  sigemptyset (&none);
  signal (SIGPIPE, SIG_DFL);
  sigprocmask (SIG_SETMASK, &none, NULL);
  setpgid (0, 0);
  if (isatty (STDIN_FILENO))
    {
      /* Our group becomes the terminal's foreground; SIGTTOU would stop us doing so. */
      signal (SIGTTOU, SIG_IGN);
      tcsetpgrp (STDIN_FILENO, getpid ());
      signal (SIGTTOU, SIG_DFL);
    }
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    child_fail (status_fd, CHILD_SETUP, errno);
  if (ctx)
    {
      listener = child_load_filter (opts, ctx);
      if (listener == -2)
        child_fail (status_fd, CHILD_SETUP, errno);
      if (send_listener (sock, listener) < 0)
        child_fail (status_fd, CHILD_SETUP, errno);
    }
  execve (path, opts->argv, environ);
  child_fail (status_fd, CHILD_EXEC, errno);
}

/* After the fork: take the listener the child hands over and learn whether the filter
   went in as asked. */
static int
parent_take_listener (int sock, struct helper_task *task, struct helper_result *res)
{
  int fd = -1;
  int r = recv_listener (sock, &fd);

  if (r < 0)
    return -1;
  if (r == 0)
    return 0; /* the child failed: the status pipe says why */
  task->notify_fd = fd;
  res->notify_fallback = fd < 0;
  return 0;
}

int
helper_spawn (const struct helper_opts *opts, struct helper_task *ret_task,
              struct helper_result *res, cpb_error **err)
{
  _cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
  _cleanup_close_ int sock_parent = -1, sock_child = -1, status_r = -1, status_w = -1;
  _cleanup_free_ char *path = NULL;
  struct cpb_profile_opts profile = opts->profile;
  int socks[2], pipefd[2], nf_errno = 0;
  pid_t pid;

  path = resolve_command (opts->argv[0], &nf_errno);
  if (path == NULL)
    {
      res->exec_errno = nf_errno;
      return cpb_error_errno (err, nf_errno, "cannot run '%s'", opts->argv[0]);
    }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks) < 0)
    return cpb_error_errno (err, errno, "socketpair");
  sock_parent = socks[0], sock_child = socks[1];
  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return cpb_error_errno (err, errno, "pipe");
  status_r = pipefd[0], status_w = pipefd[1];

  profile.handoff_fd = sock_child;
  if (profile.kind != CPB_PROFILE_NONE && cpb_profile_build (&profile, &ctx, NULL, err) < 0)
    return cpb_error_prefix (err, "seccomp profile '%s'", cpb_profile_kind_name (profile.kind));

  ret_task->start_ns = helper_now_ns ();
  pid = fork ();
  if (pid < 0)
    return cpb_error_errno (err, errno, "fork");
  if (pid == 0)
    {
      struct helper_opts child_opts = *opts;
      child_opts.profile = profile;
      child_run (&child_opts, ctx, path, sock_child, status_w);
    }

  setpgid (pid, pid); /* also here: whichever runs first, the group exists before a kill */
  ret_task->pid = pid;
  ret_task->notify_fd = -1;
  close (TAKE_FD (sock_child));
  close (TAKE_FD (status_w));
  if (ctx && parent_take_listener (sock_parent, ret_task, res) < 0)
    return cpb_error_errno (err, errno, "receiving the seccomp listener");
  ret_task->status_fd = TAKE_FD (status_r);
  return 0;
}
