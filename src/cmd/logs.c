/* logs.c: `cpb logs BATCH TASK [-f]` — a task's output, stdout to stdout and stderr to
   stderr: from its running container (followed with -f), or from its archive once it ended. */
#include "config.h"
#include "cmd.h"
#include "paths.h"
#include "podman/podman.h"
#include "state.h"
#include "task-logs.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>

static const char usage[] =
    "Usage: cpb logs BATCH TASK [-f] [--namespace NS]\n"
    "\n"
    "Print the output of TASK: its stdout on standard output, its stderr on\n"
    "standard error.  A running task's output comes from its container, a\n"
    "finished one's from its archive (the last attempt).\n"
    "\n"
    "  -f, --follow     keep printing a running task's output until it ends\n"
    "  --namespace NS   the namespace of BATCH (default: your login name)\n"
    "  -h, --help       show this help\n";

static int
print_log (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
           cpb_error **err)
{
  FILE *out = stream == CPB_LOG_STDERR ? stderr : stdout;

  if (fwrite (data, 1, len, out) != len || fflush (out) != 0)
    return cpb_error_errno (err, errno, "cannot write the log");
  return 0;
}

static int
logs_main (const struct cpb_global *g, const char *batch_arg, const char *task, const char *ns_opt,
           bool follow, cpb_error **err)
{
  _cleanup_free_ char *path = NULL, *ns = NULL, *batch = NULL, *def = NULL;
  _cleanup_state_ cpb_state *st = NULL;
  _cleanup_podman_ cpb_podman *p = NULL;
  struct cpb_state_task t = { 0 };
  int rc;

  def = ns_opt ? cpb_xstrdup (ns_opt) : cpb_default_namespace ();
  if (cpb_state_parse_batch (batch_arg, def, &ns, &batch, err) < 0 ||
      (path = cpb_state_path (NULL, err)) == NULL || cpb_state_open (path, &st, err) < 0 ||
      cpb_state_task_get (st, ns, batch, task, &t, err) < 0)
    return -1;
  if (cpb_task_logs_where (&t) == CPB_TASK_LOGS_LIVE && cpb_cli_connect (g, &p, err) < 0)
    rc = -1;
  else
    rc = cpb_task_logs (p, &t, follow, print_log, NULL, err);
  /* The task ended between reading its state and asking Podman: its logs are now in its
     archive. */
  if (rc < 0 && cpb_task_logs_where (&t) == CPB_TASK_LOGS_LIVE && *err &&
      (*err)->kind == CPB_ERR_NOT_FOUND)
    {
      cpb_error_free (cpb_error_take (err));
      cpb_state_task_clear (&t);
      if (cpb_state_task_get (st, ns, batch, task, &t, err) < 0)
        return -1;
      rc = cpb_task_logs (p, &t, follow, print_log, NULL, err);
    }
  cpb_state_task_clear (&t);
  return rc;
}

CPB_VERB (logs)
{
  static const struct option opts[] = { { "follow", no_argument, NULL, 'f' },
                                        { "namespace", required_argument, NULL, 'N' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  _cleanup_error_ cpb_error *err = NULL;
  const char *ns = NULL;
  bool follow = false;
  int c;

  /* 0, not 1: glibc then forgets main's "+" (stop at the first non-option), so options
     may follow BATCH as users type them ("cpb status sweep --json"). */
  optind = 0;
  while ((c = getopt_long (argc, argv, "fh", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        follow = true;
        break;
      case 'N':
        ns = optarg;
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("logs");
      }
  if (argc - optind != 2)
    return cpb_cli_usage_error ("logs", "expected BATCH TASK");
  if (logs_main (g, argv[optind], argv[optind + 1], ns, follow, &err) < 0)
    return cpb_cli_report ("logs", cpb_error_take (&err));
  return CPB_EXIT_OK;
}
