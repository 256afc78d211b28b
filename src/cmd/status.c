/* status.c: `cpb status [BATCH]` — where a batch stands, from the state database (no Podman
   needed): counts per state and a row per task, or one line per batch without BATCH. */
#include "config.h"
#include "cmd.h"
#include "json.h"
#include "paths.h"
#include "state.h"
#include "store/store.h"
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
gen_counts (yajl_gen g, const size_t counts[CPB_TASK_N])
{
  cpb_json_gen_key (g, "counts");
  yajl_gen_map_open (g);
  for (int s = 0; s < CPB_TASK_N; s++)
    cpb_json_gen_key_int (g, cpb_task_state_name (s), (int64_t)counts[s]);
  yajl_gen_map_close (g);
}

/* What cpb-helper measured for T, from the manifest beside its archive (TASK.json next to
   TASK.tar.zst): the database keeps states, the store keeps results.  NULL while the task has
   no archive, or when its manifest cannot be read (status still shows the rest). */
static struct cpb_task_manifest *
task_manifest (const struct cpb_state_task *t)
{
  static const char suffix[] = ".tar.zst";
  _cleanup_error_ cpb_error *ignored = NULL;
  _cleanup_free_ char *path = NULL;
  struct cpb_task_manifest *m = NULL;
  size_t len;

  if (t->archive_path == NULL)
    return NULL;
  len = strlen (t->archive_path);
  if (len < sizeof suffix || strcmp (t->archive_path + len - (sizeof suffix - 1), suffix) != 0)
    return NULL;
  path = cpb_xasprintf ("%.*s.json", (int)(len - (sizeof suffix - 1)), t->archive_path);
  if (cpb_store_read_manifest (path, &m, &ignored) < 0)
    return NULL;
  return m;
}

static void
gen_helper (yajl_gen g, const struct cpb_task_manifest *m)
{
  cpb_json_gen_key (g, "helper");
  if (m == NULL)
    {
      yajl_gen_null (g);
      return;
    }
  yajl_gen_map_open (g);
  cpb_json_gen_key (g, "wall_seconds");
  yajl_gen_double (g, m->wall_seconds);
  cpb_json_gen_key (g, "user_seconds");
  yajl_gen_double (g, m->user_seconds);
  cpb_json_gen_key (g, "sys_seconds");
  yajl_gen_double (g, m->sys_seconds);
  cpb_json_gen_key_int (g, "max_rss_kib", m->max_rss_kib);
  cpb_json_gen_key (g, "timed_out");
  yajl_gen_bool (g, m->timed_out);
  yajl_gen_map_close (g);
}

static void
gen_task (yajl_gen g, const struct cpb_state_task *t)
{
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "name", t->name);
  cpb_json_gen_key_string (g, "group", t->group);
  cpb_json_gen_key_int (g, "index", t->index);
  cpb_json_gen_key_string (g, "state", cpb_task_state_name (t->state));
  cpb_json_gen_key_int (g, "attempts", t->attempts);
  cpb_json_gen_key (g, "exit_code");
  if (t->exit_code >= 0)
    yajl_gen_integer (g, t->exit_code);
  else
    yajl_gen_null (g);
  cpb_json_gen_key_string (g, "node", t->node);
  cpb_json_gen_key_string (g, "container", t->container_id);
  cpb_json_gen_key_string (g, "run", t->run_id);
  cpb_json_gen_key_int (g, "started", t->started_at);
  cpb_json_gen_key_int (g, "ended", t->ended_at);
  cpb_json_gen_key_string (g, "archive", t->archive_path);
  cpb_json_gen_key_string (g, "message", t->message);
  cpb_json_gen_key_string (g, "key", t->key);
  {
    _cleanup_task_manifest_ struct cpb_task_manifest *m = task_manifest (t);
    gen_helper (g, m);
  }
  yajl_gen_map_close (g);
}

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
      _cleanup_task_manifest_ struct cpb_task_manifest *m = task_manifest (&v[i]);
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

      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "namespace", ns);
      cpb_json_gen_key_string (g, "batch", batch);
      gen_counts (g, counts);
      cpb_json_gen_key (g, "tasks");
      yajl_gen_array_open (g);
      for (size_t i = 0; i < n; i++)
        gen_task (g, &v[i]);
      yajl_gen_array_close (g);
      yajl_gen_map_close (g);
      print_json (g);
    }
  else
    print_batch_text (ns, batch, counts, v, n);
  cpb_state_task_free_array (v, n);
  return 0;
}

static int
show_all (cpb_state *st, const char *ns, bool json, cpb_error **err)
{
  _cleanup_strv_free_ char **batches = NULL;
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

  if (cpb_state_batches (st, ns, &batches, err) < 0)
    return -1;
  yajl_gen_map_open (g);
  cpb_json_gen_key (g, "batches");
  yajl_gen_array_open (g);
  for (char **b = batches; *b; b++)
    {
      _cleanup_free_ char *bns = cpb_xstrndup (*b, strcspn (*b, "/"));
      const char *name = *b + strlen (bns) + 1;
      size_t counts[CPB_TASK_N];

      if (cpb_state_counts (st, bns, name, counts, err) < 0)
        return -1;
      if (!json)
        printf ("%-32s %zu done, %zu running, %zu queued, %zu held, %zu failed, %zu cancelled\n",
                *b, counts[CPB_TASK_DONE], counts[CPB_TASK_RUNNING], counts[CPB_TASK_QUEUED],
                counts[CPB_TASK_HELD], counts[CPB_TASK_FAILED], counts[CPB_TASK_CANCELLED]);
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "namespace", bns);
      cpb_json_gen_key_string (g, "batch", name);
      gen_counts (g, counts);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
  yajl_gen_map_close (g);
  if (json)
    print_json (g);
  else if (batches[0] == NULL)
    printf ("no batches%s%s yet: 'cpb run JOBS.yaml' starts one\n", ns ? " in namespace " : "",
            ns ? ns : "");
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
