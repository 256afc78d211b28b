/* helper-host.h: the host side of cpb-helper (the contract is helper/protocol.h).
 *
 * Every verb that deals with the helper goes through here, so that `cpb build`, `cpb run`
 * and `cpb logs` find the same binary, start it the same way and read its report by one
 * rule: where the binary is, the arguments that start a task under it, and what its report
 * says.
 */
#ifndef CPB_HELPER_HOST_H
#define CPB_HELPER_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "helper/protocol.h"
#include "spec/jobs.h"

/* ---- the binary ---- */

/* Find cpb-helper: $CPB_HELPER if set (it must then exist), else src/helper/cpb-helper in the
   build tree the running cpb comes from (so an uninstalled cpb uses its own helper), else
   CPB_LIBEXECDIR/cpb-helper.  *RET_PATH is an executable regular file, to be freed. */
int cpb_helper_locate (char **ret_path, cpb_error **err);

/* ---- starting a task ---- */

/* The command task T runs: its exec form, or /bin/sh -c COMMAND (true when it has none);
   what the helper starts and what the manifest records.  NULL-terminated, to be freed. */
char **cpb_helper_task_command (const struct cpb_task *t);

/* The helper's arguments (after its own path) that run T in its own container: the
   timeout with GRACE seconds between SIGTERM and SIGKILL, the seccomp profile and its extra
   denials, the network, the report file and the report at the end of stderr, then "--" and
   the task's command. */
char **cpb_helper_argv (const struct cpb_task *t, double grace);

/* ---- the report ---- */

/* What the helper's report says (docs/helper.md, "The report"). */
struct cpb_helper_report
{
  int exit_code; /* -1: the task died of a signal or never ran */
  int signal;    /* 0 unless it died of a signal */
  int status;    /* the helper's own exit status */
  double wall_seconds;
  double user_seconds;
  double system_seconds;
  int64_t max_rss_kib;
  bool timed_out;
  bool killed;
  char *exec_error;   /* "ENOENT" when the command did not start; NULL otherwise */
  char *helper_error; /* the helper's own failure; NULL otherwise */
};

void cpb_helper_report_clear (struct cpb_helper_report *r);

/* Parse report TEXT (LEN bytes, at most CPB_HELPER_REPORT_MAX).  It comes from inside the
   task's container, so it is bounded and checked like any untrusted document: a report
   that is not a JSON object of version CPB_HELPER_REPORT_VERSION is CPB_ERR_INPUT. */
int cpb_helper_report_parse (const char *text, size_t len, struct cpb_helper_report *ret,
                             cpb_error **err);

#endif
