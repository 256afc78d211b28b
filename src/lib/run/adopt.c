/* run/adopt.c: what a killed cpb left on the engine for this batch.
 *
 * Before planning, the run lists the batch's containers (it has claimed the batch, so no
 * live cpb runs it).  One whose task the database still shows RUNNING in it is the killed
 * run's work: exited, it is collected as if the old run had; running, it is kept for
 * planning to take over when the task's key is unchanged.  Everything else is removed.
 */
#include "config.h"
#include "run/internal.h"
#include "engine/collect.h"
#include "xalloc.h"

#include <string.h>

/* The database's row of leftover L's task, when it shows the task RUNNING in L. */
static bool
running_in (struct run *r, const struct cpb_leftover *l, struct cpb_state_task *ret)
{
  if (l->task == NULL || run_task_by_name (r, l->task) < 0 ||
      cpb_state_task_get (r->st, r->ns, r->batch, l->task, ret, NULL) < 0)
    return false;
  if (ret->state == CPB_TASK_RUNNING && ret->container_id &&
      strcmp (ret->container_id, l->handle) == 0)
    return true;
  cpb_state_task_clear (ret);
  return false;
}

/* Collect exited leftover L of the task in ST's row, and record the outcome: its result is
   as good as if the killed cpb had collected it.  Waits for the engine. */
static bool
adopt_exited (struct run *r, const struct cpb_leftover *l, const struct cpb_state_task *st)
{
  struct rtask *rt = &r->tasks[run_task_by_name (r, l->task)];
  _cleanup_task_ struct cpb_task *t = run_make_task (r, rt);
  struct cpb_image img = { 0 };
  struct cpb_collect c;
  struct cpb_engine_event *ev;
  struct cpb_outcome *o;
  bool adopted;

  /* Images are resolved after adoption: ask for this one's digest (rare, one call). */
  if (l->image_id && r->engine->ops->image_resolve (r->engine, l->image_id, &img, NULL) < 0)
    img = (struct cpb_image){ 0 };
  c = (struct cpb_collect){ .task = (size_t)(rt - r->tasks),
                            .handle = l->handle,
                            .t = t,
                            .ns = r->ns,
                            .batch = r->batch,
                            .archive_root = r->o->archive_root,
                            .exit_code = l->exit_code,
                            .state = l->exit_code == 0 ? CPB_TASK_DONE : CPB_TASK_FAILED,
                            .attempt = st->attempts,
                            .started = l->started,
                            .image_id = l->image_id,
                            .image_digest = img.digest };
  r->engine->ops->collect (r->engine, &c);
  ev = run_wait_event (r, CPB_ENGINE_COLLECTED, c.task);
  o = ev->outcome;
  adopted = cpb_state_task_finish (r->st, st->id, o->state, o->exit_code, o->archive_path,
                                   o->report, o->message, NULL) > 0;
  cpb_engine_event_free (ev);
  cpb_image_clear (&img);
  return adopted;
}

int
run_adopt_leftovers (struct run *r, struct cpb_run_result *ret, cpb_error **err)
{
  struct cpb_leftover *v = NULL;
  size_t n = 0;

  if (r->engine->ops->leftovers (r->engine, r->ns, r->batch, &v, &n, err) < 0)
    return -1;
  for (size_t k = 0; k < n; k++)
    {
      struct cpb_state_task st = { 0 };

      if (running_in (r, &v[k], &st))
        {
          if (v[k].running)
            {
              /* counted once planning knows whether its key still holds */
              r->kept = cpb_xrealloc (r->kept, (r->n_kept + 1) * sizeof *r->kept);
              r->kept[r->n_kept++] = (struct kept){ cpb_xstrdup (v[k].handle), v[k].started };
              cpb_state_task_clear (&st);
              continue;
            }
          if (v[k].exited && adopt_exited (r, &v[k], &st))
            {
              ret->adopted++;
              cpb_state_task_clear (&st);
              continue;
            }
          cpb_state_task_clear (&st);
        }
      ret->removed++;
      r->engine->ops->remove (r->engine, v[k].handle, NULL);
    }
  cpb_leftovers_free (v, n);
  return 0;
}

bool
run_take_over (struct run *r, struct rtask *rt)
{
  struct cpb_state_task old = { 0 };
  bool adopted = false;

  if (r->n_kept == 0 || cpb_state_task_get (r->st, r->ns, r->batch, rt->name, &old, NULL) < 0)
    return false;
  for (size_t k = 0; k < r->n_kept; k++)
    if (r->kept[k].handle && old.container_id && strcmp (r->kept[k].handle, old.container_id) == 0)
      {
        if (old.key && strcmp (old.key, rt->key) == 0)
          {
            time_t started = r->kept[k].started;

            rt->handle = TAKE_PTR (r->kept[k].handle);
            rt->started_wall = started;
            rt->started = run_now () - (double)(time (NULL) - started);
            rt->db_id = old.id;
            rt->action = CPB_PLAN_RUN;
            rt->adopted_attempts = old.attempts > 0 ? old.attempts : 1;
            adopted = true;
          }
        break;
      }
  cpb_state_task_clear (&old);
  return adopted;
}

void
run_drop_unadopted (struct run *r, struct cpb_run_result *ret)
{
  for (size_t k = 0; k < r->n_kept; k++)
    if (r->kept[k].handle)
      {
        r->engine->ops->remove (r->engine, r->kept[k].handle, NULL);
        ret->removed++;
      }
    else
      ret->adopted++;
}
