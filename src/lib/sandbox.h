/* sandbox.h: run a parser of untrusted data in a forked child that cannot do much harm.
 *
 * What comes out of a container (tar streams, archives for `cpb fetch`) is attacker-
 * controlled input to libarchive.  cpb_sandbox_run() runs the parsing in a child that has
 * no_new_privs and a seccomp filter refusing exec, new sockets, ptrace and the like, holds
 * no descriptors but the ones it is given, and can only hand a result and an error message
 * back.  A bug in the parser then yields a failed fetch, not a shell.
 */
#ifndef CPB_SANDBOX_H
#define CPB_SANDBOX_H

#include "error.h"

/* The work done in the child: read IN_FD, write OUT_FD (either may be -1), return >= 0 on
   success or < 0 with *ERR set.  It runs after fork(): it must not rely on other threads. */
typedef int (*cpb_sandbox_fn) (void *arg, int in_fd, int out_fd, cpb_error **err);

/* Run FN (ARG, IN_FD, OUT_FD) in a restricted child and wait for it.  Returns FN's value
   (>= 0) or -1 with *ERR holding FN's error (kind and message kept) or why the child failed
   (killed by a signal: CPB_ERR_FAILED, or CPB_ERR_CANCELLED for SIGINT/SIGTERM).  Every
   descriptor but IN_FD, OUT_FD and stderr is closed in the child. */
int cpb_sandbox_run (cpb_sandbox_fn fn, void *arg, int in_fd, int out_fd, cpb_error **err);

/* A started sandboxed child, for callers that stream through pipes while it works. */
typedef struct cpb_sandbox cpb_sandbox;

/* Start FN as cpb_sandbox_run does but return at once, so that the caller can feed IN_FD and
   drain OUT_FD (pipes) while the child parses; then call cpb_sandbox_wait.  The child dies
   with the calling thread (PR_SET_PDEATHSIG), so a crashed cpb leaves no parser behind. */
int cpb_sandbox_start (cpb_sandbox_fn fn, void *arg, int in_fd, int out_fd, cpb_sandbox **ret,
                       cpb_error **err);

/* Wait for SB's child and free SB; returns what cpb_sandbox_run would have. */
int cpb_sandbox_wait (cpb_sandbox *sb, cpb_error **err);

#endif
