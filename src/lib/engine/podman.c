/* engine/podman.c: tasks as rootless Podman containers on one service (see podman.h).
 *
 * Three kinds of threads touch an engine: the run loop's (every operation), the workers
 * (launches, collections, stops, the backstop: each on its own connection) and the events
 * thread (exits).  What they share is under one mutex: the job queue and the table of the
 * containers the engine watches.  Events go to the loop's sink outside no lock but that
 * one, so an exit is never posted before the STARTED of its task.
 */
#include "config.h"
#include "engine/podman.h"
#include "engine/bundle.h"
#include "engine/collect.h"
#include "buf.h"
#include "helper/protocol.h"
#include "podman/podman.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often the backstop lists the batch's containers in case an event was lost, and how
   often once the events stream has ended. */
#define BACKSTOP_SECONDS 10.0
#define BACKSTOP_SECONDS_NO_EVENTS 2.0

enum watch_state
{
  W_LAUNCHING, /* created, not yet reported STARTED */
  W_RUNNING,   /* STARTED (or adopted) posted, no exit yet */
  W_EXITED,    /* EXITED posted */
};

/* A container the engine watches for its exit. */
struct watch
{
  char *id;
  size_t task;
  enum watch_state state;
  bool died_early; /* exited while W_LAUNCHING: post EXITED right after STARTED */
  int exit_code;
};

enum job_kind
{
  JOB_LAUNCH,
  JOB_COLLECT,
  JOB_STOP,
  JOB_BACKSTOP,
};

struct job
{
  enum job_kind kind;
  struct cpb_launch *launch;   /* borrowed from the loop */
  struct cpb_collect *collect; /* borrowed from the loop */
  char *id;                    /* stop */
  bool kill;
  struct job *next;
};

struct pengine
{
  struct cpb_engine base;
  struct cpb_node *node; /* borrowed; its connection is the loop thread's */
  struct cpb_engine_sink sink;
  char *run_id, *ns, *batch;
  time_t since;

  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool locks_ready;
  struct job *todo, *todo_tail;
  bool quit;
  struct watch *watch;
  size_t n_watch;
  cpb_buf warned; /* Podman's create warnings already posted, one a line */
  bool backstop_queued;
  bool events_ended;

  pthread_t *workers;
  cpb_podman **conns;
  size_t n_workers;

  cpb_podman *events_conn;
  pthread_t events_thread;
  bool events_started;
  double last_backstop;
};

static void
post (struct pengine *e, struct cpb_engine_event *ev)
{
  e->sink.post (e->sink.ctx, ev);
}

static void
post_warning (struct pengine *e, char *message)
{
  struct cpb_engine_event *ev = cpb_engine_event_new (&e->base, CPB_ENGINE_WARNING, 0);

  ev->message = message;
  post (e, ev);
}

/* ------------------------------------------------------------------ the watch table */

/* The watched container ID; call with the lock held. */
static struct watch *
watch_find (struct pengine *e, const char *id)
{
  for (size_t i = 0; i < e->n_watch; i++)
    if (strcmp (e->watch[i].id, id) == 0)
      return &e->watch[i];
  return NULL;
}

static void
watch_add (struct pengine *e, const char *id, size_t task, enum watch_state state)
{
  pthread_mutex_lock (&e->lock);
  e->watch = cpb_xrealloc (e->watch, (e->n_watch + 1) * sizeof *e->watch);
  e->watch[e->n_watch++] = (struct watch){ .id = cpb_xstrdup (id), .task = task, .state = state };
  pthread_mutex_unlock (&e->lock);
}

static void
watch_drop (struct pengine *e, const char *id)
{
  pthread_mutex_lock (&e->lock);
  for (size_t i = 0; i < e->n_watch; i++)
    if (strcmp (e->watch[i].id, id) == 0)
      {
        free (e->watch[i].id);
        e->watch[i] = e->watch[--e->n_watch];
        break;
      }
  pthread_mutex_unlock (&e->lock);
}

/* Container ID exited with EXIT_CODE: EXITED for its task, once.  Lock held. */
static void
exited_locked (struct pengine *e, struct watch *w, int exit_code)
{
  struct cpb_engine_event *ev;

  if (w->state == W_LAUNCHING)
    {
      w->died_early = true;
      w->exit_code = exit_code;
      return;
    }
  if (w->state != W_RUNNING)
    return;
  w->state = W_EXITED;
  ev = cpb_engine_event_new (&e->base, CPB_ENGINE_EXITED, w->task);
  ev->exit_code = exit_code;
  post (e, ev);
}

static void
container_exited (struct pengine *e, const char *id, int exit_code)
{
  struct watch *w;

  pthread_mutex_lock (&e->lock);
  if ((w = watch_find (e, id)) != NULL)
    exited_locked (e, w, exit_code);
  pthread_mutex_unlock (&e->lock);
}

/* ------------------------------------------------------------------ images */

static char **
split_capabilities (const char *label)
{
  char **v = cpb_xcalloc (1, sizeof *v);
  size_t n = 0;
  _cleanup_free_ char *copy = cpb_xstrdup (label ? label : "");
  char *save = NULL;

  for (char *tok = strtok_r (copy, ", ", &save); tok; tok = strtok_r (NULL, ", ", &save))
    {
      v = cpb_xrealloc (v, (n + 2) * sizeof *v);
      v[n++] = cpb_xstrdup (tok);
      v[n] = NULL;
    }
  return v;
}

/* Inspect NAME on the node, also as localhost/NAME:latest (how cpb build tags a pods.yaml
   image), so that `image: solver` finds what `cpb build` made.  An image the node does not
   have is bad input (exit 2) whatever its spelling: cpb never pulls, so the user must build
   or load it; any other failure is Podman's, already naming the image. */
static int
pe_image_resolve (cpb_engine *base, const char *name, struct cpb_image *img, cpb_error **err)
{
  struct pengine *e = (struct pengine *)base;
  _cleanup_podman_image_ struct cpb_podman_image *pi = NULL;
  _cleanup_free_ char *local = NULL;
  _cleanup_error_ cpb_error *ierr = NULL;
  cpb_podman *p = e->node->podman;

  if (cpb_podman_image_inspect (p, name, &pi, &ierr) < 0 && ierr->kind == CPB_ERR_NOT_FOUND &&
      !strchr (name, '/') && !strchr (name, ':'))
    {
      cpb_error_free (TAKE_PTR (ierr));
      local = cpb_xasprintf ("localhost/%s:latest", name);
      (void)cpb_podman_image_inspect (p, local, &pi, &ierr);
    }
  if (ierr != NULL && ierr->kind == CPB_ERR_NOT_FOUND)
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "image '%s' is not on node %s (cpb never pulls: build it with cpb "
                          "build, or load it into Podman)",
                          name, e->node->name);
  if (ierr != NULL)
    {
      *err = TAKE_PTR (ierr);
      return -1;
    }
  *img = (struct cpb_image){
    .name = cpb_xstrdup (name),
    .ref = cpb_xstrdup (local ? local : name),
    .id = cpb_xstrdup (pi->id),
    .digest = pi->digest ? cpb_xstrdup (pi->digest) : NULL,
    .capabilities =
        split_capabilities (cpb_podman_kv_get (pi->labels, pi->n_labels, "io.cpb.capabilities")),
  };
  return 0;
}

/* ------------------------------------------------------------------ launching */

/* "NAME=VALUE" strings as key/value pairs pointing into them (split in place). */
static struct cpb_podman_kv *
env_pairs (char **env, size_t *ret_n, char ***ret_copy)
{
  size_t n = 0;
  char **copy;
  struct cpb_podman_kv *kv;

  for (char **x = env; x && *x; x++)
    n++;
  copy = cpb_xcalloc (n + 1, sizeof *copy);
  kv = cpb_xcalloc (n ? n : 1, sizeof *kv);
  for (size_t i = 0; i < n; i++)
    {
      char *eq;

      copy[i] = cpb_xstrdup (env[i]);
      eq = strchr (copy[i], '=');
      if (eq)
        *eq++ = '\0';
      kv[i] = (struct cpb_podman_kv){ copy[i], eq ? eq : "" };
    }
  *ret_n = n;
  *ret_copy = copy;
  return kv;
}

/* Create the container of launch L (not started) on P; its id in *RET_ID, Podman's
   warnings in *RET_WARNINGS. */
static int
create_container (struct pengine *e, cpb_podman *p, const struct cpb_launch *l, char **ret_id,
                  char ***ret_warnings, cpb_error **err)
{
  const struct cpb_task *t = l->t;
  _cleanup_strv_free_ char **env_copy = NULL;
  _cleanup_free_ struct cpb_podman_kv *env = NULL;
  _cleanup_free_ char *name = cpb_xasprintf ("cpb-%s-%s-%d", l->run_id, l->name, l->attempt);
  _cleanup_free_ char *attempt_s = cpb_xasprintf ("%d", l->attempt);
  static const char *const entrypoint[] = { CPB_HELPER_PATH, NULL };
  const struct cpb_podman_kv labels[] = {
    { "io.cpb.run", (char *)l->run_id }, { "io.cpb.namespace", (char *)l->ns },
    { "io.cpb.batch", (char *)l->batch }, { "io.cpb.task", (char *)l->name },
    { "io.cpb.attempt", attempt_s },     { "io.cpb.key", (char *)l->key },
  };
  struct cpb_container_spec spec = {
    .name = name,
    .image = l->image->id,
    .command = (const char *const *)l->helper_argv,
    .entrypoint = entrypoint,
    .work_dir = t->settings->workdir ? t->settings->workdir : "/work",
    .create_working_dir = true,
    .labels = labels,
    .n_labels = sizeof labels / sizeof labels[0],
    .netns = t->settings->network == CPB_NETWORK_NONE ? CPB_NETNS_NONE : CPB_NETNS_SLIRP,
    .cap_drop_all = true,
    .cap_add = t->settings->n_cap_add ? t->settings->cap_add : NULL,
    .no_new_privileges = true,
    .memory_bytes = t->settings->memory,
    .cpus = t->settings->cpus,
    .stop_timeout = 10,
  };

  env = env_pairs (t->env, &spec.n_env, &env_copy);
  spec.env = env;
  return cpb_podman_container_create_ex (p, &spec, ret_id, ret_warnings, err);
}

static void
remove_container (cpb_podman *p, const char *id)
{
  _cleanup_error_ cpb_error *ignored = NULL;

  cpb_podman_container_remove (p, id, true, &ignored);
}

/* An anonymous temporary file in $TMPDIR (O_TMPFILE, else a name unlinked at once). */
static int
open_tmpfile (cpb_error **err)
{
  const char *dir = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
  int fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  _cleanup_free_ char *templ = NULL;

  if (fd >= 0)
    return fd;
  templ = cpb_xasprintf ("%s/cpb-input.XXXXXX", dir);
  fd = mkostemp (templ, O_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot create a temporary file in '%s'", dir);
  unlink (templ);
  return fd;
}

/* Upload the bundle into created container ID, and start it. */
static int
upload_and_start (cpb_podman *p, const char *id, const struct cpb_bundle *b, cpb_error **err)
{
  _cleanup_close_ int fd = open_tmpfile (err);
  struct cpb_podman_body body;

  if (fd < 0)
    return -1;
  if (cpb_bundle_write_tar (b, fd, err) < 0)
    return -1;
  if (lseek (fd, 0, SEEK_SET) < 0)
    return cpb_error_errno (err, errno, "input tar");
  body = CPB_PODMAN_BODY_FD (fd);
  if (cpb_podman_archive_put (p, id, "/", &body, err) < 0)
    return cpb_error_prefix (err, "uploading inputs");
  if (cpb_podman_container_start (p, id, err) < 0)
    return cpb_error_prefix (err, "starting");
  return 0;
}

/* Post each of Podman's create WARNINGS once per engine: on rootless cgroups v1 Podman 4.3
   creates the container but ignores its memory and cpu limits, and a user who asked for
   limits must learn they are not enforced. */
static void
post_warnings (struct pengine *e, char **warnings)
{
  for (char **w = warnings; w && *w; w++)
    {
      _cleanup_free_ char *line = cpb_xasprintf ("%s\n", *w);
      bool seen;

      pthread_mutex_lock (&e->lock);
      seen = e->warned.data && strstr (e->warned.data, line);
      if (!seen)
        cpb_buf_puts (&e->warned, line);
      pthread_mutex_unlock (&e->lock);
      if (!seen)
        post_warning (e, cpb_xasprintf ("podman: %s", *w));
    }
}

static void
do_launch (struct pengine *e, cpb_podman *p, struct cpb_launch *l)
{
  _cleanup_strv_free_ char **warnings = NULL;
  _cleanup_free_ char *id = NULL;
  cpb_error *err = NULL;
  struct cpb_engine_event *ev;
  struct watch *w;

  if (create_container (e, p, l, &id, &warnings, &err) < 0)
    {
      cpb_error_prefix (&err, "task '%s': creating container", l->name);
      goto failed;
    }
  post_warnings (e, warnings);
  watch_add (e, id, l->task, W_LAUNCHING);
  if (upload_and_start (p, id, l->bundle, &err) < 0)
    {
      remove_container (p, id);
      watch_drop (e, id);
      cpb_error_prefix (&err, "task '%s'", l->name);
      goto failed;
    }
  pthread_mutex_lock (&e->lock);
  ev = cpb_engine_event_new (&e->base, CPB_ENGINE_STARTED, l->task);
  ev->handle = cpb_xstrdup (id);
  post (e, ev);
  w = watch_find (e, id);
  if (w)
    {
      w->state = W_RUNNING;
      if (w->died_early)
        exited_locked (e, w, w->exit_code);
    }
  pthread_mutex_unlock (&e->lock);
  return;

failed:
  ev = cpb_engine_event_new (&e->base, CPB_ENGINE_START_FAILED, l->task);
  ev->err = err;
  post (e, ev);
}

/* ------------------------------------------------------------------ collecting */

struct source
{
  cpb_podman *p;
  const char *id;
};

struct logs
{
  cpb_buf *out, *err;
  bool truncated;
};

static int
on_log (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
        cpb_error **err)
{
  struct logs *l = userdata;
  cpb_buf *b = stream == CPB_LOG_STDERR ? l->err : l->out;

  if (b->len + len > CPB_LOG_MAX)
    {
      l->truncated = true;
      return 0;
    }
  cpb_buf_append (b, data, len);
  return 0;
}

static int
src_logs (void *arg, cpb_buf *out, cpb_buf *errlog, bool *truncated, cpb_error **err)
{
  struct source *s = arg;
  struct logs l = { out, errlog, false };
  int rc = cpb_podman_container_logs (s->p, s->id, CPB_LOGS_STDOUT | CPB_LOGS_STDERR, on_log, &l,
                                      err);

  *truncated = l.truncated;
  return rc;
}

static int
on_report_bytes (void *userdata, const char *data, size_t len, cpb_error **err)
{
  cpb_buf *b = userdata;

  if (b->len + len > CPB_HELPER_REPORT_MAX)
    return cpb_error_set (err, CPB_ERR_FAILED, "the helper's report is larger than %u bytes",
                          CPB_HELPER_REPORT_MAX);
  cpb_buf_append (b, data, len);
  return 0;
}

/* The helper's report, read out of the exited container (a tar of one file).  The tar comes
   from inside the container: it is parsed in the sandbox child, never here. */
static char *
src_report_file (void *arg)
{
  struct source *s = arg;
  _cleanup_buf_ cpb_buf tar = CPB_BUF_INIT;
  _cleanup_error_ cpb_error *ignored = NULL;
  char *report = NULL;
  size_t len = 0;

  if (cpb_podman_archive_get (s->p, s->id, CPB_HELPER_REPORT_PATH, on_report_bytes, &tar,
                              &ignored) < 0 ||
      tar.len == 0)
    return NULL;
  if (cpb_store_read_single (tar.data, tar.len, CPB_HELPER_REPORT_MAX, &report, &len, &ignored) < 0)
    return NULL;
  if (len == 0)
    {
      free (report);
      return NULL;
    }
  return report;
}

static int
on_output_bytes (void *userdata, const char *data, size_t len, cpb_error **err)
{
  return cpb_store_writer_feed (userdata, data, len, err);
}

static int
src_outputs (void *arg, const char *workdir, cpb_store_writer *w, cpb_error **err)
{
  struct source *s = arg;
  _cleanup_free_ char *path = cpb_xasprintf ("%s/.", workdir);

  return cpb_podman_archive_get (s->p, s->id, path, on_output_bytes, w, err);
}

static void
do_collect (struct pengine *e, cpb_podman *p, struct cpb_collect *c)
{
  struct source s = { p, c->handle };
  const struct cpb_collect_source src = { src_logs, src_report_file, src_outputs, &s };
  struct cpb_engine_event *ev = cpb_engine_event_new (&e->base, CPB_ENGINE_COLLECTED, c->task);

  ev->outcome = cpb_collect_run (c, e->node->name, &src);
  remove_container (p, c->handle);
  watch_drop (e, c->handle);
  post (e, ev);
}

/* ------------------------------------------------------------------ stopping, backstop */

static void
do_stop (cpb_podman *p, const char *id, bool kill)
{
  _cleanup_error_ cpb_error *ignored = NULL;

  cpb_podman_container_kill (p, id, kill ? SIGKILL : SIGTERM, &ignored);
}

static bool
in_namespace (const struct cpb_podman_container *c, const char *ns)
{
  const char *v = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.namespace");

  return v && strcmp (v, ns) == 0;
}

static bool
has_ended (const struct cpb_podman_container *c)
{
  return c->status && (strcmp (c->status, "exited") == 0 || strcmp (c->status, "stopped") == 0);
}

/* The containers labelled with BATCH in any state: leftovers, the backstop and every
   clean-up start from this list.  Podman filters by one label; callers check the namespace. */
static int
list_batch (cpb_podman *p, const char *batch, struct cpb_podman_container_list **ret,
            cpb_error **err)
{
  _cleanup_free_ char *label = cpb_xasprintf ("io.cpb.batch=%s", batch);

  return cpb_podman_container_list (p, label, ret, err);
}

/* The backstop for a lost event: watched containers that have exited. */
static void
do_backstop (struct pengine *e, cpb_podman *p)
{
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  if (list_batch (p, e->batch, &l, &err) == 0)
    for (size_t k = 0; k < l->n; k++)
      if (in_namespace (&l->containers[k], e->ns) && has_ended (&l->containers[k]))
        container_exited (e, l->containers[k].id, l->containers[k].exit_code);
  pthread_mutex_lock (&e->lock);
  e->backstop_queued = false;
  pthread_mutex_unlock (&e->lock);
}

/* ------------------------------------------------------------------ the workers */

/* Queue J: stops go first, so that a Ctrl-C is not stuck behind a hundred launches. */
static void
submit (struct pengine *e, struct job *j)
{
  pthread_mutex_lock (&e->lock);
  if (j->kind == JOB_STOP)
    {
      j->next = e->todo;
      e->todo = j;
      if (e->todo_tail == NULL)
        e->todo_tail = j;
    }
  else
    {
      if (e->todo_tail)
        e->todo_tail->next = j;
      else
        e->todo = j;
      e->todo_tail = j;
    }
  pthread_cond_signal (&e->cond);
  pthread_mutex_unlock (&e->lock);
}

static void
job_free (struct job *j)
{
  free (j->id);
  free (j);
}

struct worker_arg
{
  struct pengine *e;
  cpb_podman *p;
};

static void *
worker_main (void *arg)
{
  struct pengine *e = ((struct worker_arg *)arg)->e;
  cpb_podman *p = ((struct worker_arg *)arg)->p;

  free (arg);
  for (;;)
    {
      struct job *j;

      pthread_mutex_lock (&e->lock);
      while (e->todo == NULL && !e->quit)
        pthread_cond_wait (&e->cond, &e->lock);
      j = e->quit ? NULL : e->todo;
      if (j == NULL)
        {
          pthread_mutex_unlock (&e->lock);
          return NULL;
        }
      e->todo = j->next;
      if (e->todo == NULL)
        e->todo_tail = NULL;
      pthread_mutex_unlock (&e->lock);
      switch (j->kind)
        {
        case JOB_LAUNCH:
          do_launch (e, p, j->launch);
          break;
        case JOB_COLLECT:
          do_collect (e, p, j->collect);
          break;
        case JOB_STOP:
          do_stop (p, j->id, j->kill);
          break;
        case JOB_BACKSTOP:
        default:
          do_backstop (e, p);
          break;
        }
      job_free (j);
    }
}

static int
start_workers (struct pengine *e, size_t n, cpb_error **err)
{
  e->workers = cpb_xcalloc (n, sizeof *e->workers);
  e->conns = cpb_xcalloc (n, sizeof *e->conns);
  for (size_t i = 0; i < n; i++)
    {
      struct worker_arg *a;
      int rc;

      if (cpb_podman_clone (e->node->podman, &e->conns[i], err) < 0)
        return cpb_error_prefix (err, "worker connection");
      a = cpb_xzalloc (sizeof *a);
      *a = (struct worker_arg){ e, e->conns[i] };
      rc = pthread_create (&e->workers[i], NULL, worker_main, a);
      if (rc != 0)
        {
          free (a);
          cpb_podman_free (TAKE_PTR (e->conns[i]));
          return cpb_error_errno (err, rc, "cannot start a worker thread");
        }
      e->n_workers++;
    }
  return 0;
}

/* Let the workers finish the job in hand, then free them and whatever was left undone. */
static void
stop_workers (struct pengine *e)
{
  pthread_mutex_lock (&e->lock);
  e->quit = true;
  pthread_cond_broadcast (&e->cond);
  pthread_mutex_unlock (&e->lock);
  for (size_t i = 0; i < e->n_workers; i++)
    pthread_join (e->workers[i], NULL);
  for (size_t i = 0; i < e->n_workers; i++)
    cpb_podman_free (e->conns[i]);
  free (TAKE_PTR (e->workers));
  free (TAKE_PTR (e->conns));
  e->n_workers = 0;
  for (struct job *j = e->todo, *next; j; j = next)
    {
      next = j->next;
      job_free (j);
    }
  e->todo = e->todo_tail = NULL;
}

/* ------------------------------------------------------------------ the events thread */

static int
on_event (void *userdata, const struct cpb_podman_event *ev, cpb_error **err)
{
  if (ev->id && ev->action && strcmp (ev->action, "died") == 0)
    container_exited (userdata, ev->id, ev->exit_code);
  return 0;
}

static void *
events_main (void *arg)
{
  struct pengine *e = arg;
  /* By batch, not by run: containers adopted from a killed run carry its run id.  Only one
     cpb runs a batch at a time, and exits of containers not watched are ignored. */
  _cleanup_free_ char *label = cpb_xasprintf ("io.cpb.batch=%s", e->batch);
  /* Events since the run began: an exit between start and the stream's first byte is
     replayed instead of lost. */
  _cleanup_free_ char *since = cpb_xasprintf ("%lld", (long long)e->since);
  const char *types[] = { "container", NULL }, *events[] = { "died", NULL };
  const char *labels[] = { label, NULL };
  struct cpb_podman_event_filter f = {
    .types = types, .events = events, .labels = labels, .since = since
  };
  _cleanup_error_ cpb_error *err = NULL;

  cpb_podman_events (e->events_conn, &f, on_event, e, &err);
  pthread_mutex_lock (&e->lock);
  e->events_ended = true;
  pthread_mutex_unlock (&e->lock);
  return NULL;
}

static int
start_events (struct pengine *e, cpb_error **err)
{
  int rc;

  if (cpb_podman_clone (e->node->podman, &e->events_conn, err) < 0)
    return cpb_error_prefix (err, "events stream");
  rc = pthread_create (&e->events_thread, NULL, events_main, e);
  if (rc != 0)
    return cpb_error_errno (err, rc, "cannot start the events thread");
  e->events_started = true;
  return 0;
}

static void
stop_events (struct pengine *e)
{
  if (e->events_started)
    {
      cpb_podman_cancel (e->events_conn);
      pthread_join (e->events_thread, NULL);
      e->events_started = false;
    }
  cpb_podman_free (TAKE_PTR (e->events_conn));
}

/* ------------------------------------------------------------------ operations */

static void
pe_info (cpb_engine *base, struct cpb_engine_info *ret)
{
  struct pengine *e = (struct pengine *)base;

  *ret = (struct cpb_engine_info){ .name = e->node->name,
                                   .cpus = e->node->cpus,
                                   .memory = e->node->memory,
                                   .capabilities = e->node->capabilities };
}

static void
pe_launch (cpb_engine *base, struct cpb_launch *l)
{
  struct job *j = cpb_xzalloc (sizeof *j);

  j->kind = JOB_LAUNCH;
  j->launch = l;
  submit ((struct pengine *)base, j);
}

static void
pe_adopt (cpb_engine *base, size_t task, const char *handle)
{
  watch_add ((struct pengine *)base, handle, task, W_RUNNING);
}

static void
pe_collect (cpb_engine *base, struct cpb_collect *c)
{
  struct job *j = cpb_xzalloc (sizeof *j);

  j->kind = JOB_COLLECT;
  j->collect = c;
  submit ((struct pengine *)base, j);
}

static void
pe_stop (cpb_engine *base, const char *handle, bool kill)
{
  struct job *j = cpb_xzalloc (sizeof *j);

  j->kind = JOB_STOP;
  j->id = cpb_xstrdup (handle);
  j->kill = kill;
  submit ((struct pengine *)base, j);
}

static void
pe_tick (cpb_engine *base, double now)
{
  struct pengine *e = (struct pengine *)base;
  bool due;

  if (e->n_workers == 0)
    return;
  if (e->last_backstop == 0)
    e->last_backstop = now;
  pthread_mutex_lock (&e->lock);
  due = !e->backstop_queued &&
        now - e->last_backstop >
            (e->events_ended ? BACKSTOP_SECONDS_NO_EVENTS : BACKSTOP_SECONDS);
  if (due)
    e->backstop_queued = true;
  pthread_mutex_unlock (&e->lock);
  if (due)
    {
      struct job *j = cpb_xzalloc (sizeof *j);

      j->kind = JOB_BACKSTOP;
      e->last_backstop = now;
      submit (e, j);
    }
}

static int
pe_leftovers (cpb_engine *base, const char *ns, const char *batch, struct cpb_leftover **ret,
              size_t *ret_n, cpb_error **err)
{
  struct pengine *e = (struct pengine *)base;
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  struct cpb_leftover *v;
  size_t n = 0;

  if (list_batch (e->node->podman, batch, &l, err) < 0)
    return cpb_error_prefix (err, "node %s: listing containers of batch '%s'", e->node->name,
                             batch);
  v = cpb_xcalloc (l->n ? l->n : 1, sizeof *v);
  for (size_t k = 0; k < l->n; k++)
    {
      const struct cpb_podman_container *c = &l->containers[k];
      const char *task = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.task");
      const char *run = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.run");
      const char *key = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.key");

      if (!in_namespace (c, ns))
        continue;
      v[n++] = (struct cpb_leftover){
        .handle = cpb_xstrdup (c->id),
        .task = task ? cpb_xstrdup (task) : NULL,
        .run_id = run ? cpb_xstrdup (run) : NULL,
        .key = key ? cpb_xstrdup (key) : NULL,
        .image_id = c->image_id ? cpb_xstrdup (c->image_id) : NULL,
        .running = c->status && strcmp (c->status, "running") == 0,
        .exited = has_ended (c),
        .exit_code = c->exit_code,
        .started = (time_t)c->started_at,
      };
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

static int
pe_remove (cpb_engine *base, const char *handle, cpb_error **err)
{
  struct pengine *e = (struct pengine *)base;
  _cleanup_error_ cpb_error *rerr = NULL;

  watch_drop (e, handle);
  if (cpb_podman_container_remove (e->node->podman, handle, true, &rerr) < 0 &&
      rerr->kind != CPB_ERR_NOT_FOUND)
    {
      if (err == NULL)
        return -1;
      *err = TAKE_PTR (rerr);
      return cpb_error_prefix (err, "node %s: removing container %.12s", e->node->name, handle);
    }
  return 0;
}

/* Remove HANDLE, saying so to the loop when that fails. */
static void
remove_or_warn (struct pengine *e, const char *handle)
{
  _cleanup_error_ cpb_error *err = NULL;

  if (pe_remove (&e->base, handle, &err) < 0)
    post_warning (e, cpb_xstrdup (err->msg));
}

/* Remove what this run made (labelled with its id) and what it adopted (watched, whatever
   its run id), nothing of any other run of the batch. */
static void
pe_shutdown (cpb_engine *base)
{
  struct pengine *e = (struct pengine *)base;
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  stop_workers (e);
  stop_events (e);
  if (e->run_id && list_batch (e->node->podman, e->batch, &l, &err) == 0)
    for (size_t k = 0; k < l->n; k++)
      {
        const struct cpb_podman_container *c = &l->containers[k];
        const char *run = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.run");
        bool ours;

        pthread_mutex_lock (&e->lock);
        ours = watch_find (e, c->id) != NULL;
        pthread_mutex_unlock (&e->lock);
        if (in_namespace (c, e->ns) && (ours || (run && strcmp (run, e->run_id) == 0)))
          remove_or_warn (e, c->id);
      }
  while (e->n_watch > 0)
    {
      _cleanup_free_ char *id = cpb_xstrdup (e->watch[0].id);

      remove_or_warn (e, id);
    }
}

static void
pe_free (cpb_engine *base)
{
  struct pengine *e = (struct pengine *)base;

  stop_workers (e);
  stop_events (e);
  for (size_t i = 0; i < e->n_watch; i++)
    free (e->watch[i].id);
  free (e->watch);
  cpb_buf_free (&e->warned);
  if (e->locks_ready)
    {
      pthread_cond_destroy (&e->cond);
      pthread_mutex_destroy (&e->lock);
    }
  free (e->run_id);
  free (e->ns);
  free (e->batch);
  free (e);
}

static const struct cpb_engine_ops podman_ops = {
  .kind = "podman",
  .info = pe_info,
  .image_resolve = pe_image_resolve,
  .launch = pe_launch,
  .adopt = pe_adopt,
  .collect = pe_collect,
  .stop = pe_stop,
  .tick = pe_tick,
  .leftovers = pe_leftovers,
  .remove = pe_remove,
  .shutdown = pe_shutdown,
  .free = pe_free,
};

static void
no_post (void *ctx, struct cpb_engine_event *ev)
{
  cpb_engine_event_free (ev);
}

static struct pengine *
pengine_new (struct cpb_node *node)
{
  struct pengine *e = cpb_xzalloc (sizeof *e);

  e->base.ops = &podman_ops;
  e->node = node;
  e->sink = (struct cpb_engine_sink){ no_post, NULL };
  pthread_mutex_init (&e->lock, NULL);
  pthread_cond_init (&e->cond, NULL);
  e->locks_ready = true;
  return e;
}

int
cpb_engine_podman_new (struct cpb_node *node, const struct cpb_engine_config *cfg,
                       const struct cpb_engine_sink *sink, cpb_engine **ret, cpb_error **err)
{
  struct pengine *e = pengine_new (node);
  _cleanup_engine_ cpb_engine *base = &e->base;

  if (sink)
    e->sink = *sink;
  e->run_id = cfg->run_id ? cpb_xstrdup (cfg->run_id) : NULL;
  e->ns = cpb_xstrdup (cfg->ns);
  e->batch = cpb_xstrdup (cfg->batch);
  e->since = cfg->since;
  if (!cfg->inspect_only &&
      (start_events (e, err) < 0 || start_workers (e, cfg->workers ? cfg->workers : 2, err) < 0))
    return cpb_error_prefix (err, "node %s", node->name);
  *ret = TAKE_PTR (base);
  return 0;
}

int
cpb_engine_podman_make (void *node, const struct cpb_engine_config *cfg,
                        const struct cpb_engine_sink *sink, cpb_engine **ret, cpb_error **err)
{
  return cpb_engine_podman_new (node, cfg, sink, ret, err);
}
