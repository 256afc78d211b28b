/* report.c: the JSON report of cpb-helper, written by hand (no JSON library in the static
 * helper).  cpb reads it with the archive API after the container exits; docs/helper.md
 * describes every field.
 */
#include "config.h"
#include "helper.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
put_string (FILE *f, const char *s)
{
  fputc ('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        fprintf (f, "\\%c", *p);
      else if (*p < 0x20)
        fprintf (f, "\\u%04x", *p);
      else
        fputc (*p, f);
    }
  fputc ('"', f);
}

static void
put_string_or_null (FILE *f, const char *key, const char *s, bool last)
{
  fprintf (f, "  \"%s\": ", key);
  if (s && *s)
    put_string (f, s);
  else
    fputs ("null", f);
  fputs (last ? "\n" : ",\n", f);
}

static double
timeval_seconds (const struct timeval *tv)
{
  return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static const char *
signal_name (int sig, char *buf, size_t len)
{
  const char *abbrev = sigabbrev_np (sig);
  if (abbrev == NULL)
    return NULL;
  snprintf (buf, len, "SIG%s", abbrev);
  return buf;
}

static void
put_violations (FILE *f, const struct helper_result *res)
{
  fputs ("  \"seccomp_violations\": [", f);
  for (size_t i = 0; i < res->n_violations; i++)
    {
      fputs (i ? ", { \"syscall\": " : " { \"syscall\": ", f);
      put_string (f, res->violations[i].name);
      fprintf (f, ", \"count\": %lu }", res->violations[i].count);
    }
  fputs (res->n_violations ? " ],\n" : "],\n", f);
}

static void
put_report (FILE *f, const struct helper_opts *opts, const struct helper_result *res)
{
  char signame[32];

  fputs ("{\n  \"version\": 1,\n", f);
  if (res->exit_code >= 0)
    fprintf (f, "  \"exit_code\": %d,\n", res->exit_code);
  else
    fputs ("  \"exit_code\": null,\n", f);
  if (res->signal > 0)
    fprintf (f, "  \"signal\": %d,\n", res->signal);
  else
    fputs ("  \"signal\": null,\n", f);
  put_string_or_null (f, "signal_name",
                      res->signal > 0 ? signal_name (res->signal, signame, sizeof signame) : NULL,
                      false);
  fprintf (f, "  \"status\": %d,\n", res->status);
  fprintf (f, "  \"wall_seconds\": %.6f,\n", res->wall_seconds);
  fprintf (f, "  \"user_seconds\": %.6f,\n", timeval_seconds (&res->rusage.ru_utime));
  fprintf (f, "  \"system_seconds\": %.6f,\n", timeval_seconds (&res->rusage.ru_stime));
  fprintf (f, "  \"max_rss_kb\": %ld,\n", res->rusage.ru_maxrss);
  fprintf (f, "  \"timed_out\": %s,\n", res->timed_out ? "true" : "false");
  fprintf (f, "  \"killed\": %s,\n", res->killed ? "true" : "false");
  fprintf (f, "  \"seccomp\": \"%s\",\n", cpb_profile_kind_name (opts->profile.kind));
  fprintf (f, "  \"seccomp_named\": %s,\n",
           opts->profile.kind != CPB_PROFILE_NONE && !res->notify_fallback ? "true" : "false");
  put_violations (f, res);
  put_string_or_null (f, "exec_error", res->exec_errno ? strerrorname_np (res->exec_errno) : NULL,
                      false);
  put_string_or_null (f, "helper_error", res->helper_error, true);
  fputs ("}\n", f);
}

void
helper_report_emit (FILE *f, const struct helper_opts *opts, const struct helper_result *res)
{
  /* The leading newline keeps a task's unterminated last line apart; cpb removes it with
     the marker, so the log it keeps is byte for byte what the task wrote. */
  fputs ("\n" CPB_HELPER_REPORT_MARKER, f);
  put_report (f, opts, res);
  fflush (f);
}

int
helper_report_write (const char *path, const struct helper_opts *opts,
                     const struct helper_result *res, cpb_error **err)
{
  _cleanup_free_ char *tmp = cpb_xasprintf ("%s.tmp", path);
  _cleanup_fclose_ FILE *f = NULL;
  int fd;

  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot write '%s'", tmp);
  f = fdopen (fd, "w");
  if (f == NULL)
    {
      close (fd);
      return cpb_error_errno (err, errno, "cannot write '%s'", tmp);
    }
  put_report (f, opts, res);
  if (fflush (f) != 0 || ferror (f) || fsync (fd) < 0)
    return cpb_error_errno (err, errno, "cannot write '%s'", tmp);
  if (rename (tmp, path) < 0)
    return cpb_error_errno (err, errno, "cannot rename '%s' to '%s'", tmp, path);
  return 0;
}
