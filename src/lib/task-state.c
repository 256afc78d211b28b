/* task-state.c: the names of task states (see task-state.h). */
#include "config.h"
#include "task-state.h"

#include <stddef.h>
#include <strings.h>

static const char *const names[CPB_TASK_N] = {
  "QUEUED", "HELD", "RUNNING", "DONE", "FAILED", "CANCELLED",
};

static const char *const words[CPB_TASK_N] = {
  "queued", "held", "running", "done", "failed", "cancelled",
};

const char *
cpb_task_state_name (enum cpb_task_state s)
{
  if ((int)s < 0 || s >= CPB_TASK_N)
    return "UNKNOWN";
  return names[s];
}

const char *
cpb_task_state_word (enum cpb_task_state s)
{
  if ((int)s < 0 || s >= CPB_TASK_N)
    return "unknown";
  return words[s];
}

int
cpb_task_state_from_name (const char *name)
{
  for (int i = 0; name && i < CPB_TASK_N; i++)
    if (strcasecmp (name, names[i]) == 0)
      return i;
  return -1;
}
