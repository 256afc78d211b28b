/* cli.c: printing helpers shared by the verbs (the only place errors reach the user). */
#include "config.h"
#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
cpb_cli_report (const char *verb, cpb_error *err)
{
  int code = cpb_error_exit_code (err);

  if (err)
    fprintf (stderr, "cpb %s: %s\n", verb, err->msg);
  cpb_error_free (err);
  return code;
}

int
cpb_cli_usage_error (const char *verb, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "cpb %s: ", verb);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  return cpb_cli_bad_option (verb);
}

int
cpb_cli_bad_option (const char *verb)
{
  fprintf (stderr, "Try 'cpb %s --help' for more information.\n", verb);
  return CPB_EXIT_USAGE;
}

bool
cpb_cli_isatty (int fd)
{
  const char *term = getenv ("TERM");

  return isatty (fd) && !(term && (term[0] == '\0' || strcmp (term, "dumb") == 0));
}
