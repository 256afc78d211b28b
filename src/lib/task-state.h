/* task-state.h: the states of a task, one enum for the state database, the scheduler and the
 * archive store.
 *
 * The database and what users read (cpb status, --json) spell a state in capitals
 * ("DONE"); the store's manifests, a file format that predates this header, in lower case
 * ("done").  Only DONE, FAILED and CANCELLED ever reach a manifest.
 */
#ifndef CPB_TASK_STATE_H
#define CPB_TASK_STATE_H

enum cpb_task_state
{
  CPB_TASK_QUEUED = 0,
  CPB_TASK_HELD,
  CPB_TASK_RUNNING,
  CPB_TASK_DONE,
  CPB_TASK_FAILED,
  CPB_TASK_CANCELLED,
  CPB_TASK_N
};

/* "QUEUED", "HELD", ...; "UNKNOWN" out of range. */
const char *cpb_task_state_name (enum cpb_task_state s);

/* The state named NAME, in either spelling and any case; -1 if none. */
int cpb_task_state_from_name (const char *name);

/* "done", "failed", ...: the spelling of manifests (docs/store.md) and of cpb fetch. */
const char *cpb_task_state_word (enum cpb_task_state s);

#endif
