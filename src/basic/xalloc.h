/* xalloc.h: allocation that cannot fail.
 *
 * cpb treats running out of memory as fatal, as crun's xmalloc does: every caller checking
 * for NULL after a 40-byte allocation would double the error paths without making any of
 * them recoverable.  These abort with a message instead.  Allocations whose size comes
 * from outside input must be bounded by the caller first.
 */
#ifndef CPB_XALLOC_H
#define CPB_XALLOC_H

#include <stddef.h>
#include <stdarg.h>

void *cpb_xmalloc (size_t size);
void *cpb_xzalloc (size_t size);
void *cpb_xrealloc (void *ptr, size_t size);
/* Allocate NMEMB * SIZE zeroed bytes, aborting on overflow as on exhaustion. */
void *cpb_xcalloc (size_t nmemb, size_t size);
char *cpb_xstrdup (const char *s);
char *cpb_xstrndup (const char *s, size_t n);
char *cpb_xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
char *cpb_xvasprintf (const char *fmt, va_list ap) __attribute__ ((format (printf, 1, 0)));

#endif
