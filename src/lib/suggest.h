/* suggest.h: "did you mean ...?" for names the user got slightly wrong.
 *
 * A typo in a key ("pakages") or an image name should point at the intended name instead
 * of leaving the user to compare the spelling against the documentation.
 */
#ifndef CPB_SUGGEST_H
#define CPB_SUGGEST_H

#include <stddef.h>

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions) between A
   and B, case-sensitive; saturates at CPB_SUGGEST_MAX_DIST + 1 for long inputs. */
size_t cpb_edit_distance (const char *a, const char *b);

#define CPB_SUGGEST_MAX_DIST 64

/* The candidate closest to WORD, if it is close enough to be the intended one: at most
   about a third of WORD's length in edits (at least 1, at most 3), or the same word in
   another case.  CANDIDATES is NULL-terminated when N is (size_t) -1, otherwise N long
   (NULL entries are skipped).  Returns NULL when nothing is close. */
const char *cpb_suggest (const char *word, const char *const *candidates, size_t n);

#endif
