/* run/progress.h: what a running `cpb run` shows while it works.
 *
 * On a terminal one status line is redrawn in place (done/running/queued/failed, rate, ETA),
 * at most a few times a second, and task events (a failure, a retry) scroll above it.  When
 * the output is not a terminal (a log file, CI) nothing is redrawn: every event is a plain
 * line and the status line is printed only when it changed and at most every few seconds,
 * so the log stays readable.
 */
#ifndef CPB_PROGRESS_H
#define CPB_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "cleanup.h"
#include "run/events.h"
#include "task-state.h"

typedef struct cpb_progress cpb_progress;

/* Report on OUT (normally stderr); TTY selects the redrawn line.  TOTAL is the number of
   tasks of this run (those skipped as DONE included). */
cpb_progress *cpb_progress_new (FILE *out, bool tty, size_t total);

/* The counts changed (or time passed: the rate and ETA move); NOW in seconds, monotonic. */
void cpb_progress_update (cpb_progress *p, const size_t counts[CPB_TASK_N], double now);

/* One line about one task ("sweep-0003 failed (exit 1), retry 2 of 3 in 2s"). */
void cpb_progress_event (cpb_progress *p, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* A run observer (run/events.h) that renders the run's events on P, the void * being P:
   failures and retries as lines, Podman's warnings, and the status line. */
void cpb_progress_observe (void *p, const struct cpb_run_event *ev);

/* Leave the terminal clean (the last status line kept) and free P. */
void cpb_progress_free (cpb_progress *p);
CPB_DEFINE_CLEANUP_FUNC (cpb_progress *, cpb_progress_free)
#define _cleanup_progress_ _cleanup_ (cpb_progress_freep)

/* The status line for COUNTS after ELAPSED seconds of which the first DONE_BEFORE tasks
   were DONE from an earlier run (they do not count towards the rate), into BUF. */
void cpb_progress_format (char *buf, size_t size, const size_t counts[CPB_TASK_N],
                          size_t done_before, double elapsed);

#endif
