/* logs.c: `cpb logs BATCH TASK [-f]` — a task's output, stdout to stdout and stderr to
   stderr: from its running container (followed with -f), or from its archive once it ended. */
#include "config.h"
#include "cmd.h"
#include "paths.h"
#include "helper-host.h"
#include "podman/podman.h"
#include "state.h"
#include "store/store.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The helper ends a task's stderr with its report behind a marker (--report-stderr):
   that is cpb's, not the task's output, so stderr stops at the marker. */
static int
on_log (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
        cpb_error **err)
{
  static const char marker[] = CPB_HELPER_REPORT_MARKER;
  bool *report_seen = userdata;
  FILE *out = stream == CPB_LOG_STDERR ? stderr : stdout;

  if (stream == CPB_LOG_STDERR)
    {
      const char *at = memmem (data, len, marker, sizeof marker - 1);

      if (*report_seen)
        return 0;
      if (at)
        {
          *report_seen = true;
          len = (size_t)(at - data);
          if (len > 0 && data[len - 1] == '\n')
            len--; /* the newline the helper put before the marker */
        }
    }
  if (fwrite (data, 1, len, out) != len)
    return cpb_error_errno (err, errno, "cannot write the log");
  fflush (out);
  return 0;
}

static int
logs_running (const struct cpb_global *g, const char *container, bool follow, cpb_error **err)
{
  _cleanup_podman_ cpb_podman *p = NULL;
  unsigned flags = CPB_LOGS_STDOUT | CPB_LOGS_STDERR | (follow ? CPB_LOGS_FOLLOW : 0);
  bool report_seen = false;

  if (cpb_cli_connect (g, &p, err) < 0)
    return -1;
  return cpb_podman_container_logs (p, container, flags, on_log, &report_seen, err);
}

static int
copy_file (const char *path, FILE *out, cpb_error **err)
{
  _cleanup_fclose_ FILE *f = fopen (path, "re");
  char buf[65536];
  size_t n;

  if (f == NULL)
    return errno == ENOENT ? 0 : cpb_error_errno (err, errno, "cannot open '%s'", path);
  while ((n = fread (buf, 1, sizeof buf, f)) > 0)
    if (fwrite (buf, 1, n, out) != n)
      return cpb_error_errno (err, errno, "cannot write the log");
  fflush (out);
  return 0;
}

/* The logs kept in the task's archive, extracted (safely, by the store) into a scratch dir. */
static int
logs_archived (const char *archive, const char *task, cpb_error **err)
{
  char dir[] = "/tmp/cpb-logs.XXXXXX";
  static char *const includes[] = { (char *)".cpb/stdout", (char *)".cpb/stderr", NULL };
  struct cpb_fetch_options opts = { .includes = includes };
  _cleanup_free_ char *out = NULL, *errp = NULL, *rm = NULL;
  int rc;

  if (mkdtemp (dir) == NULL)
    return cpb_error_errno (err, errno, "cannot create a directory in /tmp");
  rc = cpb_store_extract (archive, dir, task, &opts, NULL, err);
  out = cpb_xasprintf ("%s/%s/.cpb/stdout", dir, task);
  errp = cpb_xasprintf ("%s/%s/.cpb/stderr", dir, task);
  if (rc == 0)
    rc = copy_file (out, stdout, err) < 0 || copy_file (errp, stderr, err) < 0 ? -1 : 0;
  unlink (out);
  unlink (errp);
  rm = cpb_xasprintf ("%s/%s/.cpb", dir, task);
  rmdir (rm);
  free (rm);
  rm = cpb_xasprintf ("%s/%s", dir, task);
  rmdir (rm);
  rmdir (dir);
  return rc;
}

static int
logs_main (const struct cpb_global *g, const char *batch_arg, const char *task, const char *ns_opt,
           bool follow, cpb_error **err)
{
  _cleanup_free_ char *path = NULL, *ns = NULL, *batch = NULL, *def = NULL;
  _cleanup_state_ cpb_state *st = NULL;
  struct cpb_state_task t = { 0 };
  int rc;

  def = ns_opt ? cpb_xstrdup (ns_opt) : cpb_default_namespace ();
  if (cpb_state_parse_batch (batch_arg, def, &ns, &batch, err) < 0 ||
      (path = cpb_state_path (NULL, err)) == NULL || cpb_state_open (path, &st, err) < 0 ||
      cpb_state_task_get (st, ns, batch, task, &t, err) < 0)
    return -1;
  if (t.state == CPB_TASK_RUNNING && t.container_id)
    rc = logs_running (g, t.container_id, follow, err);
  else if (t.archive_path)
    rc = logs_archived (t.archive_path, task, err);
  else
    rc = cpb_error_set (err, CPB_ERR_NOT_FOUND, "task '%s' has no logs yet (%s)", task,
                        cpb_task_state_name (t.state));
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
