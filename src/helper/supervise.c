/* supervise.c: the PID-1 loop of cpb-helper.
 *
 * One poll over a signalfd (forwarded signals and SIGCHLD), a timerfd (the task's timeout,
 * then its grace period), the seccomp listener (refusals to answer and name) and the child's
 * status pipe.  Signals are blocked and read from the signalfd, so no handler runs at an
 * awkward moment; this is the loop bubblewrap's do_init and tini keep in their own ways.
 */
#include "config.h"
#include "helper.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif

struct supervisor
{
  const struct helper_opts *opts;
  struct helper_task *task;
  struct helper_result *res;
  int timer_fd;
  bool task_done;
  bool exec_let_through; /* strict: the one exec of the command has been allowed */
  bool listener_gone;    /* the listener hung up: every filtered process has exited */
  struct seccomp_notif *req;
  struct seccomp_notif_resp *resp;
};

static void
arm_timer (int fd, double seconds)
{
  struct itimerspec its = { 0 };
  its.it_value.tv_sec = (time_t)seconds;
  its.it_value.tv_nsec = (long)((seconds - (double)its.it_value.tv_sec) * 1e9);
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
    its.it_value.tv_nsec = 1; /* zero would disarm */
  timerfd_settime (fd, 0, &its, NULL);
}

/* Kill whatever is left: as PID 1 that is every process of the container, else the task's
   group. */
static void
kill_everything (pid_t pgid)
{
  if (getpid () == 1)
    kill (-1, SIGKILL);
  else
    kill (-pgid, SIGKILL);
}

static void
on_timer (struct supervisor *s)
{
  uint64_t expirations;

  if (read (s->timer_fd, &expirations, sizeof expirations) < 0)
    return;
  if (!s->res->timed_out)
    {
      s->res->timed_out = true;
      if (!s->opts->quiet)
        fprintf (stderr, "cpb-helper: timeout of %gs reached: sending SIGTERM\n", s->opts->timeout);
      kill (-s->task->pid, SIGTERM);
      arm_timer (s->timer_fd, s->opts->grace);
    }
  else if (!s->res->killed)
    {
      s->res->killed = true;
      if (!s->opts->quiet)
        fprintf (stderr, "cpb-helper: still running %gs after SIGTERM: sending SIGKILL\n",
                 s->opts->grace);
      kill_everything (s->task->pid);
    }
}

static void
record_task_status (struct supervisor *s, int status)
{
  s->task_done = true;
  s->res->wall_seconds = (double)(helper_now_ns () - s->task->start_ns) / 1e9;
  if (WIFEXITED (status))
    s->res->exit_code = WEXITSTATUS (status);
  else if (WIFSIGNALED (status))
    s->res->signal = WTERMSIG (status);
}

/* Reap every child that has ended: the task and orphans re-parented to us. */
static void
reap (struct supervisor *s)
{
  int status;
  pid_t pid;

  while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
    if (pid == s->task->pid)
      record_task_status (s, status);
}

static void
on_signal (struct supervisor *s, int sigfd)
{
  struct signalfd_siginfo si;

  while (read (sigfd, &si, sizeof si) == sizeof si)
    {
      if (si.ssi_signo == SIGCHLD)
        reap (s);
      else if (!s->task_done)
        kill (-s->task->pid, (int)si.ssi_signo);
    }
}

static bool
is_exec (const char *name)
{
  return strcmp (name, "execve") == 0 || strcmp (name, "execveat") == 0;
}

/* A refused exec under strict is most often a shell command (`sh -c`) starting a program:
   say why, or the log reads like a broken image. */
static const char *
strict_exec_hint (const struct supervisor *s, const char *name)
{
  if (s->opts->profile.kind != CPB_PROFILE_STRICT || !is_exec (name))
    return "";
  return ": the strict profile allows one exec, the task's command itself (a shell command "
         "cannot start other programs; give the program and its arguments as a list)";
}

static void
count_violation (struct supervisor *s, const char *name, pid_t pid)
{
  struct helper_result *res = s->res;
  size_t i;

  for (i = 0; i < res->n_violations; i++)
    if (strcmp (res->violations[i].name, name) == 0)
      break;
  if (i == res->n_violations)
    {
      if (i == HELPER_MAX_VIOLATIONS)
        return;
      snprintf (res->violations[i].name, sizeof res->violations[i].name, "%s", name);
      res->n_violations++;
      if (!s->opts->quiet)
        fprintf (stderr, "cpb-helper: seccomp: refused %s (pid %d) with EPERM%s\n", name, (int)pid,
                 strict_exec_hint (s, name));
    }
  res->violations[i].count++;
}

/* Answer one notification: EPERM and a name in the log, except the strict profile's one
   exec of the command, which the kernel is told to carry out as if unfiltered. */
static void
on_notification (struct supervisor *s)
{
  char name[64];

  memset (s->req, 0, sizeof *s->req);
  if (seccomp_notify_receive (s->task->notify_fd, s->req) < 0)
    return; /* the caller died meanwhile (ENOENT): nothing to answer */
  memset (s->resp, 0, sizeof *s->resp);
  s->resp->id = s->req->id;
  cpb_profile_syscall_name (s->req->data.arch, s->req->data.nr, name, sizeof name);

  if (s->opts->profile.kind == CPB_PROFILE_STRICT && is_exec (name) && !s->exec_let_through &&
      (pid_t)s->req->pid == s->task->pid)
    {
      s->exec_let_through = true;
      s->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    }
  else
    {
      s->resp->error = -EPERM;
      count_violation (s, name, (pid_t)s->req->pid);
    }
  seccomp_notify_respond (s->task->notify_fd, s->resp);
}

/* The child's word on a failure before exec; EOF means the command is running. */
static void
on_status (struct supervisor *s)
{
  struct
  {
    int stage, err;
  } f;
  ssize_t n = read (s->task->status_fd, &f, sizeof f);

  if (n == (ssize_t)sizeof f)
    {
      if (f.stage == 2)
        s->res->exec_errno = f.err;
      else
        snprintf (s->res->helper_error, sizeof s->res->helper_error,
                  "cannot install the seccomp filter: %s%s", strerror (f.err),
                  f.err == EBUSY ? " (a seccomp listener exists already, and the strict "
                                   "profile needs its own)"
                                 : "");
    }
  close (s->task->status_fd);
  s->task->status_fd = -1;
}

/* After the task: kill and reap what is left, so rusage covers every process. */
static void
finish (struct supervisor *s)
{
  int status;
  pid_t pid;

  kill_everything (s->task->pid);
  while ((pid = waitpid (-1, &status, 0)) > 0 || (pid < 0 && errno == EINTR))
    ;
  getrusage (RUSAGE_CHILDREN, &s->res->rusage);
}

static int
supervise_loop (struct supervisor *s, int sigfd, cpb_error **err)
{
  while (!s->task_done)
    {
      struct pollfd p[4] = {
        { sigfd, POLLIN, 0 },
        { s->timer_fd, POLLIN, 0 },
        { s->listener_gone ? -1 : s->task->notify_fd, POLLIN, 0 },
        { s->task->status_fd, POLLIN, 0 },
      };
      if (poll (p, 4, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          return cpb_error_errno (err, errno, "poll");
        }
      if (p[2].revents & POLLIN)
        on_notification (s);
      else if (p[2].revents & (POLLHUP | POLLERR | POLLNVAL))
        s->listener_gone = true; /* no process uses the filter any more: stop polling it */
      if (p[3].revents & (POLLIN | POLLHUP))
        on_status (s);
      if (p[1].revents & POLLIN)
        on_timer (s);
      if (p[0].revents & POLLIN)
        on_signal (s, sigfd);
    }
  return 0;
}

int
helper_supervise (const struct helper_opts *opts, struct helper_task *task, int sigfd,
                  struct helper_result *res, cpb_error **err)
{
  _cleanup_close_ int timer_fd = -1;
  struct supervisor s = { .opts = opts, .task = task, .res = res, .timer_fd = -1 };
  int r;

  if (opts->timeout > 0)
    {
      timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
      if (timer_fd < 0)
        return cpb_error_errno (err, errno, "timerfd_create");
      arm_timer (timer_fd, opts->timeout);
      s.timer_fd = timer_fd;
    }
  if (task->notify_fd >= 0 && seccomp_notify_alloc (&s.req, &s.resp) < 0)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot allocate seccomp notification buffers");

  r = supervise_loop (&s, sigfd, err);
  if (task->status_fd >= 0)
    on_status (&s); /* a failure written just before the child's exit */
  finish (&s);
  if (s.req)
    seccomp_notify_free (s.req, s.resp);
  return r;
}
