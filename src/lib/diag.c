/* diag.c: collecting diagnostics and reporting them as one error. */
#include "config.h"
#include "diag.h"
#include "buf.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

struct diag_entry
{
  cpb_pos pos;
  size_t seq; /* recording order, to keep equal positions stable */
  char *msg;
};

struct cpb_diag
{
  char *file;
  struct diag_entry *v;
  size_t n, cap;
};

cpb_diag *
cpb_diag_new (const char *file)
{
  cpb_diag *d = cpb_xzalloc (sizeof *d);

  d->file = cpb_xstrdup (file);
  return d;
}

void
cpb_diag_free (cpb_diag *d)
{
  if (d == NULL)
    return;
  for (size_t i = 0; i < d->n; i++)
    free (d->v[i].msg);
  free (d->v);
  free (d->file);
  free (d);
}

void
cpb_diag_vadd (cpb_diag *d, unsigned line, unsigned col, const char *fmt, va_list ap)
{
  struct diag_entry *e;

  if (d->n == d->cap)
    {
      d->cap = d->cap ? d->cap * 2 : 8;
      d->v = cpb_xrealloc (d->v, d->cap * sizeof *d->v);
    }
  e = &d->v[d->n];
  e->pos.line = line;
  e->pos.col = col;
  e->seq = d->n;
  e->msg = cpb_xvasprintf (fmt, ap);
  d->n++;
}

void
cpb_diag_add (cpb_diag *d, unsigned line, unsigned col, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  cpb_diag_vadd (d, line, col, fmt, ap);
  va_end (ap);
}

size_t
cpb_diag_count (const cpb_diag *d)
{
  return d->n;
}

const char *
cpb_diag_file (const cpb_diag *d)
{
  return d->file;
}

static int
entry_cmp (const void *a, const void *b)
{
  const struct diag_entry *x = a, *y = b;

  if (x->pos.line != y->pos.line)
    return x->pos.line < y->pos.line ? -1 : 1;
  if (x->pos.col != y->pos.col)
    return x->pos.col < y->pos.col ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
format_entry (cpb_buf *b, const char *file, const struct diag_entry *e)
{
  if (b->len)
    cpb_buf_putc (b, '\n');
  if (e->pos.line == 0)
    cpb_buf_printf (b, "%s: %s", file, e->msg);
  else
    cpb_buf_printf (b, "%s:%u:%u: %s", file, e->pos.line, e->pos.col, e->msg);
}

int
cpb_diag_to_error (const cpb_diag *d, cpb_error **err)
{
  _cleanup_free_ struct diag_entry *sorted = NULL;
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  size_t shown = 0;

  if (d->n == 0)
    return 0;

  /* A copy, so that reporting leaves the collector as it was. */
  sorted = cpb_xcalloc (d->n, sizeof *sorted);
  memcpy (sorted, d->v, d->n * sizeof *sorted);
  qsort (sorted, d->n, sizeof *sorted, entry_cmp);

  for (size_t i = 0; i < d->n; i++)
    {
      const struct diag_entry *e = &sorted[i], *prev = i ? &sorted[i - 1] : NULL;

      /* A node shared through an alias is checked once per use: say it once. */
      if (prev && prev->pos.line == e->pos.line && prev->pos.col == e->pos.col &&
          strcmp (prev->msg, e->msg) == 0)
        continue;
      if (shown == CPB_DIAG_MAX)
        {
          cpb_buf_printf (&b, "\n%s: ... and more errors (showing the first %d)", d->file,
                          CPB_DIAG_MAX);
          break;
        }
      format_entry (&b, d->file, e);
      shown++;
    }
  return cpb_error_set (err, CPB_ERR_INPUT, "%s", b.data);
}
