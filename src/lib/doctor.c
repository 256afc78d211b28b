/* doctor.c: the checks of `cpb doctor` (see doctor.h). */
#include "config.h"
#include "doctor.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cleanup.h"
#include "podman/podman.h"
#include "xalloc.h"

/* Images routinely hold files owned by ids up to 65535 (nobody, nogroup): a smaller range
   makes their layers fail to extract. */
#define SUBIDS_WANTED 65536
/* Where useradd starts handing out subordinate ids. */
#define SUBID_FIRST 100000
/* System files read here are a few kilobytes; anything past this is not one of them. */
#define TEXT_MAX (1024 * 1024)

/* ------------------------------------------------------------------ results */

void
cpb_doctor_clear (struct cpb_doctor *d)
{
  for (size_t i = 0; i < d->n; i++)
    {
      free (d->checks[i].name);
      free (d->checks[i].detail);
      free (d->checks[i].advice);
    }
  free (d->checks);
  free (d->url);
  *d = (struct cpb_doctor)CPB_DOCTOR_INIT;
}

/* Record one result; DETAIL and ADVICE (may be NULL) are taken over. */
static void
add_check (struct cpb_doctor *d, const char *name, enum cpb_check_status status, char *detail,
           char *advice)
{
  if (d->n == d->cap)
    {
      d->cap = d->cap ? d->cap * 2 : 16;
      d->checks = cpb_xrealloc (d->checks, d->cap * sizeof *d->checks);
    }
  d->checks[d->n++] = (struct cpb_check){ cpb_xstrdup (name), status, detail, advice };
}

void
cpb_doctor_add (struct cpb_doctor *d, const char *name, enum cpb_check_status status, char *detail,
                char *advice)
{
  add_check (d, name, status, detail, advice);
}

size_t
cpb_doctor_count (const struct cpb_doctor *d, enum cpb_check_status status)
{
  size_t n = 0;

  for (size_t i = 0; i < d->n; i++)
    n += d->checks[i].status == status;
  return n;
}

const char *
cpb_check_status_name (enum cpb_check_status status)
{
  switch (status)
    {
    case CPB_CHECK_OK:
      return "ok";
    case CPB_CHECK_WARN:
      return "warn";
    case CPB_CHECK_PROBLEM:
      return "problem";
    case CPB_CHECK_SKIPPED:
      return "skipped";
    default:
      return "unknown";
    }
}

/* ------------------------------------------------------------------ pure parts */

enum cpb_cgroup_mode
cpb_cgroup_mode_parse (const char *text)
{
  bool unified = false, controllers = false;

  for (const char *line = text; *line;)
    {
      const char *eol = strchrnul (line, '\n');

      if (strncmp (line, "0::", 3) == 0)
        unified = true;
      else if (eol > line)
        controllers = true;
      line = *eol ? eol + 1 : eol;
    }
  if (controllers)
    return unified ? CPB_CGROUP_HYBRID : CPB_CGROUP_V1;
  return unified ? CPB_CGROUP_V2 : CPB_CGROUP_UNKNOWN;
}

const char *
cpb_cgroup_mode_name (enum cpb_cgroup_mode mode)
{
  switch (mode)
    {
    case CPB_CGROUP_V1:
      return "v1";
    case CPB_CGROUP_HYBRID:
      return "hybrid";
    case CPB_CGROUP_V2:
      return "v2";
    case CPB_CGROUP_UNKNOWN:
    default:
      return "unknown";
    }
}

/* Split one "name:start:count" line of /etc/subuid; false for comments and garbage. */
static bool
parse_subid_line (const char *line, const char *eol, char *name, size_t name_size,
                  uint64_t *ret_start, uint64_t *ret_count)
{
  const char *colon = memchr (line, ':', eol - line);
  char *end;
  uint64_t start, count;

  if (colon == NULL || *line == '#' || (size_t)(colon - line) >= name_size)
    return false;
  memcpy (name, line, colon - line);
  name[colon - line] = '\0';
  errno = 0;
  start = strtoull (colon + 1, &end, 10);
  if (errno || end == colon + 1 || *end != ':')
    return false;
  count = strtoull (end + 1, &end, 10);
  if (errno || (end != eol && !isspace ((unsigned char)*end)))
    return false;
  *ret_start = start;
  *ret_count = count;
  return true;
}

uint64_t
cpb_subid_count (const char *text, const char *user, uid_t uid)
{
  char name[256], uid_text[32];
  uint64_t total = 0, start, count;

  snprintf (uid_text, sizeof uid_text, "%u", (unsigned)uid);
  for (const char *line = text; *line;)
    {
      const char *eol = strchrnul (line, '\n');

      if (parse_subid_line (line, eol, name, sizeof name, &start, &count) &&
          ((user && strcmp (name, user) == 0) || strcmp (name, uid_text) == 0))
        total += count;
      line = *eol ? eol + 1 : eol;
    }
  return total;
}

uint64_t
cpb_subid_next_free (const char *text)
{
  char name[256];
  uint64_t next = SUBID_FIRST, start, count;

  for (const char *line = text; *line;)
    {
      const char *eol = strchrnul (line, '\n');

      if (parse_subid_line (line, eol, name, sizeof name, &start, &count) && start + count > next)
        next = start + count;
      line = *eol ? eol + 1 : eol;
    }
  return next;
}

static const char *
skip_blank (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* True when LINE is the header of table SECTION ("[containers]", blanks allowed). */
static bool
is_section (const char *line, const char *section)
{
  size_t len = strlen (section);

  line = skip_blank (line + 1);
  if (strncmp (line, section, len) != 0)
    return false;
  return *skip_blank (line + len) == ']';
}

/* The value starting at V up to where TOML ends it: a whole array (comments dropped, over
   several lines), a whole quoted string, or the rest of the line before a comment. */
static char *
toml_value (const char *v)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  char quote = 0;
  int depth = 0;

  for (const char *p = v; *p; p++)
    {
      if (quote)
        {
          cpb_buf_putc (&b, *p);
          if (*p == '\\' && quote == '"' && p[1])
            cpb_buf_putc (&b, *++p);
          else if (*p == quote)
            {
              quote = 0;
              if (depth == 0)
                break;
            }
          continue;
        }
      if (*p == '#')
        {
          if (depth == 0)
            break;
          p = strchrnul (p, '\n') - 1;
          continue;
        }
      if (*p == '\n' && depth == 0)
        break;
      if (*p == '"' || *p == '\'')
        quote = *p;
      depth += (*p == '[') - (*p == ']');
      cpb_buf_putc (&b, *p);
      if (*p == ']' && depth == 0)
        break;
    }
  while (b.len > 0 && isspace ((unsigned char)b.data[b.len - 1]))
    b.data[--b.len] = '\0';
  return b.len ? cpb_buf_steal (&b, NULL) : NULL;
}

char *
cpb_toml_get (const char *text, const char *section, const char *key)
{
  size_t keylen = strlen (key);
  bool in_section = false;

  for (const char *p = text; *p;)
    {
      const char *line = skip_blank (p);
      const char *eol = strchrnul (line, '\n');

      if (*line == '[')
        in_section = is_section (line, section);
      else if (in_section && strncmp (line, key, keylen) == 0)
        {
          const char *v = skip_blank (line + keylen);

          if (*v == '=')
            return toml_value (skip_blank (v + 1));
        }
      p = *eol ? eol + 1 : eol;
    }
  return NULL;
}

/* Parse "S:H" or "S" of one ulimit entry (END is where the entry's text stops). */
static bool
parse_limits (const char *s, const char *end, uint64_t *ret_soft, uint64_t *ret_hard)
{
  char *e;
  uint64_t soft, hard;

  if (!isdigit ((unsigned char)*s))
    return false;
  errno = 0;
  soft = hard = strtoull (s, &e, 10);
  if (*e == ':')
    {
      if (!isdigit ((unsigned char)e[1]))
        return false;
      hard = strtoull (e + 1, &e, 10);
    }
  if (errno || e != end)
    return false;
  *ret_soft = soft;
  *ret_hard = hard;
  return true;
}

bool
cpb_ulimit_parse (const char *array, const char *name, uint64_t *ret_soft, uint64_t *ret_hard)
{
  size_t len = strlen (name);

  for (const char *p = strchr (array, '"'); p; p = strchr (p + 1, '"'))
    {
      const char *s = p + 1, *end = strchr (s, '"');

      if (end == NULL)
        return false;
      p = end;
      if (strncmp (s, name, len) == 0 && s[len] == '=')
        return parse_limits (s + len + 1, end, ret_soft, ret_hard);
    }
  return false;
}

/* ------------------------------------------------------------------ the host */

/* The contents of a small text file, or NULL with errno set. */
static char *
read_text (const char *path)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  char chunk[4096];
  ssize_t n;

  if (fd < 0)
    return NULL;
  while ((n = read (fd, chunk, sizeof chunk)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return NULL;
      if (b.len + (size_t)n > TEXT_MAX)
        {
          errno = EFBIG;
          return NULL;
        }
      cpb_buf_append (&b, chunk, n);
    }
  return cpb_buf_steal (&b, NULL);
}

/* The path of the executable NAME on $PATH or in the system directories Podman itself
   searches (a user's PATH often lacks /usr/sbin, where runc lives), or NULL. */
static char *
find_program (const char *name)
{
  const char *path = getenv ("PATH");
  _cleanup_free_ char *dirs =
      cpb_xasprintf ("%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", path ? path : "");
  char *save = NULL;

  for (char *dir = strtok_r (dirs, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      _cleanup_free_ char *full = cpb_xasprintf ("%s/%s", dir, name);

      if (access (full, X_OK) == 0)
        return TAKE_PTR (full);
    }
  return NULL;
}

/* "sudo " for advice given to a user, nothing for root. */
static const char *
sudo (void)
{
  return geteuid () == 0 ? "" : "sudo ";
}

/* The containers.conf a user edits: $CONTAINERS_CONF when set (Podman then reads only
   that), else the user's file for rootless Podman, the system file for root. */
static char *
user_conf_path (void)
{
  const char *env = getenv ("CONTAINERS_CONF"), *xdg = getenv ("XDG_CONFIG_HOME");
  const char *home = getenv ("HOME");

  if (env && *env)
    return cpb_xstrdup (env);
  if (geteuid () == 0)
    return cpb_xstrdup ("/etc/containers/containers.conf");
  if (xdg && *xdg == '/')
    return cpb_xasprintf ("%s/containers/containers.conf", xdg);
  return cpb_xasprintf ("%s/.config/containers/containers.conf", home ? home : "~");
}

/* KEY of SECTION as Podman 4.3 reads containers.conf for this user: $CONTAINERS_CONF alone
   when set, else /usr/share, /etc, then the user's file, the last that sets KEY winning.
   *RET_FROM (may be NULL) gets the file that set it. */
static char *
conf_lookup (const char *section, const char *key, char **ret_from)
{
  _cleanup_free_ char *user = user_conf_path ();
  const char *files[] = { "/usr/share/containers/containers.conf",
                          "/etc/containers/containers.conf", user };
  size_t first = getenv ("CONTAINERS_CONF") && *getenv ("CONTAINERS_CONF") ? 2 : 0;
  char *value = NULL;

  for (size_t i = first; i < sizeof files / sizeof files[0]; i++)
    {
      _cleanup_free_ char *text = read_text (files[i]);
      char *v = text ? cpb_toml_get (text, section, key) : NULL;

      if (v == NULL)
        continue;
      free (value);
      value = v;
      if (ret_from)
        {
          free (*ret_from);
          *ret_from = cpb_xstrdup (files[i]);
        }
    }
  return value;
}

/* Advice that sets LINE under [SECTION] in the user's containers.conf: an exact command
   when the file has no such table yet (appending one is then valid TOML), else the edit. */
static char *
conf_advice (const char *section, const char *line)
{
  _cleanup_free_ char *path = user_conf_path ();
  _cleanup_free_ char *text = read_text (path);
  _cleanup_free_ char *dir = cpb_xstrdup (path);
  char *slash = strrchr (dir, '/');
  bool has_section = false;

  if (slash)
    *slash = '\0';
  for (const char *p = text; p && *p; p = strchrnul (p, '\n'), p += *p == '\n')
    if (*skip_blank (p) == '[' && is_section (skip_blank (p), section))
      has_section = true;
  if (has_section)
    return cpb_xasprintf ("in %s, under [%s], set: %s", path, section, line);
  return cpb_xasprintf ("mkdir -p '%s' && printf '[%s]\\n%s\\n' >> '%s'", dir, section, line, path);
}

static void
check_programs (struct cpb_doctor *d)
{
  _cleanup_free_ char *podman = find_program ("podman");
  _cleanup_free_ char *uidmap = find_program ("newuidmap");
  _cleanup_free_ char *gidmap = find_program ("newgidmap");

  if (podman)
    add_check (d, "podman", CPB_CHECK_OK, TAKE_PTR (podman), NULL);
  else
    add_check (d, "podman", CPB_CHECK_PROBLEM, cpb_xstrdup ("podman is not installed"),
               cpb_xasprintf ("%sapt-get install podman", sudo ()));
  if (geteuid () == 0)
    add_check (d, "uidmap", CPB_CHECK_SKIPPED, cpb_xstrdup ("root maps no subordinate ids"), NULL);
  else if (uidmap && gidmap)
    add_check (d, "uidmap", CPB_CHECK_OK, cpb_xasprintf ("%s, %s", uidmap, gidmap), NULL);
  else
    add_check (d, "uidmap", CPB_CHECK_PROBLEM,
               cpb_xstrdup ("newuidmap/newgidmap missing: rootless Podman cannot map ids"),
               cpb_xasprintf ("%sapt-get install uidmap", sudo ()));
}

static void
check_subids (struct cpb_doctor *d)
{
  struct passwd *pw = getpwuid (geteuid ());
  _cleanup_free_ char *uids = read_text ("/etc/subuid");
  _cleanup_free_ char *gids = read_text ("/etc/subgid");
  const char *name = pw ? pw->pw_name : NULL;
  uint64_t nu, ng, start;

  if (geteuid () == 0)
    {
      add_check (d, "subuid", CPB_CHECK_SKIPPED,
                 cpb_xstrdup ("root needs no subordinate ids (cpb is meant to run rootless)"),
                 NULL);
      return;
    }
  nu = cpb_subid_count (uids ? uids : "", name, geteuid ());
  ng = cpb_subid_count (gids ? gids : "", name, geteuid ());
  if (nu >= SUBIDS_WANTED && ng >= SUBIDS_WANTED)
    {
      add_check (d, "subuid", CPB_CHECK_OK,
                 cpb_xasprintf ("%" PRIu64 " subordinate uids, %" PRIu64 " gids", nu, ng), NULL);
      return;
    }
  start = cpb_subid_next_free (uids ? uids : "");
  if (cpb_subid_next_free (gids ? gids : "") > start)
    start = cpb_subid_next_free (gids ? gids : "");
  add_check (d, "subuid", CPB_CHECK_PROBLEM,
             cpb_xasprintf ("'%s' has %" PRIu64 " subordinate uids and %" PRIu64
                            " gids in /etc/subuid and /etc/subgid; rootless Podman needs %d",
                            name ? name : "?", nu, ng, SUBIDS_WANTED),
             cpb_xasprintf ("sudo usermod --add-subuids %" PRIu64 "-%" PRIu64
                            " --add-subgids %" PRIu64 "-%" PRIu64 " %s && podman system migrate",
                            start, start + SUBIDS_WANTED - 1, start, start + SUBIDS_WANTED - 1,
                            name ? name : "$USER"));
}

/* The runtime Podman will use: containers.conf's, else crun when installed (Podman's
   preference), else runc. */
static char *
configured_runtime (void)
{
  _cleanup_free_ char *value = conf_lookup ("engine", "runtime", NULL);
  _cleanup_free_ char *crun = find_program ("crun");
  size_t len = value ? strlen (value) : 0;

  if (len >= 2 && (value[0] == '"' || value[0] == '\''))
    return cpb_xstrndup (value + 1, len - 2);
  if (value)
    return TAKE_PTR (value);
  return cpb_xstrdup (crun ? "crun" : "runc");
}

static void
check_cgroups (struct cpb_doctor *d)
{
  _cleanup_free_ char *text = read_text ("/proc/self/cgroup");
  _cleanup_free_ char *runtime = configured_runtime ();
  _cleanup_free_ char *runtime_path = find_program (runtime);
  enum cpb_cgroup_mode mode = text ? cpb_cgroup_mode_parse (text) : CPB_CGROUP_UNKNOWN;
  const char *name = cpb_cgroup_mode_name (mode);

  d->cgroup_mode = mode;
  if (mode == CPB_CGROUP_UNKNOWN)
    add_check (d, "cgroups", CPB_CHECK_WARN,
               cpb_xasprintf ("cannot tell the cgroup version from /proc/self/cgroup%s%s",
                              text ? "" : ": ", text ? "" : strerror (errno)),
               NULL);
  else if (mode != CPB_CGROUP_V2 && strcmp (runtime, "crun") == 0)
    add_check (d, "cgroups", CPB_CHECK_PROBLEM,
               cpb_xasprintf ("cgroups %s, and the runtime is crun, which refuses them", name),
               conf_advice ("engine", "runtime = \"runc\""));
  else if (runtime_path == NULL)
    add_check (d, "cgroups", CPB_CHECK_PROBLEM,
               cpb_xasprintf ("cgroups %s, but the runtime '%s' is not installed", name, runtime),
               cpb_xasprintf ("%sapt-get install %s", sudo (), runtime));
  else
    add_check (d, "cgroups", CPB_CHECK_OK, cpb_xasprintf ("cgroups %s, runtime %s", name, runtime),
               NULL);
}

static void
check_tun (struct cpb_doctor *d)
{
  _cleanup_close_ int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);

  if (fd >= 0)
    add_check (d, "tun", CPB_CHECK_OK, cpb_xstrdup ("/dev/net/tun usable (rootless networking)"),
               NULL);
  else if (errno == ENOENT)
    add_check (d, "tun", CPB_CHECK_PROBLEM,
               cpb_xstrdup ("no /dev/net/tun: builds and networked tasks cannot start"),
               cpb_xasprintf ("%smkdir -p /dev/net && %smknod -m 0666 /dev/net/tun c 10 200",
                              sudo (), sudo ()));
  else
    add_check (d, "tun", CPB_CHECK_PROBLEM,
               cpb_xasprintf ("cannot open /dev/net/tun: %s: builds and networked tasks cannot "
                              "start",
                              strerror (errno)),
               cpb_xasprintf ("%schmod 0666 /dev/net/tun", sudo ()));
}

/* One limit of default_ulimits against this user's hard limit: a container asking for more
   than the user may set fails to start (Podman only clamps its own defaults). */
static bool
ulimit_too_high (const char *value, const char *name, int resource, cpb_buf *detail)
{
  struct rlimit rl;
  uint64_t soft, hard;

  if (value == NULL || !cpb_ulimit_parse (value, name, &soft, &hard))
    return false;
  if (getrlimit (resource, &rl) < 0 || rl.rlim_max == RLIM_INFINITY || hard <= rl.rlim_max ||
      geteuid () == 0)
    return false;
  cpb_buf_printf (detail, "%s%s=%" PRIu64 " is above this user's hard limit %" PRIu64,
                  detail->len ? "; " : "", name, hard, (uint64_t)rl.rlim_max);
  return true;
}

static void
check_ulimits (struct cpb_doctor *d)
{
  _cleanup_free_ char *from = NULL;
  _cleanup_free_ char *value = conf_lookup ("containers", "default_ulimits", &from);
  _cleanup_buf_ cpb_buf detail = CPB_BUF_INIT;
  struct rlimit rl = { 0, 0 };
  bool bad = false;

  bad |= ulimit_too_high (value, "nofile", RLIMIT_NOFILE, &detail);
  bad |= ulimit_too_high (value, "nproc", RLIMIT_NPROC, &detail);
  getrlimit (RLIMIT_NOFILE, &rl);
  if (bad)
    add_check (d, "ulimits", CPB_CHECK_PROBLEM,
               cpb_xasprintf ("default_ulimits in %s: %s", from, detail.data),
               cpb_xasprintf ("in %s, under [containers], set: default_ulimits = "
                              "[\"nofile=1024:1024\", \"nproc=4096:4096\"]",
                              from));
  else if (value)
    add_check (d, "ulimits", CPB_CHECK_OK,
               cpb_xasprintf ("default_ulimits %s (%s) within this user's limits", value, from),
               NULL);
  else
    add_check (d, "ulimits", CPB_CHECK_OK,
               cpb_xasprintf ("no default_ulimits: Podman clamps rootless containers to this "
                              "user's limits (nofile %" PRIu64 ")",
                              (uint64_t)rl.rlim_max),
               NULL);
}

void
cpb_doctor_local (struct cpb_doctor *d)
{
  check_programs (d);
  check_subids (d);
  check_cgroups (d);
  check_tun (d);
  check_ulimits (d);
}

/* ------------------------------------------------------------------ the service */

/* How to get a service answering where cpb looks first. */
static char *
service_advice (const char *url)
{
  const char *xdg = getenv ("XDG_RUNTIME_DIR");
  struct stat st;

  if (url)
    return cpb_xasprintf ("start the service at %s, or run without --url/CPB_PODMAN_URL", url);
  if (getenv ("CONTAINER_HOST") && *getenv ("CONTAINER_HOST"))
    return cpb_xasprintf ("start the service at %s, or unset CONTAINER_HOST",
                          getenv ("CONTAINER_HOST"));
  if (stat ("/run/systemd/system", &st) == 0 && geteuid () != 0)
    return cpb_xstrdup ("systemctl --user enable --now podman.socket");
  if (xdg && *xdg)
    return cpb_xasprintf ("mkdir -p %s/podman && setsid podman system service --time=0 "
                          "unix://%s/podman/podman.sock &",
                          xdg, xdg);
  return cpb_xstrdup ("export XDG_RUNTIME_DIR=/run/user/$(id -u) (it must exist and be yours), "
                      "then: setsid podman system service --time=0 "
                      "unix://$XDG_RUNTIME_DIR/podman/podman.sock &");
}

static void
check_api (struct cpb_doctor *d, cpb_podman *p)
{
  _cleanup_podman_version_ struct cpb_podman_version *v = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  const char *api = cpb_podman_api_version (p);

  if (cpb_podman_get_version (p, &v, &err) < 0)
    add_check (d, "api", CPB_CHECK_PROBLEM,
               cpb_xasprintf ("libpod API %s, but /version failed: %s", api ? api : "?", err->msg),
               NULL);
  else
    add_check (
        d, "api", CPB_CHECK_OK,
        cpb_xasprintf ("libpod API %s, podman %s", api ? api : "?", v->version ? v->version : "?"),
        NULL);
}

/* Why rootless Podman fell back to vfs, judged from this host: fuse-overlayfs missing,
   /dev/fuse closed to the user, or storage created before either was fixed (the driver is
   fixed at creation, so only a reset changes it). */
static char *
storage_advice (void)
{
  _cleanup_free_ char *fuse_overlayfs = find_program ("fuse-overlayfs");
  _cleanup_close_ int fd = -1;
  const char *reset = "podman system reset (this deletes every image and container)";

  if (fuse_overlayfs == NULL)
    return cpb_xasprintf ("%sapt-get install fuse-overlayfs && %s", sudo (), reset);
  fd = open ("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return cpb_xasprintf ("%schmod 0666 /dev/fuse (fuse-overlayfs cannot open it: %s), then %s",
                          sudo (), strerror (errno), reset);
  return cpb_xstrdup (reset);
}

/* Advice for a setting of containers.conf: this host's file, or, on a remote node (REMOTE
   its name), the file that user edits there. */
static char *
node_conf_advice (const char *remote, const char *section, const char *line)
{
  if (remote == NULL)
    return conf_advice (section, line);
  return cpb_xasprintf ("on node %s, in ~/.config/containers/containers.conf, under [%s], set: %s",
                        remote, section, line);
}

static void
check_info (struct cpb_doctor *d, const struct cpb_podman_info *info, const char *remote)
{
  const char *rt = info->oci_runtime ? info->oci_runtime : "?";
  const char *driver = info->storage_driver ? info->storage_driver : "?";

  if (info->rootless)
    add_check (d, "rootless", CPB_CHECK_OK, cpb_xstrdup ("the service runs rootless"), NULL);
  else
    add_check (d, "rootless", CPB_CHECK_WARN,
               cpb_xstrdup ("the service runs as root: tasks would run in rootful containers"),
               cpb_xstrdup ("run cpb as an unprivileged user, against that user's socket "
                            "(systemctl --user enable --now podman.socket)"));
  if (info->cgroup_version == 1 && strcmp (rt, "crun") == 0)
    add_check (d, "runtime", CPB_CHECK_PROBLEM,
               cpb_xstrdup ("the service uses crun on cgroups v1, which it refuses"),
               node_conf_advice (remote, "engine", "runtime = \"runc\""));
  else
    add_check (d, "runtime", CPB_CHECK_OK,
               cpb_xasprintf ("%s on cgroups v%d", rt, info->cgroup_version), NULL);
  if (strcmp (driver, "vfs") == 0)
    add_check (d, "storage", CPB_CHECK_WARN,
               cpb_xstrdup ("vfs copies every layer: slow builds, much disk"),
               remote ? cpb_xasprintf ("on node %s: install fuse-overlayfs (or allow native "
                                       "overlay), then podman system reset (this deletes every "
                                       "image and container there)",
                                       remote)
                      : storage_advice ());
  else
    add_check (d, "storage", CPB_CHECK_OK,
               cpb_xasprintf ("%s in %s", driver, info->graph_root ? info->graph_root : "?"), NULL);
}

/* Record the service checks as skipped, so --json always lists every check. */
static void
skip_service_checks (struct cpb_doctor *d)
{
  static const char *const names[] = { "api", "rootless", "runtime", "storage" };

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    add_check (d, names[i], CPB_CHECK_SKIPPED, cpb_xstrdup ("no service answered"), NULL);
}

void
cpb_doctor_service (struct cpb_doctor *d, const char *url)
{
  _cleanup_podman_ cpb_podman *p = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  if (cpb_podman_connect (url, CPB_PODMAN_NO_EMBEDDED | CPB_PODMAN_NO_DOCTOR_HINT, &p, &err) < 0)
    {
      /* Other verbs fall back to a private service only when nothing named one. */
      bool named = url || (getenv ("CONTAINER_HOST") && *getenv ("CONTAINER_HOST"));

      add_check (d, "service", CPB_CHECK_PROBLEM,
                 cpb_xasprintf ("%s%s", err->msg,
                                named ? ""
                                      : "; meanwhile other verbs start a private service "
                                        "per command"),
                 service_advice (url));
      skip_service_checks (d);
      return;
    }
  cpb_doctor_connection (d, p, NULL);
}

void
cpb_doctor_connection (struct cpb_doctor *d, cpb_podman *p, const char *remote)
{
  _cleanup_podman_info_ struct cpb_podman_info *info = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  d->reachable = true;
  free (d->url);
  d->url = cpb_xstrdup (cpb_podman_url (p));
  add_check (d, "service", CPB_CHECK_OK, cpb_xasprintf ("answers at %s", d->url), NULL);
  check_api (d, p);
  if (cpb_podman_get_info (p, &info, &err) < 0)
    {
      add_check (d, "info", CPB_CHECK_PROBLEM, cpb_xasprintf ("/info failed: %s", err->msg), NULL);
      return;
    }
  check_info (d, info, remote);
}
