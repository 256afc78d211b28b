/* Unit tests for the node module's pure parts: /proc/meminfo figures. */
#include "config.h"
#include "tap.h"
#include "nodes.h"

static void
test_meminfo (void)
{
  uint64_t v = 0;
  static const char meminfo[] = "MemTotal:        8048576 kB\nMemFree:  100 kB\n"
                                "MemAvailable:    4024288 kB\n";

  ok (cpb_meminfo_value (meminfo, "MemAvailable", &v) && v == 4024288ull * 1024,
      "a /proc/meminfo figure in bytes");
  ok (!cpb_meminfo_value (meminfo, "Mem", &v), "a key matches only whole");
}

int
main (void)
{
  test_meminfo ();
  return done_testing ();
}
