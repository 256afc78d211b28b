/* podman/ssh.c: node URLs, the ssh master of a remote service, and commands on the node
 * (see ssh.h).
 *
 * What OpenSSH does that this file relies on (OpenSSH 9.2, checked on Debian 12):
 *   - a master (-M -S PATH -N) binds its -L forwards, then its control socket, only after
 *     the login succeeded, so "the control socket exists" means "ready";
 *   - a forward to a missing remote socket is refused per connection, after the login
 *     ("open failed: connect failed"): only a look at the node tells that apart from a
 *     service that does not answer (tunnel_explain);
 *   - the master leaves the -L socket behind when it exits, the control socket not;
 *   - sshd forwards to a UNIX socket only where AllowTcpForwarding allows local forwards
 *     (sshd 9.2 takes the permission from it) and AllowStreamLocalForwarding is not no.
 */
#include "config.h"
#include "podman/private.h"
#include "podman/ssh.h"
#include "xalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* stderr of a command is only read for a message. */
#define ERROUT_MAX 4096
/* A master that ignores SIGTERM this long is killed. */
#define STOP_TIMEOUT_MS 3000
/* How often waits look at the clock, the child and the cancel flag. */
#define POLL_MS 20
/* ssh's temporary control socket name adds ".XXXXXXXXXXXXXXXX" to ControlPath. */
#define CONTROL_SUFFIX_LEN 17

/* ------------------------------------------------------------------ URLs */

void
cpb_url_clear (struct cpb_url *u)
{
  free (u->user);
  free (u->host);
  free (u->path);
  *u = (struct cpb_url){ 0 };
}

/* A user or host name: a word of [A-Za-z0-9._-] not starting with '-' (ssh would take it
   for an option). */
static bool
is_ssh_word (const char *s, size_t len)
{
  if (len == 0 || s[0] == '-')
    return false;
  for (size_t i = 0; i < len; i++)
    if (!isalnum ((unsigned char)s[i]) && !strchr ("._-", s[i]))
      return false;
  return true;
}

static bool
is_ipv6 (const char *s, size_t len)
{
  if (len == 0)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!isxdigit ((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
      return false;
  return true;
}

/* A socket path an `ssh -L local:remote` line can carry: absolute, no ':' (the separator),
   no blanks, quotes, control characters or URL syntax (?#%). */
static const char *
path_problem (const char *p)
{
  if (p[0] != '/')
    return "must be an absolute path";
  for (const char *c = p; *c; c++)
    {
      if (iscntrl ((unsigned char)*c) || isspace ((unsigned char)*c))
        return "must not hold blanks or control characters";
      if (strchr (":?#%'\"\\", *c))
        return "must not hold any of : ? # % ' \" \\";
    }
  if (p[strlen (p) - 1] == '/')
    return "must name the socket, not a directory";
  if (strlen (p) >= sizeof ((struct sockaddr_un *)0)->sun_path)
    return "is longer than a UNIX socket path can be";
  return NULL;
}

static int __attribute__ ((format (printf, 3, 4)))
bad_url (cpb_error **err, const char *text, const char *fmt, ...)
{
  _cleanup_free_ char *why = NULL;
  va_list ap;

  va_start (ap, fmt);
  why = cpb_xvasprintf (fmt, ap);
  va_end (ap);
  return cpb_error_set (err, CPB_ERR_INPUT, "bad URL '%s': %s", text, why);
}

/* "host", "host:port", "[v6]" or "[v6]:port" between '@' and the path. */
static int
parse_host_port (const char *text, const char *s, size_t len, struct cpb_url *u, cpb_error **err)
{
  const char *host = s, *colon;
  size_t hlen;

  if (len > 0 && s[0] == '[')
    {
      const char *close = memchr (s, ']', len);

      if (close == NULL || !is_ipv6 (s + 1, (size_t)(close - s - 1)))
        return bad_url (err, text, "%s",
                        "an IPv6 address goes in brackets: ssh://user@[::1]:22/path");
      host = s + 1;
      hlen = (size_t)(close - s - 1);
      colon = close + 1 < s + len ? close + 1 : NULL;
      if (colon && *colon != ':')
        return bad_url (err, text, "%s", "only ':PORT' may follow ']'");
    }
  else
    {
      colon = memchr (s, ':', len);
      hlen = colon ? (size_t)(colon - s) : len;
      if (!is_ssh_word (host, hlen))
        return bad_url (err, text, "%s",
                        hlen ? "the host must be a name or address of letters, digits and ._- "
                               "(not starting with '-')"
                             : "no host: ssh://user@host[:port]/path/to/podman.sock");
    }
  u->host = cpb_xstrndup (host, hlen);
  u->port = 22;
  if (colon)
    {
      size_t plen = (size_t)(s + len - colon - 1);
      _cleanup_free_ char *port = cpb_xstrndup (colon + 1, plen);
      char *end;
      long v = strtol (port, &end, 10);

      if (plen == 0 || plen > 5 || *end || !isdigit ((unsigned char)port[0]) || v < 1 || v > 65535)
        return bad_url (err, text, "the port must be a number from 1 to 65535, not '%s'", port);
      u->port = (int)v;
      u->port_given = true;
    }
  return 0;
}

/* The part of an ssh:// URL after the scheme. */
static int
parse_ssh (const char *text, const char *s, struct cpb_url *u, cpb_error **err)
{
  const char *slash = strchr (s, '/'), *at;
  size_t auth_len = slash ? (size_t)(slash - s) : strlen (s);
  const char *problem;

  if (slash == NULL || slash[1] == '\0')
    return bad_url (err, text, "%s",
                    "no socket path: give the Podman socket on the node, as in "
                    "ssh://user@host/run/user/1000/podman/podman.sock");
  at = memchr (s, '@', auth_len);
  if (at)
    {
      if (memchr (s, ':', (size_t)(at - s)))
        return bad_url (err, text, "%s",
                        "a password in the URL is not supported: cpb logs in with keys "
                        "(ssh-agent, ~/.ssh/config or --identity)");
      if (!is_ssh_word (s, (size_t)(at - s)))
        return bad_url (
            err, text, "%s",
            "the user must be a name of letters, digits and ._- (not starting with '-')");
      u->user = cpb_xstrndup (s, (size_t)(at - s));
      auth_len -= (size_t)(at + 1 - s);
      s = at + 1;
    }
  if (parse_host_port (text, s, auth_len, u, err) < 0)
    return -1;
  if ((problem = path_problem (slash)) != NULL)
    return bad_url (err, text, "the socket path %s", problem);
  u->path = cpb_xstrdup (slash);
  return 0;
}

int
cpb_url_parse (const char *text, struct cpb_url *ret, cpb_error **err)
{
  struct cpb_url u = { 0 };
  const char *sep = strstr (text, "://");
  const char *problem;
  int r;

  if (sep == NULL)
    return bad_url (err, text, "%s",
                    "expected ssh://user@host[:port]/path/to/podman.sock or "
                    "unix:///path/to/podman.sock");
  if (strncmp (text, "unix://", 7) == 0)
    {
      if ((problem = path_problem (text + 7)) != NULL && text[7] != '/')
        return bad_url (err, text, "%s",
                        "a unix URL has three slashes: unix:///path/to/podman.sock");
      if (problem)
        return bad_url (err, text, "the socket path %s", problem);
      ret->scheme = CPB_URL_UNIX;
      ret->path = cpb_xstrdup (text + 7);
      return 0;
    }
  if (strncmp (text, "ssh://", 6) != 0)
    {
      _cleanup_free_ char *scheme = cpb_xstrndup (text, (size_t)(sep - text));
      return bad_url (err, text,
                      "unsupported scheme '%s': nodes are ssh://user@host[:port]/path "
                      "or unix:///path",
                      scheme);
    }
  u.scheme = CPB_URL_SSH;
  r = parse_ssh (text, text + 6, &u, err);
  if (r < 0)
    {
      cpb_url_clear (&u);
      return -1;
    }
  *ret = u;
  return 0;
}

char *
cpb_url_destination (const struct cpb_url *u)
{
  bool v6 = strchr (u->host, ':') != NULL;
  _cleanup_free_ char *port = u->port_given ? cpb_xasprintf (":%d", u->port) : cpb_xstrdup ("");

  return cpb_xasprintf ("%s%s%s%s%s%s", u->user ? u->user : "", u->user ? "@" : "", v6 ? "[" : "",
                        u->host, v6 ? "]" : "", port);
}

char *
cpb_url_format (const struct cpb_url *u)
{
  _cleanup_free_ char *dest = NULL;

  if (u->scheme == CPB_URL_UNIX)
    return cpb_xasprintf ("unix://%s", u->path);
  dest = cpb_url_destination (u);
  return cpb_xasprintf ("ssh://%s%s", dest, u->path);
}

/* ------------------------------------------------------------------ bounded commands */

void
cpb_exec_result_clear (struct cpb_exec_result *r)
{
  free (r->out);
  free (r->errout);
  *r = (struct cpb_exec_result){ 0 };
}

static long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static bool
is_cancelled (const atomic_int *cancelled)
{
  return (cancelled && atomic_load (cancelled)) || cpb_podman_interrupted ();
}

/* In a child before exec (async-signal-safe calls only: cpb has threads): a session of
   its own, so the terminal's Ctrl-C reaches cpb and not the link cpb still needs; death
   with the parent thread; default signal dispositions and mask (cpb ignores SIGPIPE and
   its threads block signals, and both would survive the exec). */
static void
child_setup (pid_t parent, int in, int out, int errfd)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigset_t none;

  setsid ();
  if (prctl (PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid () != parent)
    _exit (127);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  sigaction (SIGPIPE, &dfl, NULL);
  sigaction (SIGINT, &dfl, NULL);
  sigaction (SIGTERM, &dfl, NULL);
  if (in >= 0)
    dup2 (in, 0);
  if (out >= 0)
    dup2 (out, 1);
  if (errfd >= 0)
    dup2 (errfd, 2);
}

static int
status_code (int status)
{
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/* Read what is there on FD into B (at most LIMIT bytes kept); false at EOF or error. */
static bool
drain (int fd, cpb_buf *b, size_t limit, bool *over)
{
  char chunk[4096];
  ssize_t n = read (fd, chunk, sizeof chunk);

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return true;
  if (n <= 0)
    return false;
  if (b->len + (size_t)n > limit)
    {
      *over = true;
      n = (ssize_t)(limit - b->len);
    }
  cpb_buf_append (b, chunk, (size_t)n);
  return true;
}

struct child
{
  pid_t pid;
  int out, err;
};

static int
spawn_piped (const char *path, char *const *argv, struct child *c, cpb_error **err)
{
  int out[2], errp[2];
  _cleanup_close_ int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t parent = getpid ();

  if (pipe2 (out, O_CLOEXEC) < 0)
    return cpb_error_errno (err, errno, "cannot make a pipe");
  if (pipe2 (errp, O_CLOEXEC) < 0)
    {
      close (out[0]);
      close (out[1]);
      return cpb_error_errno (err, errno, "cannot make a pipe");
    }
  c->pid = fork ();
  if (c->pid == 0)
    {
      child_setup (parent, null, out[1], errp[1]);
      execv (path, argv);
      _exit (127);
    }
  close (out[1]);
  close (errp[1]);
  c->out = out[0];
  c->err = errp[0];
  if (c->pid < 0)
    {
      close (c->out);
      close (c->err);
      return cpb_error_errno (err, errno, "cannot start '%s'", path);
    }
  return 0;
}

/* Kill C's whole session (a shell's children too), reap it, and fail with KIND. */
static int
fail_child (struct child *c, cpb_error **err, enum cpb_error_kind kind, const char *msg)
{
  int status;

  kill (-c->pid, SIGKILL);
  kill (c->pid, SIGKILL);
  waitpid (c->pid, &status, 0);
  return cpb_error_set (err, kind, "%s", msg);
}

/* Collect C's output until it exits, within the deadline and the bound. */
static int
collect (struct child *c, size_t max_output, long deadline, const atomic_int *cancelled,
         struct cpb_exec_result *ret, cpb_error **err)
{
  _cleanup_buf_ cpb_buf out = CPB_BUF_INIT, errout = CPB_BUF_INIT;
  struct pollfd fds[2] = { { c->out, POLLIN, 0 }, { c->err, POLLIN, 0 } };
  bool over = false, err_over = false;
  int status = 0;

  for (;;)
    {
      bool open = fds[0].fd >= 0 || fds[1].fd >= 0;
      pid_t w;

      if (!open && ((w = waitpid (c->pid, &status, WNOHANG)) == c->pid || w < 0))
        break;
      if (is_cancelled (cancelled))
        return fail_child (c, err, CPB_ERR_CANCELLED, "interrupted");
      if (now_ms () >= deadline)
        return fail_child (c, err, CPB_ERR_CONNECT, "no answer in time");
      if (!open)
        {
          sleep_ms (POLL_MS);
          continue;
        }
      if (poll (fds, 2, POLL_MS * 5) <= 0)
        continue;
      for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0 && fds[i].revents &&
            !drain (fds[i].fd, i ? &errout : &out, i ? ERROUT_MAX : max_output,
                    i ? &err_over : &over))
          fds[i].fd = -1;
      if (over)
        {
          _cleanup_free_ char *msg = cpb_xasprintf ("more than %zu bytes of output", max_output);
          return fail_child (c, err, CPB_ERR_FAILED, msg);
        }
    }
  ret->status = status_code (status);
  cpb_buf_putc (&out, '\0');
  cpb_buf_putc (&errout, '\0');
  ret->out = cpb_buf_steal (&out, &ret->out_len);
  ret->out_len--;
  ret->errout = cpb_buf_steal (&errout, NULL);
  return 0;
}

/* Run ARGV (PATH the program) with stdin from /dev/null; see cpb_podman_exec. */
static int
run_bounded (const char *path, char *const *argv, size_t max_output, int timeout_ms,
             const atomic_int *cancelled, struct cpb_exec_result *ret, cpb_error **err)
{
  struct child c = { 0, -1, -1 };
  int r;

  cpb_exec_result_clear (ret);
  if (spawn_piped (path, argv, &c, err) < 0)
    return -1;
  r = collect (&c, max_output, now_ms () + timeout_ms, cancelled, ret, err);
  close (c.out);
  close (c.err);
  return r;
}

/* ------------------------------------------------------------------ the ssh command line */

struct argv
{
  char **v;
  size_t n, cap;
};

static void
argv_add (struct argv *a, const char *s)
{
  if (a->n + 2 > a->cap)
    {
      a->cap = a->cap ? a->cap * 2 : 32;
      a->v = cpb_xrealloc (a->v, a->cap * sizeof *a->v);
    }
  a->v[a->n++] = cpb_xstrdup (s);
  a->v[a->n] = NULL;
}

struct cpb_ssh_tunnel
{
  atomic_int refs;
  pid_t pid;          /* the master, 0 once stopped */
  char *ssh;          /* the ssh program */
  char *dir;          /* private, 0700: the sockets and the master's log */
  char *control;      /* DIR/c */
  char *forward;      /* DIR/f, the local end of the forwarded service socket */
  char *log;          /* DIR/log, the master's stderr */
  struct cpb_url url; /* the node */
  char *identity;
  char *dest;     /* "user@host:port", for messages */
  long deadline;  /* of the login (CLOCK_MONOTONIC ms) */
  int timeout_ms; /* as given */
  pthread_mutex_t lock;
};

/* What every ssh of a tunnel is given before its own options: the config file of
   CPB_SSH_CONFIG, and no prompts. */
static void
add_common (struct argv *a, const struct cpb_ssh_tunnel *t)
{
  const char *config = getenv ("CPB_SSH_CONFIG");

  argv_add (a, "ssh");
  if (config && *config)
    {
      argv_add (a, "-F");
      argv_add (a, config);
    }
  argv_add (a, "-o");
  argv_add (a, "BatchMode=yes");
}

/* The destination part every ssh of a tunnel ends with: port, user, identity, host. */
static void
add_destination (struct argv *a, const struct cpb_ssh_tunnel *t)
{
  char port[16];

  if (t->url.port_given)
    {
      snprintf (port, sizeof port, "%d", t->url.port);
      argv_add (a, "-p");
      argv_add (a, port);
    }
  if (t->url.user)
    {
      argv_add (a, "-l");
      argv_add (a, t->url.user);
    }
  if (t->identity)
    {
      argv_add (a, "-i");
      argv_add (a, t->identity);
    }
  argv_add (a, "--");
  argv_add (a, t->url.host);
}

/* The master: a forward of the service socket and a control socket, nothing else. */
static char **
master_argv (const struct cpb_ssh_tunnel *t)
{
  struct argv a = { 0 };
  _cleanup_free_ char *forward = cpb_xasprintf ("%s:%s", t->forward, t->url.path);
  char timeout[32];

  snprintf (timeout, sizeof timeout, "ConnectTimeout=%d", (t->timeout_ms + 999) / 1000);
  add_common (&a, t);
  argv_add (&a, "-M");
  argv_add (&a, "-S");
  argv_add (&a, t->control);
  argv_add (&a, "-N");
  argv_add (&a, "-T");
  argv_add (&a, "-L");
  argv_add (&a, forward);
  /* Strict host keys whatever ~/.ssh/config says (command-line options win there): cpb
     must never send work to, or accept results from, a machine it cannot identify. */
  static const char *const opts[] = {
    "StrictHostKeyChecking=yes", "ExitOnForwardFailure=yes", "ControlPersist=no",
    "StreamLocalBindUnlink=yes", "ForwardAgent=no",          "ForwardX11=no",
    "ServerAliveInterval=15",    "ServerAliveCountMax=3",
  };
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    {
      argv_add (&a, "-o");
      argv_add (&a, opts[i]);
    }
  argv_add (&a, "-o");
  argv_add (&a, timeout);
  add_destination (&a, t);
  return a.v;
}

/* A client of the master running COMMAND on the node (no second login). */
static char **
exec_argv (const struct cpb_ssh_tunnel *t, const char *command)
{
  struct argv a = { 0 };

  add_common (&a, t);
  argv_add (&a, "-S");
  argv_add (&a, t->control);
  argv_add (&a, "-o");
  argv_add (&a, "ControlMaster=no");
  argv_add (&a, "-T");
  add_destination (&a, t);
  argv_add (&a, command);
  return a.v;
}

/* ------------------------------------------------------------------ the master */

/* Remove what a cpb killed with SIGKILL left in BASE: directories cpb-ssh-PID-* of ours
   whose PID is gone (its master died with it, PR_SET_PDEATHSIG; only the files remain). */
static void
remove_stale (const char *base)
{
  _cleanup_closedir_ DIR *d = opendir (base);
  struct dirent *e;

  while (d && (e = readdir (d)) != NULL)
    {
      _cleanup_free_ char *dir = NULL;
      struct stat st;
      long pid;
      char *end;

      if (strncmp (e->d_name, "cpb-ssh-", 8) != 0)
        continue;
      pid = strtol (e->d_name + 8, &end, 10);
      if (pid <= 0 || *end != '-' || kill ((pid_t)pid, 0) == 0 || errno != ESRCH)
        continue;
      dir = cpb_xasprintf ("%s/%s", base, e->d_name);
      if (lstat (dir, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
        continue;
      for (const char *const *f = (const char *const[]){ "c", "f", "log", NULL }; *f; f++)
        {
          _cleanup_free_ char *file = cpb_xasprintf ("%s/%s", dir, *f);
          unlink (file);
        }
      rmdir (dir);
    }
}

/* A private directory short enough for the sockets (sun_path is 108 bytes and ssh adds
   a suffix to the control socket's name while it sets it up), named after this process
   so that one killed can be cleaned up after. */
static char *
make_dir (cpb_error **err)
{
  const char *bases[] = { getenv ("XDG_RUNTIME_DIR"), getenv ("TMPDIR"), "/tmp" };
  size_t n = sizeof bases / sizeof bases[0];

  for (size_t i = 0; i < n; i++)
    {
      char *dir;

      if (bases[i] == NULL || bases[i][0] != '/' ||
          strlen (bases[i]) + strlen ("/cpb-ssh-4194304-XXXXXX/c") + CONTROL_SUFFIX_LEN >=
              sizeof ((struct sockaddr_un *)0)->sun_path)
        continue;
      remove_stale (bases[i]);
      dir = cpb_xasprintf ("%s/cpb-ssh-%ld-XXXXXX", bases[i], (long)getpid ());
      if (mkdtemp (dir))
        return dir;
      if (i == n - 1)
        cpb_error_errno (err, errno, "cannot create a directory for the ssh connection '%s'", dir);
      free (dir);
    }
  return NULL;
}

static void
tunnel_free (struct cpb_ssh_tunnel *t)
{
  if (t == NULL)
    return;
  cpb_url_clear (&t->url);
  free (t->ssh);
  free (t->dir);
  free (t->control);
  free (t->forward);
  free (t->log);
  free (t->identity);
  free (t->dest);
  pthread_mutex_destroy (&t->lock);
  free (t);
}

/* Stop the master (SIGTERM: ssh closes the connection cleanly) and remove the directory. */
static void
tunnel_stop (struct cpb_ssh_tunnel *t)
{
  pthread_mutex_lock (&t->lock);
  if (t->pid > 0)
    {
      int status;
      long until = now_ms () + STOP_TIMEOUT_MS;

      /* The whole session: before the login, ssh dies of SIGTERM without stopping its
         ProxyCommand, which would be left behind. */
      kill (-t->pid, SIGTERM);
      while (waitpid (t->pid, &status, WNOHANG) == 0)
        {
          if (now_ms () >= until)
            {
              kill (-t->pid, SIGKILL);
              waitpid (t->pid, &status, 0);
              break;
            }
          sleep_ms (POLL_MS / 2);
        }
      t->pid = 0;
    }
  pthread_mutex_unlock (&t->lock);
  if (t->dir)
    {
      unlink (t->control);
      unlink (t->forward);
      unlink (t->log);
      rmdir (t->dir);
    }
}

struct cpb_ssh_tunnel *
cpb_ssh_tunnel_ref (struct cpb_ssh_tunnel *t)
{
  atomic_fetch_add (&t->refs, 1);
  return t;
}

void
cpb_ssh_tunnel_unref (struct cpb_ssh_tunnel *t)
{
  if (t == NULL || atomic_fetch_sub (&t->refs, 1) != 1)
    return;
  tunnel_stop (t);
  tunnel_free (t);
}

const char *
cpb_ssh_tunnel_forward (const struct cpb_ssh_tunnel *t)
{
  return t->forward;
}

static int
spawn_master (struct cpb_ssh_tunnel *t, cpb_error **err)
{
  _cleanup_strv_free_ char **argv = master_argv (t);
  _cleanup_close_ int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  _cleanup_close_ int log = open (t->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t parent = getpid ();

  if (log < 0)
    return cpb_error_errno (err, errno, "cannot create '%s'", t->log);
  t->pid = fork ();
  if (t->pid < 0)
    return cpb_error_errno (err, errno, "cannot start ssh");
  if (t->pid == 0)
    {
      child_setup (parent, null, null, log);
      execv (t->ssh, argv);
      _exit (127);
    }
  return 0;
}

int
cpb_ssh_tunnel_start (const struct cpb_url *u, const char *identity, int timeout_ms,
                      struct cpb_ssh_tunnel **ret, cpb_error **err)
{
  struct cpb_ssh_tunnel *t = cpb_xzalloc (sizeof *t);

  atomic_init (&t->refs, 1);
  pthread_mutex_init (&t->lock, NULL);
  t->url = (struct cpb_url){ u->scheme,
                             u->user ? cpb_xstrdup (u->user) : NULL,
                             cpb_xstrdup (u->host),
                             u->port,
                             u->port_given,
                             cpb_xstrdup (u->path) };
  t->identity = identity ? cpb_xstrdup (identity) : NULL;
  t->dest = cpb_url_destination (u);
  t->timeout_ms = timeout_ms;
  t->deadline = now_ms () + timeout_ms;
  t->ssh = cpb_podman_find_program ("ssh");
  if (t->ssh == NULL)
    {
      tunnel_free (t);
      return cpb_error_set (err, CPB_ERR_CONNECT,
                            "no ssh client on PATH: install it (apt-get install openssh-client)");
    }
  t->dir = make_dir (err);
  if (t->dir == NULL)
    {
      tunnel_free (t);
      return -1;
    }
  t->control = cpb_xasprintf ("%s/c", t->dir);
  t->forward = cpb_xasprintf ("%s/f", t->dir);
  t->log = cpb_xasprintf ("%s/log", t->dir);
  if (spawn_master (t, err) < 0)
    {
      cpb_ssh_tunnel_unref (t);
      return -1;
    }
  *ret = t;
  return 0;
}

/* ------------------------------------------------------------------ why it failed */

/* The master's log, without the carriage returns ssh puts before its newlines. */
static char *
read_log (const struct cpb_ssh_tunnel *t)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  _cleanup_fclose_ FILE *f = fopen (t->log, "re");
  char line[1024];

  while (f && fgets (line, sizeof line, f) && b.len < 64 * 1024)
    {
      line[strcspn (line, "\r\n")] = '\0';
      if (line[0])
        cpb_buf_printf (&b, "%s\n", line);
    }
  return b.len ? cpb_buf_steal (&b, NULL) : cpb_xstrdup ("");
}

/* The last line of TEXT. */
static char *
last_line (const char *text)
{
  size_t len = strlen (text);
  const char *start;

  while (len > 0 && text[len - 1] == '\n')
    len--;
  start = text + len;
  while (start > text && start[-1] != '\n')
    start--;
  return cpb_xstrndup (start, (size_t)(text + len - start));
}

/* The line of TEXT holding NEEDLE, without what comes before "ssh: " or the host. */
static char *
line_with (const char *text, const char *needle)
{
  const char *hit = strstr (text, needle), *start, *end;

  if (hit == NULL)
    return NULL;
  for (start = hit; start > text && start[-1] != '\n'; start--)
    ;
  end = strchrnul (hit, '\n');
  if (strncmp (start, "ssh: ", 5) == 0)
    start += 5;
  return cpb_xstrndup (start, (size_t)(end - start));
}

/* What `ssh -G` says the destination's KEY is (hostname, port, userknownhostsfile: the
   first word), so the advice names what ssh really used after ~/.ssh/config. */
static char *
effective_option (const struct cpb_ssh_tunnel *t, const char *key)
{
  struct argv a = { 0 };
  struct cpb_exec_result r = { 0 };
  _cleanup_strv_free_ char **argv = NULL;
  size_t klen = strlen (key);
  char *value = NULL;

  add_common (&a, t);
  argv_add (&a, "-G");
  add_destination (&a, t);
  argv = a.v;
  if (run_bounded (t->ssh, argv, 256 * 1024, 5000, NULL, &r, NULL) < 0 || r.status != 0)
    {
      cpb_exec_result_clear (&r);
      return NULL;
    }
  for (const char *l = r.out; *l && value == NULL;)
    {
      const char *eol = strchrnul (l, '\n');

      if (strncmp (l, key, klen) == 0 && l[klen] == ' ')
        value = cpb_xstrndup (l + klen + 1, strcspn (l + klen + 1, " \n"));
      l = *eol ? eol + 1 : eol;
    }
  cpb_exec_result_clear (&r);
  return value;
}

/* "ssh-keyscan [-p PORT] HOST", the command that fetches the key a user is to check. */
static char *
keyscan_command (const struct cpb_ssh_tunnel *t)
{
  _cleanup_free_ char *host = effective_option (t, "hostname");
  _cleanup_free_ char *port = effective_option (t, "port");
  bool default_port = port == NULL || strcmp (port, "22") == 0;

  return cpb_xasprintf ("ssh-keyscan%s%s %s", default_port ? "" : " -p ", default_port ? "" : port,
                        host ? host : t->url.host);
}

static int
unknown_key_error (const struct cpb_ssh_tunnel *t, cpb_error **err)
{
  _cleanup_free_ char *scan = keyscan_command (t);
  _cleanup_free_ char *known = effective_option (t, "userknownhostsfile");

  return cpb_error_set (err, CPB_ERR_CONNECT,
                        "the host key of %s is not known, and cpb talks only to known hosts "
                        "(StrictHostKeyChecking); check its fingerprint (%s | ssh-keygen -lf -) "
                        "and, if it is that machine's, trust it: %s >> %s",
                        t->dest, scan, scan, known ? known : "~/.ssh/known_hosts");
}

static int
changed_key_error (const struct cpb_ssh_tunnel *t, cpb_error **err)
{
  _cleanup_free_ char *scan = keyscan_command (t);
  _cleanup_free_ char *known = effective_option (t, "userknownhostsfile");

  return cpb_error_set (err, CPB_ERR_CONNECT,
                        "the host key of %s has CHANGED since it was trusted (someone may be "
                        "in between); if the machine was reinstalled, remove the old key from "
                        "%s (ssh-keygen -R HOST -f %s), check the new fingerprint (%s | "
                        "ssh-keygen -lf -) and trust it: %s >> %s",
                        t->dest, known ? known : "~/.ssh/known_hosts",
                        known ? known : "~/.ssh/known_hosts", scan, scan,
                        known ? known : "~/.ssh/known_hosts");
}

/* The master exited before it was ready: say why, from its log. */
static int
master_error (const struct cpb_ssh_tunnel *t, int status, cpb_error **err)
{
  _cleanup_free_ char *log = read_log (t);
  _cleanup_free_ char *line = NULL;
  static const char *const unreachable[] = {
    "Could not resolve hostname", "Connection refused",          "Connection timed out",
    "No route to host",           "Network is unreachable",      "Connection closed by",
    "Connection reset by",        "kex_exchange_identification",
  };

  if (strstr (log, "REMOTE HOST IDENTIFICATION HAS CHANGED"))
    return changed_key_error (t, err);
  if (strstr (log, "Host key verification failed") || strstr (log, "host key is known for"))
    return unknown_key_error (t, err);
  if ((line = line_with (log, "Permission denied")) != NULL)
    {
      line[strcspn (line, "\n")] = '\0';
      if (line[0] && line[strlen (line) - 1] == '.')
        line[strlen (line) - 1] = '\0';
      return cpb_error_set (err, CPB_ERR_CONNECT,
                            "ssh login to %s refused (%s); cpb never asks for a password or "
                            "passphrase: load the key into ssh-agent, name it in ~/.ssh/config, "
                            "or give the node an identity file",
                            t->dest, line);
    }
  for (size_t i = 0; i < sizeof unreachable / sizeof unreachable[0]; i++)
    if ((line = line_with (log, unreachable[i])) != NULL)
      return cpb_error_set (err, CPB_ERR_CONNECT, "cannot reach %s over ssh: %s", t->dest, line);
  if (status == 127 << 8 && log[0] == '\0')
    return cpb_error_set (err, CPB_ERR_CONNECT, "cannot run '%s'", t->ssh);
  line = last_line (log);
  return cpb_error_set (err, CPB_ERR_CONNECT, "ssh to %s failed (exit %d)%s%s", t->dest,
                        status_code (status), line[0] ? ": " : "", line);
}

static bool
is_socket (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISSOCK (st.st_mode);
}

int
cpb_ssh_tunnel_wait (struct cpb_ssh_tunnel *t, const atomic_int *cancelled, cpb_error **err)
{
  for (;;)
    {
      int status;
      pid_t r;

      pthread_mutex_lock (&t->lock);
      r = t->pid > 0 ? waitpid (t->pid, &status, WNOHANG) : -1;
      if (r == t->pid)
        t->pid = 0;
      pthread_mutex_unlock (&t->lock);
      if (r < 0)
        return cpb_error_set (err, CPB_ERR_CONNECT, "the ssh connection to %s is closed", t->dest);
      if (r > 0)
        return master_error (t, status, err);
      if (is_socket (t->control) && is_socket (t->forward))
        return 0;
      if (is_cancelled (cancelled))
        return cpb_error_set (err, CPB_ERR_CANCELLED, "interrupted");
      if (now_ms () >= t->deadline)
        return cpb_error_set (err, CPB_ERR_CONNECT, "ssh to %s: no login within %d s", t->dest,
                              (t->timeout_ms + 999) / 1000);
      sleep_ms (POLL_MS);
    }
}

int
cpb_ssh_tunnel_exec (struct cpb_ssh_tunnel *t, const char *command, size_t max_output,
                     int timeout_ms, const atomic_int *cancelled, struct cpb_exec_result *ret,
                     cpb_error **err)
{
  _cleanup_strv_free_ char **argv = exec_argv (t, command);

  if (run_bounded (t->ssh, argv, max_output, timeout_ms, cancelled, ret, err) < 0)
    return cpb_error_prefix (err, "running '%s' on %s", command, t->dest);
  /* 255 is ssh's own failure (the link, not the command): its message is on stderr. */
  if (ret->status == 255)
    {
      _cleanup_free_ char *line = last_line (ret->errout);
      return cpb_error_set (err, CPB_ERR_CONNECT, "running '%s' on %s: ssh failed%s%s", command,
                            t->dest, line[0] ? ": " : "", line);
    }
  return 0;
}

int
cpb_ssh_tunnel_explain (struct cpb_ssh_tunnel *t, const cpb_error *ping_err, cpb_error **err)
{
  struct cpb_exec_result r = { 0 };
  _cleanup_free_ char *test = cpb_xasprintf ("test -S '%s'", t->url.path);
  _cleanup_error_ cpb_error *exec_err = NULL;
  int status;

  if (cpb_ssh_tunnel_exec (t, test, 4096, t->timeout_ms, NULL, &r, &exec_err) < 0)
    {
      cpb_exec_result_clear (&r);
      *err = TAKE_PTR (exec_err);
      return -1;
    }
  status = r.status;
  cpb_exec_result_clear (&r);
  if (status != 0)
    return cpb_error_set (err, CPB_ERR_CONNECT,
                          "no Podman socket at %s on %s: start the service there "
                          "(systemctl --user enable --now podman.socket, and loginctl "
                          "enable-linger so it runs without a login), or fix the path",
                          t->url.path, t->dest);
  return cpb_error_set (err, CPB_ERR_CONNECT,
                        "the socket %s on %s is there but no Podman service answers on it "
                        "(%s): start the service (systemctl --user start podman.socket)",
                        t->url.path, t->dest, ping_err ? ping_err->msg : "no answer");
}

/* ------------------------------------------------------------------ commands */

int
cpb_podman_exec (cpb_podman *p, const char *command, size_t max_output, int timeout_ms,
                 struct cpb_exec_result *ret, cpb_error **err)
{
  char *const argv[] = { (char *)"sh", (char *)"-c", (char *)command, NULL };

  cpb_exec_result_clear (ret);
  if (p->tunnel)
    return cpb_ssh_tunnel_exec (p->tunnel, command, max_output, timeout_ms, &p->cancelled, ret,
                                err);
  if (p->socket_path == NULL)
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "cannot run commands where '%s' runs: only ssh:// and unix:// "
                          "services have a machine cpb can reach",
                          p->url);
  if (run_bounded ("/bin/sh", argv, max_output, timeout_ms, &p->cancelled, ret, err) < 0)
    return cpb_error_prefix (err, "running '%s'", command);
  return 0;
}

bool
cpb_podman_is_remote (const cpb_podman *p)
{
  return p->tunnel != NULL;
}
