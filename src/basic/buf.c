/* buf.c: the growable buffer. */
#include "config.h"
#include "buf.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
buf_reserve (cpb_buf *b, size_t extra)
{
  size_t need = b->len + extra + 1;

  if (need <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  b->data = cpb_xrealloc (b->data, cap);
  b->cap = cap;
}

void
cpb_buf_append (cpb_buf *b, const void *data, size_t len)
{
  buf_reserve (b, len);
  if (len)
    memcpy (b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void
cpb_buf_puts (cpb_buf *b, const char *s)
{
  cpb_buf_append (b, s, strlen (s));
}

void
cpb_buf_putc (cpb_buf *b, char c)
{
  cpb_buf_append (b, &c, 1);
}

void
cpb_buf_vprintf (cpb_buf *b, const char *fmt, va_list ap)
{
  va_list copy;
  int n;

  va_copy (copy, ap);
  n = vsnprintf (NULL, 0, fmt, copy);
  va_end (copy);
  if (n < 0)
    return;
  buf_reserve (b, (size_t) n);
  vsnprintf (b->data + b->len, (size_t) n + 1, fmt, ap);
  b->len += (size_t) n;
}

void
cpb_buf_printf (cpb_buf *b, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  cpb_buf_vprintf (b, fmt, ap);
  va_end (ap);
}

void
cpb_buf_reset (cpb_buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

char *
cpb_buf_steal (cpb_buf *b, size_t *ret_len)
{
  char *p;

  buf_reserve (b, 0);
  b->data[b->len] = '\0'; /* a buffer never appended to has no terminator yet */
  p = b->data;
  if (ret_len)
    *ret_len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void
cpb_buf_free (cpb_buf *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
