/* state.c: the SQLite database of runs, tasks and attempts (see state.h). */
#include "config.h"
#include "state.h"
#include "xalloc.h"
#include "buf.h"
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The statements planning and the run make once per task, prepared once per connection:
   re-preparing them dominated planning a large batch (100,000 tasks: 300,000 prepares) and
   half the cost of a transition. */
enum stmt_cached
{
  STMT_TASK_GET,
  STMT_TASK_INSERT,
  STMT_TASK_REQUEUE,
  /* and those the run makes per task (a launch, a container, a collection) */
  STMT_TASK_START,
  STMT_ATTEMPT_INSERT,
  STMT_SET_CONTAINER,
  STMT_ATTEMPT_CONTAINER,
  STMT_ATTEMPT_FINISH,
  STMT_TASK_FINISH,
  STMT_KEEP_CANCELLED,
  /* and the transaction levels around them */
  STMT_BEGIN,
  STMT_COMMIT,
  STMT_ROLLBACK,
  STMT_SAVEPOINT,
  STMT_RELEASE,
  STMT_ROLLBACK_TO,
  STMT_N_
};

struct cpb_state
{
  sqlite3 *db;
  unsigned depth; /* of nested cpb_state_begin: 0 outside a transaction */
  int64_t data_version;
  sqlite3_stmt *cached[STMT_N_];
};

/* Each entry takes the schema from version i to i + 1; never edit one that has shipped,
   append a new one. */
static const char *const migrations[] = {
  "CREATE TABLE runs (\n"
  "  id TEXT PRIMARY KEY, namespace TEXT NOT NULL, batch TEXT NOT NULL,\n"
  "  spec_path TEXT, pid INTEGER, started_at INTEGER NOT NULL, ended_at INTEGER,\n"
  "  status TEXT NOT NULL DEFAULT 'running');\n"
  "CREATE TABLE tasks (\n"
  "  id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, batch TEXT NOT NULL,\n"
  "  name TEXT NOT NULL, grp TEXT NOT NULL DEFAULT '', idx INTEGER NOT NULL DEFAULT 0,\n"
  "  params TEXT, key TEXT, state TEXT NOT NULL DEFAULT 'QUEUED',\n"
  "  priority INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,\n"
  "  exit_code INTEGER NOT NULL DEFAULT -1, node TEXT, container_id TEXT, run_id TEXT,\n"
  "  queued_at INTEGER, started_at INTEGER, ended_at INTEGER, archive_path TEXT,\n"
  "  helper_json TEXT, message TEXT,\n"
  "  UNIQUE (namespace, batch, name));\n"
  "CREATE TABLE attempts (\n"
  "  id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,\n"
  "  number INTEGER NOT NULL, run_id TEXT, node TEXT, container_id TEXT,\n"
  "  started_at INTEGER, ended_at INTEGER, exit_code INTEGER, state TEXT, message TEXT);\n"
  "CREATE INDEX attempts_task ON attempts (task_id);\n",
  /* 2: a run's process is its pid, its start time and its boot (pids are reused). */
  "ALTER TABLE runs ADD COLUMN pid_start INTEGER;\n"
  "ALTER TABLE runs ADD COLUMN boot_id TEXT;\n",
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* How long a cpb waits for another's write transaction before giving up. */
#define BUSY_TIMEOUT_MS 10000

static int
db_error (cpb_state *st, cpb_error **err, const char *what)
{
  return cpb_error_set (err, CPB_ERR_SYSTEM, "state database: %s: %s", what,
                        sqlite3_errmsg (st->db));
}

static int
exec_sql (cpb_state *st, const char *sql, cpb_error **err)
{
  char *msg = NULL;

  if (sqlite3_exec (st->db, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      cpb_error_set (err, CPB_ERR_SYSTEM, "state database: %s", msg ? msg : "error");
      sqlite3_free (msg);
      return -1;
    }
  return 0;
}

static int
prepare (cpb_state *st, const char *sql, sqlite3_stmt **ret, cpb_error **err)
{
  if (sqlite3_prepare_v2 (st->db, sql, -1, ret, NULL) != SQLITE_OK)
    return db_error (st, err, "preparing a statement");
  return 0;
}

/* The cached statement WHICH of SQL, prepared on first use.  The caller must hold it in a
   _cleanup_reset_stmt_ variable: reset at scope exit, it keeps no read transaction open. */
static int
prepare_cached (cpb_state *st, enum stmt_cached which, const char *sql, sqlite3_stmt **ret,
                cpb_error **err)
{
  if (st->cached[which] == NULL && prepare (st, sql, &st->cached[which], err) < 0)
    return -1;
  *ret = st->cached[which];
  return 0;
}

static void
stmt_resetp (sqlite3_stmt **s)
{
  if (*s == NULL)
    return;
  sqlite3_reset (*s);
  sqlite3_clear_bindings (*s);
}

#define _cleanup_reset_stmt_ _cleanup_ (stmt_resetp)

/* Step a statement that returns no rows. */
static int
step_done (cpb_state *st, sqlite3_stmt *s, cpb_error **err)
{
  if (sqlite3_step (s) != SQLITE_DONE)
    return db_error (st, err, "writing");
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

static int64_t
now_seconds (void)
{
  return (int64_t)time (NULL);
}

static int
read_schema_version (cpb_state *st, int *ret, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;

  if (exec_sql (st, "CREATE TABLE IF NOT EXISTS schema (version INTEGER NOT NULL)", err) < 0)
    return -1;
  if (prepare (st, "SELECT max(version) FROM schema", &s, err) < 0)
    return -1;
  if (sqlite3_step (s) != SQLITE_ROW)
    return db_error (st, err, "reading the schema version");
  *ret = sqlite3_column_int (s, 0);
  return 0;
}

/* Apply the migrations after the database's version, all in one transaction, so that two
   cpb processes opening a new database at once cannot both migrate. */
static int
migrate (cpb_state *st, cpb_error **err)
{
  int version = 0;

  if (exec_sql (st, "BEGIN IMMEDIATE", err) < 0)
    return -1;
  if (read_schema_version (st, &version, err) < 0)
    goto fail;
  if (version > SCHEMA_VERSION)
    {
      cpb_error_set (err, CPB_ERR_SYSTEM,
                     "state database has schema version %d, newer than this cpb's %d", version,
                     SCHEMA_VERSION);
      goto fail;
    }
  for (int v = version; v < SCHEMA_VERSION; v++)
    {
      _cleanup_free_ char *record = cpb_xasprintf ("INSERT INTO schema VALUES (%d)", v + 1);

      if (exec_sql (st, migrations[v], err) < 0 || exec_sql (st, record, err) < 0)
        goto fail;
    }
  return exec_sql (st, "COMMIT", err);

fail:
  sqlite3_exec (st->db, "ROLLBACK", NULL, NULL, NULL);
  return cpb_error_prefix (err, "migrating to schema version %d", SCHEMA_VERSION);
}

/* Switching a new database to WAL needs it to itself, and SQLite answers SQLITE_BUSY at once,
   without calling the busy handler, while another connection writes to it (six cpbs opening
   a new state.db at once: in 2 of 100 such rounds some failed with "database is locked").
   So wait here, as long as the busy timeout would. */
static int
set_wal (cpb_state *st, cpb_error **err)
{
  for (int waited = 0;; waited += 10)
    {
      int rc = sqlite3_exec (st->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);

      if (rc == SQLITE_OK)
        return 0;
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= BUSY_TIMEOUT_MS)
        return db_error (st, err, "switching to WAL");
      usleep (10 * 1000);
    }
}

static int
make_parent_dir (const char *path, cpb_error **err)
{
  _cleanup_free_ char *dir = cpb_xstrdup (path);
  char *slash;

  for (slash = strchr (dir + 1, '/'); slash; slash = strchr (slash + 1, '/'))
    {
      *slash = '\0';
      if (mkdir (dir, 0700) < 0 && errno != EEXIST)
        return cpb_error_errno (err, errno, "cannot create '%s'", dir);
      *slash = '/';
    }
  return 0;
}

int
cpb_state_open (const char *path, cpb_state **ret, cpb_error **err)
{
  cpb_state *st;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

  if (make_parent_dir (path, err) < 0)
    return -1;
  st = cpb_xzalloc (sizeof *st);
  /* SQLite opens its files O_CLOEXEC itself since 3.7.x; containers never inherit them. */
  if (sqlite3_open_v2 (path, &st->db, flags, NULL) != SQLITE_OK)
    {
      cpb_error_set (err, CPB_ERR_SYSTEM, "cannot open state database '%s': %s", path,
                     st->db ? sqlite3_errmsg (st->db) : "out of memory");
      cpb_state_close (st);
      return -1;
    }
  /* Holds and cancels from other cpb processes wait for the run's short write transactions
     instead of failing with SQLITE_BUSY. */
  sqlite3_busy_timeout (st->db, BUSY_TIMEOUT_MS);
  if (set_wal (st, err) < 0 ||
      exec_sql (st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", err) < 0 ||
      migrate (st, err) < 0)
    {
      cpb_state_close (st);
      return cpb_error_prefix (err, "state database '%s'", path);
    }
  cpb_state_changed (st);
  *ret = st;
  return 0;
}

void
cpb_state_close (cpb_state *st)
{
  if (st == NULL)
    return;
  for (int i = 0; i < STMT_N_; i++)
    sqlite3_finalize (st->cached[i]);
  sqlite3_close_v2 (st->db);
  free (st);
}

int
cpb_state_schema_version (cpb_state *st)
{
  int v = 0;

  if (read_schema_version (st, &v, NULL) < 0)
    return -1;
  return v;
}

/* Run the cached statement WHICH of SQL, which returns no rows. */
static int
exec_cached (cpb_state *st, enum stmt_cached which, const char *sql, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  if (prepare_cached (st, which, sql, &s, err) < 0)
    return -1;
  if (sqlite3_step (s) != SQLITE_DONE)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "state database: %s: %s", sql,
                          sqlite3_errmsg (st->db));
  return 0;
}

/* The outermost level is a BEGIN IMMEDIATE transaction: it takes the write lock at once, so
   that its reads and its writes see one state (a DEFERRED one could read, then fail to
   write).  Inner levels are savepoints, all of one name: ROLLBACK TO and RELEASE act on
   the innermost of that name. */
int
cpb_state_begin (cpb_state *st, cpb_error **err)
{
  int rc = st->depth > 0 ? exec_cached (st, STMT_SAVEPOINT, "SAVEPOINT cpb", err)
                         : exec_cached (st, STMT_BEGIN, "BEGIN IMMEDIATE", err);

  if (rc < 0)
    return cpb_error_prefix (err, "beginning a transaction");
  st->depth++;
  return 0;
}

/* SQLite rolls a whole transaction back by itself after some errors (a full disk, an I/O
   error, out of memory): then no level is left to end. */
static bool
rolled_back_by_sqlite (cpb_state *st)
{
  return sqlite3_get_autocommit (st->db) != 0;
}

int
cpb_state_rollback (cpb_state *st, cpb_error **err)
{
  if (st->depth == 0)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "state database: no transaction to roll back");
  st->depth--;
  if (rolled_back_by_sqlite (st))
    return 0;
  if (st->depth == 0)
    return exec_cached (st, STMT_ROLLBACK, "ROLLBACK", err);
  /* ROLLBACK TO leaves the savepoint open: RELEASE ends it. */
  if (exec_cached (st, STMT_ROLLBACK_TO, "ROLLBACK TO cpb", err) < 0)
    return -1;
  return exec_cached (st, STMT_RELEASE, "RELEASE cpb", err);
}

int
cpb_state_commit (cpb_state *st, cpb_error **err)
{
  int rc;

  if (st->depth == 0)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "state database: no transaction to commit");
  if (rolled_back_by_sqlite (st))
    {
      st->depth--;
      return cpb_error_set (err, CPB_ERR_SYSTEM,
                            "state database: the transaction was rolled back after an error");
    }
  rc = st->depth > 1 ? exec_cached (st, STMT_RELEASE, "RELEASE cpb", err)
                     : exec_cached (st, STMT_COMMIT, "COMMIT", err);
  if (rc < 0)
    {
      cpb_state_rollback (st, NULL);
      return cpb_error_prefix (err, "committing");
    }
  st->depth--;
  return 0;
}

/* End the level a transition began: committed if RC is not negative, else rolled back.
   Returns RC, or -1 if the commit failed. */
static int
end_atomic (cpb_state *st, int rc, cpb_error **err)
{
  if (rc < 0)
    {
      cpb_state_rollback (st, NULL);
      return -1;
    }
  if (cpb_state_commit (st, err) < 0)
    return -1;
  return rc;
}

/* A DEFERRED outer level takes no lock until it reads (a shared one), and never the write
   lock unless it writes: what a dry run's many look-ups need.  Inside a transaction it is
   a savepoint like any inner level. */
int
cpb_state_begin_read (cpb_state *st, cpb_error **err)
{
  int rc = st->depth > 0 ? exec_cached (st, STMT_SAVEPOINT, "SAVEPOINT cpb", err)
                         : exec_sql (st, "BEGIN DEFERRED", err);

  if (rc < 0)
    return cpb_error_prefix (err, "beginning a transaction");
  st->depth++;
  return 0;
}

static char *
random_run_id (void)
{
  unsigned char bytes[6] = { 0 };
  _cleanup_close_ int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);

  if (fd < 0 || read (fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes)
    {
      /* Unique enough: the run id only has to differ from the other runs of this user. */
      uint64_t v = (uint64_t)time (NULL) ^ ((uint64_t)getpid () << 32);
      memcpy (bytes, &v, sizeof bytes);
    }
  return cpb_xasprintf ("%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                        bytes[4], bytes[5]);
}

/* A process as the runs table records it: pids are reused, a pid with its start time
   (clock ticks after boot) within one boot is not. */
struct proc_id
{
  int64_t pid;
  int64_t start; /* -1 if unknown */
  char boot[40]; /* "" if unknown */
};

static void
read_boot_id (char boot[40])
{
  _cleanup_fclose_ FILE *f = fopen ("/proc/sys/kernel/random/boot_id", "re");

  boot[0] = '\0';
  if (f == NULL || fgets (boot, 40, f) == NULL)
    boot[0] = '\0';
  boot[strcspn (boot, "\n")] = '\0';
}

/* The start time of process PID from /proc/PID/stat (field 22, after the command name in
   parentheses, which may itself hold spaces and parentheses), or -1 if there is no such
   process or it has exited and is only waiting to be reaped. */
static int64_t
proc_start (int64_t pid)
{
  _cleanup_free_ char *path = cpb_xasprintf ("/proc/%lld/stat", (long long)pid);
  _cleanup_fclose_ FILE *f = fopen (path, "re");
  char buf[1024], *p, *save = NULL;
  size_t n;

  if (f == NULL || (n = fread (buf, 1, sizeof buf - 1, f)) == 0)
    return -1;
  buf[n] = '\0';
  p = strrchr (buf, ')');
  if (p == NULL)
    return -1;
  p = strtok_r (p + 1, " ", &save); /* field 3: the state */
  if (p == NULL || *p == 'Z' || *p == 'X')
    return -1;
  for (int field = 4; field <= 22; field++)
    if ((p = strtok_r (NULL, " ", &save)) == NULL)
      return -1;
  return strtoll (p, NULL, 10);
}

static void
proc_self (struct proc_id *ret)
{
  ret->pid = getpid ();
  ret->start = proc_start (ret->pid);
  read_boot_id (ret->boot);
}

/* True if PID is a live cpb (not a process that reused a dead cpb's pid), for rows written
   before the runs table recorded start times: a guess by the command's name. */
static bool
pid_is_cpb (int64_t pid)
{
  _cleanup_free_ char *path = cpb_xasprintf ("/proc/%lld/comm", (long long)pid);
  _cleanup_fclose_ FILE *f = fopen (path, "re");
  char comm[64] = "";

  if (f == NULL || fgets (comm, sizeof comm, f) == NULL)
    return false;
  comm[strcspn (comm, "\n")] = '\0';
  return strcmp (comm, "cpb") == 0 || strncmp (comm, "lt-cpb", 6) == 0;
}

/* Whether the process a runs row recorded still runs. */
static bool
proc_alive (const struct proc_id *p)
{
  char boot[40];

  if (p->pid <= 0)
    return false;
  if (p->start < 0 || p->boot[0] == '\0')
    return pid_is_cpb (p->pid);
  read_boot_id (boot);
  return strcmp (boot, p->boot) == 0 && proc_start (p->pid) == p->start;
}

static int
run_insert (cpb_state *st, const char *namespace, const char *batch, const char *spec_path,
            char **ret_run_id, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  _cleanup_free_ char *id = random_run_id ();
  struct proc_id self;

  proc_self (&self);
  if (prepare (st,
               "INSERT INTO runs (id, namespace, batch, spec_path, pid, pid_start, boot_id, "
               "started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, id);
  bind_text (s, 2, namespace);
  bind_text (s, 3, batch);
  bind_text (s, 4, spec_path);
  sqlite3_bind_int64 (s, 5, self.pid);
  if (self.start >= 0)
    sqlite3_bind_int64 (s, 6, self.start);
  bind_text (s, 7, self.boot[0] ? self.boot : NULL);
  sqlite3_bind_int64 (s, 8, now_seconds ());
  if (step_done (st, s, err) < 0)
    return -1;
  *ret_run_id = TAKE_PTR (id);
  return 0;
}

/* Mark the runs of NAMESPACE/BATCH recorded as running whose process is gone as killed; *RET_PID
   gets the pid of one that is live, or 0.  A live run of this process counts only if
   COUNT_SELF. */
static int
reap_runs (cpb_state *st, const char *namespace, const char *batch, bool count_self,
           int64_t *ret_pid, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  _cleanup_stmt_ sqlite3_stmt *mark = NULL;
  int rc;

  *ret_pid = 0;
  if (prepare (st,
               "SELECT id, pid, pid_start, boot_id FROM runs "
               "WHERE namespace = ? AND batch = ? AND status = 'running'",
               &s, err) < 0 ||
      prepare (st, "UPDATE runs SET status = 'killed', ended_at = ? WHERE id = ?", &mark, err) < 0)
    return -1;
  bind_text (s, 1, namespace);
  bind_text (s, 2, batch);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      const char *boot = (const char *)sqlite3_column_text (s, 3);
      struct proc_id p = { .pid = sqlite3_column_int64 (s, 1), .start = -1 };

      if (sqlite3_column_type (s, 2) != SQLITE_NULL)
        p.start = sqlite3_column_int64 (s, 2);
      snprintf (p.boot, sizeof p.boot, "%s", boot ? boot : "");
      if (proc_alive (&p))
        {
          if (count_self || p.pid != getpid ())
            *ret_pid = p.pid;
          continue;
        }
      sqlite3_reset (mark);
      sqlite3_bind_int64 (mark, 1, now_seconds ());
      sqlite3_bind_text (mark, 2, (const char *)sqlite3_column_text (s, 0), -1, SQLITE_TRANSIENT);
      if (step_done (st, mark, err) < 0)
        return -1;
    }
  if (rc != SQLITE_DONE)
    return db_error (st, err, "reading runs");
  return 0;
}

int
cpb_state_run_claim (cpb_state *st, const char *namespace, const char *batch, const char *spec_path,
                     char **ret_run_id, int64_t *ret_other_pid, cpb_error **err)
{
  _cleanup_free_ char *id = NULL, *real = spec_path ? realpath (spec_path, NULL) : NULL;
  int64_t other = 0;
  int rc;

  if (cpb_state_begin (st, err) < 0)
    return cpb_error_prefix (err, "claiming batch '%s'", batch);
  rc = reap_runs (st, namespace, batch, true, &other, err);
  if (rc == 0 && other == 0)
    rc = run_insert (st, namespace, batch, real ? real : spec_path, &id, err);
  if (end_atomic (st, rc, err) < 0)
    return cpb_error_prefix (err, "claiming batch '%s'", batch);
  *ret_other_pid = other;
  if (other)
    return 0;
  *ret_run_id = TAKE_PTR (id);
  return 1;
}

int
cpb_state_run_end (cpb_state *st, const char *run_id, const char *status, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;

  if (prepare (st, "UPDATE runs SET ended_at = ?, status = ? WHERE id = ?", &s, err) < 0)
    return -1;
  sqlite3_bind_int64 (s, 1, now_seconds ());
  bind_text (s, 2, status);
  bind_text (s, 3, run_id);
  return step_done (st, s, err);
}

void
cpb_state_task_clear (struct cpb_state_task *t)
{
  free (t->namespace);
  free (t->batch);
  free (t->name);
  free (t->group);
  free (t->params_json);
  free (t->key);
  free (t->node);
  free (t->container_id);
  free (t->run_id);
  free (t->archive_path);
  free (t->helper_json);
  free (t->message);
  memset (t, 0, sizeof *t);
}

void
cpb_state_task_free_array (struct cpb_state_task *v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    cpb_state_task_clear (&v[i]);
  free (v);
}

#define TASK_COLUMNS                                                                               \
  "id, namespace, batch, name, grp, idx, params, key, state, priority, attempts, exit_code, "      \
  "node, container_id, run_id, queued_at, started_at, ended_at, archive_path, helper_json, "       \
  "message"

static void
read_task_row (sqlite3_stmt *s, struct cpb_state_task *t)
{
  int st;

  t->id = sqlite3_column_int64 (s, 0);
  t->namespace = column_strdup (s, 1);
  t->batch = column_strdup (s, 2);
  t->name = column_strdup (s, 3);
  t->group = column_strdup (s, 4);
  t->index = sqlite3_column_int (s, 5);
  t->params_json = column_strdup (s, 6);
  t->key = column_strdup (s, 7);
  st = cpb_task_state_from_name ((const char *)sqlite3_column_text (s, 8));
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
cpb_state_task_get (cpb_state *st, const char *namespace, const char *batch, const char *name,
                    struct cpb_state_task *ret, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;
  int rc;

  if (prepare_cached (st, STMT_TASK_GET,
                      "SELECT " TASK_COLUMNS
                      " FROM tasks WHERE namespace = ? AND batch = ? AND name = ?",
                      &s, err) < 0)
    return -1;
  bind_text (s, 1, namespace);
  bind_text (s, 2, batch);
  bind_text (s, 3, name);
  rc = sqlite3_step (s);
  if (rc == SQLITE_DONE)
    return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no task '%s' in batch '%s'", name, batch);
  if (rc != SQLITE_ROW)
    return db_error (st, err, "reading a task");
  read_task_row (s, ret);
  return 0;
}

static int
task_insert (cpb_state *st, struct cpb_state_task *t, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  if (prepare_cached (st, STMT_TASK_INSERT,
                      "INSERT INTO tasks (namespace, batch, name, grp, idx, params, key, state, "
                      "priority, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'QUEUED', ?, ?)",
                      &s, err) < 0)
    return -1;
  bind_text (s, 1, t->namespace);
  bind_text (s, 2, t->batch);
  bind_text (s, 3, t->name);
  bind_text (s, 4, t->group ? t->group : "");
  sqlite3_bind_int (s, 5, t->index);
  bind_text (s, 6, t->params_json);
  bind_text (s, 7, t->key);
  sqlite3_bind_int (s, 8, t->priority);
  sqlite3_bind_int64 (s, 9, now_seconds ());
  if (step_done (st, s, err) < 0)
    return -1;
  t->id = sqlite3_last_insert_rowid (st->db);
  t->state = CPB_TASK_QUEUED;
  return 0;
}

/* Queue an existing task again for this run, with what the spec says now. */
static int
task_requeue (cpb_state *st, struct cpb_state_task *t, enum cpb_task_state state, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  if (prepare_cached (
          st, STMT_TASK_REQUEUE,
          "UPDATE tasks SET grp = ?, idx = ?, params = ?, key = ?, state = ?, priority = ?, "
          "attempts = 0, exit_code = -1, node = NULL, container_id = NULL, "
          "queued_at = ?, started_at = NULL, ended_at = NULL, message = NULL WHERE id = ?",
          &s, err) < 0)
    return -1;
  bind_text (s, 1, t->group ? t->group : "");
  sqlite3_bind_int (s, 2, t->index);
  bind_text (s, 3, t->params_json);
  bind_text (s, 4, t->key);
  bind_text (s, 5, cpb_task_state_name (state));
  sqlite3_bind_int (s, 6, t->priority);
  sqlite3_bind_int64 (s, 7, now_seconds ());
  sqlite3_bind_int64 (s, 8, t->id);
  if (step_done (st, s, err) < 0)
    return -1;
  t->state = state;
  return 0;
}

int
cpb_state_task_plan (cpb_state *st, struct cpb_state_task *t, bool force,
                     enum cpb_plan_action *ret_action, cpb_error **err)
{
  struct cpb_state_task old = { 0 };
  _cleanup_error_ cpb_error *lookup = NULL;
  int rc;

  if (cpb_state_task_get (st, t->namespace, t->batch, t->name, &old, &lookup) < 0)
    {
      if (lookup->kind != CPB_ERR_NOT_FOUND)
        {
          *err = TAKE_PTR (lookup);
          return -1;
        }
      if (task_insert (st, t, err) < 0)
        return -1;
      *ret_action = CPB_PLAN_RUN;
      return 0;
    }

  t->id = old.id;
  if (old.state == CPB_TASK_DONE && !force && old.key && t->key && strcmp (old.key, t->key) == 0)
    {
      t->state = CPB_TASK_DONE;
      *ret_action = CPB_PLAN_SKIP;
      cpb_state_task_clear (&old);
      return 0;
    }
  rc = task_requeue (st, t, old.state == CPB_TASK_HELD ? CPB_TASK_HELD : CPB_TASK_QUEUED, err);
  *ret_action = old.state == CPB_TASK_HELD ? CPB_PLAN_HELD : CPB_PLAN_RUN;
  cpb_state_task_clear (&old);
  return rc;
}

static int
attempt_insert (cpb_state *st, int64_t id, const char *run_id, int attempt, const char *node,
                const char *container_id, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  if (prepare_cached (
          st, STMT_ATTEMPT_INSERT,
          "INSERT INTO attempts (task_id, number, run_id, node, container_id, started_at, "
          "state) VALUES (?, ?, ?, ?, ?, ?, 'RUNNING')",
          &s, err) < 0)
    return -1;
  sqlite3_bind_int64 (s, 1, id);
  sqlite3_bind_int (s, 2, attempt);
  bind_text (s, 3, run_id);
  bind_text (s, 4, node);
  bind_text (s, 5, container_id);
  sqlite3_bind_int64 (s, 6, now_seconds ());
  return step_done (st, s, err);
}

static int
task_start (cpb_state *st, int64_t id, const char *run_id, int attempt, const char *node,
            const char *container_id, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  if (prepare_cached (st, STMT_TASK_START,
                      "UPDATE tasks SET state = 'RUNNING', run_id = ?, attempts = ?, node = ?, "
                      "container_id = ?, started_at = ?, ended_at = NULL, exit_code = -1 "
                      "WHERE id = ? AND state = 'QUEUED'",
                      &s, err) < 0)
    return -1;
  bind_text (s, 1, run_id);
  sqlite3_bind_int (s, 2, attempt);
  bind_text (s, 3, node);
  bind_text (s, 4, container_id);
  sqlite3_bind_int64 (s, 5, now_seconds ());
  sqlite3_bind_int64 (s, 6, id);
  if (step_done (st, s, err) < 0)
    return -1;
  if (sqlite3_changes (st->db) == 0)
    return 0;
  if (attempt_insert (st, id, run_id, attempt, node, container_id, err) < 0)
    return -1;
  return 1;
}

int
cpb_state_task_start (cpb_state *st, int64_t id, const char *run_id, int attempt, const char *node,
                      const char *container_id, cpb_error **err)
{
  if (cpb_state_begin (st, err) < 0)
    return -1;
  return end_atomic (st, task_start (st, id, run_id, attempt, node, container_id, err), err);
}

static int
task_set_container (cpb_state *st, int64_t id, const char *container_id, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *t = NULL;
  _cleanup_reset_stmt_ sqlite3_stmt *a = NULL;

  if (prepare_cached (st, STMT_SET_CONTAINER, "UPDATE tasks SET container_id = ? WHERE id = ?", &t,
                      err) < 0 ||
      prepare_cached (st, STMT_ATTEMPT_CONTAINER,
                      "UPDATE attempts SET container_id = ? WHERE id = (SELECT max(id) FROM "
                      "attempts WHERE task_id = ?)",
                      &a, err) < 0)
    return -1;
  bind_text (t, 1, container_id);
  sqlite3_bind_int64 (t, 2, id);
  bind_text (a, 1, container_id);
  sqlite3_bind_int64 (a, 2, id);
  if (step_done (st, t, err) < 0)
    return -1;
  return step_done (st, a, err);
}

int
cpb_state_task_set_container (cpb_state *st, int64_t id, const char *container_id, cpb_error **err)
{
  if (cpb_state_begin (st, err) < 0)
    return -1;
  return end_atomic (st, task_set_container (st, id, container_id, err), err);
}

int
cpb_state_run_live (cpb_state *st, const char *namespace, const char *batch, int64_t *ret_pid,
                    cpb_error **err)
{
  return reap_runs (st, namespace, batch, false, ret_pid, err);
}

static int
attempt_finish (cpb_state *st, int64_t id, enum cpb_task_state state, int exit_code,
                const char *message, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  /* The open attempt of the task is its latest. */
  if (prepare_cached (
          st, STMT_ATTEMPT_FINISH,
          "UPDATE attempts SET ended_at = ?, exit_code = ?, state = ?, message = ? "
          "WHERE id = (SELECT max(id) FROM attempts WHERE task_id = ?) AND ended_at IS NULL",
          &s, err) < 0)
    return -1;
  sqlite3_bind_int64 (s, 1, now_seconds ());
  sqlite3_bind_int (s, 2, exit_code);
  bind_text (s, 3, cpb_task_state_name (state));
  bind_text (s, 4, message);
  sqlite3_bind_int64 (s, 5, id);
  return step_done (st, s, err);
}

/* A task cancelled by another cpb while it ran keeps its CANCELLED state, but its last
   attempt's exit, archive (logs) and report are still recorded, for cpb logs and status. */
static int
keep_cancelled_outcome (cpb_state *st, int64_t id, int exit_code, const char *archive_path,
                        const char *helper_json, cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  if (prepare_cached (st, STMT_KEEP_CANCELLED,
                      "UPDATE tasks SET exit_code = ?, ended_at = ?, archive_path = coalesce (?, "
                      "archive_path), helper_json = ?, container_id = NULL "
                      "WHERE id = ? AND state = 'CANCELLED'",
                      &s, err) < 0)
    return -1;
  sqlite3_bind_int (s, 1, exit_code);
  sqlite3_bind_int64 (s, 2, now_seconds ());
  bind_text (s, 3, archive_path);
  bind_text (s, 4, helper_json);
  sqlite3_bind_int64 (s, 5, id);
  if (step_done (st, s, err) < 0)
    return -1;
  return 0;
}

static int
task_finish (cpb_state *st, int64_t id, enum cpb_task_state state, int exit_code,
             const char *archive_path, const char *helper_json, const char *message,
             cpb_error **err)
{
  _cleanup_reset_stmt_ sqlite3_stmt *s = NULL;

  if (attempt_finish (st, id, state, exit_code, message, err) < 0)
    return -1;
  if (prepare_cached (st, STMT_TASK_FINISH,
                      "UPDATE tasks SET state = ?, exit_code = ?, ended_at = ?, "
                      "archive_path = coalesce (?, archive_path), helper_json = ?, message = ?, "
                      "container_id = NULL WHERE id = ? AND state = 'RUNNING'",
                      &s, err) < 0)
    return -1;
  bind_text (s, 1, cpb_task_state_name (state));
  sqlite3_bind_int (s, 2, exit_code);
  sqlite3_bind_int64 (s, 3, now_seconds ());
  bind_text (s, 4, archive_path);
  bind_text (s, 5, helper_json);
  bind_text (s, 6, message);
  sqlite3_bind_int64 (s, 7, id);
  if (step_done (st, s, err) < 0)
    return -1;
  if (sqlite3_changes (st->db) > 0)
    return 1;
  return keep_cancelled_outcome (st, id, exit_code, archive_path, helper_json, err);
}

int
cpb_state_task_finish (cpb_state *st, int64_t id, enum cpb_task_state state, int exit_code,
                       const char *archive_path, const char *helper_json, const char *message,
                       cpb_error **err)
{
  int rc;

  if (cpb_state_begin (st, err) < 0)
    return -1;
  rc = task_finish (st, id, state, exit_code, archive_path, helper_json, message, err);
  return end_atomic (st, rc, err);
}

int
cpb_state_task_set (cpb_state *st, int64_t id, enum cpb_task_state state, const char *message,
                    cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;

  if (prepare (st, "UPDATE tasks SET state = ?, message = ?, container_id = NULL WHERE id = ?", &s,
               err) < 0)
    return -1;
  bind_text (s, 1, cpb_task_state_name (state));
  bind_text (s, 2, message);
  sqlite3_bind_int64 (s, 3, id);
  return step_done (st, s, err);
}

int
cpb_state_tasks_move (cpb_state *st, const char *namespace, const char *batch, const char *task,
                      unsigned from_mask, enum cpb_task_state to, const char *message,
                      size_t *ret_changed, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  _cleanup_free_ char *sql = NULL;
  cpb_buf in = CPB_BUF_INIT;

  for (int i = 0; i < CPB_TASK_N; i++)
    if (from_mask & (1u << i))
      cpb_buf_printf (&in, "%s'%s'", in.len ? ", " : "", cpb_task_state_name (i));
  if (in.len == 0)
    cpb_buf_puts (&in, "''");
  sql = cpb_xasprintf ("UPDATE tasks SET state = ?, message = ? WHERE namespace = ? AND "
                       "batch = ? AND (?5 IS NULL OR name = ?5) AND state IN (%s)",
                       in.data);
  cpb_buf_free (&in);
  if (prepare (st, sql, &s, err) < 0)
    return -1;
  bind_text (s, 1, cpb_task_state_name (to));
  bind_text (s, 2, message);
  bind_text (s, 3, namespace);
  bind_text (s, 4, batch);
  bind_text (s, 5, task);
  if (step_done (st, s, err) < 0)
    return -1;
  *ret_changed = (size_t)sqlite3_changes (st->db);
  return 0;
}

int
cpb_state_tasks_list (cpb_state *st, const char *namespace, const char *batch,
                      struct cpb_state_task **ret, size_t *ret_n, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  struct cpb_state_task *v = NULL;
  size_t n = 0, cap = 0;
  int rc;

  if (prepare (st,
               "SELECT " TASK_COLUMNS " FROM tasks WHERE namespace = ? AND batch = ? "
               "ORDER BY grp, idx, name",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, namespace);
  bind_text (s, 2, batch);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      if (n == cap)
        {
          cap = cap ? cap * 2 : 64;
          v = cpb_xrealloc (v, cap * sizeof *v);
        }
      memset (&v[n], 0, sizeof v[n]);
      read_task_row (s, &v[n++]);
    }
  if (rc != SQLITE_DONE)
    {
      cpb_state_task_free_array (v, n);
      return db_error (st, err, "listing tasks");
    }
  *ret = v;
  *ret_n = n;
  return 0;
}

int
cpb_state_counts (cpb_state *st, const char *namespace, const char *batch,
                  size_t counts[CPB_TASK_N], cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  int rc;

  memset (counts, 0, CPB_TASK_N * sizeof counts[0]);
  if (prepare (st,
               "SELECT state, count(*) FROM tasks WHERE namespace = ? AND batch = ? "
               "GROUP BY state",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, namespace);
  bind_text (s, 2, batch);
  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      int i = cpb_task_state_from_name ((const char *)sqlite3_column_text (s, 0));

      if (i >= 0)
        counts[i] = (size_t)sqlite3_column_int64 (s, 1);
    }
  if (rc != SQLITE_DONE)
    return db_error (st, err, "counting tasks");
  return 0;
}

/* Collect the first column of every row of S as a NULL-terminated array. */
static int
collect_strings (cpb_state *st, sqlite3_stmt *s, char ***ret, cpb_error **err)
{
  char **v = cpb_xcalloc (1, sizeof *v);
  size_t n = 0;
  int rc;

  while ((rc = sqlite3_step (s)) == SQLITE_ROW)
    {
      v = cpb_xrealloc (v, (n + 2) * sizeof *v);
      v[n++] = column_strdup (s, 0);
      v[n] = NULL;
    }
  if (rc != SQLITE_DONE)
    {
      cpb_strv_free (v);
      return db_error (st, err, "reading");
    }
  *ret = v;
  return 0;
}

int
cpb_state_batches (cpb_state *st, const char *namespace, char ***ret, cpb_error **err)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;

  if (prepare (st,
               "SELECT DISTINCT namespace || '/' || batch FROM tasks "
               "WHERE ?1 IS NULL OR namespace = ?1 ORDER BY 1",
               &s, err) < 0)
    return -1;
  bind_text (s, 1, namespace);
  return collect_strings (st, s, ret, err);
}

bool
cpb_state_changed (cpb_state *st)
{
  _cleanup_stmt_ sqlite3_stmt *s = NULL;
  int64_t v;

  if (sqlite3_prepare_v2 (st->db, "PRAGMA data_version", -1, &s, NULL) != SQLITE_OK ||
      sqlite3_step (s) != SQLITE_ROW)
    return true; /* when in doubt, the caller re-reads */
  v = sqlite3_column_int64 (s, 0);
  if (v == st->data_version)
    return false;
  st->data_version = v;
  return true;
}

int
cpb_state_parse_batch (const char *arg, const char *default_ns, char **ret_ns, char **ret_batch,
                       cpb_error **err)
{
  const char *slash = strchr (arg, '/');
  _cleanup_free_ char *ns =
      slash ? cpb_xstrndup (arg, (size_t)(slash - arg)) : cpb_xstrdup (default_ns);
  _cleanup_free_ char *batch = cpb_xstrdup (slash ? slash + 1 : arg);

  if (cpb_check_name ("namespace", ns, err) < 0 || cpb_check_name ("batch", batch, err) < 0)
    return -1;
  *ret_ns = TAKE_PTR (ns);
  *ret_batch = TAKE_PTR (batch);
  return 0;
}
