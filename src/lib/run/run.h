/* run/run.h: `cpb run`, planning a workload against the state database and running it on
 * the engines.
 *
 * The run loop (run/loop.c) is engine-neutral: it plans (run/plan.c), claims the batch,
 * takes over what a killed cpb left (run/adopt.c), then asks the scheduler what may start,
 * hands launches and collections to the engine (engine/engine.h) and records every
 * outcome in the state database.  One thread owns the database and the scheduler; the
 * engine reports back through a queue that wakes it.  What happens is told to observers as
 * typed events (run/events.h); the library prints nothing.
 *
 * A run that cpb itself did not finish (killed) leaves containers labelled with its batch;
 * the next run adopts those whose task the database still shows RUNNING in them: an exited
 * one is collected as if the old run had, a running one is taken over (if the task's key is
 * unchanged) and waited for like the run's own; the rest are removed before planning.
 */
#ifndef CPB_RUN_H
#define CPB_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include "engine/engine.h"
#include "error.h"
#include "nodes.h"
#include "run/events.h"
#include "spec/jobs.h"
#include "state.h"

struct cpb_run_options
{
  const char *archive_root; /* the store (cpb_archive_dir) */
  const char *spec_path;    /* the jobs.yaml, recorded with the run (NULL: standard input) */
  const char *namespace;    /* NULL: the spec's, else cpb_default_namespace() */
  const char *batch;        /* NULL: the spec's batch */
  const char *helper_path;  /* cpb-helper on the host */
  int max_jobs;             /* -j; 0: the node's cpus */
  bool force;               /* rerun DONE tasks too */
  bool fail_fast;           /* the first failure (retries spent) cancels the rest */
  double backoff_base;      /* seconds before the first retry; 0: 1 s */
  double grace;             /* seconds between SIGTERM and SIGKILL at a timeout; 0: 5 s */
  /* Readable once the run must stop (the verb's SIGINT/SIGTERM handler writes to it, as
     cpb build's does): scheduling stops, running tasks are stopped, what finished is kept.
     -1: never. */
  int cancel_fd;
  const struct cpb_run_observer *observers; /* told what happens, in this order */
  size_t n_observers;
  /* Where the tasks run: NULL for the Podman engine on the node given to cpb_run. */
  cpb_engine_new_fn engine_new;
  void *engine_ctx;
};

/* What one planned task will do, for --dry-run and the run's summary. */
struct cpb_plan_entry
{
  char *name;
  const char *group; /* borrowed from the spec ("initialize" for that step) */
  enum cpb_plan_action action;
  char key[65];
};

/* The result of a run (or of a dry run: counts of what would run in QUEUED). */
struct cpb_run_result
{
  char *run_id; /* NULL for a dry run and a run refused before it began */
  char *namespace;
  char *batch;
  size_t counts[CPB_TASK_N];
  size_t adopted;   /* containers of a killed run collected or taken over */
  size_t removed;   /* containers of a killed run removed */
  bool interrupted; /* the cancel fd fired (Ctrl-C or SIGTERM) */
  bool started;     /* planning passed and tasks were run: the counts mean something */
};

void cpb_run_result_clear (struct cpb_run_result *r);
void cpb_plan_entries_free (struct cpb_plan_entry *v, size_t n);

/* Resolve SPEC into its tasks with their keys and say for each what a run would do, without
   writing anything or starting a container.  Refuses (CPB_ERR_INPUT) what cannot run: an
   image missing on the node, a `requires` capability no image offers, a task larger than
   the node or licence counts.  ENTRIES (N of them, initialize first) are for printing. */
int cpb_run_plan (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
                  const struct cpb_run_options *o, struct cpb_plan_entry **ret_entries,
                  size_t *ret_n, struct cpb_run_result *ret, cpb_error **err);

/* Run SPEC on NODE: claim the batch, adopt what a killed run left, plan, run until every
   task is DONE, FAILED, CANCELLED or HELD.  When O->cancel_fd fires: stop scheduling, stop
   the running tasks, keep what finished, remove every container of the run and fail with
   CPB_ERR_CANCELLED.  Returns 0 when every task is DONE (or HELD), else -1 with
   CPB_ERR_FAILED naming the failed tasks; *RET is filled either way.  A batch another
   live cpb runs is refused (CPB_ERR_INPUT) before anything is touched. */
int cpb_run (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
             const struct cpb_run_options *o, struct cpb_run_result *ret, cpb_error **err);

/* Stop (then kill) and remove the containers of NAMESPACE/BATCH (TASK only, when not NULL)
   on NODE: what cpb cancel does for tasks whose run is gone.  *RET_N counts them. */
int cpb_run_remove_containers (struct cpb_node *node, const char *namespace, const char *batch,
                               const char *task, size_t *ret_n, cpb_error **err);

#endif
