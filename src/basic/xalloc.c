/* xalloc.c: see xalloc.h for why these abort. */
#include "config.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void __attribute__ ((noreturn))
oom (void)
{
  static const char msg[] = "cpb: out of memory\n";
  /* stdio may itself need memory: write(2) the message directly. */
  if (write (2, msg, sizeof msg - 1) < 0)
    abort ();
  abort ();
}

void *
cpb_xmalloc (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (p == NULL)
    oom ();
  return p;
}

void *
cpb_xzalloc (size_t size)
{
  void *p = calloc (1, size ? size : 1);
  if (p == NULL)
    oom ();
  return p;
}

void *
cpb_xcalloc (size_t nmemb, size_t size)
{
  void *p = calloc (nmemb ? nmemb : 1, size ? size : 1);
  if (p == NULL)
    oom ();
  return p;
}

void *
cpb_xrealloc (void *ptr, size_t size)
{
  void *p = realloc (ptr, size ? size : 1);
  if (p == NULL)
    oom ();
  return p;
}

char *
cpb_xstrdup (const char *s)
{
  char *p = strdup (s ? s : "");
  if (p == NULL)
    oom ();
  return p;
}

char *
cpb_xstrndup (const char *s, size_t n)
{
  char *p = strndup (s, n);
  if (p == NULL)
    oom ();
  return p;
}

char *
cpb_xvasprintf (const char *fmt, va_list ap)
{
  char *p;
  if (vasprintf (&p, fmt, ap) < 0)
    oom ();
  return p;
}

char *
cpb_xasprintf (const char *fmt, ...)
{
  va_list ap;
  char *p;

  va_start (ap, fmt);
  p = cpb_xvasprintf (fmt, ap);
  va_end (ap);
  return p;
}
