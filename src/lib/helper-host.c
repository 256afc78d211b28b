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
