/* run.c: `cpb run JOBS.yaml` runs a workload's tasks as rootless containers, keeping their
   outputs in the archive store and their states in the state database, so that running it
   again only runs what is not done. */
#include "config.h"
#include "cmd.h"
#include "run/progress.h"
#include "run/run.h"
#include "helper-host.h"
#include "json.h"
#include "paths.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: cpb run JOBS.yaml [-j N] [--force] [--fail-fast] [--dry-run] [--archive DIR]\n"
    "               [--json] [--batch NAME]\n"
    "\n"
    "Run the tasks of JOBS.yaml ('-' reads it from standard input) as rootless containers on\n"
    "the local Podman service.  Outputs are kept in the archive store; tasks already DONE with\n"
    "the same image, command, environment, parameters and inputs are not run again.\n"
    "\n"
    "  -j, --jobs N       run at most N tasks at once (default: the node's cpus)\n"
    "  -f, --force        run every task again, DONE or not\n"
    "  --fail-fast        cancel the remaining tasks at the first task that fails\n"
    "  -n, --dry-run      print what would run and what is up to date; start nothing\n"
    "  --archive DIR      the archive store (default: $CPB_ARCHIVE_DIR, the config file,\n"
    "                     or $XDG_DATA_HOME/cpb/archive)\n"
    "  --batch NAME       the batch name (default: the spec's batch)\n"
    "  --namespace NS     the namespace (default: the spec's, or your login name)\n"
    "  --json             print the result (or the plan) as JSON on standard output\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 every task done, 1 a task failed or was cancelled, 2 bad input,\n"
    "3 Podman unreachable, 130 interrupted.\n";

struct run_args
{
  struct cpb_run_options o;
  const char *spec_path;
  const char *archive;
  bool dry_run;
  bool json;
};

static int
parse_jobs (const char *s, int *ret)
{
  char *end = NULL;
  long v = strtol (s, &end, 10);

  if (end == s || *end || v < 1 || v > 100000)
    return -1;
  *ret = (int)v;
  return 0;
}

static int
parse_args (int argc, char **argv, struct run_args *a)
{
  enum
  {
    OPT_FAIL_FAST = 256,
    OPT_ARCHIVE,
    OPT_BATCH,
    OPT_NAMESPACE,
    OPT_JSON
  };
  static const struct option opts[] = { { "jobs", required_argument, NULL, 'j' },
                                        { "force", no_argument, NULL, 'f' },
                                        { "fail-fast", no_argument, NULL, OPT_FAIL_FAST },
                                        { "dry-run", no_argument, NULL, 'n' },
                                        { "archive", required_argument, NULL, OPT_ARCHIVE },
                                        { "batch", required_argument, NULL, OPT_BATCH },
                                        { "namespace", required_argument, NULL, OPT_NAMESPACE },
                                        { "json", no_argument, NULL, OPT_JSON },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  int c;

  /* 0, not 1: glibc then forgets main's "+" (stop at the first non-option), so options
     may follow BATCH as users type them ("cpb status sweep --json"). */
  optind = 0;
  while ((c = getopt_long (argc, argv, "j:fnh", opts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        if (parse_jobs (optarg, &a->o.max_jobs) < 0)
          return cpb_cli_usage_error ("run", "-j: '%s' is not a number from 1 to 100000", optarg);
        break;
      case 'f':
        a->o.force = true;
        break;
      case OPT_FAIL_FAST:
        a->o.fail_fast = true;
        break;
      case 'n':
        a->dry_run = true;
        break;
      case OPT_ARCHIVE:
        a->archive = optarg;
        break;
      case OPT_BATCH:
        a->o.batch = optarg;
        break;
      case OPT_NAMESPACE:
        a->o.namespace = optarg;
        break;
      case OPT_JSON:
        a->json = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return -1 - CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("run");
      }
  if (optind + 1 != argc)
    return cpb_cli_usage_error ("run", "expected one JOBS.yaml, got %d arguments", argc - optind);
  a->spec_path = argv[optind];
  return 0;
}

static const char *
action_name (enum cpb_plan_action a)
{
  return a == CPB_PLAN_SKIP ? "skip" : a == CPB_PLAN_HELD ? "held" : "run";
}

static void
print_plan_json (const struct cpb_plan_entry *v, size_t n, const struct cpb_run_result *res)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_free_ char *doc = NULL;
  size_t counts[3] = { 0 };

  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "namespace", res->namespace);
  cpb_json_gen_key_string (g, "batch", res->batch);
  cpb_json_gen_key (g, "tasks");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    {
      counts[v[i].action]++;
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "name", v[i].name);
      cpb_json_gen_key_string (g, "group", v[i].group);
      cpb_json_gen_key_string (g, "action", action_name (v[i].action));
      cpb_json_gen_key_string (g, "key", v[i].key);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
  cpb_json_gen_key_int (g, "run", (int64_t)counts[CPB_PLAN_RUN]);
  cpb_json_gen_key_int (g, "skip", (int64_t)counts[CPB_PLAN_SKIP]);
  cpb_json_gen_key_int (g, "held", (int64_t)counts[CPB_PLAN_HELD]);
  yajl_gen_map_close (g);
  doc = cpb_json_gen_finish (g, NULL, NULL);
  if (doc)
    puts (doc);
}

static void
print_plan_text (const struct cpb_plan_entry *v, size_t n, const struct cpb_run_result *res)
{
  size_t counts[3] = { 0 };

  for (size_t i = 0; i < n; i++)
    {
      counts[v[i].action]++;
      printf ("%-4s  %-12s %s\n", action_name (v[i].action), v[i].group, v[i].name);
    }
  printf ("%s/%s: %zu to run, %zu up to date, %zu held\n", res->namespace, res->batch,
          counts[CPB_PLAN_RUN], counts[CPB_PLAN_SKIP], counts[CPB_PLAN_HELD]);
}

static void
print_result_json (const struct cpb_run_result *res, const cpb_error *err)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_free_ char *doc = NULL;

  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "run", res->run_id);
  cpb_json_gen_key_string (g, "namespace", res->namespace);
  cpb_json_gen_key_string (g, "batch", res->batch);
  cpb_json_gen_key (g, "counts");
  yajl_gen_map_open (g);
  for (int s = 0; s < CPB_TASK_N; s++)
    cpb_json_gen_key_int (g, cpb_task_state_name (s), (int64_t)res->counts[s]);
  yajl_gen_map_close (g);
  cpb_json_gen_key_int (g, "adopted", (int64_t)res->adopted);
  cpb_json_gen_key_int (g, "removed", (int64_t)res->removed);
  cpb_json_gen_key_bool (g, "interrupted", res->interrupted);
  cpb_json_gen_key_string (g, "error", err ? err->msg : NULL);
  yajl_gen_map_close (g);
  doc = cpb_json_gen_finish (g, NULL, NULL);
  if (doc)
    puts (doc);
}

static void
print_result_text (const struct cpb_run_result *res)
{
  if (res->adopted || res->removed)
    fprintf (stderr, "cpb run: a killed run left %zu containers: %zu adopted, %zu removed\n",
             res->adopted + res->removed, res->adopted, res->removed);
  printf ("%s/%s: %zu done, %zu failed, %zu cancelled, %zu held\n", res->namespace, res->batch,
          res->counts[CPB_TASK_DONE], res->counts[CPB_TASK_FAILED],
          res->counts[CPB_TASK_CANCELLED], res->counts[CPB_TASK_HELD]);
}

static int
dry_run (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec, struct run_args *a,
         cpb_error **err)
{
  struct cpb_plan_entry *v = NULL;
  size_t n = 0;
  struct cpb_run_result res = { 0 };

  if (cpb_run_plan (st, node, spec, &a->o, &v, &n, &res, err) < 0)
    return -1;
  if (a->json)
    print_plan_json (v, n, &res);
  else
    print_plan_text (v, n, &res);
  cpb_plan_entries_free (v, n);
  cpb_run_result_clear (&res);
  return 0;
}

/* SIGINT and SIGTERM write to this pipe, which the run loop polls: the run stops its tasks,
   keeps what finished and removes its containers.  The verb owns signals, as cpb build's
   does; the library only sees a cancel fd. */
static int cancel_pipe[2] = { -1, -1 };

static void
on_signal (int sig)
{
  int saved = errno;
  char c = (char)sig;
  ssize_t n = write (cancel_pipe[1], &c, 1);

  (void)n;
  errno = saved;
}

static int
run_for_real (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec, struct run_args *a,
              cpb_error **err)
{
  _cleanup_progress_ cpb_progress *progress = NULL;
  struct cpb_run_result res = { 0 };
  struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
  struct cpb_run_observer observer;
  int rc;

  if (pipe2 (cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return cpb_error_errno (err, errno, "cannot create a pipe");
  progress = cpb_progress_new (stderr, cpb_cli_isatty (2), 0);
  observer = (struct cpb_run_observer){ cpb_progress_observe, progress };
  a->o.cancel_fd = cancel_pipe[0];
  a->o.observers = &observer;
  a->o.n_observers = 1;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_int);
  sigaction (SIGTERM, &sa, &old_term);
  rc = cpb_run (st, node, spec, &a->o, &res, err);
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  close (cancel_pipe[0]);
  close (cancel_pipe[1]);
  cancel_pipe[0] = cancel_pipe[1] = -1;
  cpb_progress_free (TAKE_PTR (progress));
  if (a->json)
    print_result_json (&res, rc < 0 ? *err : NULL);
  else if (res.started) /* a refusal at planning ran nothing: no counts */
    print_result_text (&res);
  cpb_run_result_clear (&res);
  return rc;
}

/* Everything that needs cleaning up, in one place, so the verb reads top to bottom. */
static int
run_main (const struct cpb_global *g, struct run_args *a, cpb_error **err)
{
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = NULL;
  _cleanup_state_ cpb_state *st = NULL;
  _cleanup_node_ struct cpb_node *node = NULL;
  _cleanup_free_ char *state_path = NULL, *archive = NULL, *helper = NULL;
  cpb_podman *p = NULL;
  const char *backoff = getenv ("CPB_RETRY_BACKOFF");

  if (cpb_jobs_spec_load (a->spec_path, &spec, err) < 0)
    return -1;
  if ((archive = cpb_archive_dir (a->archive, err)) == NULL ||
      (state_path = cpb_state_path (NULL, err)) == NULL ||
      cpb_state_open (state_path, &st, err) < 0)
    return -1;
  if (!a->dry_run && cpb_helper_locate (&helper, err) < 0)
    return -1;
  a->o.archive_root = archive;
  a->o.spec_path = strcmp (a->spec_path, "-") == 0 ? NULL : a->spec_path;
  a->o.helper_path = helper;
  a->o.backoff_base = backoff ? strtod (backoff, NULL) : 0;
  if (cpb_cli_connect (g, &p, err) < 0 || cpb_node_local (p, &node, err) < 0)
    return -1;
  if (a->dry_run)
    return dry_run (st, node, spec, a, err);
  return run_for_real (st, node, spec, a, err);
}

CPB_VERB (run)
{
  struct run_args a = { .o.cancel_fd = -1 };
  _cleanup_error_ cpb_error *err = NULL;
  int rc = parse_args (argc, argv, &a);

  if (rc != 0)
    return rc < 0 ? -1 - rc : rc;
  if (run_main (g, &a, &err) < 0)
    return cpb_cli_report ("run", cpb_error_take (&err));
  return CPB_EXIT_OK;
}
