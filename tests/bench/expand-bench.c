/* expand-bench.c: time and peak memory of loading a jobs.yaml, expanding it into a plan and
 * making every task from the plan, without Podman.  Used by expand-100k.sh; prints one
 * "phase seconds" line per phase and the peak RSS, for docs/spec-jobs.md.
 *
 *   expand-bench JOBS.yaml [--keep]
 *
 * --keep holds every made task in memory at once (what a caller that keeps all resolved
 * tasks would pay); without it each task is freed after it is made, as a planner that
 * writes tasks to its database one by one would do.
 */
#include "config.h"
#include "spec/jobs.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
peak_rss_kib (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int
main (int argc, char **argv)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = NULL;
  _cleanup_jobs_plan_ cpb_jobs_plan *plan = NULL;
  struct cpb_task **kept = NULL;
  bool keep = argc > 2 && strcmp (argv[2], "--keep") == 0;
  size_t n, env_bytes = 0;
  double t0, t1, t2, t3;
  long rss_plan;

  if (argc < 2)
    {
      fprintf (stderr, "usage: expand-bench JOBS.yaml [--keep]\n");
      return 2;
    }
  t0 = now ();
  if (cpb_jobs_spec_load (argv[1], &spec, &err) < 0)
    {
      fprintf (stderr, "%s\n", err->msg);
      return 2;
    }
  t1 = now ();
  if (cpb_jobs_plan_new (spec, &plan, &err) < 0)
    {
      fprintf (stderr, "%s\n", err->msg);
      return 1;
    }
  t2 = now ();
  rss_plan = peak_rss_kib ();
  n = cpb_jobs_plan_count (plan);
  if (keep)
    kept = cpb_xcalloc (n, sizeof *kept);
  for (size_t i = 0; i < n; i++)
    {
      struct cpb_task *t = cpb_jobs_plan_task (plan, i);

      env_bytes += strlen (t->env[0]); /* touch the result so nothing is optimised away */
      if (keep)
        kept[i] = t;
      else
        cpb_task_free (t);
    }
  t3 = now ();
  printf ("tasks %zu\n", n);
  printf ("load+check %.3f s\n", t1 - t0);
  printf ("plan %.3f s\n", t2 - t1);
  printf ("make-every-task %.3f s%s\n", t3 - t2, keep ? " (all kept)" : " (one at a time)");
  printf ("peak-rss-after-plan %ld KiB\n", rss_plan);
  printf ("peak-rss %ld KiB\n", peak_rss_kib ());
  if (keep)
    {
      for (size_t i = 0; i < n; i++)
        cpb_task_free (kept[i]);
      free (kept);
    }
  return env_bytes > 0 ? 0 : 1;
}
