/* podman/connect.c: finding a Podman service, checking its API version, and starting one
 * for the duration of the command when none is running (the embedded default: trying cpb
 * needs no systemd unit); reaching a service on another machine through its ssh master
 * (ssh.c) in two steps, so that masters start on the main thread and logins run in
 * parallel.
 */
#include "config.h"
#include "podman/private.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Seconds without any open request after which an embedded service exits by itself. */
#define CPB_EMBEDDED_IDLE_SECONDS "60"

/* How long an embedded service may take to answer its first _ping. */
#define SERVICE_START_TIMEOUT_MS 10000
#define SERVICE_STOP_TIMEOUT_MS 5000

static void
sleep_ms (long ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* Major and minor of a version string like "4.3.1"; false when it is not one. */
static bool
parse_major_minor (const char *v, int *major, int *minor)
{
  return v && sscanf (v, "%d.%d", major, minor) == 2;
}

/* GET /libpod/_ping and check Libpod-Api-Version: 4.0 or newer. */
static int
ping (cpb_podman *p, cpb_error **err)
{
  struct cpb_podman_request req = { .path = "/libpod/_ping" };
  _cleanup_buf_ cpb_buf body = CPB_BUF_INIT;
  struct curl_header *h = NULL;
  int major = 0, minor = 0;

  req.response = &body;
  if (cpb_podman_request (p, &req, NULL, err) < 0)
    {
      if (err == NULL || (*err)->kind == CPB_ERR_CONNECT || (*err)->kind == CPB_ERR_CANCELLED)
        return -1;
      /* Something answers, but not the libpod 4.x API (a Docker daemon, Podman 3). */
      (*err)->kind = CPB_ERR_CONNECT;
      return cpb_error_prefix (err, "no libpod API 4.x at '%s'", p->url);
    }
  if (curl_easy_header (p->curl, "Libpod-Api-Version", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
    return cpb_error_set (err, CPB_ERR_CONNECT,
                          "'%s' answers but is not a Podman service (no Libpod-Api-Version header)",
                          p->url);
  free (p->api_version);
  p->api_version = cpb_xstrdup (h->value);
  if (!parse_major_minor (p->api_version, &major, &minor) || major < 4)
    return cpb_error_set (err, CPB_ERR_CONNECT,
                          "the Podman service at '%s' speaks API %s; cpb needs Podman 4.0 or newer",
                          p->url, p->api_version);
  return 0;
}

static int
connect_url (const char *url, cpb_podman **ret, cpb_error **err)
{
  _cleanup_podman_ cpb_podman *p = NULL;

  if (cpb_podman_open (url, &p, err) < 0 || ping (p, err) < 0)
    return -1;
  *ret = TAKE_PTR (p);
  return 0;
}

char *
cpb_podman_find_program (const char *name)
{
  const char *path = getenv ("PATH");
  _cleanup_free_ char *copy = cpb_xstrdup (path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  char *save = NULL;

  for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      char *candidate = cpb_xasprintf ("%s/%s", dir, name);

      if (access (candidate, X_OK) == 0)
        return candidate;
      free (candidate);
    }
  return NULL;
}

/* A private directory for the embedded service's socket and log. */
static char *
make_service_dir (cpb_error **err)
{
  const char *runtime = getenv ("XDG_RUNTIME_DIR");
  char *dir = cpb_xasprintf ("%s/cpb-service-XXXXXX", runtime && *runtime ? runtime : "/tmp");

  if (mkdtemp (dir) == NULL)
    {
      cpb_error_errno (err, errno, "cannot create a directory for the Podman service '%s'", dir);
      free (dir);
      return NULL;
    }
  return dir;
}

/* In the child: own session (a Ctrl-C for cpb must not kill the service before cpb has
   cleaned up its containers), death with the parent, output to the log file.  Only
   async-signal-safe calls here: cpb may have threads. */
static void __attribute__ ((noreturn))
exec_service (const char *podman, const char *log, const char *sock_url, pid_t parent)
{
  int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  setsid ();
  if (prctl (PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid () != parent)
    _exit (127);
  if (null >= 0)
    dup2 (null, 0);
  if (out >= 0)
    {
      dup2 (out, 1);
      dup2 (out, 2);
    }
  /* An idle timeout rather than --time=0: if cpb dies by SIGKILL, PDEATHSIG reaches only the
     outer podman, and a rootless service that had to create its user namespace keeps an inner
     process serving.  Open requests and streams (events, logs, build) count as activity, so
     the service outlives no cpb that still uses it (checked on podman 4.3.1). */
  execl (podman, "podman", "system", "service", "--time=" CPB_EMBEDDED_IDLE_SECONDS, sock_url,
         (char *)NULL);
  _exit (127);
}

/* The last line of the service's log, for an error message. */
static char *
service_log_tail (const char *dir)
{
  _cleanup_free_ char *path = cpb_xasprintf ("%s/service.log", dir);
  _cleanup_fclose_ FILE *f = fopen (path, "re");
  char line[512], last[512] = "";

  while (f && fgets (line, sizeof line, f))
    if (line[0] != '\n')
      memcpy (last, line, sizeof last);
  last[strcspn (last, "\n")] = '\0';
  return cpb_xstrdup (last);
}

/* Ping the new service until it answers, it dies, or the time is up. */
static int
wait_for_service (cpb_podman *p, cpb_error **err)
{
  for (int waited = 0;; waited += 50)
    {
      _cleanup_error_ cpb_error *ping_err = NULL;
      int status;

      if (access (p->socket_path, F_OK) == 0 && ping (p, &ping_err) == 0)
        return 0;
      if (waitpid (p->service_pid, &status, WNOHANG) == p->service_pid)
        {
          _cleanup_free_ char *tail = service_log_tail (p->service_dir);

          p->service_pid = 0;
          return cpb_error_set (err, CPB_ERR_CONNECT, "the Podman service cpb started exited: %s",
                                tail[0] ? tail : "no output");
        }
      if (waited >= SERVICE_START_TIMEOUT_MS)
        return cpb_error_set (err, CPB_ERR_CONNECT,
                              "the Podman service cpb started did not answer within %d s",
                              SERVICE_START_TIMEOUT_MS / 1000);
      sleep_ms (50);
    }
}

static int
start_embedded (const char *podman, cpb_podman **ret, cpb_error **err)
{
  _cleanup_podman_ cpb_podman *p = NULL;
  _cleanup_free_ char *dir = make_service_dir (err);
  _cleanup_free_ char *url = NULL, *log = NULL;
  pid_t parent = getpid (), pid;

  if (dir == NULL)
    return -1;
  url = cpb_xasprintf ("unix://%s/podman.sock", dir);
  log = cpb_xasprintf ("%s/service.log", dir);
  if (cpb_podman_open (url, &p, err) < 0)
    return -1;
  p->service_dir = TAKE_PTR (dir);
  pid = fork ();
  if (pid < 0)
    return cpb_error_errno (err, errno, "cannot start the Podman service");
  if (pid == 0)
    exec_service (podman, log, url, parent);
  p->service_pid = pid;
  if (wait_for_service (p, err) < 0)
    return -1;
  *ret = TAKE_PTR (p);
  return 0;
}

/* True while any process of the service's process group lives (zombies count until
   reaped: the leader is reaped as we go). */
static bool
group_alive (pid_t pgid)
{
  int status;

  waitpid (pgid, &status, WNOHANG);
  return kill (-pgid, 0) == 0 || errno == EPERM;
}

/* Rootless podman re-executes itself inside its user namespace when that namespace is new,
   and on SIGTERM the outer process exits while the inner one keeps serving (4.3): the
   whole process group (the service is its own session leader) is stopped, not the pid. */
void
cpb_podman_stop_service (cpb_podman *p)
{
  _cleanup_free_ char *sock = NULL, *log = NULL;

  if (p->service_pid > 0)
    {
      int status, waited = 0;

      kill (-p->service_pid, SIGTERM);
      while (group_alive (p->service_pid) && waited < SERVICE_STOP_TIMEOUT_MS)
        {
          sleep_ms (20);
          waited += 20;
        }
      if (group_alive (p->service_pid))
        kill (-p->service_pid, SIGKILL);
      waitpid (p->service_pid, &status, 0);
      p->service_pid = 0;
    }
  if (p->service_dir == NULL)
    return;
  sock = cpb_xasprintf ("%s/podman.sock", p->service_dir);
  log = cpb_xasprintf ("%s/service.log", p->service_dir);
  unlink (sock);
  unlink (log);
  rmdir (p->service_dir);
  free (TAKE_PTR (p->service_dir));
}

/* The default sockets, most specific first, each as a URL. */
static char **
default_candidates (void)
{
  const char *runtime = getenv ("XDG_RUNTIME_DIR");
  char **v = cpb_xcalloc (3, sizeof *v);
  size_t n = 0;

  if (runtime && *runtime)
    v[n++] = cpb_xasprintf ("unix://%s/podman/podman.sock", runtime);
  v[n++] = cpb_xstrdup ("unix:///run/podman/podman.sock");
  return v;
}

/* Try the default sockets in order; a failure other than "nothing listens there" (a
   service too old, or not Podman) is reported rather than skipped. */
static int
try_defaults (cpb_buf *looked, cpb_podman **ret, cpb_error **err)
{
  _cleanup_strv_free_ char **candidates = default_candidates ();

  for (char **c = candidates; *c; c++)
    {
      _cleanup_error_ cpb_error *e = NULL;

      if (connect_url (*c, ret, &e) == 0)
        return 1;
      if (e->errno_value != ECONNREFUSED)
        {
          *err = TAKE_PTR (e);
          return -1;
        }
      cpb_buf_printf (looked, "%s%s", looked->len ? ", " : "", *c + strlen ("unix://"));
    }
  return 0;
}

/* An unreachable service is the user's to fix: point at the command that checks the set-up. */
static int
add_doctor_hint (unsigned flags, cpb_error **err)
{
  if (!(flags & CPB_PODMAN_NO_DOCTOR_HINT) && err && *err && (*err)->kind == CPB_ERR_CONNECT)
    {
      char *msg = cpb_xasprintf ("%s; run 'cpb doctor'", (*err)->msg);

      free ((*err)->msg);
      (*err)->msg = msg;
    }
  return -1;
}

/* ------------------------------------------------------------------ targets (nodes) */

int
cpb_podman_begin (const struct cpb_podman_target *target, cpb_podman **ret, cpb_error **err)
{
  struct cpb_url u = { 0 };
  struct cpb_ssh_tunnel *t = NULL;
  int timeout = target->timeout_ms > 0 ? target->timeout_ms : CPB_PODMAN_TIMEOUT_MS;
  int r;

  if (strncmp (target->url, "ssh://", 6) != 0)
    return cpb_podman_open (target->url, ret, err);
  if (cpb_url_parse (target->url, &u, err) < 0)
    return -1;
  r = cpb_ssh_tunnel_start (&u, target->identity, timeout, &t, err);
  cpb_url_clear (&u);
  if (r < 0)
    return -1;
  *ret = cpb_podman_open_socket (target->url, cpb_ssh_tunnel_forward (t));
  (*ret)->tunnel = t;
  return 0;
}

/* True when P's last request got an HTTP answer: then its error is the service's own, not
   the transport's. */
static bool
got_answer (cpb_podman *p)
{
  long status = 0;

  return curl_easy_getinfo (p->curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0;
}

int
cpb_podman_finish (cpb_podman *p, cpb_error **err)
{
  _cleanup_error_ cpb_error *ping_err = NULL;

  if (p->tunnel == NULL)
    return ping (p, err);
  if (cpb_ssh_tunnel_wait (p->tunnel, &p->cancelled, err) < 0)
    return -1;
  if (ping (p, &ping_err) == 0)
    return 0;
  if (ping_err->kind == CPB_ERR_CANCELLED || got_answer (p))
    {
      *err = TAKE_PTR (ping_err);
      return -1;
    }
  return cpb_ssh_tunnel_explain (p->tunnel, ping_err, err);
}

int
cpb_podman_connect_to (const struct cpb_podman_target *target, cpb_podman **ret, cpb_error **err)
{
  _cleanup_podman_ cpb_podman *p = NULL;

  if (cpb_podman_begin (target, &p, err) < 0 || cpb_podman_finish (p, err) < 0)
    return -1;
  *ret = TAKE_PTR (p);
  return 0;
}

/* ------------------------------------------------------------------ discovery */

int
cpb_podman_connect (const char *url, unsigned flags, cpb_podman **ret, cpb_error **err)
{
  _cleanup_buf_ cpb_buf looked = CPB_BUF_INIT;
  _cleanup_free_ char *podman = NULL;
  const char *host = getenv ("CONTAINER_HOST");
  int r;

  if (url && *url && strncmp (url, "ssh://", 6) == 0)
    return cpb_podman_connect_to (&(struct cpb_podman_target){ .url = url }, ret, err);
  if (url && *url)
    return connect_url (url, ret, err) < 0 ? add_doctor_hint (flags, err) : 0;
  if (host && *host && strncmp (host, "ssh://", 6) == 0)
    return cpb_podman_connect_to (&(struct cpb_podman_target){ .url = host }, ret, err) < 0
               ? cpb_error_prefix (err, "$CONTAINER_HOST")
               : 0;
  if (host && *host)
    {
      if (connect_url (host, ret, err) < 0)
        {
          cpb_error_prefix (err, "$CONTAINER_HOST");
          return add_doctor_hint (flags, err);
        }
      return 0;
    }
  r = try_defaults (&looked, ret, err);
  if (r != 0)
    return r < 0 ? -1 : 0;
  podman = (flags & CPB_PODMAN_NO_EMBEDDED) ? NULL : cpb_podman_find_program ("podman");
  if (podman == NULL)
    return cpb_error_set (
        err, CPB_ERR_CONNECT,
        "no Podman service found (looked at %s%s); start one with "
        "'systemctl --user start podman.socket' or give --url%s",
        looked.data, (flags & CPB_PODMAN_NO_EMBEDDED) ? "" : ", and podman is not installed",
        (flags & CPB_PODMAN_NO_DOCTOR_HINT) ? "" : ", and run 'cpb doctor'");
  if (start_embedded (podman, ret, err) < 0)
    {
      cpb_error_prefix (err, "no Podman service found (looked at %s) and starting one failed",
                        looked.data);
      return add_doctor_hint (flags, err);
    }
  return 0;
}
