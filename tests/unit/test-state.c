/* Unit tests for the state database: schema, planning for resume, conditional transitions,
   and changes made by a second connection (another cpb process) being noticed. */
#include "config.h"
#include "tap.h"
#include "state.h"
#include "xalloc.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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

  ok (cpb_state_run_claim (st, "ns", "sweep", "jobs.yaml", &run, &(int64_t){ 0 }, &err) == 1 && strlen (run) == 12,
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

  ok (cpb_state_run_claim (st, "ns", "other", NULL, &run, &(int64_t){ 0 }, &err) == 1, "a run of another batch");
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

/* ------------------------------------------------------------------ claiming a batch */

struct claim_msg
{
  int rc;
  int64_t pid, other;
};

static void
boot_id (char boot[40])
{
  FILE *f = fopen ("/proc/sys/kernel/random/boot_id", "re");

  boot[0] = '\0';
  if (f && fgets (boot, 40, f))
    boot[strcspn (boot, "\n")] = '\0';
  if (f)
    fclose (f);
}

/* In a child: open PATH (before the barrier unless OPEN_LATE), wait at the barrier GO, claim
   NS/BATCH, report to RES, and stay alive until BYE closes, as a running cpb would. */
static _Noreturn void
claimer (const char *path, const char *batch, bool open_late, int go, int res, int bye)
{
  cpb_state *st = NULL;
  struct claim_msg m = { .rc = -1, .pid = getpid () };
  char c;
  _cleanup_free_ char *run = NULL;

  if (!open_late && cpb_state_open (path, &st, NULL) < 0)
    _exit (2);
  if (write (res, "r", 1) != 1 || read (go, &c, 1) != 0)
    _exit (2);
  if (open_late && cpb_state_open (path, &st, NULL) < 0)
    m.rc = -2;
  else
    m.rc = cpb_state_run_claim (st, "ns", batch, NULL, &run, &m.other, NULL);
  if (write (res, &m, sizeof m) != (ssize_t)sizeof m)
    _exit (2);
  if (read (bye, &c, 1) != 0)
    _exit (2);
  cpb_state_close (st);
  _exit (0);
}

static bool
any_won_as (const struct claim_msg *m, int n, int64_t pid)
{
  for (int k = 0; k < n; k++)
    if (m[k].rc == 1 && m[k].pid == pid)
      return true;
  return false;
}

/* Round ROUND of the race: PROCS processes claim one batch at the same instant.  Returns
   the number of winners; *RET_BAD counts losers not naming the winner, and errors. */
static int
race_round (const char *dir, int round, int procs, int *ret_bad)
{
  int go[2], res[2], bye[2], winners = 0;
  bool fresh = round % 3 == 0; /* a new database: opening and migrating race too */
  _cleanup_free_ char *path =
      fresh ? cpb_xasprintf ("%s/race-%d.db", dir, round) : cpb_xasprintf ("%s/race.db", dir);
  _cleanup_free_ char *batch = cpb_xasprintf ("race-%d", round);
  struct claim_msg m[16];
  pid_t pids[16];
  char c;

  if (pipe2 (go, O_CLOEXEC) < 0 || pipe2 (res, O_CLOEXEC) < 0 || pipe2 (bye, O_CLOEXEC) < 0)
    return -1;
  for (int k = 0; k < procs; k++)
    if ((pids[k] = fork ()) == 0)
      {
        close (go[1]);
        close (res[0]);
        close (bye[1]);
        claimer (path, batch, fresh, go[0], res[1], bye[0]);
      }
  close (go[0]);
  close (res[1]);
  close (bye[0]);
  for (int k = 0; k < procs; k++) /* each is ready, then all go at once */
    if (read (res[0], &c, 1) != 1)
      diag ("a claimer died before the barrier");
  close (go[1]);
  for (int k = 0; k < procs; k++)
    if (read (res[0], &m[k], sizeof m[k]) != (ssize_t)sizeof m[k])
      m[k].rc = -3;
  close (bye[1]);
  close (res[0]);
  for (int k = 0; k < procs; k++)
    waitpid (pids[k], NULL, 0);
  for (int k = 0; k < procs; k++)
    if (m[k].rc == 1)
      winners++;
  for (int k = 0; k < procs; k++)
    if (m[k].rc < 0 || (m[k].rc == 0 && (winners != 1 || !any_won_as (m, procs, m[k].other))))
      {
        diag ("round %d: process %lld: %d (other %lld)", round, (long long)m[k].pid, m[k].rc,
              (long long)m[k].other);
        (*ret_bad)++;
      }
  return winners;
}

/* Many rounds of several processes released together at a barrier (a pipe closing) claim
   one batch on one database: exactly one wins every round, and the others are told its pid.
   Before cpb_state_run_claim the check and the insert were apart, and both ran. */
static void
test_claim_race (const char *dir)
{
  int rounds = 24, procs = 6, bad = 0, not_one = 0;

  for (int r = 0; r < rounds; r++)
    {
      int w = race_round (dir, r, procs, &bad);

      if (w != 1)
        {
          not_one++;
          diag ("round %d: %d winners", r, w);
        }
    }
  is_int (not_one, 0, "%d rounds of %d processes claiming one batch at once: one winner each",
          rounds, procs);
  is_int (bad, 0, "and every loser names the winner's pid");
}

/* Wait until child PID has exited but is not reaped: a zombie (/proc/PID/stat says Z). */
static bool
wait_zombie (pid_t pid)
{
  _cleanup_free_ char *path = cpb_xasprintf ("/proc/%d/stat", (int)pid);

  for (int k = 0; k < 1000; k++)
    {
      char buf[512] = "", *p;
      FILE *f = fopen (path, "re");
      size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;

      if (f)
        fclose (f);
      buf[n] = '\0';
      p = strrchr (buf, ')');
      if (p && p[1] == ' ' && p[2] == 'Z')
        return true;
      usleep (10000);
    }
  return false;
}

/* A run is live while its process is: the one that claimed it (pid, start time, boot), not
   another that got its pid later, nor a zombie, nor anything from before a reboot. */
static void
test_claim (cpb_state *st, const char *dir)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *db_path = cpb_xasprintf ("%s/sub/state.db", dir);
  _cleanup_free_ char *spec = cpb_xasprintf ("%s/jobs.yaml", dir);
  _cleanup_free_ char *spec_odd = cpb_xasprintf ("%s/sub/../jobs.yaml", dir);
  _cleanup_free_ char *run = NULL, *run2 = NULL, *sql = NULL;
  sqlite3 *db = raw_open (db_path);
  int64_t other = -1;
  char boot[40];
  pid_t reaped, zombie;
  FILE *f = fopen (spec, "we");

  if (f)
    fclose (f);
  is_int (cpb_state_run_claim (st, "ns", "c", spec_odd, &run, &other, &err), 1,
          "a batch is claimed");
  ok (run && strlen (run) == 12 && other == 0, "with a 12-hex run id");
  sql = cpb_xasprintf ("SELECT count(*) FROM runs WHERE id = '%s' AND spec_path = '%s' AND "
                       "pid = %d AND status = 'running'",
                       run, spec, (int)getpid ());
  is_int (sql_int (db, sql), 1, "recording this pid and the jobs.yaml's absolute path");
  is_int (cpb_state_run_claim (st, "ns", "c", spec, &run2, &other, &err), 0,
          "a batch held by a live run is not claimed twice");
  ok (other == getpid () && run2 == NULL, "the holder's pid is returned, no run id");
  cpb_state_run_end (st, run, "done", &err);
  is_int (cpb_state_run_claim (st, "ns", "c", NULL, &run2, &other, &err), 1,
          "once that run ended, the batch is claimed again");

  /* Runs whose processes are gone, each in its own way. */
  boot_id (boot);
  if ((reaped = fork ()) == 0)
    _exit (0);
  waitpid (reaped, NULL, 0);
  if ((zombie = fork ()) == 0)
    {
      _cleanup_state_ cpb_state *c = NULL;
      _cleanup_free_ char *r = NULL;
      int64_t o;

      if (cpb_state_open (db_path, &c, NULL) < 0 ||
          cpb_state_run_claim (c, "ns", "z", NULL, &r, &o, NULL) != 1)
        _exit (1);
      _exit (0);
    }
  ok (wait_zombie (zombie), "a run whose process has exited, not yet reaped");
  free (sql);
  sql =
      cpb_xasprintf ("INSERT INTO runs (id, namespace, batch, pid, pid_start, boot_id, "
                     "started_at) VALUES ('reused', 'ns', 'd', %d, 1, '%s', 0), "
                     "('reaped', 'ns', 'd', %d, 1, '%s', 0), "
                     "('reboot', 'ns', 'd', %d, (SELECT pid_start FROM runs WHERE id = '%s'), "
                     "'not-this-boot', 0), ('legacy', 'ns', 'd', %d, NULL, NULL, 0)",
                     (int)getpid (), boot, (int)reaped, boot, (int)getpid (), run2, (int)getpid ());
  raw_exec (db, sql);
  raw_exec (db, "UPDATE runs SET batch = 'd' WHERE batch = 'z'");
  is_int (sql_int (db, "SELECT count(*) FROM runs WHERE batch = 'd' AND status = 'running'"), 5,
          "five runs recorded as running");
  free (run);
  run = NULL;
  is_int (cpb_state_run_claim (st, "ns", "d", NULL, &run, &other, &err), 1,
          "none holds the batch: its pid reused, reaped, a zombie, another boot, an old row "
          "of a process not named cpb");
  is_int (sql_int (db, "SELECT count(*) FROM runs WHERE batch = 'd' AND status = 'killed' AND "
                       "ended_at > 0"),
          5, "all five are marked killed");
  waitpid (zombie, NULL, 0);
  sqlite3_close (db);
}

/* Opening a new database while another connection writes to it waits for that connection,
   as every other write does: several cpbs started at once on a new state.db failed with
   "database is locked" when they switched it to WAL (reproduced here by a write transaction
   held for 0.3 s on a database not yet in WAL mode). */
static void
test_open_waits (const char *dir)
{
  _cleanup_free_ char *path = cpb_xasprintf ("%s/new.db", dir);
  _cleanup_error_ cpb_error *err = NULL;
  cpb_state *st = NULL;
  int ready[2];
  pid_t child;
  char c;

  if (pipe2 (ready, O_CLOEXEC) < 0)
    return;
  if ((child = fork ()) == 0)
    {
      sqlite3 *db = NULL;

      close (ready[0]);
      if (sqlite3_open (path, &db) != SQLITE_OK ||
          sqlite3_exec (db, "BEGIN IMMEDIATE; CREATE TABLE t (x)", NULL, NULL, NULL) != SQLITE_OK ||
          write (ready[1], "r", 1) != 1)
        _exit (1);
      usleep (300000);
      sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
      sqlite3_close (db);
      _exit (0);
    }
  close (ready[1]);
  ok (read (ready[0], &c, 1) == 1, "another connection writes to a new database");
  close (ready[0]);
  ok (cpb_state_open (path, &st, &err) == 0, "opening it waits for that write: %s",
      err ? err->msg : "opened");
  waitpid (child, NULL, 0);
  cpb_state_close (st);
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
  is_int (cpb_state_schema_version (st), 2, "at schema version 2");
  test_resume (st);
  test_external (st, path);
  test_listing (st, path);
  test_runs_and_containers (st, path);
  test_nesting (st, path);
  test_atomic (st, path);
  test_claim (st, dir);
  test_open_waits (dir);
  test_claim_race (dir);
  cpb_state_close (st);
  ok (cpb_state_open (path, &st, &err) == 0, "reopening migrates nothing and works");
  is_int (cpb_state_schema_version (st), 2, "still version 2");
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
