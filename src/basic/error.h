/* error.h: the one error type of cpb.
 *
 * Every fallible library function takes `cpb_error **err` last, returns a negative value
 * (or NULL) on failure and fills *err; callers that add meaning wrap it with
 * cpb_error_prefix() so the user reads the whole story, outermost first:
 *
 *   node lab3: creating container 'sweep-0007': podman: image not known
 *
 * The library never prints and never exits; the command layer prints the message once
 * and turns the kind into an exit code (cpb_error_exit_code).
 */
#ifndef CPB_ERROR_H
#define CPB_ERROR_H

#include <stdarg.h>
#include "cleanup.h"

/* What went wrong, coarsely: it decides the exit code, the message says the rest. */
enum cpb_error_kind
{
  CPB_ERR_SYSTEM = 1, /* the host: files, memory, fork; errno_value says which */
  CPB_ERR_INPUT,      /* the user's input: spec files, arguments (exit 2) */
  CPB_ERR_PODMAN,     /* the Podman service answered with an error (exit 1) */
  CPB_ERR_CONNECT,    /* no Podman service could be reached (exit 3) */
  CPB_ERR_NOT_FOUND,  /* something named does not exist (image, batch, task) */
  CPB_ERR_CANCELLED,  /* interrupted by the user (exit 130) */
  CPB_ERR_FAILED,     /* the work ran and failed: a build step, a task (exit 1) */
};

/* Exit codes with a meaning that scripts may rely on; docs/cpb.1 lists them. */
enum
{
  CPB_EXIT_OK = 0,
  CPB_EXIT_FAILURE = 1,
  CPB_EXIT_USAGE = 2,
  CPB_EXIT_UNREACHABLE = 3,
  CPB_EXIT_INTERRUPTED = 130,
};

typedef struct cpb_error
{
  enum cpb_error_kind kind;
  int errno_value;  /* 0 unless an errno caused it */
  int http_status;  /* 0 unless Podman answered with an HTTP error status */
  char *msg;
} cpb_error;

/* Set *ERR (when ERR is not NULL) to a new error; an error already there is replaced.
   Always returns -1 so that `return cpb_error_set (...)` reads naturally. */
int cpb_error_set (cpb_error **err, enum cpb_error_kind kind, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Like cpb_error_set with kind CPB_ERR_SYSTEM, appending ": strerror (ERRNUM)". */
int cpb_error_errno (cpb_error **err, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Prepend "PREFIX: " to the message of *ERR, keeping its kind.  Returns -1.
   A NULL *ERR is left alone (nothing to add context to). */
int cpb_error_prefix (cpb_error **err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* Same as cpb_error_prefix with a va_list. */
int cpb_error_vprefix (cpb_error **err, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 2, 0)));

void cpb_error_free (cpb_error *err);

/* Move the error out of *ERR (leaving NULL) into a new owner. */
static inline cpb_error *
cpb_error_take (cpb_error **err)
{
  return TAKE_PTR (*err);
}

/* The exit code a command should end with for ERR (CPB_EXIT_OK for NULL). */
int cpb_error_exit_code (const cpb_error *err);

CPB_DEFINE_CLEANUP_FUNC (cpb_error *, cpb_error_free)
#define _cleanup_error_ _cleanup_ (cpb_error_freep)

#endif
