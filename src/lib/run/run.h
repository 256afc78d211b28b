/* run/run.h: `cpb run` — planning a workload against the state database and running each
 * task as a rootless container on a node.
 *
 * Per task: create (network none unless asked, no_new_privileges, capabilities dropped,
 * nofile/nproc rlimits, memory/cpu limits, io.cpb.* labels) -> one archive PUT of the helper,
 * the inputs and the outputs of the steps it depends on -> start.  Exits are learnt from one
 * events stream (`died`, filtered by the run's io.cpb.run label) on its own connection and
 * thread; a list of the run's containers every few seconds is the backstop should an event be
 * lost.  On exit: logs (stdout and stderr apart), the helper's report and the declared outputs
 * go to the store writer, then the container is removed with its volumes.
 *
 * A run that cpb itself did not finish (killed) leaves containers labelled with its batch;
 * the next run adopts those whose task the database still shows RUNNING in them: an exited
 * one is collected as if the old run had, a running one is taken over (if the task's key is
 * unchanged) and waited for like the run's own; the rest are removed before planning.
 */
#ifndef CPB_EXECUTOR_H
#define CPB_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "error.h"
#include "nodes.h"
#include "run/progress.h"
#include "spec/jobs.h"
#include "state.h"

struct cpb_run_options
{
  const char *archive_root; /* the store (cpb_archive_dir) */
  const char *namespace;    /* NULL: the spec's, else cpb_default_namespace() */
  const char *batch;        /* NULL: the spec's batch */
  const char *helper_path;  /* cpb-helper on the host */
  int max_jobs;             /* -j; 0: the node's cpus */
  bool force;               /* rerun DONE tasks too */
  bool fail_fast;           /* the first failure (retries spent) cancels the rest */
  double backoff_base;      /* seconds before the first retry; 0: 1 s */
  double grace;             /* seconds between SIGTERM and SIGKILL at a timeout; 0: 5 s */
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
  char *run_id; /* NULL for a dry run */
  char *namespace;
  char *batch;
  size_t counts[CPB_TASK_N];
  size_t adopted;   /* containers of a killed run collected or taken over */
  size_t removed;   /* containers of a killed run removed */
  bool interrupted; /* Ctrl-C or SIGTERM */
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

/* Run SPEC on NODE: adopt what a killed run left, plan, run until every task is DONE,
   FAILED, CANCELLED or HELD, reporting on PROGRESS (may be NULL).  SIGINT and SIGTERM stop
   scheduling, stop the running containers, keep what finished, remove every container of
   the run and fail with CPB_ERR_CANCELLED.  Returns 0 when every task is DONE (or HELD),
   else -1 with CPB_ERR_FAILED naming the failed tasks; *RET is filled either way. */
int cpb_run (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
             const struct cpb_run_options *o, cpb_progress *progress, struct cpb_run_result *ret,
             cpb_error **err);

/* Stop (then kill) and remove the containers of NAMESPACE/BATCH (TASK only, when not NULL)
   on NODE: what cpb cancel does for tasks whose run is gone.  *RET_N counts them. */
int cpb_run_remove_containers (struct cpb_node *node, const char *namespace, const char *batch,
                               const char *task, size_t *ret_n, cpb_error **err);

#endif
