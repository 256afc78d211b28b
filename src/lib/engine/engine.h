/* engine/engine.h: where tasks execute.
 *
 * The run loop (run/loop.c) sees only this.  An engine instance is one place with capacity:
 * a Podman service (engine/podman.c), later a Slurm partition or a pool of warm workers.  A
 * farm of five lab machines is five instances of the Podman engine.  The interface is the
 * traffic the loop has with Podman, with nothing added: resolve an image, launch a task,
 * learn that it exited, collect its results into the store, stop it, find what a killed cpb
 * left, remove what is ours.  (crun's custom handlers and Nomad's task drivers have the same
 * shape; like them, engines are compiled in, not plugins.)
 *
 * Threads.  The loop's thread calls every operation; an engine does slow work on threads of
 * its own and reports back by posting events to the sink the loop gave it (any thread may
 * post; the loop drains them in its own thread).  Operations marked async return at once.
 *
 * Order of events per task: STARTED or START_FAILED for a launch; for a started (or
 * adopted) task exactly one EXITED, then, after the loop asked to collect, one COLLECTED.
 * An exit the engine learns before STARTED was posted is held back until after it.
 *
 * What goes in and out is engine-neutral: a launch says what the task is and what its
 * working directory gets (a bundle, engine/bundle.h), never a Podman SpecGenerator or an
 * sbatch line; collection ends in the store through engine/collect.h, so every engine
 * writes the same archives by the same code.
 */
#ifndef CPB_ENGINE_H
#define CPB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "task-state.h"
#include "spec/jobs.h"

typedef struct cpb_engine cpb_engine;
struct cpb_bundle;
struct cpb_outcome;

/* An image as the run uses it, resolved once per run on the engine that has it. */
struct cpb_image
{
  char *name;          /* as jobs.yaml names it */
  char *ref;           /* what resolved: the name, or localhost/NAME:latest */
  char *id;            /* the image ID (config digest): what containers are created from */
  char *digest;        /* its manifest digest there (sha256:...), for the manifest; NULL: none */
  char **capabilities; /* from the io.cpb.capabilities label; NULL-terminated */
};

void cpb_image_clear (struct cpb_image *img);

/* What placement needs to know of an engine instance. */
struct cpb_engine_info
{
  const char *name;           /* the node's name, as manifests and cpb status show it */
  double cpus;                /* capacity; 0: the engine queues by itself */
  uint64_t memory;            /* bytes; 0: unknown or unlimited */
  char *const *capabilities;  /* what the node itself offers (images add theirs) */
};

/* One task to start.  Borrowed by the engine from launch() until it posts STARTED or
   START_FAILED for L->task; the loop frees it afterwards. */
struct cpb_launch
{
  size_t task;      /* the loop's index, echoed in the events */
  const char *ns;   /* namespace, batch, task name, run id, key, attempt: labels and names */
  const char *batch;
  const char *name;
  const char *run_id;
  const char *key;
  int attempt;                   /* 1 for the first */
  const struct cpb_image *image; /* resolved on this engine */
  const struct cpb_task *t;      /* command, env, workdir, outputs, settings */
  char **helper_argv;            /* cpb-helper's arguments after its own path */
  struct cpb_bundle *bundle;     /* what the working directory gets before the start */
};

/* One exited task to collect.  Borrowed by the engine from collect() until it posts
   COLLECTED for C->task. */
struct cpb_collect
{
  size_t task;
  const char *handle;         /* what STARTED or adopt() named */
  const struct cpb_task *t;   /* outputs, workdir, manifest fields */
  const char *ns;
  const char *batch;
  const char *archive_root;   /* the store */
  int exit_code;              /* as the engine reported it */
  enum cpb_task_state state;  /* DONE, FAILED or CANCELLED as the exit reads */
  const char *message;        /* CANCELLED: why ("cancelled", "interrupted"); else NULL */
  int attempt;
  time_t started;
  const char *image_id;
  const char *image_digest;
};

/* A container (or job) a killed cpb left for this batch, as leftovers() lists it. */
struct cpb_leftover
{
  char *handle;
  char *task;    /* the io.cpb.task label; NULL when absent */
  char *run_id;
  char *key;
  char *image_id;
  bool running;  /* still running; otherwise exited (or never started) */
  bool exited;   /* exited or stopped: its exit code is known */
  int exit_code;
  time_t started;
};

void cpb_leftovers_free (struct cpb_leftover *v, size_t n);

enum cpb_engine_event_kind
{
  CPB_ENGINE_STARTED,      /* HANDLE runs task TASK */
  CPB_ENGINE_START_FAILED, /* ERR says why; nothing of the attempt is left on the node */
  CPB_ENGINE_EXITED,       /* task TASK exited with EXIT_CODE: its resources are free */
  CPB_ENGINE_COLLECTED,    /* OUTCOME says what was kept; the container is gone */
  CPB_ENGINE_WARNING,      /* MESSAGE for the user (once per run is the engine's business) */
};

/* What an engine posts.  The loop owns it (and everything in it) once posted. */
struct cpb_engine_event
{
  enum cpb_engine_event_kind kind;
  cpb_engine *engine;
  size_t task;
  char *handle;                /* STARTED */
  int exit_code;               /* EXITED */
  cpb_error *err;              /* START_FAILED */
  struct cpb_outcome *outcome; /* COLLECTED */
  char *message;               /* WARNING */
  struct cpb_engine_event *next;
};

void cpb_engine_event_free (struct cpb_engine_event *ev);

/* Where an engine posts its events: POST takes EV over and must wake the loop. */
struct cpb_engine_sink
{
  void (*post) (void *ctx, struct cpb_engine_event *ev);
  void *ctx;
};

struct cpb_engine_ops
{
  const char *kind; /* "podman" */

  /* Capacity, capabilities and name; valid as long as the engine. */
  void (*info) (cpb_engine *e, struct cpb_engine_info *ret);

  /* Resolve image NAME as this engine's service has it (CPB_ERR_INPUT when it has not:
     cpb never pulls).  Blocking. */
  int (*image_resolve) (cpb_engine *e, const char *name, struct cpb_image *ret, cpb_error **err);

  /* Start task L (async) -> STARTED or START_FAILED. */
  void (*launch) (cpb_engine *e, struct cpb_launch *l);

  /* Watch HANDLE, a task a killed cpb started and the loop takes over, like one of its own
     (-> EXITED). */
  void (*adopt) (cpb_engine *e, size_t task, const char *handle);

  /* Collect exited task C (async) -> COLLECTED.  The engine removes the container after. */
  void (*collect) (cpb_engine *e, struct cpb_collect *c);

  /* Ask HANDLE to stop: SIGTERM to cpb-helper (which forwards it), or SIGKILL (async; the
     exit arrives as EXITED like any other). */
  void (*stop) (cpb_engine *e, const char *handle, bool kill);

  /* Let the engine do its periodic work at time NOW (monotonic seconds): the backstop
     that finds exits a lost event did not report. */
  void (*tick) (cpb_engine *e, double now);

  /* What is on the engine for NAMESPACE/BATCH, in any state (blocking). */
  int (*leftovers) (cpb_engine *e, const char *ns, const char *batch, struct cpb_leftover **ret,
                    size_t *ret_n, cpb_error **err);

  /* Remove HANDLE whatever its state (blocking); one already gone is no error. */
  int (*remove) (cpb_engine *e, const char *handle, cpb_error **err);

  /* Finish what is under way (no new work is taken), then remove every container of this
     run and every adopted one that is still there; nothing else.  Blocking. */
  void (*shutdown) (cpb_engine *e);

  void (*free) (cpb_engine *e);
};

/* What a run tells an engine it makes. */
struct cpb_engine_config
{
  const char *run_id; /* the io.cpb.run label of what it creates; NULL with INSPECT_ONLY */
  const char *ns;     /* the batch it runs: the events and leftovers it watches */
  const char *batch;
  size_t workers;    /* threads for launches and collections; 0: the engine's choice */
  time_t since;      /* events from this time on matter (taken before the first launch) */
  bool inspect_only; /* only image_resolve, leftovers and remove will be called (dry runs,
                        cpb cancel): start no threads */
};

/* How a run makes its engine: the Podman engine on the run's node by default, a fake one
   in tests (tests/unit/test-run-loop.c), others later. */
typedef int (*cpb_engine_new_fn) (void *ctx, const struct cpb_engine_config *cfg,
                                  const struct cpb_engine_sink *sink, cpb_engine **ret,
                                  cpb_error **err);

/* Every engine starts with this header (its ops). */
struct cpb_engine
{
  const struct cpb_engine_ops *ops;
};

static inline void
cpb_engine_free (cpb_engine *e)
{
  if (e)
    e->ops->free (e);
}
CPB_DEFINE_CLEANUP_FUNC (cpb_engine *, cpb_engine_free)
#define _cleanup_engine_ _cleanup_ (cpb_engine_freep)

/* A new event of KIND about TASK from E, for the engine to fill and post. */
struct cpb_engine_event *cpb_engine_event_new (cpb_engine *e, enum cpb_engine_event_kind kind,
                                               size_t task);

#endif
