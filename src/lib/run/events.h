/* run/events.h: what a run tells its observers, as typed events.
 *
 * The loop formats no text for people: it says what happened (a task started, failed and
 * will be retried, a warning from a node, the counts now) and each observer renders it its
 * own way: the progress line (run/progress.h), JSON lines, a notifier, a web page.  Events
 * come from the loop's thread, one at a time, in the order things happened; pointers in an
 * event are valid only during the call.
 */
#ifndef CPB_RUN_EVENTS_H
#define CPB_RUN_EVENTS_H

#include <stddef.h>
#include "task-state.h"

enum cpb_run_event_kind
{
  CPB_RUN_EVENT_STARTED,   /* TASK's ATTEMPT started on NODE */
  CPB_RUN_EVENT_RETRY,     /* TASK's attempt failed (MESSAGE); ATTEMPT, the next, is queued */
  CPB_RUN_EVENT_DONE,      /* TASK is DONE */
  CPB_RUN_EVENT_FAILED,    /* TASK failed for good: MESSAGE, DETAIL its last stderr line */
  CPB_RUN_EVENT_CANCELLED, /* TASK was cancelled (MESSAGE says why) */
  CPB_RUN_EVENT_WARNING,   /* MESSAGE for the user, about TASK when not NULL */
  CPB_RUN_EVENT_PROGRESS,  /* COUNTS now (also sent as time passes: rates and ETAs move) */
};

struct cpb_run_event
{
  enum cpb_run_event_kind kind;
  double now;          /* monotonic seconds */
  const char *task;    /* NULL for PROGRESS and run-wide warnings */
  const char *node;    /* STARTED */
  int attempt;         /* STARTED, RETRY */
  int exit_code;       /* DONE, FAILED: -1 when the task never ran */
  const char *message; /* RETRY, FAILED, CANCELLED, WARNING */
  const char *detail;  /* FAILED: the task's last line of stderr, or NULL */
  const size_t *counts; /* PROGRESS: per enum cpb_task_state, tasks whose outputs are being
                          collected not counted RUNNING */
};

typedef void (*cpb_run_observe_fn) (void *ctx, const struct cpb_run_event *ev);

struct cpb_run_observer
{
  cpb_run_observe_fn fn;
  void *ctx;
};

#endif
