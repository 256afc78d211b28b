/* cleanup.h: scope-bound ownership for plain C types.
 *
 * Every handle in cpb is released by a cleanup attribute on the variable that owns it,
 * and ownership moves explicitly with TAKE_PTR / TAKE_FD.  Library-specific handles
 * (yajl, curl, libarchive, libseccomp, sqlite, libyaml) get their cleanup helpers in
 * the header of the module that wraps that library, next to the type they free.
 * Every destructor here accepts NULL (or -1), so early returns need no bookkeeping.
 */
#ifndef CPB_CLEANUP_H
#define CPB_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
#include <errno.h>

#define _cleanup_(f) __attribute__ ((cleanup (f)))

/* Take the value out of P and leave NULL behind, so the cleanup of P does nothing. */
#define TAKE_PTR(p)                                                                                \
  ({                                                                                               \
    __typeof__ (p) _take_tmp = (p);                                                                \
    (p) = NULL;                                                                                    \
    _take_tmp;                                                                                     \
  })

/* The same for file descriptors, leaving -1. */
#define TAKE_FD(fd)                                                                                \
  ({                                                                                               \
    int _take_fd = (fd);                                                                           \
    (fd) = -1;                                                                                     \
    _take_fd;                                                                                      \
  })

/* Define NAME##p(type *) that calls FUNC on a non-NULL value. */
#define CPB_DEFINE_CLEANUP_FUNC(type, func)                                                        \
  static inline void func##p (type *p)                                                             \
  {                                                                                                \
    if (*p)                                                                                        \
      func (*p);                                                                                   \
  }

static inline void
freep (void *p)
{
  free (*(void **) p);
}
#define _cleanup_free_ _cleanup_ (freep)

/* Free a NULL-terminated array of strings and the array itself. */
static inline void
cpb_strv_free (char **v)
{
  if (v == NULL)
    return;
  for (char **i = v; *i; i++)
    free (*i);
  free (v);
}
CPB_DEFINE_CLEANUP_FUNC (char **, cpb_strv_free)
#define _cleanup_strv_free_ _cleanup_ (cpb_strv_freep)

/* close() that keeps errno, so a cleanup never hides the error a caller is reporting. */
static inline void
closep (int *fd)
{
  if (*fd >= 0)
    {
      int saved = errno;
      close (*fd);
      errno = saved;
    }
}
#define _cleanup_close_ _cleanup_ (closep)

static inline void
fclosep (FILE **f)
{
  if (*f)
    {
      int saved = errno;
      fclose (*f);
      errno = saved;
    }
}
#define _cleanup_fclose_ _cleanup_ (fclosep)

static inline void
closedirp (DIR **d)
{
  if (*d)
    closedir (*d);
}
#define _cleanup_closedir_ _cleanup_ (closedirp)

#endif
