/* report.h: the documents that say where the farm stands.
 *
 * `cpb status --json` and the JSON API of `cpb serve` print the same documents, so they are
 * rendered here, once: a task object, a batch with its tasks, the list of batches.  The
 * server adds documents of its own (progress with rate and ETA, the finished-over-time
 * series, nodes) built from the same pieces.
 *
 * The server also needs to read the state database without ever getting in the way of a
 * run: cpb_report_db is a read-only connection (SQLITE_OPEN_READONLY, query_only) that only
 * ever holds short read transactions.  In WAL mode a reader never blocks the run's writes
 * nor is blocked by them; it never migrates the schema or marks runs killed, as
 * cpb_state_open and cpb_state_run_live do, because those are writes.
 */
#ifndef CPB_REPORT_H
#define CPB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <yajl/yajl_gen.h>

#include "error.h"
#include "state.h"
#include "store/store.h"
#include "task-state.h"

/* ------------------------------------------------------------------ rendering */

/* What cpb-helper measured for T, from the manifest beside its archive (TASK.json next to
   TASK.tar.zst): the database keeps states, the store keeps results.  NULL while the task
   has no archive, or when its manifest cannot be read (the rest is still shown). */
struct cpb_task_manifest *cpb_report_task_manifest (const struct cpb_state_task *t);

/* "counts": {"QUEUED": n, ...} with every state, in enum order. */
void cpb_report_gen_counts (yajl_gen g, const size_t counts[CPB_TASK_N]);

/* One task as `cpb status BATCH --json` lists it, "helper" from its manifest. */
void cpb_report_gen_task (yajl_gen g, const struct cpb_state_task *t);

/* The document of `cpb status BATCH --json`: namespace, batch, counts, tasks. */
void cpb_report_gen_batch (yajl_gen g, const char *ns, const char *batch,
                           const size_t counts[CPB_TASK_N], const struct cpb_state_task *v,
                           size_t n);

/* One batch of the farm with what a progress bar, a rate and an ETA need. */
struct cpb_report_batch
{
  char *namespace;
  char *batch;
  size_t counts[CPB_TASK_N];
  size_t total;
  int64_t run_pid;                   /* the cpb running it now, 0 when none */
  int64_t run_started;               /* when that run began (Unix seconds), 0 when none */
  size_t run_finished;               /* tasks DONE or FAILED since run_started */
  int64_t first_started, last_ended; /* over all tasks, 0 when none */
};

void cpb_report_batches_free (struct cpb_report_batch *v, size_t n);

/* The document of `cpb status --json`: {"batches": [{namespace, batch, counts}]}. */
void cpb_report_gen_batches (yajl_gen g, const struct cpb_report_batch *v, size_t n);

/* The progress of B at NOW as one object: namespace, batch, counts, total, finished, the
   live run ({"pid", "started"} or null), "rate" (tasks finished per minute of the live run,
   null when not known) and "eta_seconds" (what is left at that rate, null when not known).
   Rate and ETA are given only while a run is live: a batch nobody runs has none. */
void cpb_report_gen_progress (yajl_gen g, const struct cpb_report_batch *b, time_t now);

/* The finished-over-time series of a batch: {"points": [[t, n], ...]} where n tasks had
   finished by time t, from ENDED (sorted ended_at of DONE and FAILED tasks), thinned to at
   most MAX_POINTS points (the last point is always kept) so a 100,000-task batch stays a
   small document. */
void cpb_report_gen_finished (yajl_gen g, const int64_t *ended, size_t n, size_t max_points);

/* A generator's document as a new string ending in a newline, or NULL. */
char *cpb_report_finish (yajl_gen g, size_t *ret_len);

/* ------------------------------------------------------------------ read-only state */

typedef struct cpb_report_db cpb_report_db;

/* Open the state database at PATH read-only.  A missing database is CPB_ERR_NOT_FOUND:
   this never creates one (cpb serve asks cpb_state_open once at start for that). */
int cpb_report_db_open (const char *path, cpb_report_db **ret, cpb_error **err);
void cpb_report_db_close (cpb_report_db *db);
CPB_DEFINE_CLEANUP_FUNC (cpb_report_db *, cpb_report_db_close)
#define _cleanup_report_db_ _cleanup_ (cpb_report_db_closep)

/* True when another connection committed since the last call (SQLite's data_version): the
   server's cheap way to know the page needs a new document.  The first call is true. */
bool cpb_report_db_changed (cpb_report_db *db);

/* Start and end one read transaction, so that the pieces of one document (counts and
   tasks) come from the same moment.  Keep it short: a reader holds back checkpoints. */
int cpb_report_db_begin (cpb_report_db *db, cpb_error **err);
void cpb_report_db_end (cpb_report_db *db);

/* Every batch (of namespace NS, or all when NULL), sorted by namespace/batch, with counts
   and run progress. */
int cpb_report_db_batches (cpb_report_db *db, const char *ns, struct cpb_report_batch **ret,
                           size_t *ret_n, cpb_error **err);

/* The tasks of NS/BATCH in (group, index, name) order, as cpb_state_tasks_list gives them;
   only those whose state is in STATE_MASK (bits 1 << state; 0 for all). */
int cpb_report_db_tasks (cpb_report_db *db, const char *ns, const char *batch, unsigned state_mask,
                         struct cpb_state_task **ret, size_t *ret_n, cpb_error **err);

/* One task; CPB_ERR_NOT_FOUND if there is none. */
int cpb_report_db_task (cpb_report_db *db, const char *ns, const char *batch, const char *name,
                        struct cpb_state_task *ret, cpb_error **err);

/* The ended_at of the DONE and FAILED tasks of NS/BATCH, ascending (for the plot). */
int cpb_report_db_finished (cpb_report_db *db, const char *ns, const char *batch, int64_t **ret,
                            size_t *ret_n, cpb_error **err);

/* How many tasks are RUNNING on NODE, over every batch. */
int cpb_report_db_running_on (cpb_report_db *db, const char *node, size_t *ret, cpb_error **err);

#endif
