/* report-db.c: a read-only view of the state database for cpb serve (see report.h).
 *
 * The queries read the tables of state.c's schema 1 and only the columns they need, so a
 * later migration that adds tables or columns leaves them working. */
#include "config.h"
#include "report.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cpb_report_db
{
  sqlite3 *db;
  int64_t data_version;
  bool seen_version;
};

static int
db_error (cpb_report_db *db, cpb_error **err, const char *what)
{
  return cpb_error_set (err, CPB_ERR_SYSTEM, "state database: %s: %s", what,
                        sqlite3_errmsg (db->db));
}

static int
prepare (cpb_report_db *db, const char *sql, sqlite3_stmt **ret, cpb_error **err)
{
  if (sqlite3_prepare_v2 (db->db, sql, -1, ret, NULL) != SQLITE_OK)
    return db_error (db, err, "preparing a statement");
  return 0;
}

static void
bind_text (sqlite3_stmt *s, int i, const char *v)
{
  if (v)
    sqlite3_bind_text (s, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (s, i);
}

static char *
column_strdup (sqlite3_stmt *s, int i)
{
  const unsigned char *v = sqlite3_column_text (s, i);

  return v ? cpb_xstrdup ((const char *)v) : NULL;
}

int
cpb_report_db_open (const char *path, cpb_report_db **ret, cpb_error **err)
{
  _cleanup_ (cpb_report_db_closep) cpb_report_db *db = cpb_xzalloc (sizeof *db);
  struct stat st;

  if (stat (path, &st) < 0)
    return cpb_error_errno (err, errno, "cannot open state database '%s'", path);
  /* SQLite opens its files O_CLOEXEC itself. */
  if (sqlite3_open_v2 (path, &db->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot open state database '%s': %s", path,
                          db->db ? sqlite3_errmsg (db->db) : "out of memory");
  /* A reader of a WAL database waits only for the rare moments a writer resets the WAL
     index; the run's writes never wait for us. */
  sqlite3_busy_timeout (db->db, 2000);
  if (sqlite3_exec (db->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK)
    return db_error (db, err, "query_only");
  *ret = TAKE_PTR (db);
  return 0;
}

void
cpb_report_db_close (cpb_report_db *db)
{
  if (db == NULL)
    return;
  sqlite3_close_v2 (db->db);
  free (db);
}

bool
cpb_report_db_changed (cpb_report_db *db)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  int64_t v;

  if (sqlite3_prepare_v2 (db->db, "PRAGMA data_version", -1, &s, NULL) != SQLITE_OK ||
      sqlite3_step (s) != SQLITE_ROW)
    return true; /* when in doubt, the caller re-reads */
  v = sqlite3_column_int64 (s, 0);
  if (db->seen_version && v == db->data_version)
    return false;
  db->data_version = v;
  db->seen_version = true;
  return true;
}

int
cpb_report_db_begin (cpb_report_db *db, cpb_error **err)
{
  if (sqlite3_exec (db->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return db_error (db, err, "starting a read");
  return 0;
}

void
cpb_report_db_end (cpb_report_db *db)
{
  sqlite3_exec (db->db, "COMMIT", NULL, NULL, NULL);
}

/* True if PID is a live cpb (not a process that reused a dead cpb's pid): the same test as
   cpb_state_run_live, without its write (marking dead runs killed). */
static bool
pid_is_cpb (int64_t pid)
{
  _cleanup_free_ char *path = cpb_xasprintf ("/proc/%lld/comm", (long long)pid);
  _cleanup_fclose_ FILE *f = fopen (path, "re");
  char comm[64] = "";

  if (pid <= 0 || f == NULL || fgets (comm, sizeof comm, f) == NULL)
    return false;
  comm[strcspn (comm, "\n")] = '\0';
  return strcmp (comm, "cpb") == 0 || strncmp (comm, "lt-cpb", 6) == 0;
}

static struct cpb_report_batch *
batch_find (struct cpb_report_batch *v, size_t n, const char *ns, const char *batch)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].namespace, ns) == 0 && strcmp (v[i].batch, batch) == 0)
      return &v[i];
  return NULL;
}

/* The batches with their task figures: one pass over tasks grouped by batch and state. */
static int
read_batches (cpb_report_db *db, const char *ns, struct cpb_report_batch **ret, size_t *ret_n,
              cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  struct cpb_report_batch *v = NULL, *b = NULL;
  size_t n = 0;
  int rc;

  if (prepare (db,
               "SELECT namespace, batch, state, count(*), min(nullif(started_at, 0)), "
               "max(nullif(ended_at, 0)) FROM tasks WHERE ?1 IS NULL OR namespace = ?1 "
               "GROUP BY namespace, batch, state ORDER BY namespace || '/' || batch",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, ns);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      const char *bns = (const char *)sqlite3_column_text (s, 0);
      const char *name = (const char *)sqlite3_column_text (s, 1);
      int state = cpb_task_state_from_name ((const char *)sqlite3_column_text (s, 2));
      size_t count = (size_t)sqlite3_column_int64 (s, 3);
      int64_t first = sqlite3_column_int64 (s, 4), last = sqlite3_column_int64 (s, 5);

      if (b == NULL || strcmp (b->namespace, bns) != 0 || strcmp (b->batch, name) != 0)
        {
          v = cpb_xrealloc (v, (n + 1) * sizeof *v);
          b = memset (&v[n++], 0, sizeof *v);
          b->namespace = cpb_xstrdup (bns);
          b->batch = cpb_xstrdup (name);
        }
      if (state >= 0)
        b->counts[state] = count;
      b->total += count;
      if (first && (b->first_started == 0 || first < b->first_started))
        b->first_started = first;
      if (last > b->last_ended)
        b->last_ended = last;
    }
  if (rc != SQLITE_DONE)
    {
      cpb_report_batches_free (v, n);
      return db_error (db, err, "listing batches");
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

/* The live run of each batch: a 'running' row whose process is still a cpb. */
static int
read_runs (cpb_report_db *db, struct cpb_report_batch *v, size_t n, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL, *fin = NULL;
  int rc;

  if (prepare (db,
               "SELECT namespace, batch, pid, started_at FROM runs WHERE status = 'running' "
               "ORDER BY started_at",
               &s, err) < 0 ||
      prepare (db,
               "SELECT count(*) FROM tasks WHERE namespace = ? AND batch = ? AND "
               "state IN ('DONE', 'FAILED') AND ended_at >= ?",
               &fin, err) < 0)
    return -1;
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      const char *ns = (const char *)sqlite3_column_text (s, 0);
      const char *batch = (const char *)sqlite3_column_text (s, 1);
      struct cpb_report_batch *b = batch_find (v, n, ns ? ns : "", batch ? batch : "");
      int64_t pid = sqlite3_column_int64 (s, 2);

      if (b == NULL || !pid_is_cpb (pid))
        continue;
      b->run_pid = pid;
      b->run_started = sqlite3_column_int64 (s, 3);
      sqlite3_reset (fin);
      bind_text (fin, 1, ns);
      bind_text (fin, 2, batch);
      sqlite3_bind_int64 (fin, 3, b->run_started);
      if (sqlite3_step (fin) == SQLITE_ROW)
        b->run_finished = (size_t)sqlite3_column_int64 (fin, 0);
    }
  if (rc != SQLITE_DONE)
    return db_error (db, err, "reading runs");
  return 0;
}

int
cpb_report_db_batches (cpb_report_db *db, const char *ns, struct cpb_report_batch **ret,
                       size_t *ret_n, cpb_error **err)
{
  struct cpb_report_batch *v = NULL;
  size_t n = 0;

  if (read_batches (db, ns, &v, &n, err) < 0)
    return -1;
  if (read_runs (db, v, n, err) < 0)
    {
      cpb_report_batches_free (v, n);
      return -1;
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

#define TASK_COLUMNS                                                                               \
  "id, namespace, batch, name, grp, idx, params, key, state, priority, attempts, exit_code, "      \
  "node, container_id, run_id, queued_at, started_at, ended_at, archive_path, helper_json, "       \
  "message"

static void
read_task_row (sqlite3_stmt *s, struct cpb_state_task *t)
{
  int st = cpb_task_state_from_name ((const char *)sqlite3_column_text (s, 8));

  t->id = sqlite3_column_int64 (s, 0);
  t->namespace = column_strdup (s, 1);
  t->batch = column_strdup (s, 2);
  t->name = column_strdup (s, 3);
  t->group = column_strdup (s, 4);
  t->index = sqlite3_column_int (s, 5);
  t->params_json = column_strdup (s, 6);
  t->key = column_strdup (s, 7);
  t->state = st < 0 ? CPB_TASK_FAILED : (enum cpb_task_state)st;
  t->priority = sqlite3_column_int (s, 9);
  t->attempts = sqlite3_column_int (s, 10);
  t->exit_code = sqlite3_column_int (s, 11);
  t->node = column_strdup (s, 12);
  t->container_id = column_strdup (s, 13);
  t->run_id = column_strdup (s, 14);
  t->queued_at = sqlite3_column_int64 (s, 15);
  t->started_at = sqlite3_column_int64 (s, 16);
  t->ended_at = sqlite3_column_int64 (s, 17);
  t->archive_path = column_strdup (s, 18);
  t->helper_json = column_strdup (s, 19);
  t->message = column_strdup (s, 20);
}

int
cpb_report_db_tasks (cpb_report_db *db, const char *ns, const char *batch, unsigned state_mask,
                     struct cpb_state_task **ret, size_t *ret_n, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  struct cpb_state_task *v = NULL;
  size_t n = 0, cap = 0;
  int rc;

  if (prepare (db,
               "SELECT " TASK_COLUMNS " FROM tasks WHERE namespace = ? AND batch = ? "
               "ORDER BY grp, idx, name",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, ns);
  bind_text (s, 2, batch);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      int st = cpb_task_state_from_name ((const char *)sqlite3_column_text (s, 8));

      if (state_mask && (st < 0 || !(state_mask & (1u << st))))
        continue;
      if (n == cap)
        v = cpb_xrealloc (v, (cap = cap ? cap * 2 : 64) * sizeof *v);
      memset (&v[n], 0, sizeof v[n]);
      read_task_row (s, &v[n++]);
    }
  if (rc != SQLITE_DONE)
    {
      cpb_state_task_free_array (v, n);
      return db_error (db, err, "listing tasks");
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

int
cpb_report_db_task (cpb_report_db *db, const char *ns, const char *batch, const char *name,
                    struct cpb_state_task *ret, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  int rc;

  if (prepare (db,
               "SELECT " TASK_COLUMNS " FROM tasks WHERE namespace = ? AND batch = ? AND name = ?",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, ns);
  bind_text (s, 2, batch);
  bind_text (s, 3, name);
  rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no task '%s' in batch '%s/%s'", name, ns, batch);
  if (rc != SQLITE_ROW)
    return db_error (db, err, "reading a task");
  read_task_row (s, ret);
  return 0;
}

int
cpb_report_db_finished (cpb_report_db *db, const char *ns, const char *batch, int64_t **ret,
                        size_t *ret_n, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  int64_t *v = NULL;
  size_t n = 0, cap = 0;
  int rc;

  if (prepare (db,
               "SELECT ended_at FROM tasks WHERE namespace = ? AND batch = ? AND "
               "state IN ('DONE', 'FAILED') AND ended_at > 0 ORDER BY ended_at",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, ns);
  bind_text (s, 2, batch);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (n == cap)
        v = cpb_xrealloc (v, (cap = cap ? cap * 2 : 256) * sizeof *v);
      v[n++] = sqlite3_column_int64 (s, 0);
    }
  if (rc != SQLITE_DONE)
    {
      free (v);
      return db_error (db, err, "reading end times");
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

int
cpb_report_db_running_on (cpb_report_db *db, const char *node, size_t *ret, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;

  if (prepare (db, "SELECT count(*) FROM tasks WHERE state = 'RUNNING' AND node = ?", &s, err) < 0)
    return -1;
  bind_text (s, 1, node);
  if (sqlite3_step (s) != SQLITE_ROW)
    return db_error (db, err, "counting running tasks");
  *ret = (size_t)sqlite3_column_int64 (s, 0);
  return 0;
}
