/* Unit tests for the progress line of cpb run: its counts, rate and estimate. */
#include "config.h"
#include "tap.h"
#include "run/progress.h"

static void
test_format (void)
{
  size_t counts[CPB_TASK_N] = { 0 };
  char line[256];

  counts[CPB_TASK_DONE] = 14;
  counts[CPB_TASK_RUNNING] = 2;
  counts[CPB_TASK_QUEUED] = 8;
  counts[CPB_TASK_FAILED] = 0;
  /* 4 of the 14 were DONE before the run: 10 in 5 s is 2 tasks/s, 10 left: 5 s. */
  cpb_progress_format (line, sizeof line, counts, 4, 5.0);
  is_str (line, "14 done, 2 running, 8 queued, 0 failed | 2.00 tasks/s, ETA 5s",
          "the status line counts, rates and estimates");
  counts[CPB_TASK_HELD] = 1;
  cpb_progress_format (line, sizeof line, counts, 14, 0);
  ok (strstr (line, ", 1 held") && strstr (line, "ETA ?"), "held shown, no rate yet: %s", line);
}

int
main (void)
{
  test_format ();
  return done_testing ();
}
