/* engine/engine.c: what every engine shares (see engine.h). */
#include "config.h"
#include "engine/engine.h"
#include "engine/collect.h"
#include "xalloc.h"

#include <stdlib.h>

void
cpb_image_clear (struct cpb_image *img)
{
  free (img->name);
  free (img->ref);
  free (img->id);
  free (img->digest);
  cpb_strv_free (img->capabilities);
  *img = (struct cpb_image){ 0 };
}

void
cpb_leftovers_free (struct cpb_leftover *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    {
      free (v[i].handle);
      free (v[i].task);
      free (v[i].run_id);
      free (v[i].key);
      free (v[i].image_id);
    }
  free (v);
}

struct cpb_engine_event *
cpb_engine_event_new (cpb_engine *e, enum cpb_engine_event_kind kind, size_t task)
{
  struct cpb_engine_event *ev = cpb_xzalloc (sizeof *ev);

  ev->kind = kind;
  ev->engine = e;
  ev->task = task;
  return ev;
}

void
cpb_engine_event_free (struct cpb_engine_event *ev)
{
  if (ev == NULL)
    return;
  free (ev->handle);
  cpb_error_free (ev->err);
  cpb_outcome_free (ev->outcome);
  free (ev->message);
  free (ev);
}
