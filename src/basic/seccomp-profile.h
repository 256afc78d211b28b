/* seccomp-profile.h: the seccomp profiles of cpb-helper, built with libseccomp.
 *
 * Kept apart from the helper's main so that the unit tests (and the jobs.yaml loader, which
 * validates `deny:` names) link the very code the helper runs.  profile.c is compiled into
 * libcpb as well as into the static cpb-helper.  docs/helper.md lists every rule and why.
 */
#ifndef CPB_PROFILE_H
#define CPB_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <seccomp.h>

#include "error.h"

/* The profile a task runs under (jobs.yaml `seccomp:`, the helper's --seccomp); zero is
   the default, so a zeroed setting means the default profile. */
enum cpb_profile_kind
{
  CPB_PROFILE_DEFAULT = 0, /* a deny list: ptrace, mount, bpf, kernel modules, ... */
  CPB_PROFILE_STRICT,      /* an allowlist: no sockets, one exec (docs/helper.md) */
  CPB_PROFILE_NONE,        /* no rules; no_new_privs is still set */
};

struct cpb_profile_opts
{
  enum cpb_profile_kind kind;
  bool allow_network;      /* default: sockets of every family, not only AF_UNIX */
  bool notify;             /* refuse by user notification (named); false: plain EPERM */
  int handoff_fd;          /* strict: the one fd sendmsg() may use to pass the listener on */
  const char *const *deny; /* extra names to refuse (jobs.yaml `deny:`), NULL-terminated */
};

static inline void
cpb_seccomp_releasep (scmp_filter_ctx *ctx)
{
  if (*ctx)
    seccomp_release (*ctx);
}
#define _cleanup_seccomp_ __attribute__ ((cleanup (cpb_seccomp_releasep)))

/* Build the filter described by OPTS (not loaded) into *RET_CTX, and the number of rules
   added into *RET_RULES (for tests and diagnostics).  CPB_PROFILE_NONE yields a filter that
   allows everything: the helper still needs one to set no_new_privs consistently. */
int cpb_profile_build (const struct cpb_profile_opts *opts, scmp_filter_ctx *ret_ctx,
                       size_t *ret_rules, cpb_error **err);

/* Parse "default", "strict" or "none". */
int cpb_profile_parse_kind (const char *s, enum cpb_profile_kind *ret_kind, cpb_error **err);

/* The name of KIND as the command line spells it. */
const char *cpb_profile_kind_name (enum cpb_profile_kind kind);

/* NULL when NAME may appear in a task's `deny:` list, else a static reason why not
   ("unknown system call", or that the helper needs it to start the task).  The jobs.yaml
   loader turns the reason into a FILE:LINE:COL error. */
const char *cpb_profile_deny_problem (const char *name);

/* The name of system call NR of audit architecture ARCH, or "syscall NR" in BUF. */
const char *cpb_profile_syscall_name (unsigned arch, int nr, char *buf, size_t len);

#endif
