/* error.c: construction and chaining of cpb_error. */
#include "config.h"
#include "error.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

static int __attribute__ ((format (printf, 4, 0)))
error_vset (cpb_error **err, enum cpb_error_kind kind, int errnum, const char *fmt, va_list ap)
{
  cpb_error *e;
  char *msg;

  if (err == NULL)
    return -1;

  msg = cpb_xvasprintf (fmt, ap);
  if (errnum)
    {
      char *with = cpb_xasprintf ("%s: %s", msg, strerror (errnum));
      free (msg);
      msg = with;
    }

  e = cpb_xzalloc (sizeof *e);
  e->kind = kind;
  e->errno_value = errnum;
  e->msg = msg;

  cpb_error_free (*err);
  *err = e;
  return -1;
}

int
cpb_error_set (cpb_error **err, enum cpb_error_kind kind, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  error_vset (err, kind, 0, fmt, ap);
  va_end (ap);
  return -1;
}

int
cpb_error_errno (cpb_error **err, int errnum, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  error_vset (err, CPB_ERR_SYSTEM, errnum, fmt, ap);
  va_end (ap);
  return -1;
}

int
cpb_error_vprefix (cpb_error **err, const char *fmt, va_list ap)
{
  _cleanup_free_ char *prefix = NULL;
  char *msg;

  if (err == NULL || *err == NULL)
    return -1;

  prefix = cpb_xvasprintf (fmt, ap);
  msg = cpb_xasprintf ("%s: %s", prefix, (*err)->msg);
  free ((*err)->msg);
  (*err)->msg = msg;
  return -1;
}

int
cpb_error_prefix (cpb_error **err, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  cpb_error_vprefix (err, fmt, ap);
  va_end (ap);
  return -1;
}

void
cpb_error_free (cpb_error *err)
{
  if (err == NULL)
    return;
  free (err->msg);
  free (err);
}

int
cpb_error_exit_code (const cpb_error *err)
{
  if (err == NULL)
    return CPB_EXIT_OK;

  switch (err->kind)
    {
    case CPB_ERR_INPUT:
      return CPB_EXIT_USAGE;
    case CPB_ERR_CONNECT:
      return CPB_EXIT_UNREACHABLE;
    case CPB_ERR_CANCELLED:
      return CPB_EXIT_INTERRUPTED;
    case CPB_ERR_SYSTEM:
    case CPB_ERR_PODMAN:
    case CPB_ERR_NOT_FOUND:
    case CPB_ERR_FAILED:
    default:
      return CPB_EXIT_FAILURE;
    }
}
