/* run/loop.c: the run loop (see run.h).
 *
 * One thread runs it: it alone touches the state database and the scheduler.  It sleeps in
 * one poll() on two fds: the wake pipe the engines write to when they post an event, and
 * the caller's cancel fd.  Each round it applies what other cpb processes wrote (hold,
 * release, cancel), the engines' events (started, exited, collected), the cancellations a
 * failed group causes, then starts what the scheduler lets start, and escalates stops.
 * Every per-event step is O(1) in the number of tasks: tasks are found by index (the
 * engines echo it) or through maps, and only the tasks on an engine (the live list, at
 * most a few per slot) are ever walked.
 */
#include "config.h"
#include "run/internal.h"
#include "engine/collect.h"
#include "engine/podman.h"
#include "helper-host.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The helper enforces timeouts; cpb steps in this long after the helper should have. */
#define TIMEOUT_SLACK 15.0
/* Containers that ignore SIGKILL this long after the stop began: give up waiting for them
   (the engine's shutdown removes them by force). */
#define STOP_GIVE_UP 120.0

static double
grace_of (const struct run *r)
{
  return r->o->grace > 0 ? r->o->grace : 5.0;
}

/* ------------------------------------------------------------------ observers */

void
run_emit (struct run *r, const struct cpb_run_event *ev)
{
  for (size_t i = 0; i < r->o->n_observers; i++)
    r->o->observers[i].fn (r->o->observers[i].ctx, ev);
}

void
run_warn (struct run *r, const char *task, const char *fmt, ...)
{
  _cleanup_free_ char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = cpb_xvasprintf (fmt, ap);
  va_end (ap);
  run_emit (r, &(struct cpb_run_event){
                   .kind = CPB_RUN_EVENT_WARNING, .now = run_now (), .task = task, .message = msg });
}

/* ------------------------------------------------------------------ the event queue */

static void
wake_loop (int fd)
{
  char c = 1;
  ssize_t n = write (fd, &c, 1); /* a full pipe already wakes the loop */

  (void)n;
}

/* The engines' sink: any thread. */
static void
sink_post (void *ctx, struct cpb_engine_event *ev)
{
  struct run *r = ctx;

  ev->next = NULL;
  pthread_mutex_lock (&r->lock);
  if (r->ev_tail)
    r->ev_tail->next = ev;
  else
    r->ev_head = ev;
  r->ev_tail = ev;
  pthread_mutex_unlock (&r->lock);
  wake_loop (r->wake[1]);
}

static struct cpb_engine_event *
take_events (struct run *r)
{
  struct cpb_engine_event *v;

  pthread_mutex_lock (&r->lock);
  v = r->ev_head;
  r->ev_head = r->ev_tail = NULL;
  pthread_mutex_unlock (&r->lock);
  return v;
}

/* Put back what take_events took and was not handled, before what arrived since. */
static void
put_back (struct run *r, struct cpb_engine_event *head, struct cpb_engine_event *tail)
{
  if (head == NULL)
    return;
  pthread_mutex_lock (&r->lock);
  tail->next = r->ev_head;
  r->ev_head = head;
  if (r->ev_tail == NULL)
    r->ev_tail = tail;
  pthread_mutex_unlock (&r->lock);
}

static void
drain_wake (struct run *r, int timeout_ms)
{
  struct pollfd pfd[2] = { { .fd = r->wake[0], .events = POLLIN },
                           { .fd = r->o->cancel_fd, .events = POLLIN } };
  char drain[64];

  if (poll (pfd, r->o->cancel_fd >= 0 ? 2 : 1, timeout_ms) > 0)
    {
      while (read (r->wake[0], drain, sizeof drain) > 0)
        ;
      if (r->o->cancel_fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP)))
        r->interrupted = true;
    }
}

struct cpb_engine_event *
run_wait_event (struct run *r, enum cpb_engine_event_kind kind, size_t task)
{
  for (;;)
    {
      struct cpb_engine_event *v = take_events (r), *prev = NULL, *tail = NULL;

      for (struct cpb_engine_event *ev = v; ev; prev = ev, ev = ev->next)
        if (ev->kind == kind && ev->task == task)
          {
            if (prev)
              prev->next = ev->next;
            else
              v = ev->next;
            for (tail = v; tail && tail->next; tail = tail->next)
              ;
            put_back (r, v, tail);
            ev->next = NULL;
            return ev;
          }
      for (tail = v; tail && tail->next; tail = tail->next)
        ;
      put_back (r, v, tail);
      drain_wake (r, 1000);
    }
}

/* ------------------------------------------------------------------ the live list */

static void
live_add (struct run *r, size_t i)
{
  r->live = cpb_xrealloc (r->live, (r->n_live + 1) * sizeof *r->live);
  r->tasks[i].live_slot = r->n_live;
  r->live[r->n_live++] = i;
}

static void
live_remove (struct run *r, size_t i)
{
  size_t slot = r->tasks[i].live_slot, last = r->live[--r->n_live];

  r->live[slot] = last;
  r->tasks[last].live_slot = slot;
  r->tasks[i].live_slot = NO_SLOT;
}

static void
inflight_free (struct inflight *j)
{
  if (j == NULL)
    return;
  cpb_bundle_free (j->launch.bundle);
  cpb_strv_free (j->launch.helper_argv);
  cpb_task_free (j->t);
  free (j->message);
  free (j);
}

/* ------------------------------------------------------------------ task outcomes */

static void
note_failed (struct run *r, const char *name)
{
  if (r->n_failed_names < 5)
    cpb_buf_printf (&r->failed_names, "%s'%s'", r->n_failed_names ? ", " : "", name);
  else if (r->n_failed_names == 5)
    cpb_buf_puts (&r->failed_names, ", ...");
  r->n_failed_names++;
}

static void request_stop (struct run *r, struct rtask *rt, bool kill_now);
static void begin_stopping (struct run *r, const char *why);

/* Bring the scheduler in line with the database after a transition the database refused
   (another cpb held or cancelled the task meanwhile). */
static void
adopt_db_state (struct run *r, size_t i)
{
  struct cpb_state_task t = { 0 };

  if (cpb_state_task_get (r->st, r->ns, r->batch, r->tasks[i].name, &t, NULL) < 0)
    return;
  if (cpb_scheduler_state (r->sched, i) == CPB_TASK_RUNNING)
    cpb_scheduler_finish (r->sched, i, CPB_SCHED_CANCELLED, run_now ());
  cpb_scheduler_set_state (r->sched, i, t.state == CPB_TASK_RUNNING ? CPB_TASK_CANCELLED : t.state);
  cpb_state_task_clear (&t);
}

/* Record what became of the attempt of task I in the scheduler and the database, and tell
   the observers. */
static void
record_outcome (struct run *r, size_t i, const struct cpb_outcome *o, enum cpb_sched_outcome so)
{
  struct rtask *rt = &r->tasks[i];
  enum cpb_task_state next = cpb_scheduler_finish (r->sched, i, so, run_now ());
  _cleanup_error_ cpb_error *err = NULL;
  int rc = cpb_state_task_finish (r->st, rt->db_id, next, o->exit_code, o->archive_path, o->report,
                                  o->message, &err);
  struct cpb_run_event ev = { .now = run_now (),
                              .task = rt->name,
                              .exit_code = o->exit_code,
                              .message = o->message ? o->message : "?" };

  if (rc == 0)
    adopt_db_state (r, i);
  else if (rc < 0)
    run_warn (r, rt->name, "%s: %s", rt->name, err->msg);
  switch (next)
    {
    case CPB_TASK_QUEUED:
      ev.kind = CPB_RUN_EVENT_RETRY;
      ev.attempt = cpb_scheduler_attempts (r->sched, i) + 1;
      run_emit (r, &ev);
      break;
    case CPB_TASK_FAILED:
      ev.kind = CPB_RUN_EVENT_FAILED;
      ev.detail = o->stderr_tail;
      run_emit (r, &ev);
      note_failed (r, rt->name);
      if (r->o->fail_fast)
        begin_stopping (r, "--fail-fast");
      break;
    case CPB_TASK_DONE:
      ev.kind = CPB_RUN_EVENT_DONE;
      ev.message = NULL;
      run_emit (r, &ev);
      break;
    case CPB_TASK_CANCELLED:
      ev.kind = CPB_RUN_EVENT_CANCELLED;
      run_emit (r, &ev);
      break;
    default:
      break;
    }
}

/* ------------------------------------------------------------------ launching */

/* The outputs of the task called NAME of this batch, as the store holds them. */
static char *
archive_of (struct run *r, const char *name)
{
  struct cpb_state_task t = { 0 };
  char *path = NULL;

  if (cpb_state_task_get (r->st, r->ns, r->batch, name, &t, NULL) == 0 && t.archive_path)
    path = TAKE_PTR (t.archive_path);
  cpb_state_task_clear (&t);
  return path;
}

static void
add_upstream (struct cpb_bundle *b, char *archive, const char *prefix)
{
  if (archive)
    cpb_bundle_add_upstream (b, archive, prefix);
  free (archive);
}

/* What task T gets from the steps before it: initialize's outputs in the working directory,
   and each task of an inputs_from group under WORKDIR/GROUP/TASK/.  Read from the database,
   so made in the loop's thread, before the launch is handed to the engine. */
static struct cpb_bundle *
bundle_of (struct run *r, const struct cpb_task *t)
{
  struct cpb_bundle *b = cpb_bundle_new (r->o->helper_path, t);
  const char *wd = cpb_task_workdir (t);

  if (t->group != NULL && r->spec->initialize)
    add_upstream (b, archive_of (r, CPB_INIT_GROUP), wd);
  for (size_t k = 0; t->group && k < t->group->n_inputs_from; k++)
    {
      size_t first, count;
      const char *gname = r->spec->groups[t->group->inputs_from[k]].name;

      cpb_jobs_plan_group_range (r->plan, t->group->inputs_from[k], &first, &count);
      for (size_t i = first; i < first + count; i++)
        {
          const char *tname = cpb_jobs_plan_task_name (r->plan, i);
          _cleanup_free_ char *prefix = cpb_xasprintf ("%s/%s/%s", wd, gname, tname);

          add_upstream (b, archive_of (r, tname), prefix);
        }
    }
  return b;
}

/* Hand task I to the engine: it is RUNNING in the database already. */
static void
launch (struct run *r, size_t i, int attempt)
{
  struct rtask *rt = &r->tasks[i];
  struct inflight *j = cpb_xzalloc (sizeof *j);

  j->t = run_make_task (r, rt);
  j->launch = (struct cpb_launch){ .task = i,
                                   .ns = r->ns,
                                   .batch = r->batch,
                                   .name = rt->name,
                                   .run_id = r->run_id,
                                   .key = rt->key,
                                   .attempt = attempt,
                                   .image = rt->image,
                                   .t = j->t,
                                   .helper_argv = cpb_helper_argv (j->t, grace_of (r)),
                                   .bundle = bundle_of (r, j->t) };
  rt->job = j;
  rt->phase = R_LAUNCHING;
  rt->cancel_requested = false;
  rt->stop_phase = 0;
  live_add (r, i);
  r->engine->ops->launch (r->engine, &j->launch);
}

/* Hand what the scheduler lets start now to the engine, each marked RUNNING first (unless
   another cpb held or cancelled it meanwhile). */
static int
start_ready (struct run *r, double now, double *ret_wake, cpb_error **err)
{
  struct cpb_engine_info info;
  size_t i;

  r->engine->ops->info (r->engine, &info);
  while (!r->stopping && cpb_scheduler_next (r->sched, now, &i, ret_wake) == 1)
    {
      int attempt = cpb_scheduler_attempts (r->sched, i);
      int rc = cpb_state_task_start (r->st, r->tasks[i].db_id, r->run_id, attempt, info.name,
                                     NULL, err);

      if (rc < 0)
        return -1;
      if (rc == 0)
        adopt_db_state (r, i);
      else
        launch (r, i, attempt);
    }
  return 0;
}

/* The launch of task I came back running. */
static void
on_started (struct run *r, size_t i, char *handle)
{
  struct rtask *rt = &r->tasks[i];
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_engine_info info;

  inflight_free (TAKE_PTR (rt->job));
  rt->handle = handle;
  rt->phase = R_RUNNING;
  rt->started = run_now ();
  rt->started_wall = time (NULL);
  if (cpb_state_task_set_container (r->st, rt->db_id, handle, &err) < 0)
    {
      /* The database must know the container, or a killed cpb's successor could not tell
         it is this task's: stop it. */
      run_warn (r, rt->name, "%s: %s", rt->name, err->msg);
      rt->cancel_requested = true;
      request_stop (r, rt, true);
      return;
    }
  r->engine->ops->info (r->engine, &info);
  run_emit (r, &(struct cpb_run_event){ .kind = CPB_RUN_EVENT_STARTED,
                                        .now = rt->started,
                                        .task = rt->name,
                                        .node = info.name,
                                        .attempt = cpb_scheduler_attempts (r->sched, i) });
  if (rt->cancel_requested)
    request_stop (r, rt, false);
}

/* The launch of task I failed: nothing of it is left on the engine.  An unreachable service
   ends the run (a single node today: nowhere else to go). */
static int
on_start_failed (struct run *r, size_t i, cpb_error **perr, cpb_error **err)
{
  struct rtask *rt = &r->tasks[i];
  struct cpb_outcome o = { .state = CPB_TASK_FAILED, .exit_code = -1, .message = (*perr)->msg };

  inflight_free (TAKE_PTR (rt->job));
  rt->phase = R_IDLE;
  live_remove (r, i);
  if ((*perr)->kind == CPB_ERR_CONNECT)
    {
      record_outcome (r, i, &o, CPB_SCHED_CANCELLED);
      *err = TAKE_PTR (*perr);
      return -1;
    }
  record_outcome (r, i, &o, rt->cancel_requested ? CPB_SCHED_CANCELLED : CPB_SCHED_FAILED);
  return 0;
}

/* ------------------------------------------------------------------ collecting */

/* Task I's container exited with EXIT_CODE: the engine collects it. */
static void
begin_collect (struct run *r, size_t i, int exit_code)
{
  struct rtask *rt = &r->tasks[i];
  struct inflight *j = cpb_xzalloc (sizeof *j);
  bool cancelled = rt->cancel_requested;

  j->t = run_make_task (r, rt);
  if (cancelled && exit_code != 0)
    j->message = cpb_xstrdup (r->interrupted ? "interrupted" : "cancelled");
  j->collect = (struct cpb_collect){ .task = i,
                                     .handle = rt->handle,
                                     .t = j->t,
                                     .ns = r->ns,
                                     .batch = r->batch,
                                     .archive_root = r->o->archive_root,
                                     .exit_code = exit_code,
                                     /* a task that ended well is DONE even when a stop
                                        was asked of it meanwhile: its outputs are whole */
                                     .state = exit_code == 0 ? CPB_TASK_DONE
                                              : cancelled    ? CPB_TASK_CANCELLED
                                                             : CPB_TASK_FAILED,
                                     .message = j->message,
                                     .attempt = cpb_scheduler_attempts (r->sched, i),
                                     .started = rt->started_wall,
                                     .image_id = rt->image->id,
                                     .image_digest = rt->image->digest };
  rt->job = j;
  rt->phase = R_COLLECTING;
  r->n_collecting++;
  /* An exit that is not 0, with no retry left, is a failure whatever the collection finds:
     with --fail-fast nothing more starts from now, not from when the archive is written. */
  if (r->o->fail_fast && exit_code != 0 && !cancelled &&
      j->collect.attempt > j->t->settings->retries)
    begin_stopping (r, "--fail-fast");
  /* The container no longer uses the node: the next task may start while this one's
     outputs are collected. */
  cpb_scheduler_release (r->sched, i);
  r->engine->ops->collect (r->engine, &j->collect);
}

static void
on_collected (struct run *r, size_t i, const struct cpb_outcome *o)
{
  struct rtask *rt = &r->tasks[i];
  enum cpb_sched_outcome so = o->state == CPB_TASK_DONE ? CPB_SCHED_OK
                              : rt->cancel_requested    ? CPB_SCHED_CANCELLED
                                                        : CPB_SCHED_FAILED;

  inflight_free (TAKE_PTR (rt->job));
  free (TAKE_PTR (rt->handle));
  rt->phase = R_IDLE;
  r->n_collecting--;
  live_remove (r, i);
  record_outcome (r, i, o, so);
}

/* Everything the engine reported since the last round. */
static int
process_events (struct run *r, cpb_error **err)
{
  struct cpb_engine_event *v = take_events (r);
  int rc = 0;

  while (v)
    {
      struct cpb_engine_event *ev = v;
      struct rtask *rt = ev->kind == CPB_ENGINE_WARNING ? NULL : &r->tasks[ev->task];

      v = ev->next;
      switch (ev->kind)
        {
        case CPB_ENGINE_STARTED:
          if (rt->phase == R_LAUNCHING)
            on_started (r, ev->task, TAKE_PTR (ev->handle));
          break;
        case CPB_ENGINE_START_FAILED:
          if (rt->phase == R_LAUNCHING && on_start_failed (r, ev->task, &ev->err, err) < 0 && rc == 0)
            rc = -1;
          break;
        case CPB_ENGINE_EXITED:
          if (rt->phase == R_RUNNING)
            begin_collect (r, ev->task, ev->exit_code);
          break;
        case CPB_ENGINE_COLLECTED:
          if (rt->phase == R_COLLECTING)
            on_collected (r, ev->task, ev->outcome);
          break;
        case CPB_ENGINE_WARNING:
        default:
          run_warn (r, NULL, "%s", ev->message);
          break;
        }
      cpb_engine_event_free (ev);
    }
  return rc;
}

/* ------------------------------------------------------------------ stopping */

/* SIGTERM to the helper (it forwards it to the task), SIGKILL a grace period later
   (check_stops), or SIGKILL at once. */
static void
request_stop (struct run *r, struct rtask *rt, bool kill_now)
{
  if (rt->phase != R_RUNNING || rt->stop_phase >= (kill_now ? 2 : 1))
    return;
  r->engine->ops->stop (r->engine, rt->handle, kill_now);
  if (rt->stop_phase == 0)
    rt->stop_at = run_now ();
  rt->stop_phase = kill_now ? 2 : 1;
}

static void
begin_stopping (struct run *r, const char *why)
{
  size_t counts[CPB_TASK_N];

  cpb_scheduler_counts (r->sched, counts);
  cpb_scheduler_cancel_queued (r->sched);
  if (counts[CPB_TASK_QUEUED] > 0)
    {
      size_t changed = 0;
      _cleanup_error_ cpb_error *err = NULL;

      if (cpb_state_tasks_move (r->st, r->ns, r->batch, NULL, 1u << CPB_TASK_QUEUED,
                                CPB_TASK_CANCELLED, why, &changed, &err) < 0)
        run_warn (r, NULL, "%s", err->msg);
    }
  for (size_t k = 0; k < r->n_live; k++)
    {
      struct rtask *rt = &r->tasks[r->live[k]];

      if ((rt->phase == R_RUNNING || rt->phase == R_LAUNCHING) && !rt->cancel_requested)
        {
          rt->cancel_requested = true;
          request_stop (r, rt, false);
        }
    }
  r->stopping = true;
}

/* Timeouts the helper should have enforced, and stops that need escalating. */
static void
check_stops (struct run *r, double now)
{
  double grace = grace_of (r);

  for (size_t k = 0; k < r->n_live; k++)
    {
      struct rtask *rt = &r->tasks[r->live[k]];

      if (rt->phase != R_RUNNING)
        continue;
      if (rt->stop_phase == 1 && now - rt->stop_at > grace + 5)
        request_stop (r, rt, true);
      else if (rt->stop_phase == 0 && rt->timeout &&
               now - rt->started > (double)rt->timeout + grace + TIMEOUT_SLACK)
        {
          run_warn (r, rt->name, "%s: still running %.0fs after its timeout, killing", rt->name,
                    now - rt->started - (double)rt->timeout);
          request_stop (r, rt, true);
        }
    }
}

/* ------------------------------------------------------------------ other cpb processes */

/* Apply holds, releases and cancels that cpb hold/release/cancel wrote to the database. */
static void
sync_from_db (struct run *r)
{
  struct cpb_state_task *v = NULL;
  size_t n = 0;

  if (cpb_state_tasks_list (r->st, r->ns, r->batch, &v, &n, NULL) < 0)
    return;
  for (size_t k = 0; k < n; k++)
    {
      size_t i;
      enum cpb_task_state cur;

      if (!cpb_map_get_int (r->by_db_id, v[k].id, &i))
        continue;
      cur = cpb_scheduler_state (r->sched, i);
      if (cur == CPB_TASK_RUNNING && v[k].state == CPB_TASK_CANCELLED)
        {
          r->tasks[i].cancel_requested = true;
          request_stop (r, &r->tasks[i], false);
        }
      else if ((cur == CPB_TASK_QUEUED || cur == CPB_TASK_HELD) &&
               (v[k].state == CPB_TASK_QUEUED || v[k].state == CPB_TASK_HELD ||
                v[k].state == CPB_TASK_CANCELLED))
        cpb_scheduler_set_state (r->sched, i, v[k].state);
    }
  cpb_state_task_free_array (v, n);
}

/* Tasks that can never run because a group they wait for failed: CANCELLED, in one
   transaction however many there are. */
static void
cancel_blocked (struct run *r)
{
  size_t i;
  const char *group;
  bool began = false;

  while (cpb_scheduler_take_blocked (r->sched, &i, &group) == 1)
    {
      _cleanup_free_ char *msg = cpb_xasprintf ("not run: group '%s' failed", group);

      if (!began)
        began = cpb_state_begin (r->st, NULL) == 0;
      cpb_state_task_set (r->st, r->tasks[i].db_id, CPB_TASK_CANCELLED, msg, NULL);
    }
  if (began)
    cpb_state_commit (r->st, NULL);
}

/* ------------------------------------------------------------------ the loop */

static void
show_progress (struct run *r, double now)
{
  size_t counts[CPB_TASK_N];

  cpb_scheduler_counts (r->sched, counts);
  /* Tasks whose container exited and whose outputs are being collected no longer run. */
  counts[CPB_TASK_RUNNING] -=
      r->n_collecting < counts[CPB_TASK_RUNNING] ? r->n_collecting : counts[CPB_TASK_RUNNING];
  run_emit (r, &(struct cpb_run_event){ .kind = CPB_RUN_EVENT_PROGRESS, .now = now, .counts = counts });
}

/* What a wake of the loop does, inside the round's transaction. */
static int
one_round (struct run *r, double now, bool changed, double *ret_wake, cpb_error **err)
{
  if (r->interrupted && !r->stopping)
    begin_stopping (r, "interrupted");
  if (changed)
    sync_from_db (r);
  if (process_events (r, err) < 0)
    return -1;
  cancel_blocked (r);
  if (start_ready (r, now, ret_wake, err) < 0)
    return -1;
  check_stops (r, now);
  return 0;
}

static int
loop (struct run *r, cpb_error **err)
{
  double stop_began = 0;

  for (;;)
    {
      double now = run_now (), wake_at = -1, timeout = 1.0;
      int rc;
      bool changed = cpb_state_changed (r->st);

      /* One round, one transaction: a round of a large run makes thousands of transitions,
         each atomic on its own (a savepoint), all committed together. */
      if (cpb_state_begin (r->st, err) < 0)
        return -1;
      /* A round that fails half-way still commits what it did: each transition is atomic,
         and the loop's own view already has them (rolling back left a started task
         RUNNING in memory and QUEUED on disk). */
      rc = one_round (r, now, changed, &wake_at, err);
      if (cpb_state_commit (r->st, rc < 0 ? NULL : err) < 0 || rc < 0)
        return -1;
      if (r->stopping && stop_began == 0)
        stop_began = now;
      r->engine->ops->tick (r->engine, now);
      show_progress (r, now);
      if (r->n_live == 0 && (cpb_scheduler_done (r->sched) || r->stopping))
        return 0;
      if (stop_began && now - stop_began > STOP_GIVE_UP)
        return 0;
      if (wake_at > now && wake_at - now < timeout)
        timeout = wake_at - now;
      drain_wake (r, (int)(timeout * 1000) + 1);
    }
}

/* The error a finished run ends with, if any. */
static int
run_verdict (struct run *r, struct cpb_run_result *ret, cpb_error **err)
{
  if (r->interrupted)
    {
      ret->interrupted = true;
      return cpb_error_set (err, CPB_ERR_CANCELLED, "interrupted: %zu done, %zu cancelled",
                            ret->counts[CPB_TASK_DONE], ret->counts[CPB_TASK_CANCELLED]);
    }
  if (ret->counts[CPB_TASK_FAILED] > 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%zu of %zu tasks failed: %s",
                          ret->counts[CPB_TASK_FAILED], r->n_tasks,
                          r->failed_names.data ? r->failed_names.data : "");
  if (ret->counts[CPB_TASK_CANCELLED] > 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%zu tasks cancelled",
                          ret->counts[CPB_TASK_CANCELLED]);
  return 0;
}

/* Claim the batch: refuse it when another live cpb runs it, else record this run, in one
   transaction and before anything of the batch is touched (two cpbs started at the same
   instant both ran, and removed each other's containers). */
static int
claim (struct run *r, cpb_error **err)
{
  int64_t pid = 0;
  int rc = cpb_state_run_claim (r->st, r->ns, r->batch, r->o->spec_path, &r->run_id, &pid, err);

  if (rc < 0)
    return -1;
  if (rc == 0)
    return cpb_error_set (err, CPB_ERR_INPUT, "batch '%s' is being run by cpb (pid %lld)", r->batch,
                          (long long)pid);
  return 0;
}

/* Adopted tasks run on the engine like the run's own: the engine watches them. */
static void
watch_adopted (struct run *r)
{
  for (size_t i = 0; i < r->n_tasks; i++)
    if (r->tasks[i].adopted_attempts > 0 && r->tasks[i].handle)
      {
        r->tasks[i].phase = R_RUNNING;
        live_add (r, i);
        r->engine->ops->adopt (r->engine, i, r->tasks[i].handle);
      }
}

static int
run_body (struct run *r, struct cpb_run_result *ret, cpb_error **err)
{
  /* Twice the slots: collecting never holds up launching (the service serialises much of
     the work anyway: a few connections keep it busy). */
  size_t workers = 2 * (size_t)(r->o->max_jobs > 0 ? r->o->max_jobs : r->node ? r->node->cpus : 2);
  struct cpb_engine_sink sink = { sink_post, r };
  int rc;

  if (claim (r, err) < 0 || run_make_engine (r, &sink, workers > 8 ? 8 : workers, err) < 0)
    return -1;
  if (cpb_jobs_plan_new (r->spec, &r->plan, err) < 0)
    return -1;
  run_init_tasks (r);
  if (run_adopt_leftovers (r, ret, err) < 0)
    return -1;
  cpb_jobs_plan_free (TAKE_PTR (r->plan));
  free (TAKE_PTR (r->tasks));
  if (run_plan (r, true, err) < 0)
    {
      run_drop_unadopted (r, ret); /* what was kept for adoption must not outlive a refusal */
      return -1;
    }
  run_drop_unadopted (r, ret);
  ret->started = true;
  watch_adopted (r);
  rc = loop (r, err);
  if (rc < 0 && r->sched)
    begin_stopping (r, "failed");
  return rc;
}

/* Tasks still on the engine when the run ends without them (the service went away, or
   they ignored SIGKILL): CANCELLED with WHY, so that no task stays RUNNING with no cpb
   behind it, and a rerun runs them again. */
static void
abandon_live (struct run *r, const char *why)
{
  while (r->n_live > 0)
    {
      size_t i = r->live[r->n_live - 1];
      struct rtask *rt = &r->tasks[i];
      struct cpb_outcome o = { .state = CPB_TASK_CANCELLED, .exit_code = -1, .message = (char *)why };

      if (rt->phase == R_COLLECTING)
        r->n_collecting--;
      rt->phase = R_IDLE;
      free (TAKE_PTR (rt->handle));
      live_remove (r, i);
      record_outcome (r, i, &o, CPB_SCHED_CANCELLED);
    }
}

static void
free_tasks_in_flight (struct run *r)
{
  for (size_t i = 0; i < r->n_tasks; i++)
    inflight_free (TAKE_PTR (r->tasks[i].job));
  for (struct cpb_engine_event *ev = take_events (r), *next; ev; ev = next)
    {
      next = ev->next;
      cpb_engine_event_free (ev);
    }
}

int
cpb_run (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
         const struct cpb_run_options *o, struct cpb_run_result *ret, cpb_error **err)
{
  struct run r;
  int rc = -1;

  memset (ret, 0, sizeof *ret);
  if (run_init (&r, st, node, spec, o, err) < 0)
    goto out;
  pthread_mutex_init (&r.lock, NULL);
  if (pipe2 (r.wake, O_CLOEXEC | O_NONBLOCK) < 0)
    {
      cpb_error_errno (err, errno, "cannot create a pipe");
      goto out_lock;
    }
  rc = run_body (&r, ret, err);
  if (r.engine)
    r.engine->ops->shutdown (r.engine);
  if (r.n_live > 0)
    abandon_live (&r, rc < 0 && *err ? (*err)->msg : "still running when the run gave up");
  cpb_engine_free (TAKE_PTR (r.engine));
  free_tasks_in_flight (&r);
  run_fill_result (&r, ret);
  if (r.run_id)
    cpb_state_run_end (st, r.run_id,
                       rc < 0          ? "failed"
                       : r.interrupted ? "interrupted"
                                       : "done",
                       NULL);
  if (rc == 0)
    rc = run_verdict (&r, ret, err);
  close (r.wake[0]);
  close (r.wake[1]);
out_lock:
  pthread_mutex_destroy (&r.lock);
out:
  run_free (&r);
  return rc;
}

int
cpb_run_remove_containers (struct cpb_node *node, const char *namespace, const char *batch,
                           const char *task, size_t *ret_n, cpb_error **err)
{
  _cleanup_engine_ cpb_engine *e = NULL;
  struct cpb_leftover *v = NULL;
  size_t n = 0, removed = 0;
  int rc = 0;

  struct cpb_engine_config cfg = { .ns = namespace, .batch = batch, .inspect_only = true };

  if (cpb_engine_podman_new (node, &cfg, NULL, &e, err) < 0 ||
      e->ops->leftovers (e, namespace, batch, &v, &n, err) < 0)
    return -1;
  for (size_t k = 0; k < n && rc == 0; k++)
    {
      if (task && (v[k].task == NULL || strcmp (v[k].task, task) != 0))
        continue;
      if (e->ops->remove (e, v[k].handle, err) < 0)
        rc = cpb_error_prefix (err, "removing container of task '%s'", v[k].task ? v[k].task : "?");
      else
        removed++;
    }
  cpb_leftovers_free (v, n);
  *ret_n = removed;
  return rc;
}
