/* sched-bench.c: the scheduler alone at scale, without Podman or a database.  Prints one
 * "what N seconds" line per case, for docs/running.md (run by sched-state.sh).
 *
 *   sched-bench [N...]          (default: 10000 20000 40000 100000)
 *
 * drain:  N queued tasks of one group started and finished one by one through
 *         cpb_scheduler_next / cpb_scheduler_finish under -j 4, next asked until it says
 *         nothing more can start, as the loop does each round;
 *   drain+retries: the same with one task in a hundred failing once (its retry comes back
 *         after a backoff, behind the others);
 *   drain+counts: the same with cpb_scheduler_counts and cpb_scheduler_done asked after
 *         every event, as the run loop does each round;
 *   cancel: the one task of group "first" fails, and the N tasks of "second", which waits for
 *         it, are taken one by one with cpb_scheduler_take_blocked, as the loop cancels them.
 */
#include "config.h"
#include "run/scheduler.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
bench_drain (size_t n, bool ask_counts, bool retry)
{
  struct cpb_sched_config cfg = { .max_jobs = 4, .cpus = 4 };
  cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t counts[CPB_TASK_N], running[4], n_running = 0, finished = 0, i;
  double wake, t0, t = 0;

  for (size_t k = 0; k < n; k++)
    cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "g", .retries = 1 });
  t0 = now ();
  while (finished < n)
    {
      /* As the loop does: ask until the scheduler says nothing more can start. */
      while (cpb_scheduler_next (s, t, &i, &wake) == 1)
        running[n_running++] = i;
      if (n_running == 0)
        {
          t = wake;
          continue;
        }
      i = running[--n_running];
      t += 0.001;
      cpb_scheduler_finish (s, i,
                            retry && i % 100 == 0 && cpb_scheduler_attempts (s, i) == 1
                                ? CPB_SCHED_FAILED
                                : CPB_SCHED_OK,
                            t);
      if (cpb_scheduler_state (s, i) != CPB_TASK_DONE)
        continue;
      finished++;
      if (!ask_counts)
        continue;
      cpb_scheduler_counts (s, counts);
      if (cpb_scheduler_done (s) != (finished == n))
        abort ();
    }
  t0 = now () - t0;
  cpb_scheduler_free (s);
  return t0;
}

static double
bench_cancel (size_t n)
{
  struct cpb_sched_config cfg = { .cpus = 4 };
  cpb_scheduler *s = cpb_scheduler_new (&cfg);
  size_t first, i, taken = 0;
  const char *group;
  double wake, t0;

  first = cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "first" });
  for (size_t k = 0; k < n; k++)
    cpb_scheduler_add_task (s, &(struct cpb_sched_task){ .group = "second" });
  cpb_scheduler_add_dependency (s, "second", "first");
  if (cpb_scheduler_next (s, 0, &i, &wake) != 1 || i != first)
    abort ();
  cpb_scheduler_finish (s, first, CPB_SCHED_FAILED, 0);
  t0 = now ();
  while (cpb_scheduler_take_blocked (s, &i, &group) == 1)
    taken++;
  t0 = now () - t0;
  if (taken != n || !cpb_scheduler_done (s))
    abort ();
  cpb_scheduler_free (s);
  return t0;
}

int
main (int argc, char **argv)
{
  static const size_t defaults[] = { 10000, 20000, 40000, 100000 };
  size_t n_sizes = argc > 1 ? (size_t)argc - 1 : sizeof defaults / sizeof defaults[0];

  for (size_t k = 0; k < n_sizes; k++)
    {
      size_t n = argc > 1 ? strtoul (argv[k + 1], NULL, 10) : defaults[k];

      printf ("drain %zu %.4f\n", n, bench_drain (n, false, false));
      printf ("drain+retries %zu %.4f\n", n, bench_drain (n, false, true));
      printf ("drain+counts %zu %.4f\n", n, bench_drain (n, true, false));
      printf ("cancel %zu %.4f\n", n, bench_cancel (n));
      fflush (stdout);
    }
  return 0;
}
