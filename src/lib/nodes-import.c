/* nodes-import.c: the connections the user gave Podman itself, for `cpb node import`
 * (see nodes.h; formats in notes/anchors.md §1.2).
 *
 * Podman 4.x keeps them in containers.conf (TOML), one table per connection:
 *
 *   [engine]
 *     active_service = "lab1"
 *     [engine.service_destinations]
 *       [engine.service_destinations.lab1]
 *         uri = "ssh://alice@lab1.example:2222/run/user/1000/podman/podman.sock"
 *         identity = "/home/alice/.ssh/id_ed25519"
 *
 * (an inline table `lab1 = { uri = "...", identity = "..." }` under
 * [engine.service_destinations] means the same); Podman 5 in podman-connections.json:
 *
 *   {"Connection": {"Default": "lab1", "Connections": {"lab1": {"URI": "...",
 *     "Identity": "...", "IsMachine": false}}}, "Farm": {...}}
 *
 * Only what these need of TOML is read here: table headers, key = value lines with basic
 * or literal strings and booleans, and inline tables of those.
 */
#include "config.h"
#include "nodes.h"
#include "json.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

#define DEST_TABLE "engine.service_destinations"
#define TEXT_MAX (4u << 20)

struct list
{
  struct cpb_podman_connection *v;
  size_t n, cap;
  char *default_name;
};

void
cpb_podman_connections_free (struct cpb_podman_connection *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    {
      free (v[i].name);
      free (v[i].url);
      free (v[i].identity);
      free (v[i].source);
    }
  free (v);
}

/* The connection NAME of L, added empty when new; a later file overrides an earlier one. */
static struct cpb_podman_connection *
list_get (struct list *l, const char *name, const char *source)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i].name, name) == 0)
      {
        free (l->v[i].url);
        free (l->v[i].identity);
        free (l->v[i].source);
        l->v[i].url = l->v[i].identity = NULL;
        l->v[i].is_machine = false;
        l->v[i].source = cpb_xstrdup (source);
        return &l->v[i];
      }
  if (l->n == l->cap)
    {
      l->cap = l->cap ? l->cap * 2 : 8;
      l->v = cpb_xrealloc (l->v, l->cap * sizeof *l->v);
    }
  l->v[l->n] =
      (struct cpb_podman_connection){ .name = cpb_xstrdup (name), .source = cpb_xstrdup (source) };
  return &l->v[l->n++];
}

/* ------------------------------------------------------------------ a little TOML */

static const char *
skip_blank (const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* A basic ("...") or literal ('...') string at *P, or a bare word (keys); advances *P.
   NULL when there is none or it is not closed on its line. */
static char *
toml_string (const char **p)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  char q = **p;
  const char *s = *p;

  if (q != '"' && q != '\'')
    {
      while (isalnum ((unsigned char)*s) || *s == '_' || *s == '-')
        s++;
      if (s == *p)
        return NULL;
      cpb_buf_append (&b, *p, (size_t)(s - *p));
      *p = s;
      return cpb_buf_steal (&b, NULL);
    }
  for (s++; *s && *s != q && *s != '\n'; s++)
    {
      if (q == '"' && *s == '\\' && s[1] && s[1] != '\n')
        {
          s++;
          cpb_buf_putc (&b, *s == 'n' ? '\n' : *s == 't' ? '\t' : *s);
        }
      else
        cpb_buf_putc (&b, *s);
    }
  if (*s != q)
    return NULL;
  *p = s + 1;
  cpb_buf_putc (&b, '\0');
  return cpb_buf_steal (&b, NULL);
}

/* The dotted name of a table header "[a.b."c d"]" at P (after '['), parts joined by '.'. */
static char *
toml_header (const char *p)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;

  for (;;)
    {
      _cleanup_free_ char *part = NULL;

      p = skip_blank (p);
      part = toml_string (&p);
      if (part == NULL)
        return NULL;
      cpb_buf_printf (&b, "%s%s", b.len ? "." : "", part);
      p = skip_blank (p);
      if (*p == ']')
        return cpb_buf_steal (&b, NULL);
      if (*p != '.')
        return NULL;
      p++;
    }
}

/* Set KEY of C to the value at P (a string, or true/false for is_machine). */
static void
set_field (struct cpb_podman_connection *c, const char *key, const char **p)
{
  char *v;

  if (strcmp (key, "is_machine") == 0)
    {
      c->is_machine = strncmp (*p, "true", 4) == 0;
      *p += strspn (*p, "truefals");
      return;
    }
  v = toml_string (p);
  if (strcmp (key, "uri") == 0)
    {
      free (c->url);
      c->url = v;
    }
  else if (strcmp (key, "identity") == 0)
    {
      free (c->identity);
      c->identity = v;
    }
  else
    free (v);
}

/* `{ uri = "...", identity = "..." }` at P. */
static void
inline_table (struct cpb_podman_connection *c, const char *p)
{
  p = skip_blank (p + 1);
  while (*p && *p != '}' && *p != '\n')
    {
      _cleanup_free_ char *key = toml_string (&p);

      if (key == NULL)
        return;
      p = skip_blank (p);
      if (*p++ != '=')
        return;
      p = skip_blank (p);
      set_field (c, key, &p);
      /* a value it did not take (a number, an array) ends at the next ',' or '}' */
      p += strcspn (p, ",}\n");
      if (*p == ',')
        p = skip_blank (p + 1);
    }
}

/* One "key = value" line within TABLE. */
static void
toml_line (struct list *l, const char *table, const char *line, const char *source)
{
  const char *p = line;
  _cleanup_free_ char *key = toml_string (&p);

  if (key == NULL)
    return;
  p = skip_blank (p);
  if (*p != '=')
    return;
  p = skip_blank (p + 1);
  if (strcmp (table, "engine") == 0 && strcmp (key, "active_service") == 0)
    {
      free (l->default_name);
      l->default_name = toml_string (&p);
    }
  else if (strcmp (table, DEST_TABLE) == 0 && *p == '{')
    inline_table (list_get (l, key, source), p);
  else if (strncmp (table, DEST_TABLE ".", strlen (DEST_TABLE) + 1) == 0)
    {
      const char *name = table + strlen (DEST_TABLE) + 1;
      struct cpb_podman_connection *c = NULL;

      for (size_t i = 0; i < l->n; i++)
        if (strcmp (l->v[i].name, name) == 0)
          c = &l->v[i];
      set_field (c ? c : list_get (l, name, source), key, &p);
    }
}

static void
parse_toml (struct list *l, const char *source, const char *text)
{
  _cleanup_free_ char *table = cpb_xstrdup ("");

  for (const char *p = text; *p;)
    {
      const char *line = skip_blank (p), *eol = strchrnul (line, '\n');

      if (*line == '[' && line[1] != '[')
        {
          char *h = toml_header (line + 1);

          free (table);
          table = h ? h : cpb_xstrdup ("");
          /* A table header names the connection even before its keys. */
          if (strncmp (table, DEST_TABLE ".", strlen (DEST_TABLE) + 1) == 0)
            list_get (l, table + strlen (DEST_TABLE) + 1, source);
        }
      else if (*line != '#' && *line != '\n' && *line)
        toml_line (l, table, line, source);
      p = *eol ? eol + 1 : eol;
    }
}

/* ------------------------------------------------------------------ Podman 5's JSON */

static int
parse_json (struct list *l, const char *source, const char *text, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  yajl_val conns, def;

  if (cpb_json_parse (text, strlen (text), &tree, err) < 0)
    {
      if (err && *err)
        (*err)->kind = CPB_ERR_INPUT;
      return cpb_error_prefix (err, "%s", source);
    }
  conns = cpb_json_path (tree, "Connection", "Connections", NULL);
  def = cpb_json_path (tree, "Connection", "Default", NULL);
  if (def && YAJL_IS_STRING (def))
    {
      free (l->default_name);
      l->default_name = cpb_xstrdup (YAJL_GET_STRING (def));
    }
  if (conns == NULL || !YAJL_IS_OBJECT (conns))
    return 0;
  for (size_t i = 0; i < conns->u.object.len; i++)
    {
      struct cpb_podman_connection *c = list_get (l, conns->u.object.keys[i], source);
      yajl_val v = conns->u.object.values[i];

      c->url = cpb_json_dup_string (v, "URI");
      c->identity = cpb_json_dup_string (v, "Identity");
      c->is_machine = cpb_json_get_bool (v, "IsMachine", false);
    }
  return 0;
}

/* ------------------------------------------------------------------ putting it together */

static int
by_name (const void *a, const void *b)
{
  return strcmp (((const struct cpb_podman_connection *)a)->name,
                 ((const struct cpb_podman_connection *)b)->name);
}

static void
finish (struct list *l, struct cpb_podman_connection **ret, size_t *ret_n)
{
  for (size_t i = 0; i < l->n; i++)
    {
      l->v[i].is_default = l->default_name && strcmp (l->v[i].name, l->default_name) == 0;
      /* An empty identity is Podman's "none". */
      if (l->v[i].identity && l->v[i].identity[0] == '\0')
        free (TAKE_PTR (l->v[i].identity));
    }
  if (l->n)
    qsort (l->v, l->n, sizeof *l->v, by_name);
  free (l->default_name);
  *ret = l->v;
  *ret_n = l->n;
}

int
cpb_podman_connections_parse (const char *conf_name, const char *conf, const char *json_name,
                              const char *json, struct cpb_podman_connection **ret, size_t *ret_n,
                              cpb_error **err)
{
  struct list l = { 0 };

  if (conf)
    parse_toml (&l, conf_name, conf);
  if (json && parse_json (&l, json_name, json, err) < 0)
    {
      cpb_podman_connections_free (l.v, l.n);
      free (l.default_name);
      return -1;
    }
  finish (&l, ret, ret_n);
  return 0;
}

/* The text of PATH, or NULL with *ERR untouched when it does not exist. */
static int
read_text (const char *path, char **ret, cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  char chunk[8192];
  ssize_t n;

  *ret = NULL;
  if (fd < 0)
    return errno == ENOENT ? 0 : cpb_error_errno (err, errno, "cannot open '%s'", path);
  while ((n = read (fd, chunk, sizeof chunk)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return cpb_error_errno (err, errno, "cannot read '%s'", path);
      if (b.len + (size_t)n > TEXT_MAX)
        return cpb_error_set (err, CPB_ERR_INPUT, "%s: larger than %u bytes", path, TEXT_MAX);
      cpb_buf_append (&b, chunk, (size_t)n);
    }
  cpb_buf_putc (&b, '\0');
  *ret = cpb_buf_steal (&b, NULL);
  return 0;
}

/* $XDG_CONFIG_HOME/containers, or ~/.config/containers (Podman's userConfigPath). */
static char *
user_dir (void)
{
  const char *xdg = getenv ("XDG_CONFIG_HOME"), *home = getenv ("HOME");
  struct passwd *pw;

  if (xdg && xdg[0] == '/')
    return cpb_xasprintf ("%s/containers", xdg);
  if ((home == NULL || home[0] != '/') && (pw = getpwuid (getuid ())) != NULL)
    home = pw->pw_dir;
  return cpb_xasprintf ("%s/.config/containers", home ? home : "");
}

/* The containers.conf files Podman reads, lowest precedence first: $CONTAINERS_CONF alone,
   else the system files and, for a rootless user, the user's (root's own file is /etc's). */
static char **
conf_files (void)
{
  const char *env = getenv ("CONTAINERS_CONF");
  char **v = cpb_xcalloc (4, sizeof *v);
  _cleanup_free_ char *dir = NULL;

  if (env && *env)
    {
      v[0] = cpb_xstrdup (env);
      return v;
    }
  v[0] = cpb_xstrdup ("/usr/share/containers/containers.conf");
  v[1] = cpb_xstrdup ("/etc/containers/containers.conf");
  if (geteuid () != 0)
    {
      dir = user_dir ();
      v[2] = cpb_xasprintf ("%s/containers.conf", dir);
    }
  return v;
}

static char *
json_file (void)
{
  const char *env = getenv ("PODMAN_CONNECTIONS_CONF");
  _cleanup_free_ char *dir = NULL;

  if (env && *env)
    return cpb_xstrdup (env);
  dir = user_dir ();
  return cpb_xasprintf ("%s/podman-connections.json", dir);
}

int
cpb_podman_connections (struct cpb_podman_connection **ret, size_t *ret_n, cpb_error **err)
{
  _cleanup_strv_free_ char **confs = conf_files ();
  _cleanup_free_ char *json_path = json_file ();
  _cleanup_free_ char *json = NULL;
  struct list l = { 0 };

  for (char **f = confs; *f; f++)
    {
      _cleanup_free_ char *text = NULL;

      if (read_text (*f, &text, err) < 0)
        goto fail;
      if (text)
        parse_toml (&l, *f, text);
    }
  if (read_text (json_path, &json, err) < 0 || (json && parse_json (&l, json_path, json, err) < 0))
    goto fail;
  finish (&l, ret, ret_n);
  return 0;
fail:
  cpb_podman_connections_free (l.v, l.n);
  free (l.default_name);
  return -1;
}
