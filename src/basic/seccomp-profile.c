/* seccomp-profile.c: the seccomp profiles of cpb-helper (see docs/helper.md for the why of each rule).
 *
 * Rules are added by name so that one table serves every architecture libseccomp knows; a
 * name the architecture lacks (umount on x86_64) is skipped, not an error.
 */
#include "config.h"
#include "seccomp-profile.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Refused by the default profile.  OUTER: Podman 4.3's default profile already refuses it,
   so a notification would never reach the helper (an errno from any filter beats a
   notification): use a plain EPERM, which at least replaces Podman's ENOSYS for some. */
struct deny_entry
{
  const char *name;
  bool outer;
};

/* The tables read best dense. */
/* clang-format off */
static const struct deny_entry default_deny[] = {
  /* other processes' memory and descriptors */
  { "ptrace", false }, { "process_vm_readv", false }, { "process_vm_writev", false },
  { "kcmp", true }, { "pidfd_getfd", false },
  /* kernel keyrings: not namespaced */
  { "keyctl", false }, { "add_key", true }, { "request_key", true },
  /* kernel attack surface */
  { "bpf", true }, { "perf_event_open", true }, { "userfaultfd", true },
  { "io_uring_setup", true }, { "io_uring_enter", true }, { "io_uring_register", true },
  /* namespaces (clone's flags are checked separately) */
  { "unshare", false }, { "setns", false },
  /* the file system tree */
  { "mount", false }, { "umount", false }, { "umount2", false }, { "pivot_root", false },
  { "chroot", true }, { "fsopen", false }, { "fsconfig", false }, { "fsmount", false },
  { "fspick", false }, { "open_tree", false }, { "move_mount", false },
  { "mount_setattr", false }, { "name_to_handle_at", false }, { "open_by_handle_at", true },
  /* the machine */
  { "kexec_load", true }, { "kexec_file_load", true }, { "init_module", true },
  { "finit_module", true }, { "delete_module", true }, { "reboot", false },
  { "swapon", true }, { "swapoff", true }, { "acct", true }, { "quotactl", true },
  { "lookup_dcookie", true }, { "syslog", false }, { "iopl", true }, { "ioperm", true },
};

/* Allowed by the strict profile: what pure compute needs from libc start-up to exit. */
static const char *const strict_allow[] = {
  /* files and descriptors */
  "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
  "pwritev2", "lseek", "_llseek", "open", "openat", "openat2", "creat", "close", "close_range",
  "stat", "fstat", "lstat", "newfstatat", "statx", "stat64", "fstat64", "lstat64",
  "fstatat64", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents",
  "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "unlink",
  "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
  "chmod", "fchmod", "fchmodat", "truncate", "ftruncate", "fsync", "fdatasync",
  "sync_file_range", "fallocate", "fadvise64", "readahead", "flock", "fcntl", "fcntl64",
  "dup", "dup2", "dup3", "pipe", "pipe2", "ioctl", "statfs", "fstatfs", "sendfile",
  "copy_file_range", "splice", "tee", "utimensat", "utime", "utimes", "futimesat",
  "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "umask",
  "memfd_create",
  /* memory */
  "mmap", "mmap2", "munmap", "mprotect", "mremap", "madvise", "brk", "msync", "mincore",
  "mlock", "munlock", "get_mempolicy",
  /* threads, processes of its own, synchronisation */
  "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
  "arch_prctl", "prctl", "vfork", "fork", "exit", "exit_group", "wait4", "waitid", "kill",
  "tgkill", "tkill", "membarrier", "sched_yield", "sched_getaffinity", "sched_setaffinity",
  "sched_getparam", "sched_getscheduler", "sched_get_priority_max",
  "sched_get_priority_min", "getcpu", "setpgid", "setsid",
  /* identity and limits */
  "getpid", "gettid", "getppid", "getpgrp", "getpgid", "getsid", "getuid", "geteuid",
  "getgid", "getegid", "getgroups", "getresuid", "getresgid", "uname", "sysinfo",
  "getrlimit", "prlimit64", "getrusage", "times", "getpriority", "capget", "getrandom",
  /* time */
  "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
  "alarm", "setitimer", "getitimer", "timerfd_create", "timerfd_settime", "timerfd_gettime",
  /* signals and waiting */
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
  "sigaltstack", "restart_syscall", "pause", "poll", "ppoll", "select", "pselect6",
  "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
  "eventfd", "eventfd2", "signalfd", "signalfd4",
  NULL,
};

/* The helper needs these between installing the filter and exec'ing the task. */
static const char *const undeniable[] = {
  "execve", "exit", "exit_group", "rt_sigreturn", "sendmsg", NULL,
};
/* clang-format on */

#define CLONE_NEW_MASK                                                                             \
  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |    \
   CLONE_NEWNET)

static const unsigned long clone_new_flags[] = {
  CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
  CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};

static bool
strv_contains (const char *const *v, const char *s)
{
  for (; v && *v; v++)
    if (strcmp (*v, s) == 0)
      return true;
  return false;
}

/* Add one rule by name; a name unknown on this architecture is skipped.  Counts into RULES. */
static int
add_rule (scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
          const struct scmp_arg_cmp *cmp, size_t *rules, cpb_error **err)
{
  int nr = seccomp_syscall_resolve_name (name);
  int r;

  if (nr == __NR_SCMP_ERROR)
    return 0;
  r = seccomp_rule_add_array (ctx, action, nr, n, cmp);
  if (r < 0)
    return cpb_error_errno (err, -r, "seccomp rule for '%s'", name);
  (*rules)++;
  return 0;
}

static uint32_t
refuse_action (const struct cpb_profile_opts *opts)
{
  return opts->notify ? SCMP_ACT_NOTIFY : SCMP_ACT_ERRNO (EPERM);
}

/* clone with any namespace flag, one rule per flag: libseccomp compares an argument once
   per rule, and "any of these bits" is the OR of the rules. */
static int
add_clone_rules (scmp_filter_ctx ctx, uint32_t action, size_t *rules, cpb_error **err)
{
  for (size_t i = 0; i < sizeof clone_new_flags / sizeof clone_new_flags[0]; i++)
    {
      struct scmp_arg_cmp cmp =
          SCMP_A0 (SCMP_CMP_MASKED_EQ, clone_new_flags[i], clone_new_flags[i]);
      if (add_rule (ctx, action, "clone", 1, &cmp, rules, err) < 0)
        return -1;
    }
  /* clone3 passes its flags in memory, out of seccomp's sight: ENOSYS sends libc back to
     clone, whose flags the rules above see.  Not a violation, so never a notification. */
  return add_rule (ctx, SCMP_ACT_ERRNO (ENOSYS), "clone3", 0, NULL, rules, err);
}

static int
add_default_rules (scmp_filter_ctx ctx, const struct cpb_profile_opts *opts, size_t *rules,
                   cpb_error **err)
{
  uint32_t refuse = refuse_action (opts);

  for (size_t i = 0; i < sizeof default_deny / sizeof default_deny[0]; i++)
    {
      const struct deny_entry *e = &default_deny[i];
      if (add_rule (ctx, e->outer ? SCMP_ACT_ERRNO (EPERM) : refuse, e->name, 0, NULL, rules, err) <
          0)
        return -1;
    }
  /* Only querying the personality is harmless; 0xffffffff is the query.  Podman 4.3 lets
     five values through and answers ENOSYS to the rest, so a notification would rarely
     arrive: a plain EPERM keeps the answer the same for every value. */
  struct scmp_arg_cmp query = SCMP_A0 (SCMP_CMP_NE, 0xffffffff);
  if (add_rule (ctx, SCMP_ACT_ERRNO (EPERM), "personality", 1, &query, rules, err) < 0)
    return -1;
  if (!opts->allow_network)
    {
      struct scmp_arg_cmp unix_only = SCMP_A0 (SCMP_CMP_NE, AF_UNIX);
      if (add_rule (ctx, refuse, "socket", 1, &unix_only, rules, err) < 0)
        return -1;
    }
  return add_clone_rules (ctx, refuse, rules, err);
}

static int
add_strict_rules (scmp_filter_ctx ctx, const struct cpb_profile_opts *opts, size_t *rules,
                  cpb_error **err)
{
  struct scmp_arg_cmp no_ns = SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NEW_MASK, 0);

  for (const char *const *n = strict_allow; *n; n++)
    if (!strv_contains (opts->deny, *n) &&
        add_rule (ctx, SCMP_ACT_ALLOW, *n, 0, NULL, rules, err) < 0)
      return -1;
  if (!strv_contains (opts->deny, "clone") &&
      add_rule (ctx, SCMP_ACT_ALLOW, "clone", 1, &no_ns, rules, err) < 0)
    return -1;
  if (add_rule (ctx, SCMP_ACT_ERRNO (ENOSYS), "clone3", 0, NULL, rules, err) < 0)
    return -1;
  /* The listener is handed to the helper over this one socket; after exec the number is
     closed and no call of strict can make it a socket again. */
  if (opts->handoff_fd >= 0)
    {
      struct scmp_arg_cmp fd = SCMP_A0 (SCMP_CMP_EQ, (scmp_datum_t)opts->handoff_fd);
      if (add_rule (ctx, SCMP_ACT_ALLOW, "sendmsg", 1, &fd, rules, err) < 0)
        return -1;
    }
  return 0;
}

/* The task's own `deny:` names, refused on top of the profile. */
static int
add_extra_denies (scmp_filter_ctx ctx, const struct cpb_profile_opts *opts, size_t *rules,
                  cpb_error **err)
{
  for (const char *const *n = opts->deny; n && *n; n++)
    {
      const char *problem = cpb_profile_deny_problem (*n);
      if (problem)
        return cpb_error_set (err, CPB_ERR_INPUT, "cannot deny '%s': %s", *n, problem);
      if (opts->kind == CPB_PROFILE_STRICT)
        continue; /* not in the allowlist any more: refused by the default action */
      bool outer = false;
      for (size_t i = 0; i < sizeof default_deny / sizeof default_deny[0]; i++)
        if (strcmp (default_deny[i].name, *n) == 0)
          outer = true; /* already refused by its own rule */
      if (!outer && add_rule (ctx, refuse_action (opts), *n, 0, NULL, rules, err) < 0)
        return -1;
    }
  return 0;
}

/* i386 programs on x86_64 too, so that a task cannot step around the rules by switching
   system call conventions.  x32 is left out: its calls then meet the filter's bad-arch
   action (kill), which is as safe, and its rules would triple the BPF the strict profile
   generates at every task start (about 7 ms measured, tests/bench/helper-overhead.sh). */
static void
add_compat_arches (scmp_filter_ctx ctx)
{
#if defined(__x86_64__)
  seccomp_arch_add (ctx, SCMP_ARCH_X86);
#elif defined(__aarch64__)
  seccomp_arch_add (ctx, SCMP_ARCH_ARM);
#endif
}

int
cpb_profile_build (const struct cpb_profile_opts *opts, scmp_filter_ctx *ret_ctx, size_t *ret_rules,
                   cpb_error **err)
{
  _cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
  uint32_t default_action = SCMP_ACT_ALLOW;
  size_t rules = 0;

  if (opts->kind == CPB_PROFILE_STRICT)
    {
      if (!opts->notify)
        return cpb_error_set (err, CPB_ERR_SYSTEM,
                              "the strict profile needs seccomp user notification (Linux 5.5)");
      default_action = SCMP_ACT_NOTIFY;
    }
  if (opts->kind == CPB_PROFILE_NONE && opts->deny && opts->deny[0])
    return cpb_error_set (err, CPB_ERR_INPUT, "'deny' needs a seccomp profile, not 'none'");

  ctx = seccomp_init (default_action);
  if (ctx == NULL)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot initialise a seccomp filter");
  add_compat_arches (ctx);
  /* Podman sets no_new_privs only when asked; the filter needs it and so does the promise
     that a task never gains privileges (setuid binaries in the image). */
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 1);

  if (opts->kind == CPB_PROFILE_DEFAULT && add_default_rules (ctx, opts, &rules, err) < 0)
    return -1;
  if (opts->kind == CPB_PROFILE_STRICT && add_strict_rules (ctx, opts, &rules, err) < 0)
    return -1;
  if (add_extra_denies (ctx, opts, &rules, err) < 0)
    return -1;

  *ret_ctx = TAKE_PTR (ctx);
  if (ret_rules)
    *ret_rules = rules;
  return 0;
}

int
cpb_profile_parse_kind (const char *s, enum cpb_profile_kind *ret_kind, cpb_error **err)
{
  static const enum cpb_profile_kind kinds[] = { CPB_PROFILE_NONE, CPB_PROFILE_DEFAULT,
                                                 CPB_PROFILE_STRICT };

  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp (s, cpb_profile_kind_name (kinds[i])) == 0)
      {
        *ret_kind = kinds[i];
        return 0;
      }
  return cpb_error_set (err, CPB_ERR_INPUT,
                        "unknown seccomp profile '%s' (default, strict or none)", s);
}

const char *
cpb_profile_kind_name (enum cpb_profile_kind kind)
{
  switch (kind)
    {
    case CPB_PROFILE_NONE:
      return "none";
    case CPB_PROFILE_STRICT:
      return "strict";
    case CPB_PROFILE_DEFAULT:
    default:
      return "default";
    }
}

const char *
cpb_profile_deny_problem (const char *name)
{
  if (name == NULL || *name == '\0' || seccomp_syscall_resolve_name (name) == __NR_SCMP_ERROR)
    return "unknown system call";
  if (strv_contains (undeniable, name))
    return "cpb-helper needs it to start the task";
  return NULL;
}

const char *
cpb_profile_syscall_name (unsigned arch, int nr, char *buf, size_t len)
{
  char *name = seccomp_syscall_resolve_num_arch (arch, nr);

  if (name == NULL)
    snprintf (buf, len, "syscall %d", nr);
  else
    {
      snprintf (buf, len, "%s", name);
      free (name);
    }
  return buf;
}
