/* testprog.c: cpb-testprog, a static program the helper tests put into containers.
 *
 * Like crun's tests/init.c: one binary, a verb per behaviour to provoke, output a test can
 * check.  It depends on nothing in the image.
 *
 *   try NAME...        call each system call with harmless arguments, print NAME=ERRNO|ok
 *   zombies N          orphan N short-lived processes, then print zombies=COUNT seen
 *   trap-term          print ready, exit 42 on SIGTERM (checks forwarding)
 *   trap SIG...        the same for each of TERM, INT, HUP, QUIT, USR1, USR2 (got SIGx)
 *   ignore-term SECS   ignore SIGTERM, print ready, sleep SECS
 *   sleep SECS         sleep
 *   alloc MB           allocate and touch MB MiB, print allocated=MB
 *   exit N             exit with N
 *   kill SIG           die of signal SIG
 *   threads N          run N threads summing numbers, print threads=N sum=...
 *   fileio DIR         write, read back and check a file in DIR, print fileio=ok
 *   exec PATH ARGS...  execve PATH (print exec=ERRNO on failure)
 *   fork-exec PATH     fork, execve PATH in the child, print child's exec result
 *   socket FAMILY      socket(inet|inet6|unix), print socket=ok|ERRNO
 *   fds                print the open descriptors (fds=0,1,2)
 *   nnp                print no_new_privs (nnp=0|1)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/keyctl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define NO_PID 999999L
#define NOT_HERE LONG_MIN

/* The namespace flag clone-newNAME asks for, 0 for none. */
static long
clone_flag (const char *ns)
{
  static const struct
  {
    const char *name;
    long flag;
  } flags[] = {
    { "user", CLONE_NEWUSER },     { "ns", CLONE_NEWNS },   { "pid", CLONE_NEWPID },
    { "net", CLONE_NEWNET },       { "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC },
    { "cgroup", CLONE_NEWCGROUP },
  };

  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (!strcmp (ns, flags[i].name))
      return flags[i].flag;
  return 0;
}

/* Each entry calls the system call with arguments that do nothing even when it is allowed
   and the caller is root on a host (bad pointers, paths that do not exist, a pid that does
   not exist, invalid commands or flags), so that an allowed call answers something other
   than the filter's EPERM and running the program by mistake changes nothing.  First: calls about
   processes, keys, the kernel and namespaces; NOT_HERE for a name this half does not know. */
static long
try_process_call (const char *name)
{
  char buf[16];
  struct iovec iov = { buf, sizeof buf };

  if (!strcmp (name, "ptrace"))
    return syscall (SYS_ptrace, PTRACE_PEEKDATA, NO_PID, 0, 0);
  if (!strcmp (name, "process_vm_readv"))
    return syscall (SYS_process_vm_readv, NO_PID, &iov, 1, &iov, 1, 0);
  if (!strcmp (name, "process_vm_writev"))
    return syscall (SYS_process_vm_writev, NO_PID, &iov, 1, &iov, 1, 0);
  if (!strcmp (name, "kcmp"))
    return syscall (SYS_kcmp, NO_PID, NO_PID, 0, 0, 0);
  if (!strcmp (name, "pidfd_getfd"))
    return syscall (SYS_pidfd_getfd, -1, 0, 0);
  if (!strcmp (name, "keyctl"))
    return syscall (SYS_keyctl, 9999, 0, 0, 0, 0);
  if (!strcmp (name, "add_key"))
    return syscall (SYS_add_key, NULL, NULL, NULL, 0, 0);
  if (!strcmp (name, "request_key"))
    return syscall (SYS_request_key, NULL, NULL, NULL, 0);
  if (!strcmp (name, "bpf"))
    return syscall (SYS_bpf, 9999, NULL, 0);
  if (!strcmp (name, "perf_event_open"))
    return syscall (SYS_perf_event_open, NULL, 0, -1, -1, 0);
  if (!strcmp (name, "userfaultfd"))
    return syscall (SYS_userfaultfd, 0xffff);
  if (!strcmp (name, "io_uring_setup"))
    return syscall (SYS_io_uring_setup, 1, NULL);
  if (!strcmp (name, "unshare"))
    return syscall (SYS_unshare, 0);
  if (!strcmp (name, "setns"))
    return syscall (SYS_setns, -1, 0);
  if (!strncmp (name, "clone-new", 9))
    {
      long flags = clone_flag (name + 9);
      long r;
      if (flags == 0)
        return NOT_HERE;
      r = syscall (SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
      if (r == 0)
        _exit (0);
      if (r > 0)
        waitpid ((pid_t)r, NULL, 0);
      return r > 0 ? 0 : r;
    }
  return NOT_HERE;
}

/* Second: calls about mounts, the machine, sockets and files. */
static long
try_system_call (const char *name)
{
  if (!strcmp (name, "mount"))
    return syscall (SYS_mount, "none", "/nonexistent/cpb-testprog", "tmpfs", 0, NULL);
  if (!strcmp (name, "umount2"))
    return syscall (SYS_umount2, "/nonexistent", 0);
  if (!strcmp (name, "pivot_root"))
    return syscall (SYS_pivot_root, NULL, NULL);
  if (!strcmp (name, "chroot"))
    return syscall (SYS_chroot, "/nonexistent");
  if (!strcmp (name, "fsopen"))
    return syscall (SYS_fsopen, NULL, 0);
  if (!strcmp (name, "open_tree"))
    return syscall (SYS_open_tree, -1, NULL, 0);
  if (!strcmp (name, "move_mount"))
    return syscall (SYS_move_mount, -1, NULL, -1, NULL, 0);
  if (!strcmp (name, "name_to_handle_at"))
    return syscall (SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0);
  if (!strcmp (name, "open_by_handle_at"))
    return syscall (SYS_open_by_handle_at, -1, NULL, 0);
  if (!strcmp (name, "kexec_load"))
    return syscall (SYS_kexec_load, 0, 0, NULL, 0xdead0000UL) /* bad flags: EINVAL */;
  if (!strcmp (name, "init_module"))
    return syscall (SYS_init_module, NULL, 0, "");
  if (!strcmp (name, "finit_module"))
    return syscall (SYS_finit_module, -1, "", 0);
  if (!strcmp (name, "delete_module"))
    return syscall (SYS_delete_module, "nonexistent", 0);
  if (!strcmp (name, "reboot"))
    return syscall (SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL when allowed */
  if (!strcmp (name, "swapon"))
    return syscall (SYS_swapon, "/nonexistent", 0);
  if (!strcmp (name, "swapoff"))
    return syscall (SYS_swapoff, "/nonexistent");
  if (!strcmp (name, "personality"))
    return syscall (SYS_personality, PER_LINUX | ADDR_NO_RANDOMIZE);
  if (!strcmp (name, "acct"))
    return syscall (SYS_acct, "/nonexistent/cpb-testprog");
  if (!strcmp (name, "syslog"))
    return syscall (SYS_syslog, 10, NULL, 0); /* SYSLOG_ACTION_SIZE_BUFFER */
  if (!strcmp (name, "iopl"))
    return syscall (SYS_iopl, 4) /* out of range: EINVAL */;
  if (!strcmp (name, "socket-inet"))
    return syscall (SYS_socket, AF_INET, SOCK_STREAM, 0);
  if (!strcmp (name, "socket-unix"))
    return syscall (SYS_socket, AF_UNIX, SOCK_STREAM, 0);
  if (!strcmp (name, "mkdir"))
    {
      long r = syscall (SYS_mkdir, "/tmp/cpb-testprog-mkdir", 0700);
      if (r == 0)
        rmdir ("/tmp/cpb-testprog-mkdir");
      return r;
    }
  return NOT_HERE;
}

/* Third: the rest of the default profile's list (docs/helper.md), same rules. */
static long
try_other_call (const char *name)
{
  if (!strcmp (name, "io_uring_enter"))
    return syscall (SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
  if (!strcmp (name, "io_uring_register"))
    return syscall (SYS_io_uring_register, -1, 0, NULL, 0);
  if (!strcmp (name, "fsconfig"))
    return syscall (SYS_fsconfig, -1, 0, NULL, NULL, 0);
  if (!strcmp (name, "fsmount"))
    return syscall (SYS_fsmount, -1, 0, 0);
  if (!strcmp (name, "fspick"))
    return syscall (SYS_fspick, -1, NULL, 0);
  if (!strcmp (name, "mount_setattr"))
    return syscall (SYS_mount_setattr, -1, NULL, 0, NULL, 0);
  if (!strcmp (name, "kexec_file_load"))
    return syscall (SYS_kexec_file_load, -1, -1, 0, NULL, 0xdead0000UL) /* bad flags */;
  if (!strcmp (name, "quotactl"))
    return syscall (SYS_quotactl, 0, NULL, 0, NULL);
  if (!strcmp (name, "lookup_dcookie"))
    return syscall (SYS_lookup_dcookie, 0, NULL, 0);
  if (!strcmp (name, "ioperm"))
    return syscall (SYS_ioperm, 0x10000, 1, 1) /* past the last port: EINVAL */;
  return NOT_HERE;
}

static long
try_syscall (const char *name)
{
  long r = try_process_call (name);

  if (r == NOT_HERE)
    r = try_system_call (name);
  if (r == NOT_HERE)
    r = try_other_call (name);
  if (r == NOT_HERE)
    {
      fprintf (stderr, "testprog: unknown system call to try '%s'\n", name);
      exit (2);
    }
  return r;
}

static int
verb_try (int argc, char **argv)
{
  for (int i = 0; i < argc; i++)
    {
      errno = 0;
      long r = try_syscall (argv[i]);
      printf ("%s=%s\n", argv[i], r >= 0 ? "ok" : strerrorname_np (errno));
    }
  return 0;
}

/* Count processes in state Z in /proc (our own pid namespace). */
static int
count_zombies (void)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir (d)))
    {
      char path[300], buf[512], *p;
      FILE *f;
      snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
      if (e->d_name[0] < '0' || e->d_name[0] > '9' || !(f = fopen (path, "re")))
        continue;
      if (fgets (buf, sizeof buf, f) && (p = strrchr (buf, ')')) && p[1] && p[2] == 'Z')
        n++;
      fclose (f);
    }
  closedir (d);
  return n;
}

static int
verb_zombies (int n)
{
  pid_t mid = fork ();
  if (mid == 0)
    {
      for (int i = 0; i < n; i++)
        if (fork () == 0)
          {
            usleep (100000); /* outlive the parent: become an orphan, then a zombie */
            _exit (0);
          }
      _exit (0);
    }
  waitpid (mid, NULL, 0);
  usleep (600000);
  printf ("zombies=%d\n", count_zombies ());
  return 0;
}

static void
sleep_seconds (double s)
{
  struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Say which signal arrived ("got SIGTERM") and exit 42; only async-signal-safe calls. */
static void
on_trapped (int sig)
{
  char msg[32] = "got SIG";
  const char *abbrev = sigabbrev_np (sig);
  size_t n = strlen (msg), len = abbrev ? strlen (abbrev) : 0;

  if (len > sizeof msg - n - 2)
    len = 0;
  memcpy (msg + n, abbrev, len);
  msg[n + len] = '\n';
  if (write (STDOUT_FILENO, msg, n + len + 1) < 0)
    _exit (1);
  _exit (42);
}

/* trap SIG...: names without the SIG prefix. */
static int
verb_trap (int argc, char **argv)
{
  static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

  for (int i = 0; i < argc; i++)
    {
      size_t j;
      for (j = 0; j < sizeof sigs / sizeof sigs[0]; j++)
        if (!strcmp (argv[i], sigabbrev_np (sigs[j])))
          break;
      if (j == sizeof sigs / sizeof sigs[0])
        {
          fprintf (stderr, "testprog: cannot trap '%s'\n", argv[i]);
          return 2;
        }
      signal (sigs[j], on_trapped);
    }
  puts ("ready");
  sleep_seconds (60);
  return 0;
}

static int
verb_alloc (long mb)
{
  size_t len = (size_t)mb << 20;
  char *p = malloc (len);
  if (p == NULL)
    return perror ("malloc"), 1;
  for (size_t i = 0; i < len; i += 4096)
    p[i] = (char)i;
  printf ("allocated=%ld\n", mb);
  free (p);
  return 0;
}

static void *
thread_sum (void *arg)
{
  long *v = arg;
  long s = 0;
  for (long i = 0; i <= 1000000; i++)
    s += i;
  *v = s;
  return NULL;
}

static int
verb_threads (int n)
{
  pthread_t t[64];
  long v[64], sum = 0;

  if (n > 64)
    n = 64;
  for (int i = 0; i < n; i++)
    if (pthread_create (&t[i], NULL, thread_sum, &v[i]) != 0)
      return perror ("pthread_create"), 1;
  for (int i = 0; i < n; i++)
    {
      pthread_join (t[i], NULL);
      sum += v[i];
    }
  printf ("threads=%d sum=%ld\n", n, sum);
  return 0;
}

static int
verb_fileio (const char *dir)
{
  char path[4096], want[8192], got[8192];
  FILE *f;

  snprintf (path, sizeof path, "%s/testprog-fileio", dir);
  memset (want, 'x', sizeof want);
  if (!(f = fopen (path, "we")) || fwrite (want, 1, sizeof want, f) != sizeof want || fclose (f))
    return perror (path), 1;
  if (!(f = fopen (path, "re")) || fread (got, 1, sizeof got, f) != sizeof got)
    return perror (path), 1;
  fclose (f);
  unlink (path);
  puts (memcmp (want, got, sizeof want) == 0 ? "fileio=ok" : "fileio=mismatch");
  return 0;
}

static int
verb_fork_exec (const char *path)
{
  int st;
  pid_t pid = fork ();
  if (pid == 0)
    {
      char *argv[] = { (char *)path, NULL };
      execv (path, argv);
      printf ("child-exec=%s\n", strerrorname_np (errno));
      fflush (stdout);
      _exit (126);
    }
  waitpid (pid, &st, 0);
  return 0;
}

static int
verb_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int self = dirfd (d), first = 1;

  fputs ("fds=", stdout);
  while ((e = readdir (d)))
    if (e->d_name[0] != '.' && atoi (e->d_name) != self)
      printf ("%s%s", first ? "" : ",", e->d_name), first = 0;
  putchar ('\n');
  closedir (d);
  return 0;
}

int
main (int argc, char **argv)
{
  const char *verb = argc > 1 ? argv[1] : "";
  const char *arg = argc > 2 ? argv[2] : "0";

  setvbuf (stdout, NULL, _IOLBF, 0);
  if (!strcmp (verb, "try"))
    return verb_try (argc - 2, argv + 2);
  if (!strcmp (verb, "zombies"))
    return verb_zombies (atoi (arg));
  if (!strcmp (verb, "trap-term"))
    {
      char *term[] = { "TERM", NULL };
      return verb_trap (1, term);
    }
  if (!strcmp (verb, "trap"))
    return verb_trap (argc - 2, argv + 2);
  if (!strcmp (verb, "ignore-term"))
    {
      signal (SIGTERM, SIG_IGN);
      puts ("ready");
      sleep_seconds (atof (arg));
      return 0;
    }
  if (!strcmp (verb, "sleep"))
    return sleep_seconds (atof (arg)), 0;
  if (!strcmp (verb, "alloc"))
    return verb_alloc (atol (arg));
  if (!strcmp (verb, "exit"))
    return atoi (arg);
  if (!strcmp (verb, "kill"))
    {
      signal (atoi (arg), SIG_DFL);
      raise (atoi (arg));
      return 1;
    }
  if (!strcmp (verb, "threads"))
    return verb_threads (atoi (arg));
  if (!strcmp (verb, "fileio"))
    return verb_fileio (arg);
  if (!strcmp (verb, "exec") && argc > 2)
    {
      execv (argv[2], argv + 2);
      printf ("exec=%s\n", strerrorname_np (errno));
      return 126;
    }
  if (!strcmp (verb, "fork-exec"))
    return verb_fork_exec (arg);
  if (!strcmp (verb, "socket"))
    {
      int fam = !strcmp (arg, "inet") ? AF_INET : !strcmp (arg, "inet6") ? AF_INET6 : AF_UNIX;
      int fd = socket (fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
      printf ("socket=%s\n", fd >= 0 ? "ok" : strerrorname_np (errno));
      return 0;
    }
  if (!strcmp (verb, "fds"))
    return verb_fds ();
  if (!strcmp (verb, "nnp"))
    return printf ("nnp=%d\n", prctl (PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)), 0;
  fprintf (stderr, "usage: cpb-testprog VERB [ARGS] (see the head of tests/helper/testprog.c)\n");
  return 2;
}
