/* Unit tests for the one rule that cuts the helper's report off a task's stderr
 * (lib/helper-host.h): the whole-log cut the run uses and the streaming cutter of `cpb logs -f`
 * and the web page.  Both keep a marker the task printed itself, and the streaming cutter
 * never passes on a marker that arrives split across two chunks. */
#include "config.h"
#include "tap.h"
#include "buf.h"
#include "helper-host.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char report[] = "{\n  \"version\": 1,\n  \"exit_code\": 0\n}\n";

/* The log as the helper leaves it: the task's stderr, "\n", the marker, the report. */
static char *
helper_log (const char *task_stderr, size_t *ret_len)
{
  char *s = cpb_xasprintf ("%s" CPB_HELPER_LOG_MARKER "%s", task_stderr, report);

  *ret_len = strlen (s);
  return s;
}

static int
collect (void *userdata, const char *data, size_t len, cpb_error **err)
{
  cpb_buf_append (userdata, data, len);
  return 0;
}

/* Feed LOG in chunks of CHUNK bytes (the first one FIRST bytes long) and return what the
   cutter passed on; *RET_REPORT gets the report it cut, if any. */
static char *
stream (const char *log, size_t len, size_t first, size_t chunk, char **ret_report)
{
  cpb_report_cutter c = CPB_REPORT_CUTTER_INIT;
  cpb_buf out = CPB_BUF_INIT;
  size_t at = 0, n = first;

  while (at < len)
    {
      if (n > len - at)
        n = len - at;
      cpb_report_cutter_feed (&c, log + at, n, collect, &out, NULL);
      at += n;
      n = chunk;
    }
  cpb_report_cutter_finish (&c, collect, &out, ret_report, NULL);
  return cpb_buf_steal (&out, NULL);
}

static void
test_whole_log (void)
{
  size_t len, kept, rlen = 0;
  const char *r = NULL;
  _cleanup_free_ char *log = helper_log ("err 1\n", &len);
  _cleanup_free_ char *forged = NULL, *garbage = NULL;

  ok (cpb_helper_report_cut (log, len, false, &kept, &r, &rlen), "the helper's report is found");
  is_int (kept, strlen ("err 1\n"), "the task's stderr is kept byte for byte");
  ok (rlen == strlen (report) && memcmp (r, report, rlen) == 0, "the report is what follows");
  ok (!cpb_helper_report_cut (log, len, true, &kept, NULL, NULL) && kept == len,
      "a truncated log is not cut");

  forged = helper_log ("before\n" CPB_HELPER_LOG_MARKER "{\"version\": 9}\nafter\n", &len);
  ok (cpb_helper_report_cut (forged, len, false, &kept, NULL, NULL), "forged: the last one counts");
  is_int (kept, strlen ("before\n" CPB_HELPER_LOG_MARKER "{\"version\": 9}\nafter\n"),
          "a marker the task printed stays in its stderr");

  garbage = cpb_xstrdup ("x" CPB_HELPER_LOG_MARKER "{\"version\": 1, \"exit");
  ok (!cpb_helper_report_cut (garbage, strlen (garbage), false, &kept, NULL, NULL) &&
          kept == strlen (garbage),
      "a marker followed by an incomplete report is the task's");
  ok (!cpb_helper_report_cut ("", 0, false, &kept, NULL, NULL) && kept == 0, "an empty log");
}

/* Every split of the log into two chunks, and one byte at a time: the marker never leaks,
   however it is cut (the old cpb logs printed a marker split across two chunks). */
static void
test_stream_splits (void)
{
  size_t len;
  _cleanup_free_ char *log = helper_log ("first\nlast", &len);
  bool all_ok = true, all_report = true;

  for (size_t split = 0; split <= len; split++)
    {
      char *rep = NULL;
      _cleanup_free_ char *out = stream (log, len, split ? split : len, len, &rep);

      if (strcmp (out, "first\nlast") != 0)
        {
          diag ("split at %zu: got '%s'", split, out);
          all_ok = false;
        }
      all_report = all_report && rep && strcmp (rep, report) == 0;
      free (rep);
    }
  ok (all_ok, "split anywhere into two chunks, only the task's stderr is passed on");
  ok (all_report, "and the report is cut whole every time");
  {
    _cleanup_free_ char *out = stream (log, len, 1, 1, NULL);
    is_str (out, "first\nlast", "one byte at a time");
  }
}

/* A task that prints the marker itself keeps the rest of its stderr (the old cpb logs
   dropped everything after the first marker). */
static void
test_stream_forged (void)
{
  const char *task = "a\n" CPB_HELPER_LOG_MARKER "{\"version\": 1}\nrest of stderr\n";
  size_t len;
  _cleanup_free_ char *log = helper_log (task, &len);
  _cleanup_free_ char *out1 = NULL, *out7 = NULL, *died = NULL;
  char *rep = NULL;

  out1 = stream (log, len, 1, 1, &rep);
  is_str (out1, task, "a printed marker and what follows it reach the user");
  is_str (rep, report, "the helper's report at the end is still cut");
  free (rep);
  out7 = stream (log, len, 7, 7, NULL);
  is_str (out7, task, "the same in chunks of 7 bytes");
  /* The helper died before its report: the task's marker at the end is not cut. */
  died = stream (task, strlen (task), 3, 5, &rep);
  is_str (died, task, "a task's marker with no report after it is passed on at the end");
  ok (rep == NULL, "and no report is claimed");
}

/* A marker followed by more than a report can hold is passed on before the stream ends. */
static void
test_stream_bounded (void)
{
  cpb_report_cutter c = CPB_REPORT_CUTTER_INIT;
  cpb_buf out = CPB_BUF_INIT;
  size_t big = CPB_HELPER_REPORT_MAX + 10;
  char *filler = malloc (big);

  memset (filler, 'x', big);
  cpb_report_cutter_feed (&c, CPB_HELPER_LOG_MARKER, strlen (CPB_HELPER_LOG_MARKER), collect, &out,
                          NULL);
  is_int (out.len, 0, "a marker is held back");
  cpb_report_cutter_feed (&c, filler, big, collect, &out, NULL);
  ok (out.len >= big, "what cannot be a report is passed on without waiting for the end");
  cpb_report_cutter_finish (&c, collect, &out, NULL, NULL);
  is_int (out.len, strlen (CPB_HELPER_LOG_MARKER) + big, "nothing lost");
  cpb_buf_free (&out);
  free (filler);
}

/* The two rules are one: over random logs made of the pieces that matter (text, newlines,
   markers, complete and broken reports) fed in random chunks, the stream passes on exactly
   what the whole-log cut keeps, and cuts the same report. */
static void
test_same_rule (void)
{
  static const char *const pieces[] = {
    "x", "\n", CPB_HELPER_LOG_MARKER, "{\"version\": 1}", "{\"bro", "}\n", " ", "\036cpb"
  };
  const size_t n_pieces = sizeof pieces / sizeof pieces[0];
  unsigned seed = 12345;
  bool all = true;
  int cuts = 0;

  for (int round = 0; round < 2000 && all; round++)
    {
      cpb_buf log = CPB_BUF_INIT;
      size_t kept, rlen = 0, first;
      const char *r = NULL;
      char *rep = NULL, *out;
      bool cut;

      for (int k = rand_r (&seed) % 12; k >= 0; k--)
        cpb_buf_puts (&log, pieces[rand_r (&seed) % n_pieces]);
      if (rand_r (&seed) % 2)
        cpb_buf_puts (&log, CPB_HELPER_LOG_MARKER "{\"version\": 1}\n"); /* as the helper ends */
      if (log.data == NULL)
        cpb_buf_puts (&log, "");
      cut = cpb_helper_report_cut (log.data, log.len, false, &kept, &r, &rlen);
      cuts += cut;
      first = 1 + (size_t)rand_r (&seed) % (log.len + 1);
      out = stream (log.data, log.len, first, 1 + (size_t)rand_r (&seed) % 9, &rep);
      if (strlen (out) != kept || memcmp (out, log.data, kept) != 0 || (rep != NULL) != cut ||
          (cut && (strlen (rep) != rlen || memcmp (rep, r, rlen) != 0)))
        {
          diag ("round %d differs: log '%s' kept %zu, stream '%s'", round, log.data, kept, out);
          all = false;
        }
      free (out);
      free (rep);
      cpb_buf_free (&log);
    }
  ok (all, "the streaming cutter and the whole-log cut agree on 2000 random logs");
  ok (cuts > 500 && cuts < 1500, "and %d of them end with a report", cuts);
}

int
main (void)
{
  plan_no_plan ();
  test_whole_log ();
  test_stream_splits ();
  test_stream_forged ();
  test_stream_bounded ();
  test_same_rule ();
  return done_testing ();
}
