/* api.c: the JSON documents of cpb serve and its actions (docs/serve.md lists them).  The
   status documents are report.h's, the very ones `cpb status --json` prints. */
#include "config.h"
#include "private.h"
#include "json.h"
#include "nodes.h"
#include "paths.h"
#include "run/run.h"
#include "state.h"
#include "task-logs.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The logs page shows at most this much of each stream (the archive keeps it all). */
#define MAX_LOG_REPLY (4u << 20)
/* Points of the finished-over-time plot. */
#define MAX_PLOT_POINTS 240

int
cpb_api_open_db (cpb_server *s, cpb_report_db **ret, cpb_error **err)
{
  return cpb_report_db_open (s->state_path, ret, err);
}

static void
json_reply (struct reply *r, yajl_gen g)
{
  r->status = MHD_HTTP_OK;
  r->type = "application/json";
  r->body = cpb_report_finish (g, &r->len);
}

void
cpb_api_session (cpb_server *s, struct reply *r)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_free_ char *ns = cpb_default_namespace ();

  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "csrf", s->guard.csrf);
  cpb_json_gen_key_string (g, "namespace", ns);
  cpb_json_gen_key_string (g, "version", PACKAGE_VERSION);
  cpb_json_gen_key_bool (g, "podman", s->podman != NULL);
  yajl_gen_map_close (g);
  json_reply (r, g);
}

static const struct cpb_report_batch *
find_batch (const struct cpb_report_batch *v, size_t n, const char *batch)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].batch, batch) == 0)
      return &v[i];
  return NULL;
}

/* `cpb status NS/BATCH --json`, read in one transaction so counts and tasks agree. */
static int
status_batch (cpb_report_db *db, const struct route *rt, yajl_gen g, cpb_error **err)
{
  struct cpb_report_batch *v = NULL;
  struct cpb_state_task *tasks = NULL;
  const struct cpb_report_batch *b;
  size_t n = 0, nt = 0;
  int rc = -1;

  if (cpb_report_db_begin (db, err) < 0)
    return -1;
  if (cpb_report_db_batches (db, rt->ns, &v, &n, err) < 0)
    goto out;
  if ((b = find_batch (v, n, rt->batch)) == NULL)
    {
      cpb_error_set (err, CPB_ERR_NOT_FOUND, "no batch '%s/%s' in the state database", rt->ns,
                     rt->batch);
      goto out;
    }
  if (cpb_report_db_tasks (db, rt->ns, rt->batch, 0, &tasks, &nt, err) < 0)
    goto out;
  cpb_report_gen_batch (g, rt->ns, rt->batch, b->counts, tasks, nt);
  rc = 0;
out:
  cpb_report_db_end (db);
  cpb_state_task_free_array (tasks, nt);
  cpb_report_batches_free (v, n);
  return rc;
}

void
cpb_api_status (cpb_server *s, const struct route *rt, struct reply *r)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_report_db_ cpb_report_db *db = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_report_batch *v = NULL;
  size_t n = 0;

  if (cpb_api_open_db (s, &db, &err) < 0)
    {
      cpb_serve_error_from (r, err);
      return;
    }
  if (rt->batch ? status_batch (db, rt, g, &err) < 0
                : cpb_report_db_batches (db, NULL, &v, &n, &err) < 0)
    {
      cpb_serve_error_from (r, err);
      return;
    }
  if (rt->batch == NULL)
    cpb_report_gen_batches (g, v, n);
  cpb_report_batches_free (v, n);
  json_reply (r, g);
}

/* The nodes tasks run on: the local node today; the registry of nodes.yaml will add more,
   and the page already draws one row per node. */
static void
gen_nodes (cpb_report_db *db, yajl_gen g)
{
  _cleanup_node_ struct cpb_node *node = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  uint64_t avail = 0;
  double load1 = 0;
  size_t running = 0;
  bool loaded;

  cpb_json_gen_key (g, "nodes");
  yajl_gen_array_open (g);
  if (cpb_node_local (NULL, &node, &err) == 0)
    {
      loaded = cpb_node_load (node, &load1, &avail, NULL) == 0;
      cpb_report_db_running_on (db, node->name, &running, NULL);
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "name", node->name);
      cpb_json_gen_key_bool (g, "local", node->local);
      cpb_json_gen_key_int (g, "cpus", node->cpus);
      cpb_json_gen_key_int (g, "memory", (int64_t)node->memory);
      cpb_json_gen_key (g, "load1");
      loaded ? yajl_gen_double (g, load1) : yajl_gen_null (g);
      cpb_json_gen_key (g, "mem_available");
      loaded ? yajl_gen_integer (g, (long long)avail) : yajl_gen_null (g);
      cpb_json_gen_key (g, "capabilities");
      cpb_json_gen_strv (g, (const char *const *)node->capabilities);
      cpb_json_gen_key_int (g, "running", (int64_t)running);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
}

int
cpb_api_overview_doc (cpb_server *s, cpb_report_db *db, char **ret, size_t *ret_len,
                      cpb_error **err)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  struct cpb_report_batch *v = NULL;
  time_t now = time (NULL);
  size_t n = 0;

  if (cpb_report_db_begin (db, err) < 0)
    return -1;
  if (cpb_report_db_batches (db, NULL, &v, &n, err) < 0)
    {
      cpb_report_db_end (db);
      return -1;
    }
  yajl_gen_map_open (g);
  cpb_json_gen_key_int (g, "now", now);
  cpb_json_gen_key (g, "batches");
  yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    cpb_report_gen_progress (g, &v[i], now);
  yajl_gen_array_close (g);
  gen_nodes (db, g);
  yajl_gen_map_close (g);
  cpb_report_db_end (db);
  cpb_report_batches_free (v, n);
  *ret = cpb_report_finish (g, ret_len);
  return 0;
}

void
cpb_api_overview (cpb_server *s, struct reply *r)
{
  _cleanup_report_db_ cpb_report_db *db = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  if (cpb_api_open_db (s, &db, &err) < 0 ||
      cpb_api_overview_doc (s, db, &r->body, &r->len, &err) < 0)
    {
      cpb_serve_error_from (r, err);
      return;
    }
  r->status = MHD_HTTP_OK;
  r->type = "application/json";
}

/* ?state=RUNNING,QUEUED as a mask of states (0: all); -1 for an unknown state. */
static int
state_mask (const char *arg, unsigned *ret)
{
  _cleanup_free_ char *copy = arg ? cpb_xstrdup (arg) : NULL;

  *ret = 0;
  for (char *save = NULL, *w = copy ? strtok_r (copy, ",", &save) : NULL; w;
       w = strtok_r (NULL, ",", &save))
    {
      int st = cpb_task_state_from_name (w);

      if (st < 0)
        return -1;
      *ret |= 1u << st;
    }
  return 0;
}

static size_t
size_arg (struct MHD_Connection *c, const char *name, size_t def)
{
  const char *v = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, name);
  char *end;
  unsigned long long n;

  if (v == NULL || *v == '\0')
    return def;
  n = strtoull (v, &end, 10);
  return *end == '\0' ? (size_t)n : def;
}

static void
gen_task_page (yajl_gen g, const struct route *rt, const struct cpb_state_task *v, size_t n,
               size_t offset, size_t limit)
{
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "namespace", rt->ns);
  cpb_json_gen_key_string (g, "batch", rt->batch);
  cpb_json_gen_key_int (g, "total", (int64_t)n);
  cpb_json_gen_key_int (g, "offset", (int64_t)offset);
  cpb_json_gen_key (g, "tasks");
  yajl_gen_array_open (g);
  for (size_t i = offset; i < n && i - offset < limit; i++)
    cpb_report_gen_task (g, &v[i]);
  yajl_gen_array_close (g);
  yajl_gen_map_close (g);
}

void
cpb_api_tasks (cpb_server *s, struct MHD_Connection *c, const struct route *rt, struct reply *r)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_report_db_ cpb_report_db *db = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_state_task *v = NULL;
  size_t n = 0;
  unsigned mask;

  if (state_mask (MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "state"), &mask) < 0)
    {
      cpb_serve_error_reply (r, MHD_HTTP_BAD_REQUEST,
                             "state: expected QUEUED, HELD, RUNNING, DONE, FAILED or CANCELLED, "
                             "separated by commas");
      return;
    }
  if (cpb_api_open_db (s, &db, &err) < 0 ||
      cpb_report_db_tasks (db, rt->ns, rt->batch, mask, &v, &n, &err) < 0)
    {
      cpb_serve_error_from (r, err);
      return;
    }
  gen_task_page (g, rt, v, n, size_arg (c, "offset", 0), size_arg (c, "limit", (size_t)-1));
  cpb_state_task_free_array (v, n);
  json_reply (r, g);
}

void
cpb_api_finished (cpb_server *s, const struct route *rt, struct reply *r)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_report_db_ cpb_report_db *db = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ int64_t *ended = NULL;
  size_t n = 0;

  if (cpb_api_open_db (s, &db, &err) < 0 ||
      cpb_report_db_finished (db, rt->ns, rt->batch, &ended, &n, &err) < 0)
    {
      cpb_serve_error_from (r, err);
      return;
    }
  cpb_report_gen_finished (g, ended, n, MAX_PLOT_POINTS);
  json_reply (r, g);
}

/* ------------------------------------------------------------------ logs, whole */

struct collected
{
  cpb_buf out, err;
  bool truncated;
};

static int
collect (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
         cpb_error **err)
{
  struct collected *l = userdata;
  cpb_buf *b = stream == CPB_LOG_STDERR ? &l->err : &l->out;

  if (b->len + len > MAX_LOG_REPLY)
    {
      l->truncated = true;
      len = MAX_LOG_REPLY - b->len;
    }
  cpb_buf_append (b, data, len);
  return 0;
}

int
cpb_api_read_logs (cpb_server *s, cpb_podman *p, const struct route *rt, struct cpb_state_task *t,
                   cpb_task_log_fn fn, void *userdata, bool follow, cpb_error **err)
{
  _cleanup_report_db_ cpb_report_db *db = NULL;
  int rc;

  if (cpb_api_open_db (s, &db, err) < 0 ||
      cpb_report_db_task (db, rt->ns, rt->batch, rt->task, t, err) < 0)
    return -1;
  rc = cpb_task_logs (p, t, follow, fn, userdata, err);
  /* Ended between the two reads: the logs are in the archive now. */
  if (rc < 0 && cpb_task_logs_where (t) == CPB_TASK_LOGS_LIVE && *err &&
      (*err)->kind == CPB_ERR_NOT_FOUND)
    {
      cpb_error_free (cpb_error_take (err));
      cpb_state_task_clear (t);
      if (cpb_report_db_task (db, rt->ns, rt->batch, rt->task, t, err) < 0)
        return -1;
      rc = cpb_task_logs (p, t, follow, fn, userdata, err);
    }
  return rc;
}

void
cpb_api_logs (cpb_server *s, const struct route *rt, struct reply *r)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_error_ cpb_error *err = NULL;
  struct collected l = { CPB_BUF_INIT, CPB_BUF_INIT, false };
  _cleanup_podman_ cpb_podman *p = NULL;
  struct cpb_state_task t = { 0 };
  int rc = s->podman ? cpb_podman_clone (s->podman, &p, &err) : 0;

  if (rc == 0)
    rc = cpb_api_read_logs (s, p, rt, &t, collect, &l, false, &err);
  if (rc == 0)
    {
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "task", rt->task);
      cpb_json_gen_key_string (g, "state", cpb_task_state_name (t.state));
      cpb_json_gen_key_string (
          g, "where", cpb_task_logs_where (&t) == CPB_TASK_LOGS_LIVE ? "container" : "archive");
      cpb_json_gen_key_string (g, "stdout", l.out.data ? l.out.data : "");
      cpb_json_gen_key_string (g, "stderr", l.err.data ? l.err.data : "");
      cpb_json_gen_key_bool (g, "truncated", l.truncated);
      yajl_gen_map_close (g);
      json_reply (r, g);
    }
  else
    cpb_serve_error_from (r, err);
  cpb_state_task_clear (&t);
  cpb_buf_free (&l.out);
  cpb_buf_free (&l.err);
}

/* ------------------------------------------------------------------ actions */

/* cpb hold/release: FROM -> TO for the batch, or for one task that must be in FROM. */
static int
move (cpb_state *st, const struct route *rt, enum cpb_task_state from, enum cpb_task_state to,
      const char *message, size_t *changed, cpb_error **err)
{
  struct cpb_state_task t = { 0 };
  int rc = 0;

  if (rt->task == NULL)
    return cpb_state_tasks_move (st, rt->ns, rt->batch, NULL, 1u << from, to, message, changed,
                                 err);
  if (cpb_state_task_get (st, rt->ns, rt->batch, rt->task, &t, err) < 0)
    return -1;
  if (t.state != from)
    rc = cpb_error_set (err, CPB_ERR_FAILED, "task '%s' is %s, not %s", rt->task,
                        cpb_task_state_name (t.state), cpb_task_state_name (from));
  else
    rc = cpb_state_tasks_move (st, rt->ns, rt->batch, rt->task, 1u << from, to, message, changed,
                               err);
  cpb_state_task_clear (&t);
  return rc;
}

/* cpb cancel: when no run is going, the batch's containers are the canceller's to remove. */
static int
cancel (cpb_server *s, cpb_state *st, const struct route *rt, size_t *changed, cpb_error **err)
{
  unsigned from = 1u << CPB_TASK_QUEUED | 1u << CPB_TASK_HELD | 1u << CPB_TASK_RUNNING;
  _cleanup_node_ struct cpb_node *node = NULL;
  struct cpb_state_task t = { 0 };
  cpb_podman *p = NULL;
  size_t removed = 0;
  int64_t pid = 0;

  if (rt->task && cpb_state_task_get (st, rt->ns, rt->batch, rt->task, &t, err) < 0)
    return -1;
  cpb_state_task_clear (&t);
  if (cpb_state_tasks_move (st, rt->ns, rt->batch, rt->task, from, CPB_TASK_CANCELLED,
                            "cancelled by user", changed, err) < 0 ||
      cpb_state_run_live (st, rt->ns, rt->batch, &pid, err) < 0)
    return -1;
  if (pid || s->podman == NULL)
    return 0;
  if (cpb_podman_clone (s->podman, &p, err) < 0 || cpb_node_local (p, &node, err) < 0)
    {
      cpb_podman_free (p);
      return -1;
    }
  return cpb_run_remove_containers (node, rt->ns, rt->batch, rt->task, &removed, err);
}

static int
batch_exists (cpb_state *st, const struct route *rt, cpb_error **err)
{
  size_t counts[CPB_TASK_N], total = 0;

  if (cpb_state_counts (st, rt->ns, rt->batch, counts, err) < 0)
    return -1;
  for (int i = 0; i < CPB_TASK_N; i++)
    total += counts[i];
  if (total == 0)
    return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no batch '%s/%s' in the state database", rt->ns,
                          rt->batch);
  return 0;
}

static int
act (cpb_server *s, const struct route *rt, size_t *changed, cpb_error **err)
{
  _cleanup_state_ cpb_state *st = NULL;

  /* Actions write, as cpb hold does: a connection of their own, closed at once. */
  if (cpb_state_open (s->state_path, &st, err) < 0 || batch_exists (st, rt, err) < 0)
    return -1;
  if (strcmp (rt->action, "hold") == 0)
    return move (st, rt, CPB_TASK_QUEUED, CPB_TASK_HELD, NULL, changed, err);
  if (strcmp (rt->action, "release") == 0)
    return move (st, rt, CPB_TASK_HELD, CPB_TASK_QUEUED, NULL, changed, err);
  return cancel (s, st, rt, changed, err);
}

void
cpb_api_action (cpb_server *s, const struct route *rt, struct reply *r)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_error_ cpb_error *err = NULL;
  size_t changed = 0;

  if (act (s, rt, &changed, &err) < 0)
    {
      cpb_serve_error_from (r, err);
      return;
    }
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "action", rt->action);
  cpb_json_gen_key_string (g, "namespace", rt->ns);
  cpb_json_gen_key_string (g, "batch", rt->batch);
  cpb_json_gen_key_string (g, "task", rt->task);
  cpb_json_gen_key_int (g, "changed", (int64_t)changed);
  yajl_gen_map_close (g);
  json_reply (r, g);
}
