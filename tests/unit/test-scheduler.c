/* Unit tests for the scheduler: -j and capacity, priorities, group dependencies, counted
   resources, retries with backoff, holds, refusals at planning, and the cost of a run of
   100,000 tasks. */
#include "config.h"
#include "tap.h"
#include "run/scheduler.h"

static size_t
add (cpb_scheduler *s, const char *group, int priority)
{
  return cpb_scheduler_add_task (s,
                                 &(struct cpb_sched_task){ .group = group, .priority = priority });
}

/* Start everything that can start at NOW; return how many started. */
static int
drain (cpb_scheduler *s, double now, size_t *started, size_t max)
{
  size_t i;
  double wake;
  int n = 0;

  while ((size_t)n < max && cpb_scheduler_next (s, now, &i, &wake) == 1)
    started[n++] = i;
  return n;
}

static void
test_cap_and_priority (void)
{
  struct cpb_sched_config cfg = { .max_jobs = 2, .cpus = 4 };
  _cleanup_scheduler_ cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t started[8];

  for (int i = 0; i < 5; i++)
    cpb_scheduler_add_task (s,
                            &(struct cpb_sched_task){ .group = "g", .priority = i == 3 ? 10 : 0 });
  ok (cpb_scheduler_check (s, NULL) == 0, "a plain matrix passes the checks");
  is_int (drain (s, 0, started, 8), 2, "-j 2 caps concurrency at two");
  is_int (started[0], 3, "the highest priority starts first");
  is_int (started[1], 0, "then insertion order");
  cpb_scheduler_finish (s, 3, CPB_SCHED_OK, 1);
  is_int (drain (s, 1, started, 8), 1, "a finished task frees one slot");
  is_int (started[0], 1, "taken by the next in order");
  cpb_scheduler_release (s, 0);
  is_int (drain (s, 2, started, 8), 1, "an exited task being collected frees its slot");
  is_int (cpb_scheduler_state (s, 0), CPB_TASK_RUNNING, "but stays RUNNING until collected");
  cpb_scheduler_finish (s, 0, CPB_SCHED_OK, 3);
  is_int (drain (s, 3, started, 8), 0, "and finishing it does not free the slot twice");
}

static void
test_capacity (void)
{
  struct cpb_sched_config cfg = { .cpus = 2, .memory = 1024 };
  _cleanup_scheduler_ cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t started[8];
  _cleanup_error_ cpb_error *err = NULL;

  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .cpus = 1.5 });
  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .cpus = 1 });
  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .cpus = 0.5, .memory = 512 });
  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g" });
  is_int (drain (s, 0, started, 8), 2, "cpus of running tasks stay within the node's");
  is_int (started[1], 2, "a smaller task fills the gap a larger one leaves");
  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .cpus = 3 });
  ok (cpb_scheduler_check (s, &err) < 0 && err->kind == CPB_ERR_INPUT,
      "a task larger than every node is refused at planning");
  ok (err && strstr (err->msg, "needs 3 cpus"), "saying why: %s", err ? err->msg : "");
}

static void
test_groups (void)
{
  struct cpb_sched_config cfg = { .cpus = 8 };
  _cleanup_scheduler_ cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t started[8], blocked;
  const char *group = NULL;

  size_t init = cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "initialize" });
  add (s, "main", 5);
  add (s, "main", 5);
  add (s, "post", 9);
  cpb_scheduler_add_dependency (s, "main", "initialize");
  cpb_scheduler_add_dependency (s, "post", "main");
  ok (cpb_scheduler_check (s, NULL) == 0, "a chain of groups passes");
  is_int (drain (s, 0, started, 8), 1, "only the first group is ready, whatever the priorities");
  is_int (started[0], init, "initialize goes first");
  cpb_scheduler_finish (s, init, CPB_SCHED_OK, 1);
  is_int (drain (s, 1, started, 8), 2, "then the whole of main");
  cpb_scheduler_finish (s, started[0], CPB_SCHED_OK, 2);
  cpb_scheduler_finish (s, started[1], CPB_SCHED_CANCELLED, 2);
  is_int (drain (s, 2, started, 8), 0, "post never starts after a cancelled main task");
  ok (cpb_scheduler_take_blocked (s, &blocked, &group) == 1 && blocked == 3,
      "the dependent task is reported blocked");
  is_str (group, "main", "naming the group that failed");
  ok (cpb_scheduler_done (s), "and the run is over");

  cpb_scheduler_add_dependency (s, "initialize", "post");
  ok (cpb_scheduler_check (s, NULL) < 0, "a cycle of groups is refused");
}

static void
test_counted (void)
{
  struct cpb_sched_config cfg = { .cpus = 16 };
  _cleanup_scheduler_ cpb_scheduler *s = cpb_scheduler_new (&cfg);
  static const struct cpb_sched_use lic = { "matlab", 1 }, big = { "matlab", 3 };
  size_t started[8];
  _cleanup_error_ cpb_error *err = NULL;

  cpb_scheduler_add_counted (s, "matlab", 2);
  for (int i = 0; i < 4; i++)
    cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .uses = &lic, .n_uses = 1 });
  add (s, "g", 0);
  is_int (drain (s, 0, started, 8), 3, "two licence holders and the task without one");
  cpb_scheduler_finish (s, started[0], CPB_SCHED_OK, 1);
  is_int (drain (s, 1, started, 8), 1, "a released licence lets exactly one more start");
  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .uses = &big, .n_uses = 1 });
  ok (cpb_scheduler_check (s, &err) < 0 && strstr (err->msg, "needs 3 of resource 'matlab'"),
      "more licences than exist is refused: %s", err ? err->msg : "");
}

static void
test_retries_and_holds (void)
{
  struct cpb_sched_config cfg = { .cpus = 4, .backoff_base = 2 };
  _cleanup_scheduler_ cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t i = 99, held;
  double wake = 0;

  size_t t = cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .retries = 2 });
  held =
      cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .state = CPB_TASK_HELD });
  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .state = CPB_TASK_DONE });
  ok (cpb_scheduler_next (s, 0, &i, &wake) == 1 && i == t, "the queued task starts");
  ok (cpb_scheduler_next (s, 0, &i, &wake) == 0, "held and done tasks do not");
  is_int (cpb_scheduler_finish (s, t, CPB_SCHED_FAILED, 10), CPB_TASK_QUEUED,
          "a failure with retries left queues a retry");
  ok (cpb_scheduler_next (s, 11, &i, &wake) == 0 && wake == 12, "after 2 s of backoff (wake %g)",
      wake);
  ok (cpb_scheduler_next (s, 12, &i, &wake) == 1, "the second attempt starts at the wake time");
  cpb_scheduler_finish (s, t, CPB_SCHED_FAILED, 20);
  ok (cpb_scheduler_next (s, 23, &i, &wake) == 0 && wake == 24, "the backoff doubles");
  cpb_scheduler_next (s, 24, &i, &wake);
  is_int (cpb_scheduler_attempts (s, t), 3, "three attempts in all");
  is_int (cpb_scheduler_finish (s, t, CPB_SCHED_FAILED, 30), CPB_TASK_FAILED,
          "retries spent: FAILED");
  ok (cpb_scheduler_done (s), "a held task does not keep the run going");
  {
    struct cpb_sched_config one = { .max_jobs = 1, .cpus = 4 };
    _cleanup_scheduler_ cpb_scheduler *a = cpb_scheduler_new (&one);
    size_t first = cpb_scheduler_add_task (a, &(struct cpb_sched_task){ .group = "g" });

    cpb_scheduler_add_task (a, &(struct cpb_sched_task){ .group = "g" });
    cpb_scheduler_adopt (a, first, 2);
    ok (cpb_scheduler_state (a, first) == CPB_TASK_RUNNING &&
            cpb_scheduler_attempts (a, first) == 2,
        "an adopted task runs with the attempts it had");
    ok (cpb_scheduler_next (a, 0, &i, &wake) == 0, "and holds its slot");
  }
  cpb_scheduler_set_state (s, held, CPB_TASK_QUEUED);
  ok (!cpb_scheduler_done (s) && cpb_scheduler_next (s, 31, &i, &wake) == 1 && i == held,
      "a released task starts");
}

/* A large run is linear in its tasks, whatever happens to them: counted in elements visited
   (cpb_scheduler_work), never in time.  Before the lanes and counters both were quadratic:
   a failed group cancelled 100,000 dependents in 11.5 s. */
#define SCALE_N 100000

static void
test_scale_cancel (void)
{
  struct cpb_sched_config cfg = { .cpus = 4 };
  _cleanup_scheduler_ cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t first, i, taken = 0, wrong = 0;
  const char *group;
  double wake;
  uint64_t before;

  first = cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "first" });
  for (size_t k = 0; k < SCALE_N; k++)
    cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "second" });
  cpb_scheduler_add_dependency (s, "second", "first");
  ok (cpb_scheduler_next (s, 0, &i, &wake) == 1 && i == first, "only the first group starts");
  is_int (cpb_scheduler_finish (s, first, CPB_SCHED_FAILED, 1), CPB_TASK_FAILED, "and fails");
  before = cpb_scheduler_work (s);
  while (cpb_scheduler_take_blocked (s, &i, &group) == 1)
    {
      taken++;
      wrong += strcmp (group, "first") != 0 || cpb_scheduler_state (s, i) != CPB_TASK_CANCELLED;
    }
  is_int (taken, SCALE_N, "every dependent is taken, once");
  is_int (wrong, 0, "each CANCELLED, naming the failed group");
  ok (cpb_scheduler_work (s) - before < 20 * SCALE_N,
      "taking %d blocked tasks visits %llu elements, fewer than %d", SCALE_N,
      (unsigned long long)(cpb_scheduler_work (s) - before), 20 * SCALE_N);
  ok (cpb_scheduler_done (s), "and the run is over");
}

/* The loop's round: ask for tasks until none can start, finish one, read the counts. */
static void
test_scale_drain (void)
{
  struct cpb_sched_config cfg = { .max_jobs = 4, .cpus = 4 };
  _cleanup_scheduler_ cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t running[5], n_running = 0, finished = 0, started = 0, i, counts[CPB_TASK_N];
  double wake, now = 0;
  bool counted = true;

  cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .state = CPB_TASK_HELD });
  for (size_t k = 0; k < SCALE_N; k++)
    cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .retries = 1 });
  while (!cpb_scheduler_done (s) && n_running <= 4)
    {
      while (n_running < 5 && cpb_scheduler_next (s, now, &i, &wake) == 1)
        running[n_running++] = i, started++;
      if (n_running == 0 && wake < 0)
        break;
      if (n_running == 0)
        {
          now = wake; /* only retries waiting for their backoff are left */
          continue;
        }
      /* One in a hundred fails once: its retry comes back behind the others. */
      i = running[--n_running];
      cpb_scheduler_finish (s, i,
                            i % 100 == 0 && cpb_scheduler_attempts (s, i) == 1 ? CPB_SCHED_FAILED
                                                                               : CPB_SCHED_OK,
                            now);
      finished += cpb_scheduler_state (s, i) == CPB_TASK_DONE;
      now += 0.001;
      cpb_scheduler_counts (s, counts);
      counted &= counts[CPB_TASK_DONE] == finished && counts[CPB_TASK_RUNNING] == n_running;
    }
  is_int (finished, SCALE_N, "every queued task ends DONE");
  is_int (started, SCALE_N + SCALE_N / 100, "a retry for one in a hundred");
  ok (counted, "the counts follow every event");
  is_int (cpb_scheduler_state (s, 0), CPB_TASK_HELD, "the held task waits");
  ok (cpb_scheduler_work (s) < 20 * SCALE_N,
      "%d tasks through the queue visit %llu elements, "
      "fewer than %d",
      SCALE_N, (unsigned long long)cpb_scheduler_work (s), 20 * SCALE_N);
}

int
main (void)
{
  test_cap_and_priority ();
  test_capacity ();
  test_groups ();
  test_counted ();
  test_retries_and_holds ();
  test_scale_cancel ();
  test_scale_drain ();
  return done_testing ();
}
