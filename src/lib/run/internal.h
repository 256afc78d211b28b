/* run/internal.h: what plan.c, adopt.c and loop.c share about one run, and nobody else.
 *
 * Everything here belongs to the loop's thread: engines see only the launches and
 * collections handed to them, and report back through the event queue at the end.
 */
#ifndef CPB_RUN_INTERNAL_H
#define CPB_RUN_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "engine/bundle.h"
#include "engine/engine.h"
#include "hash.h"
#include "map.h"
#include "run/run.h"
#include "run/scheduler.h"

#define CPB_INIT_GROUP "initialize"
#define NO_PLAN_INDEX ((size_t)-1)
#define NO_SLOT ((size_t)-1)

/* Where a task stands on the engine side (the scheduler keeps its state proper). */
enum rphase
{
  R_IDLE,       /* not on any engine */
  R_LAUNCHING,  /* handed to the engine, no answer yet */
  R_RUNNING,    /* started (or adopted), not yet exited */
  R_COLLECTING, /* exited, its results being written */
};

/* A launch or collection in flight: what the engine borrows, owned here. */
struct inflight
{
  struct cpb_task *t;
  struct cpb_launch launch;
  struct cpb_collect collect;
  char *message; /* collect: why it was cancelled */
};

/* One task of the run: the plan's index and what the loop tracks about it. */
struct rtask
{
  size_t plan_index; /* NO_PLAN_INDEX for initialize */
  const char *name;
  const char *group;
  int64_t db_id;
  char key[CPB_SHA256_HEX_LEN + 1];
  enum cpb_plan_action action;
  struct cpb_image *image;
  uint64_t timeout;
  enum rphase phase;
  char *handle;   /* the engine's name for its container, once started */
  double started; /* monotonic seconds */
  time_t started_wall;
  int stop_phase; /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */
  double stop_at; /* when the first signal was sent */
  bool cancel_requested;
  int adopted_attempts; /* > 0: running in a container a killed cpb left */
  struct cpb_sched_use *uses;
  size_t n_uses;
  size_t live_slot;      /* its place in run.live while not R_IDLE */
  struct inflight *job;  /* while R_LAUNCHING or R_COLLECTING */
};

/* A running container a killed cpb left, that planning may take over. */
struct kept
{
  char *handle;
  time_t started;
};

struct run
{
  const struct cpb_run_options *o;
  cpb_state *st;
  struct cpb_node *node;
  const cpb_jobs_spec *spec;
  cpb_jobs_plan *plan;
  cpb_scheduler *sched;
  cpb_engine *engine;
  char *run_id;
  char *ns;
  char *batch;
  struct rtask *tasks;
  size_t n_tasks;
  cpb_map *by_db_id;     /* tasks.id -> index into tasks */
  struct cpb_image **images; /* each allocated alone: tasks keep pointers to them */
  size_t n_images;
  cpb_map *digest_of; /* an input's path -> index into digests: hashed once per run */
  char (*digests)[CPB_SHA256_HEX_LEN + 1];
  size_t n_digests;
  struct kept *kept;
  size_t n_kept;
  size_t *live; /* indices of the tasks not R_IDLE, in no order */
  size_t n_live;
  size_t n_collecting;
  bool stopping;    /* interrupted or --fail-fast: nothing more starts */
  bool interrupted; /* the cancel fd fired */
  size_t n_failed_names;
  cpb_buf failed_names;
  /* the engines' events, posted from their threads */
  pthread_mutex_t lock;
  struct cpb_engine_event *ev_head, *ev_tail;
  int wake[2];
};

/* plan.c */
int run_init (struct run *r, cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
              const struct cpb_run_options *o, cpb_error **err);
void run_free (struct run *r);
void run_init_tasks (struct run *r);
int run_plan (struct run *r, bool record, cpb_error **err);
struct cpb_task *run_make_task (struct run *r, const struct rtask *rt);
ssize_t run_task_by_name (struct run *r, const char *name);
/* Make R's engine (the options' factory, else Podman on the node); SINK NULL: one that
   only inspects. */
int run_make_engine (struct run *r, const struct cpb_engine_sink *sink, size_t workers,
                     cpb_error **err);
void run_fill_result (struct run *r, struct cpb_run_result *ret);
double run_now (void);

/* adopt.c */
int run_adopt_leftovers (struct run *r, struct cpb_run_result *ret, cpb_error **err);
bool run_take_over (struct run *r, struct rtask *rt);
void run_drop_unadopted (struct run *r, struct cpb_run_result *ret);

/* loop.c */
/* Wait for the engine's event of KIND about TASK, keeping the others for the loop. */
struct cpb_engine_event *run_wait_event (struct run *r, enum cpb_engine_event_kind kind,
                                         size_t task);
void run_emit (struct run *r, const struct cpb_run_event *ev);
void run_warn (struct run *r, const char *task, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
