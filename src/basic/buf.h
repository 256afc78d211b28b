/* buf.h: a growable byte buffer, always NUL-terminated so text can be used as a string. */
#ifndef CPB_BUF_H
#define CPB_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct cpb_buf
{
  char *data; /* NULL until the first append; then always NUL-terminated */
  size_t len;
  size_t cap;
} cpb_buf;

#define CPB_BUF_INIT { NULL, 0, 0 }

void cpb_buf_append (cpb_buf *b, const void *data, size_t len);
void cpb_buf_puts (cpb_buf *b, const char *s);
void cpb_buf_putc (cpb_buf *b, char c);
void cpb_buf_printf (cpb_buf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void cpb_buf_vprintf (cpb_buf *b, const char *fmt, va_list ap) __attribute__ ((format (printf, 2, 0)));
/* Forget the contents, keep the allocation. */
void cpb_buf_reset (cpb_buf *b);
/* Hand the contents (never NULL) to the caller and leave B empty. */
char *cpb_buf_steal (cpb_buf *b, size_t *ret_len);
void cpb_buf_free (cpb_buf *b);

static inline void
cpb_buf_freep (cpb_buf *b)
{
  cpb_buf_free (b);
}
#define _cleanup_buf_ __attribute__ ((cleanup (cpb_buf_freep)))

#endif
