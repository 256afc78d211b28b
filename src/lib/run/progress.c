/* run/progress.c: the status line of a run on a terminal, or plain lines (see progress.h). */
#include "config.h"
#include "run/progress.h"
#include "xalloc.h"

#include <stdarg.h>
#include <string.h>

struct cpb_progress
{
  FILE *out;
  bool tty;
  bool line_shown; /* a status line is on the terminal, to be erased before an event */
  size_t total;
  bool have_base;
  size_t done_before; /* DONE when the run began: skipped tasks do not make a rate */
  double start, last_draw;
  char last[256];   /* the line last printed */
  char latest[256]; /* the line for the latest counts, printed or not */
};

cpb_progress *
cpb_progress_new (FILE *out, bool tty, size_t total)
{
  cpb_progress *p = cpb_xzalloc (sizeof *p);

  p->out = out;
  p->tty = tty;
  p->total = total;
  return p;
}

static void
format_duration (char *buf, size_t size, double s)
{
  if (s < 90)
    snprintf (buf, size, "%.0fs", s);
  else if (s < 5400)
    snprintf (buf, size, "%.0fm", s / 60);
  else
    snprintf (buf, size, "%.1fh", s / 3600);
}

void
cpb_progress_format (char *buf, size_t size, const size_t counts[CPB_TASK_N], size_t done_before,
                     double elapsed)
{
  size_t done = counts[CPB_TASK_DONE], failed = counts[CPB_TASK_FAILED];
  size_t queued = counts[CPB_TASK_QUEUED], running = counts[CPB_TASK_RUNNING];
  size_t new_done = done > done_before ? done - done_before : 0;
  double rate = elapsed > 0 ? (double)(new_done + failed) / elapsed : 0;
  char eta[32] = "?";
  int n;

  if (rate > 0)
    format_duration (eta, sizeof eta, (double)(queued + running) / rate);
  n = snprintf (buf, size, "%zu done, %zu running, %zu queued, %zu failed", done, running, queued,
                failed);
  if (counts[CPB_TASK_HELD] && n > 0 && (size_t)n < size)
    n += snprintf (buf + n, size - n, ", %zu held", counts[CPB_TASK_HELD]);
  if (counts[CPB_TASK_CANCELLED] && n > 0 && (size_t)n < size)
    n += snprintf (buf + n, size - n, ", %zu cancelled", counts[CPB_TASK_CANCELLED]);
  if (n > 0 && (size_t)n < size)
    snprintf (buf + n, size - n, " | %.2f tasks/s, ETA %s", rate, queued + running ? eta : "0s");
}

static void
erase_line (cpb_progress *p)
{
  if (p->tty && p->line_shown)
    fputs ("\r\033[K", p->out);
  p->line_shown = false;
}

void
cpb_progress_update (cpb_progress *p, const size_t counts[CPB_TASK_N], double now)
{
  char line[256];

  if (!p->have_base)
    {
      p->have_base = true;
      p->done_before = counts[CPB_TASK_DONE];
      p->start = now;
    }
  cpb_progress_format (line, sizeof line, counts, p->done_before, now - p->start);
  snprintf (p->latest, sizeof p->latest, "%s", line);
  /* The rate part changes every call; compare only the counts to decide on a plain line. */
  if (p->tty)
    {
      if (now - p->last_draw < 0.2 && strncmp (line, p->last, strcspn (line, "|")) == 0)
        return;
      erase_line (p);
      fprintf (p->out, "%s", line);
      p->line_shown = true;
    }
  else
    {
      if (strncmp (line, p->last, strcspn (line, "|")) == 0 || now - p->last_draw < 5)
        return;
      fprintf (p->out, "cpb run: %s\n", line);
    }
  fflush (p->out);
  p->last_draw = now;
  snprintf (p->last, sizeof p->last, "%s", line);
}

void
cpb_progress_event (cpb_progress *p, const char *fmt, ...)
{
  va_list ap;

  erase_line (p);
  fputs ("cpb run: ", p->out);
  va_start (ap, fmt);
  vfprintf (p->out, fmt, ap);
  va_end (ap);
  fputc ('\n', p->out);
  if (p->tty && p->last[0])
    {
      fputs (p->last, p->out);
      p->line_shown = true;
    }
  fflush (p->out);
}

void
cpb_progress_observe (void *arg, const struct cpb_run_event *ev)
{
  cpb_progress *p = arg;

  switch (ev->kind)
    {
    case CPB_RUN_EVENT_PROGRESS:
      cpb_progress_update (p, ev->counts, ev->now);
      break;
    case CPB_RUN_EVENT_RETRY:
      cpb_progress_event (p, "%s failed (%s), retrying (attempt %d)", ev->task, ev->message,
                          ev->attempt);
      break;
    case CPB_RUN_EVENT_FAILED:
      cpb_progress_event (p, "%s failed: %s%s%s", ev->task, ev->message,
                          ev->detail ? "; stderr: " : "", ev->detail ? ev->detail : "");
      break;
    case CPB_RUN_EVENT_WARNING:
      cpb_progress_event (p, "%s", ev->message);
      break;
    case CPB_RUN_EVENT_STARTED:
    case CPB_RUN_EVENT_DONE:
    case CPB_RUN_EVENT_CANCELLED:
    default:
      break;
    }
}

void
cpb_progress_free (cpb_progress *p)
{
  if (p == NULL)
    return;
  if (p->tty && p->latest[0])
    {
      erase_line (p);
      fprintf (p->out, "%s\n", p->latest);
    }
  else if (!p->tty && p->latest[0] && strcmp (p->latest, p->last) != 0)
    fprintf (p->out, "cpb run: %s\n", p->latest);
  fflush (p->out);
  free (p);
}
