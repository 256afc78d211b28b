/* hold.c: `cpb hold` and `cpb release` — keep queued tasks from starting, and let them go.
   They only write the state database: a run in progress notices the change between two
   scheduling rounds, and a later run keeps held tasks held. */
#include "config.h"
#include "cmd.h"
#include "paths.h"
#include "state.h"
#include "xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char hold_usage[] =
    "Usage: cpb hold BATCH [TASK...] [--namespace NS]\n"
    "\n"
    "Hold the QUEUED tasks of BATCH (all of them, or the TASKs named): they\n"
    "do not start until 'cpb release'.  A run in progress notices at once.\n"
    "\n"
    "  --namespace NS  the namespace of BATCH (default: your login name)\n"
    "  -h, --help      show this help\n";

static const char release_usage[] =
    "Usage: cpb release BATCH [TASK...] [--namespace NS]\n"
    "\n"
    "Release the HELD tasks of BATCH (all of them, or the TASKs named):\n"
    "they are QUEUED again, for the run in progress or the next one.\n"
    "\n"
    "  --namespace NS  the namespace of BATCH (default: your login name)\n"
    "  -h, --help      show this help\n";

/* Move one named task, saying why not when it is in another state. */
static int
move_one (cpb_state *st, const char *ns, const char *batch, const char *task,
          enum cpb_task_state from, enum cpb_task_state to, size_t *changed, cpb_error **err)
{
  struct cpb_state_task t = { 0 };
  size_t n = 0;
  int rc = 0;

  if (cpb_state_task_get (st, ns, batch, task, &t, err) < 0)
    return -1;
  if (t.state != from)
    rc = cpb_error_set (err, CPB_ERR_FAILED, "task '%s' is %s, not %s", task,
                        cpb_task_state_name (t.state), cpb_task_state_name (from));
  else if (cpb_state_tasks_move (st, ns, batch, task, 1u << from, to, NULL, &n, err) < 0)
    rc = -1;
  *changed += n;
  cpb_state_task_clear (&t);
  return rc;
}

static int
hold_main (bool hold, char **args, int n_args, const char *ns_opt, cpb_error **err)
{
  _cleanup_free_ char *path = NULL, *ns = NULL, *batch = NULL, *def = NULL;
  _cleanup_state_ cpb_state *st = NULL;
  enum cpb_task_state from = hold ? CPB_TASK_QUEUED : CPB_TASK_HELD;
  enum cpb_task_state to = hold ? CPB_TASK_HELD : CPB_TASK_QUEUED;
  size_t changed = 0, counts[CPB_TASK_N];

  def = ns_opt ? cpb_xstrdup (ns_opt) : cpb_default_namespace ();
  if (cpb_state_parse_batch (args[0], def, &ns, &batch, err) < 0 ||
      (path = cpb_state_path (NULL, err)) == NULL || cpb_state_open (path, &st, err) < 0 ||
      cpb_state_counts (st, ns, batch, counts, err) < 0)
    return -1;
  if (counts[CPB_TASK_QUEUED] + counts[CPB_TASK_HELD] + counts[CPB_TASK_DONE] +
          counts[CPB_TASK_RUNNING] + counts[CPB_TASK_FAILED] + counts[CPB_TASK_CANCELLED] ==
      0)
    return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no batch '%s/%s' in the state database", ns,
                          batch);
  if (n_args == 1 &&
      cpb_state_tasks_move (st, ns, batch, NULL, 1u << from, to, NULL, &changed, err) < 0)
    return -1;
  for (int i = 1; i < n_args; i++)
    if (move_one (st, ns, batch, args[i], from, to, &changed, err) < 0)
      return -1;
  printf ("%s %zu task%s of %s/%s\n", hold ? "held" : "released", changed, changed == 1 ? "" : "s",
          ns, batch);
  return 0;
}

static int
hold_verb (bool hold, int argc, char **argv)
{
  static const struct option opts[] = { { "namespace", required_argument, NULL, 'N' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  const char *verb = hold ? "hold" : "release";
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
        fputs (hold ? hold_usage : release_usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option (verb);
      }
  if (optind >= argc)
    return cpb_cli_usage_error (verb, "expected a BATCH");
  if (hold_main (hold, argv + optind, argc - optind, ns, &err) < 0)
    return cpb_cli_report (verb, cpb_error_take (&err));
  return CPB_EXIT_OK;
}

CPB_VERB (hold)
{
  return hold_verb (true, argc, argv);
}

CPB_VERB (release)
{
  return hold_verb (false, argc, argv);
}
