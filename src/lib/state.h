/* state.h: the SQLite database of runs, tasks and attempts.
 *
 * Every change of a task's state is written as it happens, so that a run killed at any
 * moment can be resumed: the next `cpb run` reads what is DONE (and with which key) and
 * runs the rest.  Other cpb processes (cpb hold, cpb cancel) write to the same database
 * while a run is going; the database is in WAL mode so readers never block the writer,
 * and the running scheduler notices their changes through cpb_state_changed().
 *
 * Transitions made by the scheduler are conditional on the state it expects
 * (QUEUED -> RUNNING only if still QUEUED, RUNNING -> DONE only if still RUNNING), so a
 * concurrent hold or cancel is never overwritten, and each is atomic, so a cpb killed at any
 * instant leaves a task and its attempt in step.
 *
 * One connection (cpb_state) belongs to one thread at a time.
 */
#ifndef CPB_STATE_H
#define CPB_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include "error.h"
#include "task-state.h"

/* One row of the tasks table.  Strings are owned by the row (cpb_state_task_clear). */
struct cpb_state_task
{
  int64_t id;
  char *namespace;
  char *batch;
  char *name;
  char *group;
  int index;
  char *params_json;
  char *key; /* SHA-256 of what decides the result: image ID, command, env, inputs */
  enum cpb_task_state state;
  int priority;
  int attempts;
  int exit_code; /* -1 until the task has exited */
  char *node;
  char *container_id;
  char *run_id;
  int64_t queued_at, started_at, ended_at; /* Unix seconds; 0 if not yet */
  char *archive_path;
  char *helper_json; /* the helper's report (rusage, timeout, signal), as it wrote it */
  char *message;     /* why it failed or was cancelled, for cpb status */
};

void cpb_state_task_clear (struct cpb_state_task *t);
void cpb_state_task_free_array (struct cpb_state_task *v, size_t n);

typedef struct cpb_state cpb_state;

/* Open (creating it and its directory if needed) the database at PATH and bring its schema
   to the current version.  Waits up to a few seconds for a lock held by another cpb. */
int cpb_state_open (const char *path, cpb_state **ret, cpb_error **err);
void cpb_state_close (cpb_state *st);
CPB_DEFINE_CLEANUP_FUNC (cpb_state *, cpb_state_close)
#define _cleanup_state_ _cleanup_ (cpb_state_closep)

/* The schema version this build writes (the `schema` table records the database's). */
int cpb_state_schema_version (cpb_state *st);

/* Group several writes into one transaction: planning thousands of tasks, or the thousands
   of transitions of one round of a large run, one commit at a time costs seconds to
   minutes (docs/running.md has the figures).  The outermost begin takes the database's
   write lock (BEGIN IMMEDIATE: other cpbs wait for the commit, up to the busy timeout);
   begins inside it nest as savepoints, so a function that must be atomic on its own (every
   two-statement transition below) stays atomic inside a caller's larger transaction.  Each
   begin is ended by exactly one commit or rollback: a failed commit rolls its level back.
   Rolling back an inner level undoes only what was written since its begin.  Keep the
   outer level short (one round of the loop, not a container's lifetime): cpb hold, release
   and cancel wait for its commit. */
int cpb_state_begin (cpb_state *st, cpb_error **err);
int cpb_state_commit (cpb_state *st, cpb_error **err);
/* A read transaction (ended by cpb_state_commit or rollback, nesting like the others):
   many look-ups in one snapshot take the database's lock once, not once each (a dry run of
   100,000 tasks made 300,000 fcntl and stat calls without). */
int cpb_state_begin_read (cpb_state *st, cpb_error **err);
int cpb_state_rollback (cpb_state *st, cpb_error **err);

/* Claim NAMESPACE/BATCH for this process, atomically, before the run touches a container or
   plans a task: in one transaction, runs recorded as running whose process is gone are
   marked "killed"; then, if another live process holds the batch, nothing is claimed and
   0 is returned with its pid in *RET_OTHER_PID; otherwise this run's row is recorded (this
   pid, status running, SPEC_PATH: the jobs.yaml it runs, made absolute) and 1 is returned
   with its id (random hex, also the value of the io.cpb.run label on its containers) in
   *RET_RUN_ID and 0 in *RET_OTHER_PID.  Two cpbs claiming at the same instant are
   serialised by the write lock: exactly one gets 1.  A process is recognised by its pid,
   its start time and the boot it runs in, so a pid reused by another process is not taken
   for the run, nor is a zombie. */
int cpb_state_run_claim (cpb_state *st, const char *namespace, const char *batch,
                         const char *spec_path, char **ret_run_id, int64_t *ret_other_pid,
                         cpb_error **err);

/* Mark the run ended with STATUS ("done", "failed", "interrupted"). */
int cpb_state_run_end (cpb_state *st, const char *run_id, const char *status, cpb_error **err);

/* What cpb_state_task_plan decided for a task. */
enum cpb_plan_action
{
  CPB_PLAN_RUN,  /* new, changed, or not DONE: queued for this run */
  CPB_PLAN_SKIP, /* DONE with the same key: nothing to do */
  CPB_PLAN_HELD, /* held by the user: waits for cpb release */
};

/* Insert or refresh the task T->namespace/batch/name for a new run: a task DONE with the
   same key is kept (SKIP) unless FORCE; a HELD task stays HELD; anything else becomes
   QUEUED with its attempts reset.  T->id is set.  */
int cpb_state_task_plan (cpb_state *st, struct cpb_state_task *t, bool force,
                         enum cpb_plan_action *ret_action, cpb_error **err);

/* QUEUED -> RUNNING for attempt ATTEMPT in container CONTAINER_ID on NODE, with the
   attempt's row, both or neither.  Returns 1 if done, 0 if the task was no longer QUEUED
   (held or cancelled meanwhile). */
int cpb_state_task_start (cpb_state *st, int64_t id, const char *run_id, int attempt,
                          const char *node, const char *container_id, cpb_error **err);

/* Record the container of the RUNNING task ID and of its attempt, both or neither (created
   after the task was marked RUNNING, so that a cpb killed in between leaves a container the
   next run can recognise). */
int cpb_state_task_set_container (cpb_state *st, int64_t id, const char *container_id,
                                  cpb_error **err);

/* Whether another cpb is running NAMESPACE/BATCH now: *RET_PID gets its pid, or 0 (a run
   of this very process does not count).  Runs whose process is gone (killed) are marked
   "killed" on the way.  For cpb cancel, which only asks; a run claims with
   cpb_state_run_claim. */
int cpb_state_run_live (cpb_state *st, const char *namespace, const char *batch, int64_t *ret_pid,
                        cpb_error **err);

/* RUNNING -> STATE (DONE, FAILED, QUEUED for a retry, CANCELLED) with the attempt's outcome,
   the attempt and the task together or neither.  Returns 1 if done, 0 if the task was no
   longer RUNNING (cancelled meanwhile: the attempt is still recorded). ARCHIVE_PATH,
   HELPER_JSON and MESSAGE may be NULL. */
int cpb_state_task_finish (cpb_state *st, int64_t id, enum cpb_task_state state, int exit_code,
                           const char *archive_path, const char *helper_json, const char *message,
                           cpb_error **err);

/* Set the state of a task unconditionally (planning-time refusals, dependency failures). */
int cpb_state_task_set (cpb_state *st, int64_t id, enum cpb_task_state state, const char *message,
                        cpb_error **err);

/* For cpb hold/release/cancel: move the tasks of NAMESPACE/BATCH (only TASK if not NULL)
   whose state is in FROM_MASK (bits 1 << state) to TO.  *RET_CHANGED counts them. */
int cpb_state_tasks_move (cpb_state *st, const char *namespace, const char *batch, const char *task,
                          unsigned from_mask, enum cpb_task_state to, const char *message,
                          size_t *ret_changed, cpb_error **err);

/* One task by name; CPB_ERR_NOT_FOUND if there is none. */
int cpb_state_task_get (cpb_state *st, const char *namespace, const char *batch, const char *name,
                        struct cpb_state_task *ret, cpb_error **err);

/* All tasks of NAMESPACE/BATCH in (group, index, name) order. */
int cpb_state_tasks_list (cpb_state *st, const char *namespace, const char *batch,
                          struct cpb_state_task **ret, size_t *ret_n, cpb_error **err);

/* Per-state counts of NAMESPACE/BATCH, COUNTS indexed by enum cpb_task_state. */
int cpb_state_counts (cpb_state *st, const char *namespace, const char *batch,
                      size_t counts[CPB_TASK_N], cpb_error **err);

/* The batches of NAMESPACE (all namespaces if NULL) as "namespace/batch" strings, sorted. */
int cpb_state_batches (cpb_state *st, const char *namespace, char ***ret, cpb_error **err);

/* True if another connection committed since the previous call (SQLite's data_version):
   the scheduler's cheap check, between rounds, for holds and cancels by other cpbs. */
bool cpb_state_changed (cpb_state *st);

/* Split a command-line batch reference "BATCH" or "NAMESPACE/BATCH" into its parts, the
   namespace defaulting to DEFAULT_NS; both checked with cpb_check_name (CPB_ERR_INPUT). */
int cpb_state_parse_batch (const char *arg, const char *default_ns, char **ret_ns, char **ret_batch,
                           cpb_error **err);

static inline void
cpb_sqlite3_stmt_finalizep (sqlite3_stmt **s)
{
  if (*s)
    sqlite3_finalize (*s);
}
#define _cleanup_stmt_ _cleanup_ (cpb_sqlite3_stmt_finalizep)

#endif
