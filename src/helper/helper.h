/* helper.h: the parts of cpb-helper, the PID 1 of every task container (docs/helper.md).
 *
 * main.c parses the command line, spawn.c starts the task behind the seccomp filter,
 * supervise.c is the PID-1 loop (signals, reaping, timeout, seccomp notifications) and
 * report.c writes the JSON report cpb reads back with the archive API.
 */
#ifndef CPB_HELPER_H
#define CPB_HELPER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "protocol.h"
#include "seccomp-profile.h"


struct helper_opts
{
  double timeout; /* seconds; 0: none */
  double grace;   /* seconds between SIGTERM and SIGKILL on timeout */
  struct cpb_profile_opts profile;
  const char *report_path;
  bool report_stderr; /* also end stderr with the report behind CPB_HELPER_REPORT_MARKER */
  bool quiet;
  char **argv; /* the task's command */
};

#define HELPER_MAX_VIOLATIONS 64

struct helper_violation
{
  char name[64];
  unsigned long count;
};

/* Everything the report says; filled by spawn and supervise. */
struct helper_result
{
  int status;    /* the helper's exit code */
  int exit_code; /* -1 when the task died of a signal or never ran */
  int signal;    /* 0 unless the task died of a signal */
  double wall_seconds;
  struct rusage rusage; /* of every reaped process */
  bool timed_out, killed;
  int exec_errno;         /* errno of a failed exec of the command, else 0 */
  char helper_error[256]; /* the helper's own failure, "" if none */
  struct helper_violation violations[HELPER_MAX_VIOLATIONS];
  size_t n_violations;
  bool notify_fallback; /* refusals could not be named (no listener) */
};

/* The running task, as spawn leaves it for supervise. */
struct helper_task
{
  pid_t pid;
  int notify_fd;    /* seccomp listener, -1 without one */
  int status_fd;    /* read end: the child's failure before exec, EOF once exec'ed */
  int64_t start_ns; /* CLOCK_MONOTONIC at fork */
};

/* Start ARGV of OPTS in a new process group behind the profile.  SIGSET is the signal mask
   the helper blocked (the child restores an empty one). */
int helper_spawn (const struct helper_opts *opts, struct helper_task *ret_task,
                  struct helper_result *res, cpb_error **err);

/* Supervise TASK until it and every other process are gone, filling RES.  SIGFD is the
   signalfd of the blocked signals. */
int helper_supervise (const struct helper_opts *opts, struct helper_task *task, int sigfd,
                      struct helper_result *res, cpb_error **err);

/* Write RES as JSON to PATH atomically (PATH.tmp, then rename). */
/* Write the report to F behind "\n" and CPB_HELPER_REPORT_MARKER (--report-stderr). */
void helper_report_emit (FILE *f, const struct helper_opts *opts, const struct helper_result *res);

int helper_report_write (const char *path, const struct helper_opts *opts,
                         const struct helper_result *res, cpb_error **err);

/* Monotonic clock in nanoseconds. */
int64_t helper_now_ns (void);

#endif
