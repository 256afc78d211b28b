/* paths.c: XDG locations, the user config file, and the precedence between them. */
#include "config.h"
#include "paths.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A config file larger than this is not a config file; refuse it before reading it whole. */
#define CONFIG_MAX_SIZE (64 * 1024)

static char *
home_dir (cpb_error **err)
{
  const char *home = getenv ("HOME");
  struct passwd *pw;

  if (home && home[0] == '/')
    return cpb_xstrdup (home);
  pw = getpwuid (geteuid ());
  if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
    return cpb_xstrdup (pw->pw_dir);
  cpb_error_set (err, CPB_ERR_SYSTEM, "cannot find the home directory: set HOME");
  return NULL;
}

/* $VAR/cpb when VAR holds an absolute path (the XDG spec says to ignore relative ones),
   else ~/FALLBACK/cpb. */
static char *
xdg_dir (const char *var, const char *fallback, cpb_error **err)
{
  const char *v = getenv (var);
  _cleanup_free_ char *home = NULL;

  if (v && v[0] == '/')
    return cpb_xasprintf ("%s/cpb", v);
  home = home_dir (err);
  if (home == NULL)
    return NULL;
  return cpb_xasprintf ("%s/%s/cpb", home, fallback);
}

char *
cpb_data_dir (cpb_error **err)
{
  return xdg_dir ("XDG_DATA_HOME", ".local/share", err);
}

char *
cpb_config_path (cpb_error **err)
{
  const char *v = getenv ("CPB_CONFIG");
  _cleanup_free_ char *dir = NULL;

  if (v && v[0])
    return cpb_xstrdup (v);
  dir = xdg_dir ("XDG_CONFIG_HOME", ".config", err);
  if (dir == NULL)
    return NULL;
  return cpb_xasprintf ("%s/config", dir);
}

void
cpb_config_clear (struct cpb_config *cfg)
{
  free (cfg->path);
  free (cfg->archive);
  free (cfg->state);
  memset (cfg, 0, sizeof *cfg);
}

static char *
trim (char *s)
{
  char *end;

  while (*s == ' ' || *s == '\t')
    s++;
  end = s + strlen (s);
  while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    *--end = '\0';
  return s;
}

/* Config paths are absolute or ~/-relative: a relative path would silently depend on the
   directory cpb happens to be started from. */
static char *
config_path_value (const char *file, unsigned line, const char *key, const char *value,
                   cpb_error **err)
{
  _cleanup_free_ char *home = NULL;

  if (value[0] == '/')
    return cpb_xstrdup (value);
  if (strncmp (value, "~/", 2) == 0)
    {
      home = home_dir (err);
      if (home == NULL)
        return NULL;
      return cpb_xasprintf ("%s/%s", home, value + 2);
    }
  cpb_error_set (err, CPB_ERR_INPUT, "%s:%u: '%s' must be an absolute path or start with '~/'",
                 file, line, key);
  return NULL;
}

static int
config_set (const char *file, unsigned line, const char *key, const char *value,
            struct cpb_config *cfg, cpb_error **err)
{
  char **slot;
  unsigned *slot_line;

  if (strcmp (key, "archive") == 0)
    slot = &cfg->archive, slot_line = &cfg->archive_line;
  else if (strcmp (key, "state") == 0)
    slot = &cfg->state, slot_line = &cfg->state_line;
  else
    return cpb_error_set (err, CPB_ERR_INPUT, "%s:%u: unknown key '%s' (known: archive, state)",
                          file, line, key);
  if (*slot)
    return cpb_error_set (err, CPB_ERR_INPUT, "%s:%u: '%s' already set on line %u", file, line, key,
                          *slot_line);
  if (value[0] == '\0')
    return cpb_error_set (err, CPB_ERR_INPUT, "%s:%u: '%s' has no value", file, line, key);
  *slot = config_path_value (file, line, key, value, err);
  *slot_line = line;
  return *slot ? 0 : -1;
}

static int
config_line (const char *file, unsigned line, char *text, struct cpb_config *cfg, cpb_error **err)
{
  char *s = trim (text), *eq, *key;

  if (s[0] == '\0' || s[0] == '#')
    return 0;
  eq = strchr (s, '=');
  if (eq == NULL)
    return cpb_error_set (err, CPB_ERR_INPUT, "%s:%u: expected 'key = value'", file, line);
  *eq = '\0';
  key = trim (s);
  if (key[0] == '\0')
    return cpb_error_set (err, CPB_ERR_INPUT, "%s:%u: missing key before '='", file, line);
  return config_set (file, line, key, trim (eq + 1), cfg, err);
}

int
cpb_config_parse (const char *path, const char *text, struct cpb_config *ret, cpb_error **err)
{
  struct cpb_config cfg = { 0 };
  _cleanup_free_ char *copy = cpb_xstrdup (text);
  char *line = copy, *next;
  unsigned lineno = 0;

  for (; line; line = next)
    {
      next = strchr (line, '\n');
      if (next)
        *next++ = '\0';
      lineno++;
      if (config_line (path, lineno, line, &cfg, err) < 0)
        {
          cpb_config_clear (&cfg);
          return -1;
        }
    }
  cfg.path = cpb_xstrdup (path);
  *ret = cfg;
  return 0;
}

static int
read_small_file (const char *path, char **ret_text, cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  _cleanup_free_ char *text = NULL;
  struct stat st;
  size_t got = 0;

  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open '%s'", path);
  if (fstat (fd, &st) < 0)
    return cpb_error_errno (err, errno, "cannot stat '%s'", path);
  if (!S_ISREG (st.st_mode) || st.st_size > CONFIG_MAX_SIZE)
    return cpb_error_set (err, CPB_ERR_INPUT, "'%s' is not a regular file of at most %d bytes",
                          path, CONFIG_MAX_SIZE);
  text = cpb_xmalloc (st.st_size + 1);
  while (got < (size_t)st.st_size)
    {
      ssize_t n = read (fd, text + got, st.st_size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return cpb_error_errno (err, errno, "cannot read '%s'", path);
      if (n == 0)
        break;
      got += n;
    }
  text[got] = '\0';
  *ret_text = TAKE_PTR (text);
  return 0;
}

int
cpb_config_load (const char *path, struct cpb_config *ret, cpb_error **err)
{
  _cleanup_free_ char *text = NULL;

  if (access (path, F_OK) < 0 && errno == ENOENT)
    {
      memset (ret, 0, sizeof *ret);
      return 0;
    }
  if (read_small_file (path, &text, err) < 0)
    return -1;
  return cpb_config_parse (path, text, ret, err);
}

static char *
absolute (const char *path)
{
  _cleanup_free_ char *cwd = NULL;

  if (path[0] == '/')
    return cpb_xstrdup (path);
  cwd = getcwd (NULL, 0);
  if (cwd == NULL)
    return cpb_xstrdup (path);
  return cpb_xasprintf ("%s/%s", cwd, path);
}

/* The one precedence rule: option > environment > config file > default under the data dir. */
static char *
resolve (const char *option, const char *env, int config_archive, const char *leaf, cpb_error **err)
{
  const char *v = getenv (env);
  _cleanup_free_ char *cfg_path = NULL, *data = NULL;
  struct cpb_config cfg = { 0 };
  char *from_cfg;

  if (option && option[0])
    return absolute (option);
  if (v && v[0])
    return absolute (v);
  cfg_path = cpb_config_path (err);
  if (cfg_path == NULL || cpb_config_load (cfg_path, &cfg, err) < 0)
    return NULL;
  from_cfg = config_archive ? TAKE_PTR (cfg.archive) : TAKE_PTR (cfg.state);
  cpb_config_clear (&cfg);
  if (from_cfg)
    return from_cfg;
  data = cpb_data_dir (err);
  if (data == NULL)
    return NULL;
  return cpb_xasprintf ("%s/%s", data, leaf);
}

char *
cpb_archive_dir (const char *option, cpb_error **err)
{
  return resolve (option, "CPB_ARCHIVE_DIR", 1, "archive", err);
}

char *
cpb_state_path (const char *option, cpb_error **err)
{
  return resolve (option, "CPB_STATE_DB", 0, "state.db", err);
}

char *
cpb_default_namespace (void)
{
  struct passwd *pw = getpwuid (geteuid ());
  const char *user = getenv ("USER");

  if (pw && pw->pw_name && cpb_check_name ("namespace", pw->pw_name, NULL) == 0)
    return cpb_xstrdup (pw->pw_name);
  if (user && cpb_check_name ("namespace", user, NULL) == 0)
    return cpb_xstrdup (user);
  return cpb_xasprintf ("uid-%u", (unsigned)geteuid ());
}

int
cpb_check_name (const char *what, const char *name, cpb_error **err)
{
  size_t len = strlen (name);

  if (len == 0 || len > 128)
    return cpb_error_set (err, CPB_ERR_INPUT, "%s name must have 1 to 128 characters", what);
  if (name[0] == '.')
    return cpb_error_set (err, CPB_ERR_INPUT, "%s name '%s' must not start with '.'", what, name);
  if (strspn (name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != len)
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "%s name '%s' may only hold letters, digits, '.', '_' and '-'", what,
                          name);
  return 0;
}

int
cpb_mkdir_p (const char *path, mode_t mode, cpb_error **err)
{
  _cleanup_free_ char *copy = cpb_xstrdup (path);

  for (char *p = copy + 1; *p; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (mkdir (copy, mode) < 0 && errno != EEXIST)
        return cpb_error_errno (err, errno, "cannot create directory '%s'", copy);
      *p = '/';
    }
  if (mkdir (copy, mode) < 0 && errno != EEXIST)
    return cpb_error_errno (err, errno, "cannot create directory '%s'", copy);
  return 0;
}
