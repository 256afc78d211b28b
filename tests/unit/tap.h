/* tap.h: a minimal Test Anything Protocol producer for the unit tests (meson protocol: 'tap').
 *
 *   plan_no_plan ();  ok (cond, "what");  is_str (got, want, "what");  return done_testing ();
 */
#ifndef CPB_TAP_H
#define CPB_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

#define plan_no_plan() ((void) 0)

#define ok(cond, ...)                                                                              \
  ({                                                                                               \
    int _ok = !!(cond);                                                                            \
    tap_count++;                                                                                   \
    if (!_ok)                                                                                      \
      tap_failed++;                                                                                \
    printf ("%sok %d - ", _ok ? "" : "not ", tap_count);                                           \
    printf (__VA_ARGS__);                                                                          \
    printf ("\n");                                                                                 \
    if (!_ok)                                                                                      \
      printf ("#   failed at %s:%d\n", __FILE__, __LINE__);                                        \
    fflush (stdout);                                                                               \
    _ok;                                                                                           \
  })

#define is_int(got, want, ...)                                                                     \
  ({                                                                                               \
    long long _g = (long long) (got), _w = (long long) (want);                                     \
    int _r = ok (_g == _w, __VA_ARGS__);                                                           \
    if (!_r)                                                                                       \
      printf ("#   got: %lld\n#   expected: %lld\n", _g, _w);                                     \
    _r;                                                                                            \
  })

#define is_str(got, want, ...)                                                                     \
  ({                                                                                               \
    const char *_g = (got), *_w = (want);                                                          \
    int _r = ok (_g && _w && strcmp (_g, _w) == 0, __VA_ARGS__);                                   \
    if (!_r)                                                                                       \
      printf ("#   got: '%s'\n#   expected: '%s'\n", _g ? _g : "(null)", _w ? _w : "(null)");       \
    _r;                                                                                            \
  })

#define diag(...)                                                                                  \
  do                                                                                               \
    {                                                                                              \
      printf ("# ");                                                                               \
      printf (__VA_ARGS__);                                                                        \
      printf ("\n");                                                                               \
    }                                                                                              \
  while (0)

static inline int
done_testing (void)
{
  printf ("1..%d\n", tap_count);
  return tap_failed ? 1 : 0;
}

#endif
