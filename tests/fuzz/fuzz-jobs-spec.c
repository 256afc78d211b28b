/* fuzz-jobs-spec.c: the jobs.yaml loader and the expansion on arbitrary input.
 *
 * Besides memory errors, it checks the loader's promises and abort()s when one is broken:
 * a failure is a CPB_ERR_INPUT (or, for a file it could not read, CPB_ERR_SYSTEM) error
 * with a message; a spec that loads expands, every task name is valid and found again
 * under its own index, and every task made from the plan has its command, environment
 * and settings.
 */
#include "config.h"
#include "spec/expand.h"
#include "spec/jobs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Specs are hand-written and small; longer inputs only slow the fuzzer down. */
#define FUZZ_MAX_INPUT 65536
/* Making every task of a large matrix teaches the fuzzer nothing new after the first few. */
#define FUZZ_MAX_TASKS_MADE 64

static void
check (bool cond)
{
  if (!cond)
    abort ();
}

static void
check_task (const struct cpb_task *t, size_t i)
{
  bool has_name = false;

  check (t->name && t->settings && t->env && t->outputs && t->global_index == i);
  check (t->command != NULL || t->argv != NULL);
  for (size_t k = 0; k < t->n_env; k++)
    has_name = has_name || strncmp (t->env[k], "CPB_TASK_NAME=", 14) == 0;
  check (has_name);
  for (size_t k = 0; k < t->n_inputs; k++)
    check (t->inputs[k].path && t->inputs[k].dest);
}

static void
check_plan (const cpb_jobs_spec *spec)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_plan_ cpb_jobs_plan *plan = NULL;
  size_t n, total = 0;

  check (cpb_jobs_plan_new (spec, &plan, &err) == 0);
  n = cpb_jobs_plan_count (plan);
  check (n > 0 && n <= CPB_JOBS_MAX_TASKS);
  for (size_t g = 0; g < spec->n_groups; g++)
    {
      size_t first, count;

      cpb_jobs_plan_group_range (plan, g, &first, &count);
      check (first == total);
      total += count;
      for (size_t a = 0; a < spec->groups[g].n_after; a++)
        check (spec->groups[g].after[a] < g); /* dependency order */
    }
  check (total == n);
  for (size_t i = 0; i < n; i++)
    {
      const char *name = cpb_jobs_plan_task_name (plan, i);

      check (cpb_jobs_name_valid (name) && cpb_jobs_plan_find (plan, name) == i);
      if (i < FUZZ_MAX_TASKS_MADE)
        {
          struct cpb_task *t = cpb_jobs_plan_task (plan, i);

          check_task (t, i);
          cpb_task_free (t);
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = NULL;
  struct cpb_task *init;

  if (size > FUZZ_MAX_INPUT)
    return 0;
  /* The unit tests' data directory, so that inputs the corpus names exist. */
  if (cpb_jobs_spec_load_buffer ("fuzz.yaml", CPB_SOURCE_ROOT "/tests/unit/data/jobs",
                                 (const char *)data, size, &spec, &err) < 0)
    {
      check (err != NULL && err->msg[0] != '\0' &&
             (err->kind == CPB_ERR_INPUT || err->kind == CPB_ERR_SYSTEM));
      return 0;
    }
  check (spec->batch.s && spec->defaults.workdir && spec->n_groups > 0);
  check_plan (spec);
  init = cpb_jobs_initialize_task (spec);
  check ((init != NULL) == (spec->initialize != NULL));
  cpb_task_free (init);
  return 0;
}
