/* main.c: cpb-helper, the PID 1 of every task container (docs/helper.md is the contract).
 *
 *   cpb-helper [--timeout SECS] [--grace SECS] [--seccomp default|strict|none]
 *              [--deny NAME]... [--allow-network] [--report PATH] [--quiet] -- COMMAND [ARGS...]
 *
 * Statically linked: it must run in any image, including ones with no libc or shell.
 */
#include "config.h"
#include "helper.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define MAX_DENY 256

static const char usage_text[] =
    "Usage: cpb-helper [OPTIONS] -- COMMAND [ARGS...]\n"
    "Run COMMAND as the task of a cpb container: forward signals, reap zombies, enforce\n"
    "the timeout, confine it with seccomp, and report how it ended.\n"
    "\n"
    "  --timeout SECS          kill the task after SECS seconds (SIGTERM, then SIGKILL)\n"
    "  --grace SECS            seconds between SIGTERM and SIGKILL (default 10)\n"
    "  --seccomp PROFILE       default, strict or none (default: default)\n"
    "  --deny NAME             also refuse system call NAME (repeatable)\n"
    "  --allow-network         allow sockets of every family (default profile)\n"
    "  --report PATH           write the JSON report to PATH\n"
    "  --report-stderr         also end stderr with the report, behind a marker line\n"
    "  --quiet                 do not log refused system calls\n"
    "  -h, --help              show this help\n";

/* The signals forwarded to the task's process group, plus SIGCHLD for reaping. */
static const int handled_signals[] = {
  SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2
};

static int
parse_seconds (const char *opt, const char *s, double *ret, cpb_error **err)
{
  char *end;
  double v;

  errno = 0;
  v = strtod (s, &end);
  if (errno || end == s || *end || !isfinite (v) || v < 0 || v > 1e9)
    return cpb_error_set (err, CPB_ERR_INPUT, "%s: invalid number of seconds '%s'", opt, s);
  *ret = v;
  return 0;
}

static int
parse_args (int argc, char **argv, struct helper_opts *opts, const char **deny, cpb_error **err)
{
  static const struct option longopts[] = {
    { "timeout", required_argument, NULL, 't' },
    { "grace", required_argument, NULL, 'g' },
    { "seccomp", required_argument, NULL, 's' },
    { "deny", required_argument, NULL, 'd' },
    { "allow-network", no_argument, NULL, 'n' },
    { "report", required_argument, NULL, 'r' },
    { "report-stderr", no_argument, NULL, 'E' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  size_t n_deny = 0;
  int c;

  while ((c = getopt_long (argc, argv, "+h", longopts, NULL)) != -1)
    switch (c)
      {
      case 't':
        if (parse_seconds ("--timeout", optarg, &opts->timeout, err) < 0)
          return -1;
        break;
      case 'g':
        if (parse_seconds ("--grace", optarg, &opts->grace, err) < 0)
          return -1;
        break;
      case 's':
        if (cpb_profile_parse_kind (optarg, &opts->profile.kind, err) < 0)
          return -1;
        break;
      case 'd':
        if (n_deny == MAX_DENY)
          return cpb_error_set (err, CPB_ERR_INPUT, "--deny: more than %d names", MAX_DENY);
        deny[n_deny++] = optarg;
        break;
      case 'n':
        opts->profile.allow_network = true;
        break;
      case 'r':
        opts->report_path = optarg;
        break;
      case 'E':
        opts->report_stderr = true;
        break;
      case 'q':
        opts->quiet = true;
        break;
      case 'h':
        fputs (usage_text, stdout);
        exit (0);
      default:
        return cpb_error_set (err, CPB_ERR_INPUT, "bad usage (see --help)");
      }
  if (optind >= argc)
    return cpb_error_set (err, CPB_ERR_INPUT, "no command given (see --help)");
  opts->argv = argv + optind;
  return 0;
}

/* Block the handled signals and return a signalfd for them: the supervisor reads signals
   in its poll loop instead of running handlers. */
static int
setup_signals (cpb_error **err)
{
  sigset_t set;
  int fd;

  sigemptyset (&set);
  for (size_t i = 0; i < sizeof handled_signals / sizeof handled_signals[0]; i++)
    sigaddset (&set, handled_signals[i]);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    return cpb_error_errno (err, errno, "sigprocmask");
  fd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "signalfd");
  /* A task writing to a closed log pipe must get SIGPIPE, not us. */
  signal (SIGPIPE, SIG_IGN);
  return fd;
}

/* The helper's exit code for what happened (docs/helper.md, "Exit codes"). */
static int
exit_status (const struct helper_result *res)
{
  if (res->helper_error[0])
    return CPB_HELPER_EXIT_FAILED;
  if (res->exec_errno)
    return res->exec_errno == ENOENT ? CPB_HELPER_EXIT_NOT_FOUND : CPB_HELPER_EXIT_CANNOT_EXEC;
  if (res->timed_out)
    return CPB_HELPER_EXIT_TIMEOUT;
  if (res->signal > 0)
    return 128 + res->signal;
  return res->exit_code >= 0 ? res->exit_code : CPB_HELPER_EXIT_FAILED;
}

static int
run (struct helper_opts *opts, struct helper_result *res, cpb_error **err)
{
  _cleanup_close_ int sigfd = -1, notify_fd = -1;
  struct helper_task task = { .pid = -1, .notify_fd = -1, .status_fd = -1 };
  int r;

  sigfd = setup_signals (err);
  if (sigfd < 0)
    return -1;
  if (helper_spawn (opts, &task, res, err) < 0)
    return -1;
  notify_fd = task.notify_fd;
  if (res->notify_fallback && !opts->quiet)
    fputs ("cpb-helper: seccomp: no user notification here: refusals are EPERM, unnamed\n", stderr);
  r = helper_supervise (opts, &task, sigfd, res, err);
  if (task.status_fd >= 0)
    close (task.status_fd);
  return r;
}

int
main (int argc, char **argv)
{
  _cleanup_error_ cpb_error *err = NULL;
  const char *deny[MAX_DENY + 1] = { NULL };
  struct helper_opts opts = { .grace = 10 };
  static struct helper_result res = { .exit_code = -1 };

  opts.profile.kind = CPB_PROFILE_DEFAULT;
  opts.profile.handoff_fd = -1;
  opts.profile.deny = deny;
  /* Level 6 of libseccomp's API: the kernel has user notification and its CONTINUE flag. */
  opts.profile.notify = seccomp_api_get () >= 6;

  if (parse_args (argc, argv, &opts, deny, &err) < 0)
    {
      fprintf (stderr, "cpb-helper: %s\n", err->msg);
      return CPB_HELPER_EXIT_FAILED;
    }
  if (run (&opts, &res, &err) < 0 && res.exec_errno == 0)
    snprintf (res.helper_error, sizeof res.helper_error, "%s", err->msg);
  if (err)
    fprintf (stderr, "cpb-helper: %s\n", err->msg);
  else if (res.exec_errno)
    fprintf (stderr, "cpb-helper: cannot run '%s': %s\n", opts.argv[0], strerror (res.exec_errno));
  if (res.helper_error[0] && !err)
    fprintf (stderr, "cpb-helper: %s\n", res.helper_error);
  if (res.signal == SIGSYS && !opts.quiet)
    fputs ("cpb-helper: the task was killed by SIGSYS: a seccomp filter with a kill action "
           "refused a system call (an x32 call, or a filter outside cpb's)\n",
           stderr);
  res.status = exit_status (&res);

  cpb_error_free (TAKE_PTR (err));
  if (opts.report_path && helper_report_write (opts.report_path, &opts, &res, &err) < 0)
    fprintf (stderr, "cpb-helper: report: %s\n", err->msg);
  if (opts.report_stderr)
    helper_report_emit (stderr, &opts, &res);
  return res.status;
}
