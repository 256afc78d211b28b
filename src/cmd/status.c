/* status.c: `cpb status [BATCH]` — where a batch stands, from the state database (no Podman
   needed): counts per state and a row per task, or one line per batch without BATCH. */
#include "config.h"
#include "cmd.h"
#include "json.h"
#include "paths.h"
#include "report.h"
#include "state.h"
#include "xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: cpb status [BATCH] [--json] [--namespace NS]\n"
    "\n"
    "Show the tasks of BATCH (NAMESPACE/BATCH, or BATCH in your namespace)\n"
    "and their states, or every batch with its counts when BATCH is omitted.\n"
    "States: QUEUED, HELD, RUNNING, DONE, FAILED, CANCELLED.\n"
    "\n"
    "  --namespace NS  the namespace of BATCH (default: your login name)\n"
    "  --json          print a document for scripts\n"
    "  -h, --help      show this help\n";

static void
print_json (yajl_gen g)
{
  _cleanup_free_ char *doc = cpb_json_gen_finish (g, NULL, NULL);

  if (doc)
    puts (doc);
}

static void
elapsed (char *buf, size_t size, const struct cpb_state_task *t)
{
  int64_t end = t->ended_at ? t->ended_at : (t->state == CPB_TASK_RUNNING ? time (NULL) : 0);

  if (t->started_at == 0 || end < t->started_at)
    snprintf (buf, size, "-");
  else
    snprintf (buf, size, "%llds", (long long)(end - t->started_at));
}

static void
print_batch_text (const char *ns, const char *batch, const size_t counts[CPB_TASK_N],
                  const struct cpb_state_task *v, size_t n)
{
  printf ("%s/%s: %zu tasks: %zu done, %zu running, %zu queued, %zu held, %zu failed, "
          "%zu cancelled\n",
          ns, batch, n, counts[CPB_TASK_DONE], counts[CPB_TASK_RUNNING],
          counts[CPB_TASK_QUEUED], counts[CPB_TASK_HELD], counts[CPB_TASK_FAILED],
          counts[CPB_TASK_CANCELLED]);
  printf ("%-24s %-10s %-8s %-5s %-7s %-7s %-8s %s\n", "TASK", "STATE", "ATTEMPTS", "EXIT",
          "TIME", "CPU", "MAXRSS", "MESSAGE");
  for (size_t i = 0; i < n; i++)
    {
      _cleanup_task_manifest_ struct cpb_task_manifest *m = cpb_report_task_manifest (&v[i]);
      char exit_s[16] = "-", time_s[32], cpu_s[32] = "-", rss_s[32] = "-";

      if (v[i].exit_code >= 0)
        snprintf (exit_s, sizeof exit_s, "%d", v[i].exit_code);
      elapsed (time_s, sizeof time_s, &v[i]);
      if (m)
        {
          snprintf (cpu_s, sizeof cpu_s, "%.2fs", m->user_seconds + m->sys_seconds);
          snprintf (rss_s, sizeof rss_s, "%.1fM", (double)m->max_rss_kib / 1024.0);
        }
      printf ("%-24s %-10s %-8d %-5s %-7s %-7s %-8s %s%s\n", v[i].name,
              cpb_task_state_name (v[i].state), v[i].attempts, exit_s, time_s, cpu_s, rss_s,
              m && m->timed_out ? "timed out; " : "", v[i].message ? v[i].message : "");
    }
}

static int
show_batch (cpb_state *st, const char *ns, const char *batch, bool json, cpb_error **err)
{
  struct cpb_state_task *v = NULL;
  size_t n = 0, counts[CPB_TASK_N];

  if (cpb_state_tasks_list (st, ns, batch, &v, &n, err) < 0 ||
      cpb_state_counts (st, ns, batch, counts, err) < 0)
    return -1;
  if (n == 0)
    {
      cpb_state_task_free_array (v, n);
      return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no batch '%s/%s' in the state database", ns,
                            batch);
    }
  if (json)
    {
      _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

      cpb_report_gen_batch (g, ns, batch, counts, v, n);
      print_json (g);
    }
  else
    print_batch_text (ns, batch, counts, v, n);
  cpb_state_task_free_array (v, n);
  return 0;
}

/* The batches of NS (all if NULL) with their counts, as the JSON document lists them. */
static int
read_batches (cpb_state *st, const char *ns, struct cpb_report_batch **ret, size_t *ret_n,
              cpb_error **err)
{
  _cleanup_strv_free_ char **batches = NULL;
  struct cpb_report_batch *v;
  size_t n = 0;

  if (cpb_state_batches (st, ns, &batches, err) < 0)
    return -1;
  for (char **b = batches; *b; b++)
    n++;
  v = cpb_xcalloc (n + 1, sizeof *v);
  for (size_t i = 0; i < n; i++)
    {
      v[i].namespace = cpb_xstrndup (batches[i], strcspn (batches[i], "/"));
      v[i].batch = cpb_xstrdup (batches[i] + strlen (v[i].namespace) + 1);
      if (cpb_state_counts (st, v[i].namespace, v[i].batch, v[i].counts, err) < 0)
        {
          cpb_report_batches_free (v, n);
          return -1;
        }
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

static int
show_all (cpb_state *st, const char *ns, bool json, cpb_error **err)
{
  struct cpb_report_batch *v = NULL;
  size_t n = 0;

  if (read_batches (st, ns, &v, &n, err) < 0)
    return -1;
  if (json)
    {
      _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

      cpb_report_gen_batches (g, v, n);
      print_json (g);
    }
  for (size_t i = 0; !json && i < n; i++)
    {
      const size_t *c = v[i].counts;
      _cleanup_free_ char *name = cpb_xasprintf ("%s/%s", v[i].namespace, v[i].batch);

      printf ("%-32s %zu done, %zu running, %zu queued, %zu held, %zu failed, %zu cancelled\n",
              name, c[CPB_TASK_DONE], c[CPB_TASK_RUNNING], c[CPB_TASK_QUEUED], c[CPB_TASK_HELD],
              c[CPB_TASK_FAILED], c[CPB_TASK_CANCELLED]);
    }
  if (!json && n == 0)
    printf ("no batches%s%s yet: 'cpb run JOBS.yaml' starts one\n", ns ? " in namespace " : "",
            ns ? ns : "");
  cpb_report_batches_free (v, n);
  return 0;
}

static int
status_main (const char *batch_arg, const char *ns_opt, bool json, cpb_error **err)
{
  _cleanup_free_ char *path = NULL, *ns = NULL, *batch = NULL, *def = NULL;
  _cleanup_state_ cpb_state *st = NULL;

  def = ns_opt ? cpb_xstrdup (ns_opt) : cpb_default_namespace ();
  if ((path = cpb_state_path (NULL, err)) == NULL || cpb_state_open (path, &st, err) < 0)
    return -1;
  if (batch_arg == NULL)
    return show_all (st, ns_opt, json, err);
  if (cpb_state_parse_batch (batch_arg, def, &ns, &batch, err) < 0)
    return -1;
  return show_batch (st, ns, batch, json, err);
}

CPB_VERB (status)
{
  static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                        { "namespace", required_argument, NULL, 'N' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  _cleanup_error_ cpb_error *err = NULL;
  const char *ns = NULL;
  bool json = false;
  int c;

  /* 0, not 1: glibc then forgets main's "+" (stop at the first non-option), so options
     may follow BATCH as users type them ("cpb status sweep --json"). */
  optind = 0;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'N':
        ns = optarg;
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("status");
      }
  if (argc - optind > 1)
    return cpb_cli_usage_error ("status", "expected at most one BATCH");
  if (status_main (optind < argc ? argv[optind] : NULL, ns, json, &err) < 0)
    return cpb_cli_report ("status", cpb_error_take (&err));
  return CPB_EXIT_OK;
}
