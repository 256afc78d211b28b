/* diag.h: many FILE:LINE:COL diagnostics, reported as one error.
 *
 * A spec loader should tell the user about every mistake in the file at once, not make
 * them fix one typo per run.  Validators record each problem here as they go and carry on;
 * at the end cpb_diag_to_error() turns them into one CPB_ERR_INPUT error whose message has
 * one line per problem, sorted by position in the file:
 *
 *   pods.yaml:14:7: image 'solver': unknown key 'pakages' (did you mean 'packages'?)
 *   pods.yaml:21:12: image 'solver': 'mode' must be an octal string like "0755"
 */
#ifndef CPB_DIAG_H
#define CPB_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include "error.h"

/* A 1-based position in a source file (0/0 when unknown). */
typedef struct cpb_pos
{
  unsigned line;
  unsigned col;
} cpb_pos;

typedef struct cpb_diag cpb_diag;

/* A collector for the diagnostics of FILE (the name as the user should read it). */
cpb_diag *cpb_diag_new (const char *file);
void cpb_diag_free (cpb_diag *d);

/* Record a problem at LINE:COL (1-based; 0 for "the whole file", printed as FILE: msg). */
void cpb_diag_add (cpb_diag *d, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
void cpb_diag_vadd (cpb_diag *d, unsigned line, unsigned col, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 4, 0)));

/* Number of problems recorded so far (validators use it to skip work that would only
   produce follow-on noise). */
size_t cpb_diag_count (const cpb_diag *d);

/* The file name given to cpb_diag_new. */
const char *cpb_diag_file (const cpb_diag *d);

/* If any problem was recorded, set *ERR to one CPB_ERR_INPUT error holding every line in
   file order (identical lines once) and return -1; otherwise return 0.  Past a limit
   (CPB_DIAG_MAX lines) the rest is cut with a last line saying so. */
int cpb_diag_to_error (const cpb_diag *d, cpb_error **err);

#define CPB_DIAG_MAX 100

CPB_DEFINE_CLEANUP_FUNC (cpb_diag *, cpb_diag_free)
#define _cleanup_diag_ _cleanup_ (cpb_diag_freep)

#endif
