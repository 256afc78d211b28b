/* fuzz-tar-filter.c: the archive writer's tar-stream filter (the code that parses what comes
 * out of a container, store.c) on arbitrary input, in-process so sanitizers see it.
 *
 * Besides memory errors, it checks the filter's promises and abort()s when one is broken: it
 * returns 0 or -1, and whatever it reports is made of whole frames, never more bytes than
 * the input could justify being kept.
 */
#include "config.h"
#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Tar streams of a few records exercise the parser; longer ones only slow the fuzzer down. */
#define FUZZ_MAX_INPUT (256 * 1024)

static void
check (bool cond)
{
  if (!cond)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static char *const outputs[] = { (char *)"out/**/*.csv", (char *)"results", (char *)"**/keep",
                                   (char *)"[a-c]?", NULL };
  int in, out, r;
  off_t produced;

  if (size > FUZZ_MAX_INPUT)
    return 0;
  in = memfd_create ("fuzz-in", MFD_CLOEXEC);
  out = memfd_create ("fuzz-out", MFD_CLOEXEC);
  check (in >= 0 && out >= 0);
  check (write (in, data, size) == (ssize_t)size);
  check (lseek (in, 0, SEEK_SET) == 0);
  r = cpb_store_filter_for_fuzzing (in, out, outputs);
  check (r == 0 || r == -1);
  produced = lseek (out, 0, SEEK_END);
  /* Kept contents come out of the input: frames add a bounded header per member, and a
     tar member takes at least one 512-byte header in the input. */
  check (produced >= 0 && (size_t)produced <= size + (size / 512 + 2) * (32 + 4096 + 4096));
  close (in);
  close (out);
  return 0;
}
