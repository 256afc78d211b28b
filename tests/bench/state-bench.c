/* state-bench.c: what the run loop's writes to the state database cost, one transaction each
 * or many in one.  Prints one "what N seconds" line per case, for docs/running.md (run by
 * sched-state.sh).
 *
 *   state-bench [N [DIR]]       (default: 10000 tasks, a new directory under /var/tmp)
 *
 * N tasks are planned (one transaction), then each case moves every task QUEUED -> RUNNING
 * -> DONE with cpb_state_task_start and cpb_state_task_finish, as a launch and a collection
 * do, and the tasks are planned again with --force for the next case:
 *   autocommit:  every transition its own transaction;
 *   rounds-of-100: cpb_state_begin / cpb_state_commit around every 100 pairs (a busy round
 *                of the loop);
 *   one-transaction: all N pairs in one.
 * The database is on a disk (DIR), in WAL mode with synchronous = NORMAL as cpb opens it.
 */
#include "config.h"
#include "state.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
check (int rc, cpb_error *err, const char *what)
{
  if (rc >= 0)
    return;
  fprintf (stderr, "state-bench: %s: %s\n", what, err ? err->msg : "?");
  exit (1);
}

static void
plan (cpb_state *st, int64_t *ids, size_t n)
{
  cpb_error *err = NULL;

  check (cpb_state_begin (st, &err), err, "begin");
  for (size_t i = 0; i < n; i++)
    {
      _cleanup_free_ char *name = cpb_xasprintf ("t-%zu", i);
      struct cpb_state_task t = { .namespace = (char *)"bench",
                                  .batch = (char *)"b",
                                  .name = name,
                                  .group = (char *)"main",
                                  .index = (int)i,
                                  .key = (char *)"k",
                                  .params_json = (char *)"{}" };
      enum cpb_plan_action a;

      check (cpb_state_task_plan (st, &t, true, &a, &err), err, "plan");
      ids[i] = t.id;
    }
  check (cpb_state_commit (st, &err), err, "commit");
}

/* Start and finish every task, BATCH pairs per transaction (0: no transaction of ours). */
static double
transitions (cpb_state *st, const int64_t *ids, size_t n, size_t batch)
{
  cpb_error *err = NULL;
  double t0 = now ();

  for (size_t i = 0; i < n; i++)
    {
      if (batch && i % batch == 0)
        check (cpb_state_begin (st, &err), err, "begin");
      if (cpb_state_task_start (st, ids[i], "run", 1, "local", "c0", &err) != 1 ||
          cpb_state_task_finish (st, ids[i], CPB_TASK_DONE, 0, "/a.tar.zst", "{}", NULL, &err) != 1)
        check (-1, err, "a transition");
      if (batch && (i % batch == batch - 1 || i == n - 1))
        check (cpb_state_commit (st, &err), err, "commit");
    }
  return now () - t0;
}

int
main (int argc, char **argv)
{
  size_t n = argc > 1 ? strtoul (argv[1], NULL, 10) : 10000;
  char tmpl[] = "/var/tmp/cpb-state-bench.XXXXXX";
  const char *dir = argc > 2 ? argv[2] : mkdtemp (tmpl);
  _cleanup_free_ char *path = NULL, *rm = NULL;
  _cleanup_free_ int64_t *ids = cpb_xcalloc (n ? n : 1, sizeof *ids);
  cpb_state *st = NULL;
  cpb_error *err = NULL;
  static const struct
  {
    const char *name;
    size_t batch;
  } cases[] = { { "autocommit", 0 }, { "rounds-of-100", 100 }, { "one-transaction", (size_t)-1 } };

  if (dir == NULL)
    return 1;
  path = cpb_xasprintf ("%s/state.db", dir);
  check (cpb_state_open (path, &st, &err), err, "open");
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    {
      plan (st, ids, n);
      printf ("%s %zu %.3f\n", cases[k].name, n, transitions (st, ids, n, cases[k].batch));
      fflush (stdout);
    }
  cpb_state_close (st);
  if (argc <= 2)
    {
      rm = cpb_xasprintf ("rm -rf '%s'", dir);
      if (system (rm) != 0)
        return 1;
    }
  return 0;
}
