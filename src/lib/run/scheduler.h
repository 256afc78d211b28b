/* run/scheduler.h: which task starts next — pure planning, no Podman, no clock of its own.
 *
 * The run loop (executor) asks cpb_scheduler_next() for a task whenever a slot may have
 * freed, reports each outcome with cpb_scheduler_finish(), and feeds holds and cancels made
 * by other cpb processes through cpb_scheduler_set_state().  The scheduler decides:
 *
 *   - readiness: a task's group waits until every group it depends on is entirely DONE;
 *     a dependency that FAILED or was CANCELLED cancels the dependents (take_blocked);
 *   - order: higher priority first, then the order tasks were added (group, index);
 *   - fit: the sum of running tasks' cpus and memory within the node's capacity, the -j cap,
 *     and named counted resources (licences) never above their count, across the farm;
 *   - retries: a failed attempt is queued again after an exponential backoff
 *     (base * 2^(attempt-1), capped), until its retries are spent.
 *
 * Time is passed in (seconds, any monotonic origin) so tests can drive it.
 *
 * Cost: every call made per event (next, finish, release, set_state, take_blocked, counts,
 * done) is O(log n) amortised in the number of tasks, times the number of lanes (distinct
 * group and resources pairs: for a matrix, its groups); cancel_queued is linear in the tasks
 * it cancels, check in the lanes.  The run loop calls them for every event of runs of
 * 100,000 tasks, where anything linear per event is quadratic per run.
 */
#ifndef CPB_SCHEDULER_H
#define CPB_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "state.h"

struct cpb_sched_config
{
  int max_jobs;        /* -j N; 0 = only capacity limits */
  double cpus;         /* capacity: cpus of the node(s) */
  int64_t memory;      /* capacity: bytes of memory; 0 = unlimited */
  double backoff_base; /* seconds before the first retry; 0 = 1 s */
  double backoff_max;  /* cap of the backoff; 0 = 300 s */
};

/* One counted resource a task holds while it runs: licence NAME, AMOUNT of them. */
struct cpb_sched_use
{
  const char *name;
  int amount;
};

struct cpb_sched_task
{
  const char *group; /* borrowed; must outlive the scheduler */
  const char *name;  /* borrowed, for messages; NULL: the task is named by its index */
  int priority;
  double cpus;                      /* 0 = undeclared: one slot of the node's cpus */
  int64_t memory;                   /* bytes; 0 = undeclared */
  int retries;                      /* attempts after the first */
  const struct cpb_sched_use *uses; /* borrowed */
  size_t n_uses;
  enum cpb_task_state state; /* QUEUED, HELD, DONE (skipped), ... at planning */
  int attempts;              /* attempts made so far in this run */
};

typedef struct cpb_scheduler cpb_scheduler;

cpb_scheduler *cpb_scheduler_new (const struct cpb_sched_config *cfg);
void cpb_scheduler_free (cpb_scheduler *s);
CPB_DEFINE_CLEANUP_FUNC (cpb_scheduler *, cpb_scheduler_free)
#define _cleanup_scheduler_ _cleanup_ (cpb_scheduler_freep)

/* Declare a counted resource NAME with COUNT units across the farm. */
void cpb_scheduler_add_counted (cpb_scheduler *s, const char *name, int count);

/* Add a task (copied; its strings borrowed) and return its index, the id used below. */
size_t cpb_scheduler_add_task (cpb_scheduler *s, const struct cpb_sched_task *t);

/* GROUP runs only after every task of AFTER is DONE. */
void cpb_scheduler_add_dependency (cpb_scheduler *s, const char *group, const char *after);

/* Refuse, before anything starts, what can never run: a dependency on an unknown group or a
   cycle, a task needing more cpus, memory or licences than exist (CPB_ERR_INPUT). */
int cpb_scheduler_check (cpb_scheduler *s, cpb_error **err);

/* The next task to start at time NOW: 1 with its index in *RET_TASK (its resources are
   reserved and it counts as RUNNING), or 0 when none can start now; then *RET_WAKE is the
   earliest time a retry's backoff ends (or a negative value if none is waiting). */
int cpb_scheduler_next (cpb_scheduler *s, double now, size_t *ret_task, double *ret_wake);

/* What became of a running task. */
enum cpb_sched_outcome
{
  CPB_SCHED_OK,
  CPB_SCHED_FAILED,
  CPB_SCHED_CANCELLED,
};

/* Release the resources of running task I and record OUTCOME at time NOW.  Returns the
   task's new state: DONE, CANCELLED, FAILED (retries spent) or QUEUED (a retry, after
   its backoff). */
enum cpb_task_state cpb_scheduler_finish (cpb_scheduler *s, size_t i,
                                          enum cpb_sched_outcome outcome, double now);

/* Task I is already running (a container a killed cpb left, adopted): count it RUNNING with
   its resources reserved and ATTEMPTS made, whatever the capacity says. */
void cpb_scheduler_adopt (cpb_scheduler *s, size_t i, int attempts);

/* Task I's container has exited: its cpus, memory, licences and -j slot are free for the
   next task while its outputs are still being collected (it stays RUNNING until
   cpb_scheduler_finish, which then releases nothing twice). */
void cpb_scheduler_release (cpb_scheduler *s, size_t i);

/* Apply a change made outside the run (hold, release, cancel) to a task that is not
   running; a running task is left alone (the caller stops its container first). */
void cpb_scheduler_set_state (cpb_scheduler *s, size_t i, enum cpb_task_state state);

/* One queued task that can never run because a group it waits for FAILED or was CANCELLED:
   1 with its index in *RET_TASK (now CANCELLED) and the failed group in *RET_GROUP, or 0. */
int cpb_scheduler_take_blocked (cpb_scheduler *s, size_t *ret_task, const char **ret_group);

/* Stop scheduling: every QUEUED task becomes CANCELLED (Ctrl-C, --fail-fast). */
void cpb_scheduler_cancel_queued (cpb_scheduler *s);

/* True when nothing is QUEUED or RUNNING (HELD tasks wait for a later run). */
bool cpb_scheduler_done (cpb_scheduler *s);

/* The current state and attempts of task I. */
enum cpb_task_state cpb_scheduler_state (cpb_scheduler *s, size_t i);
int cpb_scheduler_attempts (cpb_scheduler *s, size_t i);

/* Tasks per state, indexed by enum cpb_task_state (counters: O(1)). */
void cpb_scheduler_counts (cpb_scheduler *s, size_t counts[CPB_TASK_N]);

/* How many elements (tasks, lanes, groups, heap levels) S has visited since it was made:
   the tests bound the cost of a large run with it instead of timing anything. */
uint64_t cpb_scheduler_work (cpb_scheduler *s);

#endif
