/* suggest.c: edit distance and the "did you mean" choice. */
#include "config.h"
#include "suggest.h"
#include "cleanup.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t
min3 (size_t a, size_t b, size_t c)
{
  size_t m = a < b ? a : b;
  return m < c ? m : c;
}

size_t
cpb_edit_distance (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b);
  size_t width = lb + 1;
  _cleanup_free_ size_t *d = NULL;

  /* Names worth suggesting are short; bound the table so a hostile key costs nothing. */
  if (la > CPB_SUGGEST_MAX_DIST || lb > CPB_SUGGEST_MAX_DIST)
    return CPB_SUGGEST_MAX_DIST + 1;

  d = cpb_xcalloc ((la + 1) * width, sizeof *d);
  for (size_t i = 0; i <= la; i++)
    d[i * width] = i;
  for (size_t j = 0; j <= lb; j++)
    d[j] = j;

  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++)
      {
        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
        size_t v = min3 (d[(i - 1) * width + j] + 1, d[i * width + j - 1] + 1,
                         d[(i - 1) * width + j - 1] + cost);
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
            d[(i - 2) * width + j - 2] + 1 < v)
          v = d[(i - 2) * width + j - 2] + 1;
        d[i * width + j] = v;
      }
  return d[la * width + lb];
}

/* How many edits still read as a typo of WORD rather than a different word. */
static size_t
max_edits (const char *word)
{
  size_t n = strlen (word) / 3;

  if (n < 1)
    return 1;
  return n > 3 ? 3 : n;
}

const char *
cpb_suggest (const char *word, const char *const *candidates, size_t n)
{
  const char *best = NULL;
  size_t best_dist = max_edits (word) + 1;

  for (size_t i = 0; n == (size_t)-1 ? candidates[i] != NULL : i < n; i++)
    {
      const char *c = candidates[i];
      size_t dist;

      if (c == NULL || strcmp (c, word) == 0)
        continue;
      if (strcasecmp (c, word) == 0)
        return c;
      dist = cpb_edit_distance (word, c);
      if (dist < best_dist)
        {
          best = c;
          best_dist = dist;
        }
    }
  return best;
}
