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

#include "buf.h"
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

/* ------------------------------------------------------------------ the report in stderr
 *
 * With --report-stderr the helper ends a task's stderr with "\n" CPB_HELPER_REPORT_MARKER
 * and its report.  A task may print the marker itself (by accident or to forge a report), so
 * there is one rule, for the run and for `cpb logs` alike: only a marker followed by a
 * complete report (one JSON object of at most CPB_HELPER_REPORT_MAX bytes, then nothing but
 * white space) at the very end of the log is the helper's.  Everything before it, other
 * markers included, is the task's and is kept byte for byte. */

/* The marker as it appears in a log: the helper's newline, then the marker. */
#define CPB_HELPER_LOG_MARKER "\n" CPB_HELPER_REPORT_MARKER

/* Cut the report off LOG, a task's whole stderr of LEN bytes.  Returns true when LOG ends
   with the helper's report: *RET_KEPT is then the length of the task's own stderr and
   *RET_REPORT, *RET_REPORT_LEN (may be NULL) point at the report inside LOG.  TRUNCATED says
   the log was cut at a size limit: its end is lost, so whatever marker it holds is the
   task's and nothing is cut (false, *RET_KEPT = LEN). */
bool cpb_helper_report_cut (const char *log, size_t len, bool truncated, size_t *ret_kept,
                            const char **ret_report, size_t *ret_report_len);

/* The output side of the streaming cutter: LEN bytes of the task's stderr to pass on. */
typedef int (*cpb_report_cutter_fn) (void *userdata, const char *data, size_t len, cpb_error **err);

/* The same rule for a log that arrives in chunks (`cpb logs -f`, the web page): bytes that
   may begin the marker are held back until the next chunk tells, and a marker with what
   follows it is held until the stream ends, when it is cut only if a complete report
   follows it.  A marker split across two chunks is therefore never passed on, and a marker
   the task printed is passed on with the rest of its stderr (at most
   CPB_HELPER_REPORT_MAX bytes late). */
typedef struct cpb_report_cutter
{
  cpb_buf held;   /* bytes not passed on yet */
  bool marker;    /* HELD starts with a whole marker */
  size_t scanned; /* bytes of HELD after the marker already searched for another */
} cpb_report_cutter;

#define CPB_REPORT_CUTTER_INIT                                                                     \
  {                                                                                                \
    CPB_BUF_INIT, false, 0                                                                         \
  }

/* Feed the next LEN bytes of stderr; what is surely the task's goes to FN (may be called
   several times, or not at all).  A non-zero value of FN (an error, or a request to stop)
   ends the feed and is returned. */
int cpb_report_cutter_feed (cpb_report_cutter *c, const char *data, size_t len,
                            cpb_report_cutter_fn fn, void *userdata, cpb_error **err);

/* The stream ended: pass on what was held unless it is the helper's report.  *RET_REPORT
   (may be NULL) gets a copy of the report when there was one, else NULL.  C is reset. */
int cpb_report_cutter_finish (cpb_report_cutter *c, cpb_report_cutter_fn fn, void *userdata,
                              char **ret_report, cpb_error **err);

void cpb_report_cutter_clear (cpb_report_cutter *c);

#endif
