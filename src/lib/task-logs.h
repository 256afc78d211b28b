/* task-logs.h: a task's logs, wherever they are.
 *
 * While a task runs its output is in its container, read from Podman (and followed until
 * the container exits); once it ended, what the run kept is in its archive, under
 * .cpb/stdout and .cpb/stderr.  `cpb logs` and the web page of `cpb serve` both read logs
 * through here, so both show the same bytes: the task's own output, with the helper's
 * report cut off its stderr by the one rule of helper-host.h.
 */
#ifndef CPB_TASK_LOGS_H
#define CPB_TASK_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "podman/podman.h"
#include "state.h"

/* Receives LEN bytes of the task's STREAM (CPB_LOG_STDOUT or CPB_LOG_STDERR).  Returns 0, or
   < 0 with *ERR set to stop reading (the error is returned), or CPB_PODMAN_STOP to end
   quietly (the read then returns 0). */
typedef int (*cpb_task_log_fn) (void *userdata, enum cpb_podman_log_stream stream, const char *data,
                                size_t len, cpb_error **err);

/* Where the logs of T are now. */
enum cpb_task_logs_where
{
  CPB_TASK_LOGS_NONE = 0, /* not started, or ended without an archive */
  CPB_TASK_LOGS_LIVE,     /* running: in its container */
  CPB_TASK_LOGS_ARCHIVE,  /* ended: in its archive */
};

enum cpb_task_logs_where cpb_task_logs_where (const struct cpb_state_task *t);

/* The output of the running container CONTAINER on P, to FN; with FOLLOW until the
   container exits (or P is cancelled).  The helper's report is held back and cut.  A
   container that is gone (the task just ended and the run removed it) is CPB_ERR_NOT_FOUND:
   read the task again, its logs are then in its archive. */
int cpb_task_logs_live (cpb_podman *p, const char *container, bool follow, cpb_task_log_fn fn,
                        void *userdata, cpb_error **err);

/* The logs kept in ARCHIVE, the archive of TASK: all of stdout, then all of stderr.  They are
   extracted by the store's sandboxed extractor into a private directory under $TMPDIR
   (/tmp when unset), removed before this returns. */
int cpb_task_logs_archived (const char *archive, const char *task, cpb_task_log_fn fn,
                            void *userdata, cpb_error **err);

/* The logs of T from wherever they are (P is used only while T runs and may be NULL
   otherwise).  CPB_ERR_NOT_FOUND when T has no logs yet, saying why. */
int cpb_task_logs (cpb_podman *p, const struct cpb_state_task *t, bool follow, cpb_task_log_fn fn,
                   void *userdata, cpb_error **err);

#endif
