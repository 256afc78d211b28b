/* cancel.c: `cpb cancel BATCH [TASK]` — cancel what has not finished.  The state database is
   the message: a run in progress sees its tasks CANCELLED, stops their containers and keeps
   their logs; when no cpb is running the batch (it was killed), cancel removes the batch's
   containers itself. */
#include "config.h"
#include "cmd.h"
#include "run/run.h"
#include "paths.h"
#include "state.h"
#include "xalloc.h"

#include <getopt.h>
#include <stdio.h>

static const char usage[] =
    "Usage: cpb cancel BATCH [TASK] [--namespace NS]\n"
    "\n"
    "Cancel the QUEUED, HELD and RUNNING tasks of BATCH (or only TASK).\n"
    "Running containers are stopped and their logs kept; a later 'cpb run'\n"
    "runs cancelled tasks again.\n"
    "\n"
    "  --namespace NS  the namespace of BATCH (default: your login name)\n"
    "  -h, --help      show this help\n";

/* No run is going: the containers are ours to remove. */
static int
remove_leftovers (const struct cpb_global *g, const char *ns, const char *batch, const char *task,
                  size_t *ret_n, cpb_error **err)
{
  _cleanup_node_ struct cpb_node *node = NULL;
  cpb_podman *p = NULL;

  if (cpb_cli_connect (g, &p, err) < 0 || cpb_node_local (p, &node, err) < 0)
    return -1;
  return cpb_run_remove_containers (node, ns, batch, task, ret_n, err);
}

static int
cancel_main (const struct cpb_global *g, const char *batch_arg, const char *task,
             const char *ns_opt, cpb_error **err)
{
  _cleanup_free_ char *path = NULL, *ns = NULL, *batch = NULL, *def = NULL;
  _cleanup_state_ cpb_state *st = NULL;
  unsigned from = 1u << CPB_TASK_QUEUED | 1u << CPB_TASK_HELD | 1u << CPB_TASK_RUNNING;
  size_t changed = 0, removed = 0;
  struct cpb_state_task t = { 0 };
  int64_t pid = 0;

  def = ns_opt ? cpb_xstrdup (ns_opt) : cpb_default_namespace ();
  if (cpb_state_parse_batch (batch_arg, def, &ns, &batch, err) < 0 ||
      (path = cpb_state_path (NULL, err)) == NULL || cpb_state_open (path, &st, err) < 0)
    return -1;
  if (task && cpb_state_task_get (st, ns, batch, task, &t, err) < 0)
    return -1;
  cpb_state_task_clear (&t);
  if (cpb_state_tasks_move (st, ns, batch, task, from, CPB_TASK_CANCELLED, "cancelled by user",
                            &changed, err) < 0 ||
      cpb_state_run_live (st, ns, batch, &pid, err) < 0)
    return -1;
  if (pid == 0 && remove_leftovers (g, ns, batch, task, &removed, err) < 0)
    return -1;
  printf ("cancelled %zu task%s of %s/%s", changed, changed == 1 ? "" : "s", ns, batch);
  if (pid)
    printf (" (the run in progress, pid %lld, stops them)", (long long)pid);
  else if (removed)
    printf (", removed %zu container%s", removed, removed == 1 ? "" : "s");
  putchar ('\n');
  return 0;
}

CPB_VERB (cancel)
{
  static const struct option opts[] = { { "namespace", required_argument, NULL, 'N' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  _cleanup_error_ cpb_error *err = NULL;
  const char *ns = NULL;
  int c;

  /* 0, not 1: glibc then forgets main's "+" (stop at the first non-option), so options
     may follow BATCH as users type them ("cpb status sweep --json"). */
  optind = 0;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'N':
        ns = optarg;
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("cancel");
      }
  if (optind >= argc || argc - optind > 2)
    return cpb_cli_usage_error ("cancel", "expected BATCH [TASK]");
  if (cancel_main (g, argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL, ns, &err) < 0)
    return cpb_cli_report ("cancel", cpb_error_take (&err));
  return CPB_EXIT_OK;
}
