/* report.c: the status documents of cpb status --json and cpb serve (see report.h). */
#include "config.h"
#include "report.h"
#include "json.h"
#include "xalloc.h"

#include <string.h>

struct cpb_task_manifest *
cpb_report_task_manifest (const struct cpb_state_task *t)
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

void
cpb_report_gen_counts (yajl_gen g, const size_t counts[CPB_TASK_N])
{
  cpb_json_gen_key (g, "counts");
  yajl_gen_map_open (g);
  for (int s = 0; s < CPB_TASK_N; s++)
    cpb_json_gen_key_int (g, cpb_task_state_name (s), (int64_t)counts[s]);
  yajl_gen_map_close (g);
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

void
cpb_report_gen_task (yajl_gen g, const struct cpb_state_task *t)
{
  _cleanup_task_manifest_ struct cpb_task_manifest *m = cpb_report_task_manifest (t);

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
  gen_helper (g, m);
  yajl_gen_map_close (g);
}

void
cpb_report_gen_batch (yajl_gen g, const char *ns, const char *batch,
                      const size_t counts[CPB_TASK_N], const struct cpb_state_task *v, size_t n)
{
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "namespace", ns);
  cpb_json_gen_key_string (g, "batch", batch);
  cpb_report_gen_counts (g, counts);
  cpb_json_gen_key (g, "tasks");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    cpb_report_gen_task (g, &v[i]);
  yajl_gen_array_close (g);
  yajl_gen_map_close (g);
}

void
cpb_report_batches_free (struct cpb_report_batch *v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].namespace);
      free (v[i].batch);
    }
  free (v);
}

void
cpb_report_gen_batches (yajl_gen g, const struct cpb_report_batch *v, size_t n)
{
  yajl_gen_map_open (g);
  cpb_json_gen_key (g, "batches");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    {
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "namespace", v[i].namespace);
      cpb_json_gen_key_string (g, "batch", v[i].batch);
      cpb_report_gen_counts (g, v[i].counts);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
  yajl_gen_map_close (g);
}

/* Tasks finished per minute of the live run, or < 0 when there is nothing to go by yet. */
static double
run_rate (const struct cpb_report_batch *b, time_t now)
{
  double minutes = (double)(now - b->run_started) / 60.0;

  if (b->run_pid == 0 || b->run_started == 0 || b->run_finished == 0 || minutes <= 0)
    return -1;
  return (double)b->run_finished / minutes;
}

void
cpb_report_gen_progress (yajl_gen g, const struct cpb_report_batch *b, time_t now)
{
  size_t left = b->counts[CPB_TASK_QUEUED] + b->counts[CPB_TASK_RUNNING];
  double rate = run_rate (b, now);

  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "namespace", b->namespace);
  cpb_json_gen_key_string (g, "batch", b->batch);
  cpb_report_gen_counts (g, b->counts);
  cpb_json_gen_key_int (g, "total", (int64_t)b->total);
  cpb_json_gen_key_int (g, "finished",
                        (int64_t)(b->counts[CPB_TASK_DONE] + b->counts[CPB_TASK_FAILED]));
  cpb_json_gen_key_int (g, "first_started", b->first_started);
  cpb_json_gen_key_int (g, "last_ended", b->last_ended);
  cpb_json_gen_key (g, "run");
  if (b->run_pid)
    {
      yajl_gen_map_open (g);
      cpb_json_gen_key_int (g, "pid", b->run_pid);
      cpb_json_gen_key_int (g, "started", b->run_started);
      cpb_json_gen_key_int (g, "finished", (int64_t)b->run_finished);
      yajl_gen_map_close (g);
    }
  else
    yajl_gen_null (g);
  cpb_json_gen_key (g, "rate");
  if (rate > 0)
    yajl_gen_double (g, rate);
  else
    yajl_gen_null (g);
  cpb_json_gen_key (g, "eta_seconds");
  if (rate > 0)
    yajl_gen_integer (g, (long long)((double)left / rate * 60.0 + 0.5));
  else
    yajl_gen_null (g);
  yajl_gen_map_close (g);
}

static void
gen_point (yajl_gen g, int64_t t, size_t n)
{
  yajl_gen_array_open (g);
  yajl_gen_integer (g, t);
  yajl_gen_integer (g, (long long)n);
  yajl_gen_array_close (g);
}

void
cpb_report_gen_finished (yajl_gen g, const int64_t *ended, size_t n, size_t max_points)
{
  size_t step = max_points > 1 && n > max_points ? (n + max_points - 2) / (max_points - 1) : 1;

  yajl_gen_map_open (g);
  cpb_json_gen_key (g, "points");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    {
      /* Several tasks ending in the same second make one point: the last of them. */
      bool last_of_second = i + 1 == n || ended[i + 1] != ended[i];

      if (last_of_second && ((i + 1) % step == 0 || i + 1 == n))
        gen_point (g, ended[i], i + 1);
    }
  yajl_gen_array_close (g);
  yajl_gen_map_close (g);
}

char *
cpb_report_finish (yajl_gen g, size_t *ret_len)
{
  size_t len = 0;
  char *doc = cpb_json_gen_finish (g, &len, NULL);

  if (doc == NULL)
    return NULL;
  doc = cpb_xrealloc (doc, len + 2);
  doc[len++] = '\n';
  doc[len] = '\0';
  if (ret_len)
    *ret_len = len;
  return doc;
}
