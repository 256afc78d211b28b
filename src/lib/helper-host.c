/* helper-host.c: the host side of cpb-helper (see helper-host.h). */
#include "config.h"
#include "helper-host.h"
#include "json.h"
#include "xalloc.h"

#include <libgen.h>
#include <stdio.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
is_executable (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

/* The helper of the build tree the running binary was built in: cpb lives at the root of
   the build directory and the helper in src/helper/ below it. */
static char *
build_tree_candidate (void)
{
  char exe[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);

  if (n <= 0)
    return NULL;
  exe[n] = '\0';
  return cpb_xasprintf ("%s/src/helper/cpb-helper", dirname (exe));
}

int
cpb_helper_locate (char **ret_path, cpb_error **err)
{
  const char *env = getenv ("CPB_HELPER");
  _cleanup_free_ char *built = NULL;

  if (env && *env)
    {
      if (!is_executable (env))
        return cpb_error_set (err, CPB_ERR_NOT_FOUND, "$CPB_HELPER: '%s' is not an executable file",
                              env);
      *ret_path = cpb_xstrdup (env);
      return 0;
    }
  built = build_tree_candidate ();
  if (built && is_executable (built))
    {
      *ret_path = TAKE_PTR (built);
      return 0;
    }
  if (is_executable (CPB_LIBEXECDIR "/cpb-helper"))
    {
      *ret_path = cpb_xstrdup (CPB_LIBEXECDIR "/cpb-helper");
      return 0;
    }
  return cpb_error_set (err, CPB_ERR_NOT_FOUND,
                        "cannot find cpb-helper (looked in $CPB_HELPER, %s and %s/cpb-helper): "
                        "install cpb or set CPB_HELPER",
                        built ? built : "the build tree", CPB_LIBEXECDIR);
}

/* ------------------------------------------------------------------ starting a task */

static void
push (char ***v, size_t *n, char *s)
{
  *v = cpb_xrealloc (*v, (*n + 2) * sizeof **v);
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

char **
cpb_helper_task_command (const struct cpb_task *t)
{
  char **v = cpb_xcalloc (1, sizeof *v);
  size_t n = 0;

  if (t->argv)
    for (char **a = t->argv; *a; a++)
      push (&v, &n, cpb_xstrdup (*a));
  else
    {
      push (&v, &n, cpb_xstrdup ("/bin/sh"));
      push (&v, &n, cpb_xstrdup ("-c"));
      push (&v, &n, cpb_xstrdup (t->command ? t->command : "true"));
    }
  return v;
}

char **
cpb_helper_argv (const struct cpb_task *t, double grace)
{
  const struct cpb_jobs_settings *s = t->settings;
  char **v = cpb_xcalloc (1, sizeof *v);
  size_t n = 0;
  _cleanup_strv_free_ char **command = cpb_helper_task_command (t);

  if (s->timeout)
    {
      push (&v, &n, cpb_xstrdup ("--timeout"));
      push (&v, &n, cpb_xasprintf ("%llu", (unsigned long long)s->timeout));
      push (&v, &n, cpb_xstrdup ("--grace"));
      push (&v, &n, cpb_xasprintf ("%g", grace));
    }
  push (&v, &n, cpb_xstrdup ("--seccomp"));
  push (&v, &n, cpb_xstrdup (cpb_profile_kind_name (s->seccomp)));
  for (size_t i = 0; i < s->n_deny; i++)
    {
      push (&v, &n, cpb_xstrdup ("--deny"));
      push (&v, &n, cpb_xstrdup (s->deny[i]));
    }
  if (s->network != CPB_NETWORK_NONE)
    push (&v, &n, cpb_xstrdup ("--allow-network"));
  push (&v, &n, cpb_xstrdup ("--report"));
  push (&v, &n, cpb_xstrdup (CPB_HELPER_REPORT_PATH));
  push (&v, &n, cpb_xstrdup ("--report-stderr"));
  push (&v, &n, cpb_xstrdup ("--"));
  for (char **a = command; *a; a++)
    push (&v, &n, TAKE_PTR (*a));
  return v;
}

/* ------------------------------------------------------------------ the report */

void
cpb_helper_report_clear (struct cpb_helper_report *r)
{
  free (r->exec_error);
  free (r->helper_error);
  memset (r, 0, sizeof *r);
}

int
cpb_helper_report_parse (const char *text, size_t len, struct cpb_helper_report *ret,
                         cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val v = NULL;
  int64_t i;

  if (len > CPB_HELPER_REPORT_MAX)
    return cpb_error_set (err, CPB_ERR_INPUT, "helper report: larger than %u bytes",
                          CPB_HELPER_REPORT_MAX);
  if (cpb_json_parse (text, len, &v, err) < 0)
    return cpb_error_prefix (err, "helper report");
  if (!YAJL_IS_OBJECT (v) || !cpb_json_get_int64 (v, CPB_REPORT_VERSION, &i) ||
      i != CPB_HELPER_REPORT_VERSION)
    return cpb_error_set (err, CPB_ERR_INPUT, "helper report: not a version %d report",
                          CPB_HELPER_REPORT_VERSION);
  *ret = (struct cpb_helper_report){ .exit_code = -1 };
  if (cpb_json_get_int64 (v, CPB_REPORT_EXIT_CODE, &i) && i >= 0 && i <= 255)
    ret->exit_code = (int)i;
  if (cpb_json_get_int64 (v, CPB_REPORT_SIGNAL, &i) && i > 0 && i < 128)
    ret->signal = (int)i;
  if (cpb_json_get_int64 (v, CPB_REPORT_STATUS, &i) && i >= 0 && i <= 255)
    ret->status = (int)i;
  cpb_json_get_double (v, CPB_REPORT_WALL, &ret->wall_seconds);
  cpb_json_get_double (v, CPB_REPORT_USER, &ret->user_seconds);
  cpb_json_get_double (v, CPB_REPORT_SYSTEM, &ret->system_seconds);
  if (cpb_json_get_int64 (v, CPB_REPORT_MAX_RSS, &i) && i >= 0)
    ret->max_rss_kib = i;
  ret->timed_out = cpb_json_get_bool (v, CPB_REPORT_TIMED_OUT, false);
  ret->killed = cpb_json_get_bool (v, CPB_REPORT_KILLED, false);
  ret->exec_error = cpb_json_dup_string (v, CPB_REPORT_EXEC_ERROR);
  ret->helper_error = cpb_json_dup_string (v, CPB_REPORT_HELPER_ERROR);
  return 0;
}

/* ------------------------------------------------------------------ the report in stderr */

static const char log_marker[] = CPB_HELPER_LOG_MARKER;
#define LOG_MARKER_LEN (sizeof log_marker - 1)

/* True when TEXT is one JSON object within the report's size limit, with nothing after it
   but white space: what the helper writes, and what no truncated or forged tail is. */
static bool
is_complete_report (const char *text, size_t len)
{
  _cleanup_yajl_val_ yajl_val v = NULL;
  _cleanup_error_ cpb_error *ignored = NULL;

  if (len == 0 || len > CPB_HELPER_REPORT_MAX || text[0] != '{')
    return false;
  return cpb_json_parse (text, len, &v, &ignored) == 0 && YAJL_IS_OBJECT (v);
}

/* The last occurrence of the marker in DATA, or NULL.  Markers cannot overlap: the marker
   has one newline, at its start. */
static const char *
last_marker (const char *data, size_t len)
{
  const char *found = NULL, *at = data;

  while ((at = memmem (at, len - (size_t)(at - data), log_marker, LOG_MARKER_LEN)) != NULL)
    found = at++;
  return found;
}

bool
cpb_helper_report_cut (const char *log, size_t len, bool truncated, size_t *ret_kept,
                       const char **ret_report, size_t *ret_report_len)
{
  const char *found = truncated || log == NULL ? NULL : last_marker (log, len);
  const char *report = found ? found + LOG_MARKER_LEN : NULL;
  size_t report_len = found ? len - (size_t)(report - log) : 0;

  *ret_kept = len;
  if (found == NULL || !is_complete_report (report, report_len))
    return false;
  *ret_kept = (size_t)(found - log);
  if (ret_report)
    *ret_report = report;
  if (ret_report_len)
    *ret_report_len = report_len;
  return true;
}

/* The length of the longest tail of DATA that is a proper prefix of the marker: bytes that
   the next chunk may complete into one. */
static size_t
marker_prefix_tail (const char *data, size_t len)
{
  size_t k = len < LOG_MARKER_LEN - 1 ? len : LOG_MARKER_LEN - 1;

  for (; k > 0; k--)
    if (memcmp (data + len - k, log_marker, k) == 0)
      return k;
  return 0;
}

/* Pass on the first N held bytes and forget them. */
static int
cutter_emit (cpb_report_cutter *c, size_t n, cpb_report_cutter_fn fn, void *userdata,
             cpb_error **err)
{
  int rc = n > 0 ? fn (userdata, c->held.data, n, err) : 0;

  memmove (c->held.data, c->held.data + n, c->held.len - n);
  c->held.len -= n;
  c->held.data[c->held.len] = '\0';
  return rc;
}

/* HELD holds no whole marker at its start: pass on all but a marker that starts in it (or
   the tail that may begin one). */
static int
cutter_scan_plain (cpb_report_cutter *c, cpb_report_cutter_fn fn, void *userdata, cpb_error **err)
{
  const char *at = memmem (c->held.data, c->held.len, log_marker, LOG_MARKER_LEN);

  if (at == NULL)
    return cutter_emit (c, c->held.len - marker_prefix_tail (c->held.data, c->held.len), fn,
                        userdata, err);
  c->marker = true;
  c->scanned = 0;
  return cutter_emit (c, (size_t)(at - c->held.data), fn, userdata, err);
}

/* HELD starts with a marker: a second marker, or more than a report can hold, shows that
   the first was the task's; then it goes on with the rest of the task's stderr. */
static int
cutter_scan_marker (cpb_report_cutter *c, bool *again, cpb_report_cutter_fn fn, void *userdata,
                    cpb_error **err)
{
  const char *body = c->held.data + LOG_MARKER_LEN;
  size_t body_len = c->held.len - LOG_MARKER_LEN;
  size_t from = c->scanned > LOG_MARKER_LEN ? c->scanned - LOG_MARKER_LEN : 0;
  const char *next = memmem (body + from, body_len - from, log_marker, LOG_MARKER_LEN);

  *again = false;
  if (next == NULL && body_len <= CPB_HELPER_REPORT_MAX)
    {
      c->scanned = body_len;
      return 0;
    }
  c->marker = false;
  *again = true;
  if (next)
    return cutter_emit (c, (size_t)(next - c->held.data), fn, userdata, err);
  return cutter_emit (c, LOG_MARKER_LEN, fn, userdata, err);
}

int
cpb_report_cutter_feed (cpb_report_cutter *c, const char *data, size_t len, cpb_report_cutter_fn fn,
                        void *userdata, cpb_error **err)
{
  bool again = true;

  if (len == 0)
    return 0;
  cpb_buf_append (&c->held, data, len);
  while (again)
    {
      int rc;

      if (!c->marker)
        {
          rc = cutter_scan_plain (c, fn, userdata, err);
          again = c->marker;
        }
      else
        rc = cutter_scan_marker (c, &again, fn, userdata, err);
      if (rc != 0)
        return rc;
    }
  return 0;
}

int
cpb_report_cutter_finish (cpb_report_cutter *c, cpb_report_cutter_fn fn, void *userdata,
                          char **ret_report, cpb_error **err)
{
  int rc = 0;

  if (ret_report)
    *ret_report = NULL;
  if (c->marker && is_complete_report (c->held.data + LOG_MARKER_LEN, c->held.len - LOG_MARKER_LEN))
    {
      if (ret_report)
        *ret_report = cpb_xstrndup (c->held.data + LOG_MARKER_LEN, c->held.len - LOG_MARKER_LEN);
    }
  else if (c->held.len > 0)
    rc = fn (userdata, c->held.data, c->held.len, err);
  cpb_report_cutter_clear (c);
  return rc;
}

void
cpb_report_cutter_clear (cpb_report_cutter *c)
{
  cpb_buf_free (&c->held);
  c->marker = false;
  c->scanned = 0;
}
