/* helper/protocol.h: the contract between cpb and cpb-helper, in one place.
 *
 * Both sides include this header and nothing else of each other: the helper is a static
 * binary that links only src/basic/, and the host reads what the helper writes through
 * lib/helper-host.h.  docs/helper.md describes the same contract for people; change both
 * together.  Plain C and libc only.
 */
#ifndef CPB_HELPER_PROTOCOL_H
#define CPB_HELPER_PROTOCOL_H

/* Where the helper lives inside a task's container, and where it leaves its report.  The
   directory is sticky and world-writable so that the report can be written whatever user
   the task runs as. */
#define CPB_HELPER_DIR "/.cpb"
#define CPB_HELPER_PATH CPB_HELPER_DIR "/cpb-helper"
#define CPB_HELPER_REPORT_PATH CPB_HELPER_DIR "/result.json"

/* With --report-stderr the helper ends its stderr with "\n", this marker and the report's
   JSON: cpb takes the report from the log it fetches anyway, saving an archive call
   (~0.3 s on podman 4.3 rootless, which starts a copier process for each).  ASCII RS makes
   the marker unlikely in a task's own output; the host trusts only the last one, and only
   in a log it has whole (lib/helper-host.h). */
#define CPB_HELPER_REPORT_MARKER "\036cpb-helper-report "

/* The report is one JSON object of at most this many bytes; "version" is this number. */
#define CPB_HELPER_REPORT_VERSION 1
#define CPB_HELPER_REPORT_MAX (1u << 20)

/* The report's fields (docs/helper.md, "The report"). */
#define CPB_REPORT_VERSION "version"
#define CPB_REPORT_EXIT_CODE "exit_code"     /* the task's, null when it died of a signal */
#define CPB_REPORT_SIGNAL "signal"           /* null unless it died of a signal */
#define CPB_REPORT_SIGNAL_NAME "signal_name" /* "SIGKILL" */
#define CPB_REPORT_STATUS "status"           /* the helper's own exit status */
#define CPB_REPORT_WALL "wall_seconds"
#define CPB_REPORT_USER "user_seconds"
#define CPB_REPORT_SYSTEM "system_seconds"
#define CPB_REPORT_MAX_RSS "max_rss_kb"
#define CPB_REPORT_TIMED_OUT "timed_out"
#define CPB_REPORT_KILLED "killed"
#define CPB_REPORT_SECCOMP "seccomp"             /* the profile's name */
#define CPB_REPORT_SECCOMP_NAMED "seccomp_named" /* refusals are named below */
#define CPB_REPORT_VIOLATIONS "seccomp_violations" /* [{"syscall": NAME, "count": N}] */
#define CPB_REPORT_EXEC_ERROR "exec_error"         /* "ENOENT" when the command did not start */
#define CPB_REPORT_HELPER_ERROR "helper_error"     /* the helper's own failure */

/* The helper's own exit codes, next to the task's (docs/helper.md, "Exit codes"); a task
   killed by signal N ends the helper with 128 + N. */
enum
{
  CPB_HELPER_EXIT_TIMEOUT = 124,
  CPB_HELPER_EXIT_FAILED = 125,
  CPB_HELPER_EXIT_CANNOT_EXEC = 126,
  CPB_HELPER_EXIT_NOT_FOUND = 127,
};

/* The helper's roles.  `run`, the only one so far and the default, is the PID 1 of a
   task's own container. */
#define CPB_HELPER_ROLE_RUN "run"

#endif
