/* Unit tests for the state database: schema, planning for resume, conditional transitions,
   and changes made by a second connection (another cpb process) being noticed. */
#include "config.h"
#include "tap.h"
#include "state.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cpb_state_task
mk (const char *name, int index, const char *key)
{
  struct cpb_state_task t = { 0 };

  t.namespace = (char *)"ns";
  t.batch = (char *)"sweep";
  t.name = (char *)name;
  t.group = (char *)"main";
  t.index = index;
  t.key = (char *)key;
  t.params_json = (char *)"{\"x\": 1}";
  return t;
}

static enum cpb_plan_action
plan (cpb_state *st, const char *name, const char *key, bool force, int64_t *ret_id)
{
  struct cpb_state_task t = mk (name, 0, key);
  enum cpb_plan_action a = -1;
  _cleanup_error_ cpb_error *err = NULL;

  if (cpb_state_task_plan (st, &t, force, &a, &err) < 0)
    diag ("plan: %s", err->msg);
  if (ret_id)
    *ret_id = t.id;
  return a;
}

static int
state_of (cpb_state *st, const char *name)
{
  struct cpb_state_task t = { 0 };
  int s;

  if (cpb_state_task_get (st, "ns", "sweep", name, &t, NULL) < 0)
    return -1;
  s = t.state;
  cpb_state_task_clear (&t);
  return s;
}

static void
test_resume (cpb_state *st)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *run = NULL;
  int64_t a, b;

  ok (cpb_state_run_begin (st, "ns", "sweep", "jobs.yaml", &run, &err) == 0 && strlen (run) == 12,
      "a run gets a 12-hex id");
  is_int (plan (st, "t-0", "k0", false, &a), CPB_PLAN_RUN, "a new task is run");
  is_int (plan (st, "t-1", "k1", false, &b), CPB_PLAN_RUN, "a second new task is run");
  is_int (cpb_state_task_start (st, a, run, 1, "local", "c0", &err), 1, "QUEUED -> RUNNING");
  is_int (cpb_state_task_start (st, a, run, 2, "local", "c0", &err), 0,
          "a task not QUEUED is not started twice");
  is_int (cpb_state_task_finish (st, a, CPB_TASK_DONE, 0, "/a/t-0.tar.zst", "{}", NULL, &err), 1,
          "RUNNING -> DONE");
  is_int (plan (st, "t-0", "k0", false, NULL), CPB_PLAN_SKIP, "DONE with the same key is skipped");
  is_int (plan (st, "t-0", "k0", true, NULL), CPB_PLAN_RUN, "--force runs it again");
  is_int (state_of (st, "t-0"), CPB_TASK_QUEUED, "and it is QUEUED again");
  cpb_state_task_start (st, a, run, 1, "local", "c1", &err);
  cpb_state_task_finish (st, a, CPB_TASK_DONE, 0, NULL, NULL, NULL, &err);
  is_int (plan (st, "t-0", "k0-changed", false, NULL), CPB_PLAN_RUN, "a changed key reruns");
  is_int (plan (st, "t-1", "k1", false, NULL), CPB_PLAN_RUN, "a never-finished task reruns");
}

static void
test_external (cpb_state *st, const char *path)
{
  _cleanup_state_ cpb_state *other = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  size_t changed = 0, counts[CPB_TASK_N];
  int64_t id;

  plan (st, "t-2", "k2", false, &id);
  ok (cpb_state_open (path, &other, &err) == 0, "a second process opens the same database");
  cpb_state_changed (st);
  ok (!cpb_state_changed (st), "no change seen without writes by others");
  cpb_state_tasks_move (other, "ns", "sweep", "t-2", 1u << CPB_TASK_QUEUED, CPB_TASK_HELD, NULL,
                        &changed, &err);
  is_int (changed, 1, "cpb hold moves one queued task");
  ok (cpb_state_changed (st), "the running scheduler notices a write by another connection");
  is_int (cpb_state_task_start (st, id, "r", 1, "local", "c", &err), 0,
          "a HELD task is not started");
  is_int (plan (st, "t-2", "k2", false, NULL), CPB_PLAN_HELD, "a rerun keeps it HELD");
  cpb_state_tasks_move (other, "ns", "sweep", NULL, 1u << CPB_TASK_HELD, CPB_TASK_QUEUED, NULL,
                        &changed, &err);
  is_int (changed, 1, "cpb release moves it back");
  is_int (cpb_state_task_start (st, id, "r", 1, "local", "c", &err), 1, "and it starts");
  cpb_state_tasks_move (other, "ns", "sweep", NULL, 1u << CPB_TASK_RUNNING, CPB_TASK_CANCELLED,
                        "cancelled by user", &changed, &err);
  is_int (cpb_state_task_finish (st, id, CPB_TASK_DONE, 0, NULL, NULL, NULL, &err), 0,
          "a cancel by another process is not overwritten by the run's finish");
  is_int (state_of (st, "t-2"), CPB_TASK_CANCELLED, "the task stays CANCELLED");
  cpb_state_task_finish (st, id, CPB_TASK_DONE, 143, "/a/t-2.tar.zst", NULL, NULL, &err);
  {
    struct cpb_state_task t = { 0 };

    cpb_state_task_get (st, "ns", "sweep", "t-2", &t, &err);
    ok (t.exit_code == 143 && t.archive_path && strcmp (t.archive_path, "/a/t-2.tar.zst") == 0,
        "but its exit and archive (its logs) are kept");
    cpb_state_task_clear (&t);
  }
  ok (cpb_state_counts (st, "ns", "sweep", counts, &err) == 0, "counts per state");
  is_int (counts[CPB_TASK_CANCELLED], 1, "one cancelled");
  is_int (counts[CPB_TASK_QUEUED], 2, "two queued");
}

/* The per-task statements are prepared once and reused: a lookup that found nothing, one
   that found a row, and a write by another connection in between must not leave any of
   them bound, stepped or reading an old snapshot. */
static void
test_cached_statements (cpb_state *st, const char *path)
{
  _cleanup_state_ cpb_state *other = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  size_t changed = 0;

  ok (state_of (st, "no-such-task") == -1, "a lookup of a missing task fails");
  is_int (plan (st, "c-1", "k1", false, NULL), CPB_PLAN_RUN, "a new task is inserted after it");
  is_int (state_of (st, "c-1"), CPB_TASK_QUEUED, "and found by the same lookup again");
  ok (cpb_state_open (path, &other, &err) == 0, "a second connection");
  cpb_state_tasks_move (other, "ns", "sweep", "c-1", 1u << CPB_TASK_QUEUED, CPB_TASK_HELD, NULL,
                        &changed, &err);
  is_int (state_of (st, "c-1"), CPB_TASK_HELD, "the reused lookup sees the other's write");
  is_int (plan (st, "c-1", "k2", false, NULL), CPB_PLAN_HELD, "a new key requeues, held");
  is_int (state_of (other, "c-1"), CPB_TASK_HELD, "and the other connection reads it");
}

/* One integer from SQL on a connection of our own (what another process would see). */
static long long
sql_int (sqlite3 *db, const char *sql)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;

  if (sqlite3_prepare_v2 (db, sql, -1, &s, NULL) != SQLITE_OK || sqlite3_step (s) != SQLITE_ROW)
    {
      diag ("%s: %s", sql, sqlite3_errmsg (db));
      return -1;
    }
  return sqlite3_column_int64 (s, 0);
}

static sqlite3 *
raw_open (const char *path)
{
  sqlite3 *db = NULL;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
    diag ("cannot open %s", path);
  sqlite3_busy_timeout (db, 10000);
  return db;
}

static void
raw_exec (sqlite3 *db, const char *sql)
{
  if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    diag ("%s: %s", sql, sqlite3_errmsg (db));
}

static void
test_runs_and_containers (cpb_state *st, const char *path)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *run = NULL, *ns = NULL, *batch = NULL;
  sqlite3 *db = raw_open (path);
  int64_t id, pid = -1;

  ok (cpb_state_run_begin (st, "ns", "other", NULL, &run, &err) == 0, "a run of another batch");
  ok (cpb_state_run_live (st, "ns", "other", &pid, &err) == 0 && pid == 0,
      "this process's own run is not another live cpb");
  {
    struct cpb_state_task t = mk ("o-1", 0, "k");
    enum cpb_plan_action a;

    t.batch = (char *)"other";
    cpb_state_task_plan (st, &t, false, &a, &err);
    id = t.id;
  }
  cpb_state_task_start (st, id, run, 1, "local", NULL, &err);
  ok (cpb_state_task_set_container (st, id, "abc123", &err) == 0,
      "the container is recorded after");
  is_int (sql_int (db, "SELECT count(*) FROM tasks t JOIN attempts a ON a.task_id = t.id "
                       "WHERE t.name = 'o-1' AND t.container_id = 'abc123' AND "
                       "a.container_id = 'abc123' AND t.state = 'RUNNING'"),
          1, "in the task and its attempt: what a killed run would leave");
  ok (cpb_state_parse_batch ("lab/sweep", "me", &ns, &batch, &err) == 0, "NS/BATCH parses");
  is_str (ns, "lab", "namespace from the argument");
  free (ns);
  free (batch);
  ok (cpb_state_parse_batch ("sweep", "me", &ns, &batch, &err) == 0 && strcmp (ns, "me") == 0,
      "BATCH alone takes the default namespace");
  ok (cpb_state_parse_batch ("../x", "me", &(char *){ NULL }, &(char *){ NULL }, &err) < 0,
      "a name that would climb out of the store is refused");
  sqlite3_close (db);
}

static void
test_listing (cpb_state *st, const char *path)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_strv_free_ char **batches = NULL;
  struct cpb_state_task *v = NULL;
  size_t n = 0;
  sqlite3 *db = raw_open (path);

  ok (cpb_state_tasks_list (st, "ns", "sweep", &v, &n, &err) == 0, "tasks are listed");
  is_int (n, 3, "all three");
  is_str (n ? v[0].name : NULL, "t-0", "in name order within a group");
  cpb_state_task_free_array (v, n);
  is_int (sql_int (db, "SELECT count(*) FROM attempts a JOIN tasks t ON a.task_id = t.id "
                       "WHERE t.name = 't-0' AND a.ended_at IS NOT NULL"),
          2, "each start recorded an attempt, each finish ended it");
  ok (cpb_state_batches (st, NULL, &batches, &err) == 0 && batches[0] && !batches[1], "one batch");
  is_str (batches[0], "ns/sweep", "named namespace/batch");
  ok (cpb_state_task_get (st, "ns", "sweep", "nope", &(struct cpb_state_task){ 0 }, &err) < 0 &&
          err->kind == CPB_ERR_NOT_FOUND,
      "a missing task is NOT_FOUND");
  sqlite3_close (db);
}

/* Nested begin/commit/rollback: the outer level is one transaction, inner levels undo only
   their own writes, and nothing is seen by another connection before the outer commit. */
static void
test_nesting (cpb_state *st, const char *path)
{
  _cleanup_error_ cpb_error *err = NULL;
  sqlite3 *db = raw_open (path);

  ok (cpb_state_commit (st, &err) < 0 && cpb_state_rollback (st, NULL) < 0,
      "commit or rollback without a begin is an error: %s", err ? err->msg : "");
  ok (cpb_state_begin (st, NULL) == 0, "a transaction");
  plan (st, "n-1", "k", false, NULL);
  ok (cpb_state_begin (st, NULL) == 0, "a savepoint inside it");
  plan (st, "n-2", "k", false, NULL);
  ok (cpb_state_rollback (st, NULL) == 0, "rolled back");
  ok (state_of (st, "n-2") == -1 && state_of (st, "n-1") == CPB_TASK_QUEUED,
      "undoes only what was written since its begin");
  ok (cpb_state_begin (st, NULL) == 0 && cpb_state_begin (st, NULL) == 0, "two levels deeper");
  plan (st, "n-3", "k", false, NULL);
  ok (cpb_state_commit (st, NULL) == 0 && cpb_state_commit (st, NULL) == 0, "committed");
  is_int (sql_int (db, "SELECT count(*) FROM tasks WHERE name LIKE 'n-%'"), 0,
          "another connection sees nothing before the outer commit");
  ok (cpb_state_commit (st, NULL) == 0, "the outer commit");
  is_int (sql_int (db, "SELECT count(*) FROM tasks WHERE name IN ('n-1', 'n-3')"), 2,
          "then sees both");
  ok (cpb_state_begin (st, NULL) == 0, "a transaction");
  plan (st, "n-4", "k", false, NULL);
  ok (cpb_state_rollback (st, NULL) == 0 && state_of (st, "n-4") == -1, "rolled back whole");
  sqlite3_close (db);
}

/* Each two-statement transition lands whole or not at all.  A trigger made by another
   connection fails the second statement (as a full disk or a crash would), and what the
   first wrote must not stay. */
static void
test_atomic (cpb_state *st, const char *path)
{
  _cleanup_error_ cpb_error *err = NULL;
  sqlite3 *db = raw_open (path);
  int64_t id, other;

  plan (st, "a-1", "k", false, &id);
  raw_exec (db, "CREATE TRIGGER fail BEFORE INSERT ON attempts "
                "BEGIN SELECT RAISE (ABORT, 'injected'); END");
  ok (cpb_state_task_start (st, id, "r", 1, "local", "c1", &err) < 0 &&
          strstr (err->msg, "injected"),
      "a start whose attempt cannot be written fails: %s", err ? err->msg : "");
  is_int (state_of (st, "a-1"), CPB_TASK_QUEUED, "and leaves the task QUEUED, not RUNNING");
  raw_exec (db, "DROP TRIGGER fail");
  is_int (cpb_state_task_start (st, id, "r", 1, "local", "c1", &err), 1, "then it starts");

  raw_exec (db, "CREATE TRIGGER fail BEFORE UPDATE OF container_id ON attempts "
                "BEGIN SELECT RAISE (ABORT, 'injected'); END");
  ok (cpb_state_task_set_container (st, id, "c2", NULL) < 0, "a container not recorded in the "
                                                             "attempt fails");
  is_int (sql_int (db, "SELECT count(*) FROM tasks WHERE name = 'a-1' AND container_id = 'c1'"), 1,
          "and is not recorded in the task either");
  raw_exec (db, "DROP TRIGGER fail");

  raw_exec (db, "CREATE TRIGGER fail BEFORE UPDATE OF state ON tasks WHEN NEW.state = 'DONE' "
                "BEGIN SELECT RAISE (ABORT, 'injected'); END");
  ok (cpb_state_task_finish (st, id, CPB_TASK_DONE, 0, NULL, NULL, NULL, NULL) < 0,
      "a finish that cannot write the task fails");
  is_int (sql_int (db, "SELECT count(*) FROM attempts a JOIN tasks t ON a.task_id = t.id "
                       "WHERE t.name = 'a-1' AND a.ended_at IS NULL AND t.state = 'RUNNING'"),
          1, "and leaves the attempt open on the RUNNING task");

  ok (cpb_state_begin (st, NULL) == 0, "inside a caller's transaction");
  plan (st, "a-2", "k", false, &other);
  ok (cpb_state_task_finish (st, id, CPB_TASK_DONE, 0, NULL, NULL, NULL, NULL) < 0,
      "the same failure");
  ok (cpb_state_commit (st, NULL) == 0, "does not spoil the rest of it");
  ok (state_of (st, "a-2") == CPB_TASK_QUEUED && state_of (st, "a-1") == CPB_TASK_RUNNING,
      "which lands without the failed transition");
  raw_exec (db, "DROP TRIGGER fail");
  is_int (cpb_state_task_finish (st, id, CPB_TASK_DONE, 0, NULL, NULL, NULL, &err), 1,
          "then it finishes");
  sqlite3_close (db);
}

int
main (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  char dir[] = "/tmp/test-state.XXXXXX";
  _cleanup_free_ char *path = NULL;
  cpb_state *st = NULL;

  if (mkdtemp (dir) == NULL)
    return 1;
  path = cpb_xasprintf ("%s/sub/state.db", dir);
  ok (cpb_state_open (path, &st, &err) == 0, "a new database is created with its directory");
  is_int (cpb_state_schema_version (st), 1, "at schema version 1");
  test_resume (st);
  test_external (st, path);
  test_listing (st, path);
  test_runs_and_containers (st, path);
  test_nesting (st, path);
  test_atomic (st, path);
  cpb_state_close (st);
  ok (cpb_state_open (path, &st, &err) == 0, "reopening migrates nothing and works");
  is_int (cpb_state_schema_version (st), 1, "still version 1");
  is_int (state_of (st, "t-0"), CPB_TASK_QUEUED, "state survives a reopen");
  test_cached_statements (st, path);
  cpb_state_close (st);
  is_int (cpb_task_state_from_name ("held"), CPB_TASK_HELD, "state names parse case-insensitively");
  {
    _cleanup_free_ char *cmd = cpb_xasprintf ("rm -rf '%s'", dir);
    if (system (cmd) != 0)
      diag ("could not remove %s", dir);
  }
  return done_testing ();
}
