/* Unit tests for the seccomp profiles of cpb-helper (src/helper/profile.c): construction,
 * export to BPF, rule counts, deny-name validation, and the filters' effect in a child. */
#include "config.h"
#include "tap.h"
#include "seccomp-profile.h"
#include "spec/jobs.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct cpb_profile_opts
opts_for (enum cpb_profile_kind kind, bool notify, const char *const *deny)
{
  struct cpb_profile_opts o = { .kind = kind, .notify = notify, .handoff_fd = -1, .deny = deny };
  return o;
}

/* Build, export to BPF and return the number of rules (or -1); *RET_INSNS gets the number of
   BPF instructions. */
static long
build_and_export (const struct cpb_profile_opts *o, long *ret_insns)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_seccomp_ scmp_filter_ctx ctx = NULL;
  _cleanup_close_ int fd = memfd_create ("bpf", MFD_CLOEXEC);
  struct stat st;
  size_t rules = 0;

  if (cpb_profile_build (o, &ctx, &rules, &err) < 0)
    {
      diag ("%s", err->msg);
      return -1;
    }
  if (fd < 0 || seccomp_export_bpf (ctx, fd) < 0 || fstat (fd, &st) < 0)
    return -1;
  *ret_insns = st.st_size % 8 == 0 ? st.st_size / 8 : -1;
  return (long)rules;
}

static void
test_construction (void)
{
  static const char *const deny_mkdir[] = { "mkdir", NULL };
  static const char *const deny_bad[] = { "nosuchcall", NULL };
  struct cpb_profile_opts o;
  long insns = 0, def, net, plus, strict, strict_minus;
  _cleanup_error_ cpb_error *err = NULL;
  scmp_filter_ctx ctx = NULL;

  o = opts_for (CPB_PROFILE_DEFAULT, true, NULL);
  def = build_and_export (&o, &insns);
  ok (def > 40 && insns > def, "default: %ld rules, %ld BPF instructions", def, insns);
  o.allow_network = true;
  net = build_and_export (&o, &insns);
  is_int (net, def - 1, "--allow-network drops the socket rule");
  o = opts_for (CPB_PROFILE_DEFAULT, true, deny_mkdir);
  plus = build_and_export (&o, &insns);
  is_int (plus, def + 1, "deny: mkdir adds one rule");
  o = opts_for (CPB_PROFILE_DEFAULT, false, NULL);
  is_int (build_and_export (&o, &insns), def, "without notification: same rules, plain EPERM");

  o = opts_for (CPB_PROFILE_STRICT, true, NULL);
  o.handoff_fd = 5;
  strict = build_and_export (&o, &insns);
  ok (strict > 100 && insns > strict, "strict: %ld rules, %ld BPF instructions", strict, insns);
  o.deny = deny_mkdir;
  strict_minus = build_and_export (&o, &insns);
  is_int (strict_minus, strict - 1, "strict with deny: mkdir leaves mkdir out of the allowlist");
  o = opts_for (CPB_PROFILE_NONE, true, NULL);
  is_int (build_and_export (&o, &insns), 0, "none: no rules");

  o = opts_for (CPB_PROFILE_STRICT, false, NULL);
  ok (cpb_profile_build (&o, &ctx, NULL, &err) < 0 && err && strstr (err->msg, "notification"),
      "strict without user notification is refused");
  cpb_error_free (TAKE_PTR (err));
  o = opts_for (CPB_PROFILE_DEFAULT, true, deny_bad);
  ok (cpb_profile_build (&o, &ctx, NULL, &err) < 0 && err->kind == CPB_ERR_INPUT, "bad deny name");
  is_str (err ? err->msg : NULL, "cannot deny 'nosuchcall': unknown system call", "its message");
  cpb_error_free (TAKE_PTR (err));
  o = opts_for (CPB_PROFILE_NONE, true, deny_mkdir);
  ok (cpb_profile_build (&o, &ctx, NULL, &err) < 0, "deny with profile none is refused");
}

static void
test_names (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  enum cpb_profile_kind k = CPB_PROFILE_NONE;
  char buf[64];

  ok (cpb_profile_deny_problem ("mkdir") == NULL, "mkdir may be denied");
  ok (cpb_profile_deny_problem ("socket") == NULL, "socket may be denied");
  is_str (cpb_profile_deny_problem ("mkdri"), "unknown system call", "a typo is unknown");
  is_str (cpb_profile_deny_problem (""), "unknown system call", "empty is unknown");
  is_str (cpb_profile_deny_problem ("execve"), "cpb-helper needs it to start the task",
          "execve may not be denied");
  ok (cpb_profile_parse_kind ("strict", &k, &err) == 0 && k == CPB_PROFILE_STRICT, "parse strict");
  ok (cpb_profile_parse_kind ("lax", &k, &err) < 0 && err->kind == CPB_ERR_INPUT,
      "parse 'lax' fails");
  is_str (cpb_profile_syscall_name (SCMP_ARCH_X86_64, SYS_ptrace, buf, sizeof buf), "ptrace",
          "syscall name from number");
  is_str (cpb_profile_syscall_name (SCMP_ARCH_X86_64, 99999, buf, sizeof buf), "syscall 99999",
          "unknown number");
}

/* Load the default profile (plain EPERM: no helper to answer notifications) in a child and
   return a bitmask of which calls gave the expected answer. */
static int
probe_default_in_child (bool allow_network)
{
  struct cpb_profile_opts o = opts_for (CPB_PROFILE_DEFAULT, false, NULL);
  pid_t pid;
  int st;

  o.allow_network = allow_network;
  pid = fork ();
  if (pid == 0)
    {
      scmp_filter_ctx ctx = NULL;
      int bits = 0, fd;
      if (cpb_profile_build (&o, &ctx, NULL, NULL) < 0 || seccomp_load (ctx) < 0)
        _exit (255);
      if (syscall (SYS_ptrace, PTRACE_PEEKDATA, 999999, 0, 0) < 0 && errno == EPERM)
        bits |= 1;
      if (syscall (SYS_unshare, 0) < 0 && errno == EPERM)
        bits |= 2;
      if (syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, NULL, NULL, 0) < 0 && errno == EPERM)
        bits |= 4;
      fd = socket (AF_INET, SOCK_STREAM, 0);
      if ((fd < 0 && errno == EPERM) != allow_network)
        bits |= 8;
      if (socket (AF_UNIX, SOCK_STREAM, 0) >= 0)
        bits |= 16;
      if (getpid () > 0 && access ("/", R_OK) == 0)
        bits |= 32;
      _exit (bits);
    }
  if (pid < 0 || waitpid (pid, &st, 0) < 0 || !WIFEXITED (st))
    return -1;
  return WEXITSTATUS (st);
}

/* The jobs.yaml loader validates `deny:` with cpb_profile_deny_problem: a typo is a
   FILE:LINE:COL error pointing at the name, every bad name is reported. */
static void
test_jobs_deny_names (void)
{
  static const char spec[] = "batch: b\n"
                             "defaults:\n"
                             "  image: worker-base:1.0\n"
                             "  seccomp:\n"
                             "    profile: default\n"
                             "    deny: [mkdir, mkdri, execve]\n"
                             "outputs: [out.txt]\n"
                             "tasks:\n"
                             "  command: 'true'\n";
  _cleanup_error_ cpb_error *err = NULL;
  cpb_jobs_spec *js = NULL;

  ok (cpb_jobs_spec_load_buffer ("jobs.yaml", NULL, spec, sizeof spec - 1, &js, &err) < 0 &&
          err->kind == CPB_ERR_INPUT,
      "jobs.yaml with bad deny names does not load");
  ok (err && strstr (err->msg,
                     "jobs.yaml:6:19: defaults: seccomp: deny: 'mkdri': unknown system call"),
      "unknown name: FILE:LINE:COL at the name");
  ok (err && strstr (err->msg,
                     "jobs.yaml:6:26: defaults: seccomp: deny: 'execve': cpb-helper needs it"),
      "undeniable name: FILE:LINE:COL at the name");
  ok (err && !strstr (err->msg, "'mkdir'"), "a valid name is not reported");
  if (js)
    cpb_jobs_spec_free (js);
}

int
main (void)
{
  plan_no_plan ();
  test_construction ();
  test_names ();
  is_int (probe_default_in_child (false), 63,
          "default in a child: ptrace, unshare, clone(NEWUSER), inet socket refused; unix "
          "socket and ordinary calls work");
  is_int (probe_default_in_child (true), 63, "default with network: inet sockets allowed");
  test_jobs_deny_names ();
  return done_testing ();
}
