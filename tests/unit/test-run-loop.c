/* Unit tests of the run loop (src/lib/run/) against a fake engine: what happens to tasks
   when they succeed, fail and are retried, when a launch fails, when an exit is reported
   in the same breath as the start, when the user presses Ctrl-C, when a task ignores
   SIGTERM, when another cpb holds or cancels tasks meanwhile, when a killed cpb left
   containers behind, and when planning refuses the run.  The fake engine keeps its
   containers in memory and writes real archives through engine/collect.c. */
#include "config.h"
#include "tap.h"
#include "engine/collect.h"
#include "run/run.h"
#include "state.h"
#include "store/store.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a task does on its Nth attempt (index N-1; past the end: the last entry). */
enum
{
  EXIT_0 = 0,
  HANG = -1000,      /* runs until stopped; SIGTERM ends it with 143 */
  HANG_HARD = -1001, /* runs until SIGKILL (137) */
  NO_LAUNCH = -1002, /* the launch fails */
  HANG_OK = -1003,   /* runs until stopped, then exits 0 (it finished its work on SIGTERM) */
  NO_SERVICE = -1004, /* the launch fails: the service is unreachable */
};

struct script
{
  const char *task;
  int attempts[4];
  size_t n;
};

struct running
{
  char *handle;
  size_t task;
  int mode;
  bool exited;
};

struct fake
{
  struct cpb_engine base;
  struct cpb_engine_sink sink;
  const struct script *script;
  size_t n_script;
  struct running run[64];
  size_t n_run;
  int launches, terms, kills, adopted, collected;
  char *removed[16];
  size_t n_removed;
  struct cpb_leftover leftovers[8];
  size_t n_leftovers;
  char *caps[2];
};

static struct fake the_fake; /* the factory hands this one out */

static int
mode_of (struct fake *f, const char *task, int attempt)
{
  for (size_t i = 0; i < f->n_script; i++)
    if (strcmp (f->script[i].task, task) == 0)
      {
        size_t k = (size_t)attempt - 1 < f->script[i].n ? (size_t)attempt - 1 : f->script[i].n - 1;

        return f->script[i].attempts[k];
      }
  return EXIT_0;
}

static void
post (struct fake *f, enum cpb_engine_event_kind kind, size_t task, const char *handle, int code)
{
  struct cpb_engine_event *ev = cpb_engine_event_new (&f->base, kind, task);

  ev->handle = handle ? cpb_xstrdup (handle) : NULL;
  ev->exit_code = code;
  f->sink.post (f->sink.ctx, ev);
}

static void
f_info (cpb_engine *e, struct cpb_engine_info *ret)
{
  struct fake *f = (struct fake *)e;

  *ret = (struct cpb_engine_info){ .name = "fake", .cpus = 2, .capabilities = f->caps };
}

static int
f_image_resolve (cpb_engine *e, const char *name, struct cpb_image *ret, cpb_error **err)
{
  *ret = (struct cpb_image){ .name = cpb_xstrdup (name),
                             .ref = cpb_xstrdup (name),
                             .id = cpb_xstrdup ("sha256:0123456789abcdef"),
                             .capabilities = cpb_xcalloc (1, sizeof (char *)) };
  return 0;
}

static void
f_launch (cpb_engine *e, struct cpb_launch *l)
{
  struct fake *f = (struct fake *)e;
  int mode = mode_of (f, l->name, l->attempt);
  _cleanup_free_ char *handle = cpb_xasprintf ("c-%s-%d", l->name, l->attempt);
  struct cpb_engine_event *ev;

  f->launches++;
  if (mode == NO_LAUNCH || mode == NO_SERVICE)
    {
      ev = cpb_engine_event_new (e, CPB_ENGINE_START_FAILED, l->task);
      if (mode == NO_SERVICE)
        cpb_error_set (&ev->err, CPB_ERR_CONNECT, "cannot reach podman (fake)");
      else
        cpb_error_set (&ev->err, CPB_ERR_PODMAN, "podman: no such image (fake)");
      f->sink.post (f->sink.ctx, ev);
      return;
    }
  post (f, CPB_ENGINE_STARTED, l->task, handle, 0);
  if (mode >= 0) /* exits at once: its exit arrives with its start, in one round */
    post (f, CPB_ENGINE_EXITED, l->task, NULL, mode);
  else
    f->run[f->n_run++] = (struct running){ cpb_xstrdup (handle), l->task, mode, false };
}

static void
f_adopt (cpb_engine *e, size_t task, const char *handle)
{
  struct fake *f = (struct fake *)e;

  f->adopted++;
  post (f, CPB_ENGINE_EXITED, task, NULL, 0);
}

static int
src_logs (void *src, cpb_buf *out, cpb_buf *err, bool *truncated, cpb_error **error)
{
  cpb_buf_puts (out, "out\n");
  cpb_buf_puts (err, "last words\n");
  *truncated = false;
  return 0;
}

static char *
src_report (void *src)
{
  return NULL;
}

static int
src_outputs (void *src, const char *workdir, cpb_store_writer *w, cpb_error **err)
{
  return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no working directory");
}

static void
f_collect (cpb_engine *e, struct cpb_collect *c)
{
  struct fake *f = (struct fake *)e;
  const struct cpb_collect_source src = { src_logs, src_report, src_outputs, NULL };
  struct cpb_engine_event *ev = cpb_engine_event_new (e, CPB_ENGINE_COLLECTED, c->task);

  f->collected++;
  ev->outcome = cpb_collect_run (c, "fake", &src);
  f->sink.post (f->sink.ctx, ev);
}

static void
f_stop (cpb_engine *e, const char *handle, bool kill)
{
  struct fake *f = (struct fake *)e;

  kill ? f->kills++ : f->terms++;
  for (size_t i = 0; i < f->n_run; i++)
    if (strcmp (f->run[i].handle, handle) == 0 && !f->run[i].exited &&
        (kill || f->run[i].mode == HANG || f->run[i].mode == HANG_OK))
      {
        f->run[i].exited = true;
        post (f, CPB_ENGINE_EXITED, f->run[i].task, NULL,
              kill ? 137 : f->run[i].mode == HANG_OK ? 0 : 143);
      }
}

static void
f_tick (cpb_engine *e, double now)
{
}

static int
f_leftovers (cpb_engine *e, const char *ns, const char *batch, struct cpb_leftover **ret,
             size_t *ret_n, cpb_error **err)
{
  struct fake *f = (struct fake *)e;
  struct cpb_leftover *v = cpb_xcalloc (f->n_leftovers + 1, sizeof *v);

  for (size_t i = 0; i < f->n_leftovers; i++)
    {
      v[i] = f->leftovers[i];
      v[i].handle = cpb_xstrdup (f->leftovers[i].handle);
      v[i].task = cpb_xstrdup (f->leftovers[i].task);
      v[i].image_id = cpb_xstrdup ("sha256:0123456789abcdef");
      v[i].run_id = NULL;
      v[i].key = NULL;
    }
  *ret = v;
  *ret_n = f->n_leftovers;
  return 0;
}

static int
f_remove (cpb_engine *e, const char *handle, cpb_error **err)
{
  struct fake *f = (struct fake *)e;

  if (f->n_removed < 16)
    f->removed[f->n_removed++] = cpb_xstrdup (handle);
  return 0;
}

static void
f_shutdown (cpb_engine *e)
{
}

static void
f_free (cpb_engine *e)
{
  struct fake *f = (struct fake *)e;

  for (size_t i = 0; i < f->n_run; i++)
    free (f->run[i].handle);
  f->n_run = 0;
}

static const struct cpb_engine_ops fake_ops = {
  .kind = "fake",
  .info = f_info,
  .image_resolve = f_image_resolve,
  .launch = f_launch,
  .adopt = f_adopt,
  .collect = f_collect,
  .stop = f_stop,
  .tick = f_tick,
  .leftovers = f_leftovers,
  .remove = f_remove,
  .shutdown = f_shutdown,
  .free = f_free,
};

static int
fake_new (void *ctx, const struct cpb_engine_config *cfg, const struct cpb_engine_sink *sink,
          cpb_engine **ret, cpb_error **err)
{
  static const struct cpb_engine_sink none = { NULL, NULL };

  the_fake.base.ops = &fake_ops;
  the_fake.sink = sink ? *sink : none;
  *ret = &the_fake.base;
  return 0;
}

static void
fake_reset (const struct script *s, size_t n)
{
  for (size_t i = 0; i < the_fake.n_removed; i++)
    free (the_fake.removed[i]);
  memset (&the_fake, 0, sizeof the_fake);
  the_fake.script = s;
  the_fake.n_script = n;
}

/* ------------------------------------------------------------------ the scene */

static char dir[] = "/tmp/cpb-test-run-loop.XXXXXX";
static char *db_path, *archive;

/* What the observer does and saw. */
struct seen
{
  int started, retries, failed, done, cancelled, warnings;
  int cancel_fd_w;      /* write here at the first STARTED (Ctrl-C) */
  const char *hold_at;  /* at the STARTED of this task, another cpb ... */
  const char *hold;     /* ... holds this task */
  const char *cancel;   /* ... and cancels this one */
  pthread_t other;       /* that other cpb */
  bool other_started;
  int other_rc;
};

static void *
other_cpb (void *ctx)
{
  struct seen *s = ctx;
  _cleanup_state_ cpb_state *other = NULL;
  size_t changed = 0;

  s->other_rc = -1;
  if (cpb_state_open (db_path, &other, NULL) < 0 ||
      cpb_state_tasks_move (other, "ns", "b", s->hold, 1u << CPB_TASK_QUEUED, CPB_TASK_HELD, NULL,
                            &changed, NULL) < 0 ||
      cpb_state_tasks_move (other, "ns", "b", s->cancel, 1u << CPB_TASK_RUNNING,
                            CPB_TASK_CANCELLED, "cancelled", &changed, NULL) < 0)
    return NULL;
  s->other_rc = 0;
  return NULL;
}

static void
observe (void *ctx, const struct cpb_run_event *ev)
{
  struct seen *s = ctx;

  switch (ev->kind)
    {
    case CPB_RUN_EVENT_STARTED:
      s->started++;
      if (s->cancel_fd_w >= 0)
        {
          ssize_t n = write (s->cancel_fd_w, "x", 1);

          (void)n;
          s->cancel_fd_w = -1;
        }
      if (s->hold_at && strcmp (ev->task, s->hold_at) == 0)
        {
          /* Observers are called inside the round's transaction, so "another cpb" must
             not block this one: it is a thread with its own connection, which waits for
             the round to commit as cpb hold does. (Not a forked process: SQLite's locks
             are not safe across fork.) */
          s->other_started = pthread_create (&s->other, NULL, other_cpb, s) == 0;
          s->hold_at = NULL;
        }
      break;
    case CPB_RUN_EVENT_RETRY:
      s->retries++;
      break;
    case CPB_RUN_EVENT_FAILED:
      s->failed++;
      break;
    case CPB_RUN_EVENT_DONE:
      s->done++;
      break;
    case CPB_RUN_EVENT_CANCELLED:
      s->cancelled++;
      break;
    case CPB_RUN_EVENT_WARNING:
      s->warnings++;
      break;
    case CPB_RUN_EVENT_PROGRESS:
    default:
      break;
    }
}

static cpb_jobs_spec *
spec_of (const char *yaml)
{
  cpb_jobs_spec *spec = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  if (cpb_jobs_spec_load_buffer ("jobs.yaml", dir, yaml, strlen (yaml), &spec, &err) < 0)
    diag ("spec: %s", err->msg);
  return spec;
}

/* Run YAML on the fake engine with SCRIPT; ST must be open on db_path. */
static int
run (cpb_state *st, const char *yaml, struct seen *seen, int max_jobs, int cancel_fd,
     struct cpb_run_result *res, cpb_error **err)
{
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = spec_of (yaml);
  struct cpb_run_observer obs = { observe, seen };
  struct cpb_run_options o = { .archive_root = archive,
                               .namespace = "ns",
                               .helper_path = "/bin/true",
                               .max_jobs = max_jobs,
                               .backoff_base = 0.01,
                               .grace = 0.01,
                               .cancel_fd = cancel_fd,
                               .observers = &obs,
                               .n_observers = 1,
                               .engine_new = fake_new };

  if (spec == NULL)
    return cpb_error_set (err, CPB_ERR_INPUT, "bad spec");
  return cpb_run (st, NULL, spec, &o, res, err);
}

static enum cpb_task_state
state_of (cpb_state *st, const char *task, struct cpb_state_task *ret)
{
  struct cpb_state_task t = { 0 };
  enum cpb_task_state s;

  if (cpb_state_task_get (st, "ns", "b", task, &t, NULL) < 0)
    return (enum cpb_task_state)-1;
  s = t.state;
  if (ret)
    *ret = t;
  else
    cpb_state_task_clear (&t);
  return s;
}

static bool
archived (const char *task)
{
  _cleanup_free_ char *path = cpb_store_task_path (archive, "ns", "b", task, false);

  return access (path, F_OK) == 0;
}

static cpb_state *
fresh_db (void)
{
  cpb_state *st = NULL;
  _cleanup_free_ char *wal = cpb_xasprintf ("%s-wal", db_path);
  _cleanup_free_ char *shm = cpb_xasprintf ("%s-shm", db_path);
  _cleanup_error_ cpb_error *err = NULL;

  _cleanup_free_ char *rm = cpb_xasprintf ("rm -rf '%s'", archive);

  if (system (rm) != 0)
    diag ("could not empty %s", archive);
  unlink (db_path);
  unlink (wal);
  unlink (shm);
  if (cpb_state_open (db_path, &st, &err) < 0)
    diag ("state: %s", err->msg);
  return st;
}

#define SWEEP(cmd)                                                                                 \
  "batch: b\n"                                                                                     \
  "defaults:\n"                                                                                    \
  "  image: fake\n" cmd "tasks:\n"                                                                 \
  "  matrix:\n"                                                                                    \
  "    i: {from: 0, to: 3}\n"                                                                      \
  "  name: t{i}\n"                                                                                 \
  "  command: work {i}\n"

/* ------------------------------------------------------------------ the tests */

static void
test_all_done (void)
{
  _cleanup_state_ cpb_state *st = fresh_db ();
  struct seen seen = { .cancel_fd_w = -1 };
  struct cpb_run_result res = { 0 };
  _cleanup_error_ cpb_error *err = NULL;

  fake_reset (NULL, 0);
  ok (run (st, SWEEP (""), &seen, 2, -1, &res, &err) == 0, "four tasks that exit 0: the run succeeds");
  if (err)
    diag ("%s", err->msg);
  is_int (res.counts[CPB_TASK_DONE], 4, "four DONE");
  ok (res.started && res.run_id, "the run started and has an id");
  is_int (the_fake.launches, 4, "four launches");
  is_int (seen.done, 4, "four DONE events");
  ok (state_of (st, "t3", NULL) == CPB_TASK_DONE && archived ("t3"), "t3 DONE, with its archive");
  cpb_run_result_clear (&res);
}

static void
test_retry_and_failed_launch (void)
{
  static const struct script s[] = { { "t0", { 1, EXIT_0 }, 2 }, { "t2", { NO_LAUNCH }, 1 } };
  _cleanup_state_ cpb_state *st = fresh_db ();
  struct seen seen = { .cancel_fd_w = -1 };
  struct cpb_run_result res = { 0 };
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_state_task t = { 0 };

  fake_reset (s, 2);
  ok (run (st, SWEEP ("  retries: 1\n"), &seen, 2, -1, &res, &err) < 0 && err &&
          err->kind == CPB_ERR_FAILED,
      "a failed task fails the run");
  is_int (seen.retries, 2, "t0's first exit and t2's failed launch are retried");
  ok (state_of (st, "t0", &t) == CPB_TASK_DONE && t.attempts == 2, "t0 DONE at its second attempt");
  cpb_state_task_clear (&t);
  ok (state_of (st, "t2", &t) == CPB_TASK_FAILED && t.message && strstr (t.message, "no such image"),
      "t2 FAILED with the engine's message (%s)", t.message ? t.message : "none");
  cpb_state_task_clear (&t);
  ok (!archived ("t2"), "a task that never ran has no archive");
  is_int (res.counts[CPB_TASK_DONE], 3, "the others DONE");
  ok (err && strstr (err->msg, "'t2'"), "the error names t2");
  cpb_run_result_clear (&res);
}

static void
test_interrupt (void)
{
  static const struct script s[] = { { "t0", { HANG }, 1 }, { "t1", { HANG_OK }, 1 } };
  _cleanup_state_ cpb_state *st = fresh_db ();
  int p[2];
  struct seen seen;
  struct cpb_run_result res = { 0 };
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_state_task t = { 0 };

  ok (pipe2 (p, O_CLOEXEC | O_NONBLOCK) == 0, "a cancel pipe");
  seen = (struct seen){ .cancel_fd_w = p[1] };
  fake_reset (s, 2);
  ok (run (st, SWEEP (""), &seen, 2, p[0], &res, &err) < 0 && err && err->kind == CPB_ERR_CANCELLED,
      "Ctrl-C ends the run as interrupted");
  ok (res.interrupted, "the result says interrupted");
  ok (the_fake.terms >= 2, "the running tasks got SIGTERM (%d)", the_fake.terms);
  ok (state_of (st, "t0", &t) == CPB_TASK_CANCELLED && t.message &&
          strcmp (t.message, "interrupted") == 0,
      "a running task ends CANCELLED, 'interrupted'");
  cpb_state_task_clear (&t);
  ok (archived ("t0"), "its logs are kept all the same");
  ok (state_of (st, "t1", NULL) == CPB_TASK_DONE && archived ("t1"),
      "a task that exits 0 on Ctrl-C is DONE, not CANCELLED (issue 8)");
  ok (state_of (st, "t3", &t) == CPB_TASK_CANCELLED, "a queued one is CANCELLED too");
  cpb_state_task_clear (&t);
  is_int (the_fake.launches, 2, "nothing started after the interrupt");
  cpb_run_result_clear (&res);
  close (p[0]);
  close (p[1]);
}

static void
test_stop_escalation (void)
{
  static const struct script s[] = { { "t0", { HANG_HARD }, 1 } };
  _cleanup_state_ cpb_state *st = fresh_db ();
  int p[2];
  struct seen seen;
  struct cpb_run_result res = { 0 };
  _cleanup_error_ cpb_error *err = NULL;

  ok (pipe2 (p, O_CLOEXEC | O_NONBLOCK) == 0, "a cancel pipe");
  seen = (struct seen){ .cancel_fd_w = p[1] };
  fake_reset (s, 1);
  run (st, SWEEP (""), &seen, 1, p[0], &res, &err);
  ok (the_fake.terms == 1 && the_fake.kills == 1,
      "a task that ignores SIGTERM gets SIGKILL after the grace (%d TERM, %d KILL)",
      the_fake.terms, the_fake.kills);
  ok (state_of (st, "t0", NULL) == CPB_TASK_CANCELLED, "and ends CANCELLED");
  cpb_run_result_clear (&res);
  close (p[0]);
  close (p[1]);
}

static void
test_unreachable (void)
{
  static const struct script s[] = { { "t0", { HANG }, 1 }, { "t1", { NO_SERVICE }, 1 } };
  _cleanup_state_ cpb_state *st = fresh_db ();
  struct seen seen = { .cancel_fd_w = -1 };
  struct cpb_run_result res = { 0 };
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_state_task *v = NULL;
  size_t n = 0, running = 0;

  fake_reset (s, 2);
  ok (run (st, SWEEP (""), &seen, 2, -1, &res, &err) < 0 && err && err->kind == CPB_ERR_CONNECT,
      "an unreachable service ends the run (exit 3)");
  ok (cpb_state_tasks_list (st, "ns", "b", &v, &n, NULL) == 0 && n == 4, "four tasks recorded");
  for (size_t i = 0; i < n; i++)
    running += v[i].state == CPB_TASK_RUNNING;
  is_int (running, 0, "and none is left RUNNING with no cpb behind it (issue 8)");
  cpb_state_task_free_array (v, n);
  cpb_run_result_clear (&res);
}

static void
test_db_sync (void)
{
  static const struct script s[] = { { "t0", { HANG }, 1 } };
  _cleanup_state_ cpb_state *st = fresh_db ();
  struct seen seen = { .cancel_fd_w = -1, .hold_at = "t0", .hold = "t2", .cancel = "t0" };
  struct cpb_run_result res = { 0 };
  _cleanup_error_ cpb_error *err = NULL;
  int rc;

  fake_reset (s, 1);
  rc = run (st, SWEEP (""), &seen, 1, -1, &res, &err);
  ok (rc < 0 && err && err->kind == CPB_ERR_FAILED, "a cancelled task fails the run");
  ok (the_fake.terms == 1, "cpb cancel of a running task stops it");
  is_int (state_of (st, "t0", NULL), CPB_TASK_CANCELLED, "t0 CANCELLED");
  is_int (state_of (st, "t2", NULL), CPB_TASK_HELD, "t2 held by another cpb: not run");
  is_int (state_of (st, "t3", NULL), CPB_TASK_DONE, "t3 ran");
  is_int (res.counts[CPB_TASK_HELD], 1, "one HELD in the result");
  is_int (the_fake.launches, 3, "three launches");
  ok (seen.other_started && pthread_join (seen.other, NULL) == 0 && seen.other_rc == 0,
      "the other cpb's hold and cancel went through");
  cpb_run_result_clear (&res);
}

/* A killed cpb: a child process that plans the batch, marks t0 and t1 RUNNING in
   containers c-t0 and c-t1, and dies. */
static void
leave_running (const struct cpb_plan_entry *v, size_t n)
{
  pid_t pid = fork ();

  if (pid == 0)
    {
      cpb_state *st = NULL;
      char *run_id = NULL;

      if (cpb_state_open (db_path, &st, NULL) < 0 ||
          cpb_state_run_claim (st, "ns", "b", NULL, &run_id, &(int64_t){ 0 }, NULL) != 1)
        _exit (1);
      for (size_t i = 0; i < n; i++)
        {
          struct cpb_state_task t = { .namespace = (char *)"ns",
                                      .batch = (char *)"b",
                                      .name = v[i].name,
                                      .group = (char *)"tasks",
                                      .index = (int)i,
                                      .key = (char *)v[i].key };
          enum cpb_plan_action a;
          _cleanup_free_ char *container = cpb_xasprintf ("c-%s", v[i].name);

          if (cpb_state_task_plan (st, &t, false, &a, NULL) < 0)
            _exit (1);
          if (i < 2 && (cpb_state_task_start (st, t.id, run_id, 1, "fake", NULL, NULL) != 1 ||
                        cpb_state_task_set_container (st, t.id, container, NULL) < 0))
            _exit (1);
        }
      _exit (0);
    }
  waitpid (pid, NULL, 0);
}

static void
test_adoption (void)
{
  _cleanup_state_ cpb_state *st = fresh_db ();
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = spec_of (SWEEP (""));
  struct cpb_run_options o = { .archive_root = archive,
                               .namespace = "ns",
                               .helper_path = "/bin/true",
                               .cancel_fd = -1,
                               .engine_new = fake_new };
  struct cpb_plan_entry *v = NULL;
  size_t n = 0;
  struct cpb_run_result res = { 0 };
  struct seen seen = { .cancel_fd_w = -1 };
  _cleanup_error_ cpb_error *err = NULL;
  int rc;

  fake_reset (NULL, 0);
  ok (cpb_run_plan (st, NULL, spec, &o, &v, &n, &res, &err) == 0 && n == 4, "a dry run plans four");
  cpb_run_result_clear (&res);
  leave_running (v, n);
  cpb_plan_entries_free (v, n);
  the_fake.leftovers[0] = (struct cpb_leftover){ .handle = "c-t0", .task = "t0", .running = true };
  the_fake.leftovers[1] =
      (struct cpb_leftover){ .handle = "c-t1", .task = "t1", .exited = true, .exit_code = 0 };
  the_fake.leftovers[2] =
      (struct cpb_leftover){ .handle = "c-old", .task = "t2", .exited = true, .exit_code = 1 };
  the_fake.n_leftovers = 3;
  rc = run (st, SWEEP (""), &seen, 2, -1, &res, &err);
  ok (rc == 0, "the run after a killed one succeeds");
  if (err)
    diag ("%s", err->msg);
  is_int (res.adopted, 2, "two containers adopted");
  is_int (res.removed, 1, "one removed");
  ok (the_fake.adopted == 1, "the running one is taken over, not started again");
  is_int (the_fake.launches, 2, "only t2 and t3 are launched");
  ok (the_fake.n_removed == 1 && strcmp (the_fake.removed[0], "c-old") == 0,
      "the stale container is removed, and nothing else (%zu removed)", the_fake.n_removed);
  ok (state_of (st, "t1", NULL) == CPB_TASK_DONE && archived ("t1"),
      "the exited one is collected as the killed run would have");
  ok (state_of (st, "t0", NULL) == CPB_TASK_DONE, "the taken-over one ends DONE");
  cpb_run_result_clear (&res);
}

static void
test_refused_plan (void)
{
  _cleanup_state_ cpb_state *st = fresh_db ();
  struct seen seen = { .cancel_fd_w = -1 };
  struct cpb_run_result res = { 0 };
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_state_task *v = NULL;
  size_t n = 99;

  fake_reset (NULL, 0);
  ok (run (st, SWEEP ("  resources:\n    cpus: 4096\n"), &seen, 2, -1, &res, &err) < 0 && err &&
          err->kind == CPB_ERR_INPUT,
      "a task larger than the node is refused at planning");
  ok (!res.started, "the run never started");
  is_int (the_fake.launches, 0, "nothing launched");
  ok (cpb_state_tasks_list (st, "ns", "b", &v, &n, NULL) == 0 && n == 0,
      "and no task of the refused run is left in the database (%zu)", n);
  cpb_state_task_free_array (v, n);
  cpb_run_result_clear (&res);
}

int
main (void)
{
  _cleanup_free_ char *cmd = NULL;

  plan_no_plan ();
  if (mkdtemp (dir) == NULL)
    return 1;
  db_path = cpb_xasprintf ("%s/state.db", dir);
  archive = cpb_xasprintf ("%s/archive", dir);
  test_all_done ();
  test_retry_and_failed_launch ();
  test_interrupt ();
  test_stop_escalation ();
  test_db_sync ();
  test_unreachable ();
  test_adoption ();
  test_refused_plan ();
  cmd = cpb_xasprintf ("rm -rf '%s'", dir);
  if (system (cmd) != 0)
    diag ("could not remove %s", dir);
  fake_reset (NULL, 0);
  free (db_path);
  free (archive);
  return done_testing ();
}
