/* spec/nodes.c: loading and editing nodes.yaml (see nodes.h). */
#include "config.h"
#include "spec/nodes.h"
#include "podman/ssh.h"
#include "spec/yamlnode.h"
#include "suggest.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "paths.h"

#define NAME_MAX_LEN 64
#define MAX_CPUS 65536
#define MAX_TASKS 1000000

static const cpb_yaml_key top_keys[] = { { "nodes", 0 }, { NULL, 0 } };

static const cpb_yaml_key node_keys[] = {
  { "url", 0 },    { "identity", 0 },  { "capabilities", 0 }, { "cpus", 0 },
  { "memory", 0 }, { "max_tasks", 0 }, { "enabled", 0 },      { NULL, 0 },
};

static const char header[] =
    "# cpb nodes: the machines `cpb run` may use (see docs/nodes.md and `cpb node --help`).\n"
    "# Edit by hand or with `cpb node add/rm/import`.  The local Podman service is the node\n"
    "# 'local' without an entry here; an entry named local configures it.\n";

/* ------------------------------------------------------------------ the model */

static void
node_conf_clear (struct cpb_node_conf *n)
{
  free (n->name);
  free (n->url);
  free (n->identity);
  cpb_strv_free (n->capabilities);
  free (n->memory_text);
}

void
cpb_nodes_conf_free (cpb_nodes_conf *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n; i++)
    node_conf_clear (&c->nodes[i]);
  free (c->nodes);
  free (c->path);
  free (c);
}

const struct cpb_node_conf *
cpb_nodes_conf_find (const cpb_nodes_conf *c, const char *name)
{
  for (size_t i = 0; c && i < c->n; i++)
    if (strcmp (c->nodes[i].name, name) == 0)
      return &c->nodes[i];
  return NULL;
}

int
cpb_nodes_conf_unknown (const cpb_nodes_conf *c, const char *name, cpb_error **err)
{
  _cleanup_free_ const char **names = cpb_xcalloc (c->n + 2, sizeof *names);
  const char *hint;

  for (size_t i = 0; i < c->n; i++)
    names[i] = c->nodes[i].name;
  names[c->n] = CPB_NODE_LOCAL;
  hint = cpb_suggest (name, names, c->n + 1);
  return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no node '%s' in %s%s%s%s", name, c->path,
                        hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
}

static bool
is_node_name (const char *s)
{
  size_t len = strlen (s);

  if (len == 0 || len > NAME_MAX_LEN || !isalnum ((unsigned char)s[0]))
    return false;
  for (const char *p = s; *p; p++)
    if (!isalnum ((unsigned char)*p) && !strchr ("._-", *p))
      return false;
  return true;
}

int
cpb_node_name_check (const char *name, cpb_error **err)
{
  if (is_node_name (name))
    return 0;
  return cpb_error_set (err, CPB_ERR_INPUT,
                        "'%s' cannot be a node name: 1 to %d letters, digits and ._-, "
                        "starting with a letter or digit",
                        name, NAME_MAX_LEN);
}

/* A capability word, as pods.yaml images and jobs.yaml `requires` spell them. */
static bool
is_capability (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char)*s) && !strchr ("._:+=/-", *s))
      return false;
  return true;
}

/* ------------------------------------------------------------------ loading */

/* '~/x' as the user's home directory + '/x'. */
static char *
expand_home (const char *path)
{
  const char *home = getenv ("HOME");
  struct passwd *pw;

  if (strncmp (path, "~/", 2) != 0)
    return cpb_xstrdup (path);
  if ((home == NULL || *home != '/') && (pw = getpwuid (getuid ())) != NULL)
    home = pw->pw_dir;
  return cpb_xasprintf ("%s/%s", home ? home : "", path + 2);
}

static void
load_url (cpb_diag *d, const cpb_yaml_node *map, const char *ctx, struct cpb_node_conf *n)
{
  _cleanup_error_ cpb_error *e = NULL;
  struct cpb_url u = { 0 };
  const char *s;

  if (cpb_yaml_get_str (d, map, "url", ctx, &s) <= 0)
    return;
  if (cpb_url_parse (s, &u, &e) < 0)
    {
      cpb_yaml_diag (d, cpb_yaml_lookup (map, "url"), ctx, "%s", e->msg);
      return;
    }
  cpb_url_clear (&u);
  n->url = cpb_xstrdup (s);
}

static void
load_identity (cpb_diag *d, const cpb_yaml_node *map, const char *ctx, struct cpb_node_conf *n)
{
  const char *s;

  if (cpb_yaml_get_str (d, map, "identity", ctx, &s) <= 0)
    return;
  if (s[0] != '/' && strncmp (s, "~/", 2) != 0)
    {
      cpb_yaml_diag (d, cpb_yaml_lookup (map, "identity"), ctx,
                     "'identity' must be an absolute path or start with ~/, not '%s'", s);
      return;
    }
  n->identity = expand_home (s);
}

static void
load_capabilities (cpb_diag *d, const cpb_yaml_node *map, const char *ctx, struct cpb_node_conf *n)
{
  const cpb_yaml_node *list = cpb_yaml_lookup (map, "capabilities");

  if (cpb_yaml_get_strv (d, map, "capabilities", ctx, &n->capabilities, &n->n_capabilities) <= 0)
    return;
  for (size_t i = 0; i < n->n_capabilities; i++)
    if (!is_capability (n->capabilities[i]))
      cpb_yaml_diag (d, list->items[i], ctx,
                     "capability '%s' must be a word of letters, digits and ._:+=/-",
                     n->capabilities[i]);
}

static void
load_numbers (cpb_diag *d, const cpb_yaml_node *map, const char *ctx, struct cpb_node_conf *n)
{
  long long v;

  if (cpb_yaml_get_int (d, map, "cpus", ctx, 1, MAX_CPUS, &v) > 0)
    n->cpus = (int)v;
  if (cpb_yaml_get_int (d, map, "max_tasks", ctx, 1, MAX_TASKS, &v) > 0)
    n->max_tasks = (int)v;
  if (cpb_yaml_get_size (d, map, "memory", ctx, &n->memory) > 0)
    {
      if (n->memory == 0)
        cpb_yaml_diag (d, cpb_yaml_lookup (map, "memory"), ctx, "'memory' must be more than 0");
      n->memory_text = cpb_xstrdup (cpb_yaml_lookup (map, "memory")->text);
    }
  cpb_yaml_get_bool (d, map, "enabled", ctx, &n->enabled);
}

static void
load_node (cpb_diag *d, const cpb_yaml_pair *p, struct cpb_node_conf *n)
{
  const cpb_yaml_node *map = p->value;
  _cleanup_free_ char *ctx = cpb_xasprintf ("node '%s'", p->key->text);

  n->name = cpb_xstrdup (p->key->text);
  n->pos = p->key->pos;
  n->enabled = true;
  if (!is_node_name (n->name))
    cpb_yaml_diag (d, p->key, NULL,
                   "'%s' cannot be a node name: 1 to %d letters, digits and ._-, starting with "
                   "a letter or digit",
                   n->name, NAME_MAX_LEN);
  if (!cpb_yaml_is_null (map) && map->kind != CPB_YAML_MAPPING)
    cpb_yaml_diag (d, map, ctx, "expected a mapping (url:, capabilities:, ...), not %s",
                   cpb_yaml_describe (map));
  else if (!cpb_yaml_is_null (map))
    {
      cpb_yaml_check_keys (d, map, node_keys, ctx);
      load_url (d, map, ctx, n);
      load_identity (d, map, ctx, n);
      load_capabilities (d, map, ctx, n);
      load_numbers (d, map, ctx, n);
    }
  if (n->capabilities == NULL)
    n->capabilities = cpb_xcalloc (1, sizeof *n->capabilities);
  /* Only the local node can be found without a URL: every verb already knows how. */
  if (n->url == NULL && strcmp (n->name, CPB_NODE_LOCAL) != 0 &&
      cpb_yaml_lookup (map, "url") == NULL)
    cpb_yaml_diag (d, cpb_yaml_is_null (map) ? p->key : map, ctx, "missing required key 'url'");
}

/* The top level: `nodes`, and `x-...` keys, ignored so that a file can hold anchors to
   reuse (x-lab: &lab {capabilities: [...]}), as in pods.yaml. */
static void
check_top (cpb_diag *d, const cpb_yaml_node *root)
{
  cpb_yaml_node filtered;
  _cleanup_free_ cpb_yaml_pair *pairs = NULL;

  if (root->kind != CPB_YAML_MAPPING)
    {
      cpb_yaml_diag (d, root, NULL, "expected a mapping with 'nodes:', not %s",
                     cpb_yaml_describe (root));
      return;
    }
  filtered = *root;
  pairs = cpb_xcalloc (root->n_pairs + 1, sizeof *pairs);
  filtered.pairs = pairs;
  filtered.n_pairs = 0;
  for (size_t i = 0; i < root->n_pairs; i++)
    if (strncmp (root->pairs[i].key->text, "x-", 2) != 0)
      pairs[filtered.n_pairs++] = root->pairs[i];
  cpb_yaml_check_keys (d, &filtered, top_keys, NULL);
}

static int
load_doc (const cpb_yaml_doc *doc, cpb_nodes_conf *c, cpb_error **err)
{
  _cleanup_diag_ cpb_diag *d = cpb_diag_new (doc->file);
  const cpb_yaml_node *nodes;
  const cpb_yaml_pair *p;

  if (doc->root == NULL)
    return 0;
  check_top (d, doc->root);
  nodes = cpb_yaml_lookup (doc->root, "nodes");
  if (!cpb_yaml_is_null (nodes) && nodes->kind != CPB_YAML_MAPPING)
    cpb_yaml_diag (d, nodes, NULL, "'nodes' must be a mapping of node names to nodes, not %s",
                   cpb_yaml_describe (nodes));
  else if (!cpb_yaml_is_null (nodes))
    {
      c->nodes = cpb_xcalloc (nodes->n_pairs + 1, sizeof *c->nodes);
      CPB_YAML_FOREACH_PAIR (p, nodes)
      load_node (d, p, &c->nodes[c->n++]);
    }
  return cpb_diag_to_error (d, err);
}

int
cpb_nodes_conf_load_buffer (const char *name, const char *data, size_t len, cpb_nodes_conf **ret,
                            cpb_error **err)
{
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = cpb_xzalloc (sizeof *c);

  c->path = cpb_xstrdup (name);
  c->exists = true;
  if (cpb_yaml_load_buffer (name, data, len, &doc, err) < 0 || load_doc (doc, c, err) < 0)
    return -1;
  *ret = TAKE_PTR (c);
  return 0;
}

int
cpb_nodes_conf_load (const char *path, cpb_nodes_conf **ret, cpb_error **err)
{
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = cpb_xzalloc (sizeof *c);

  c->path = cpb_xstrdup (path);
  if (access (path, F_OK) < 0 && errno == ENOENT)
    {
      *ret = TAKE_PTR (c);
      return 0;
    }
  c->exists = true;
  if (cpb_yaml_load_file (path, &doc, err) < 0 || load_doc (doc, c, err) < 0)
    return -1;
  *ret = TAKE_PTR (c);
  return 0;
}

char *
cpb_nodes_conf_path (cpb_error **err)
{
  const char *xdg = getenv ("XDG_CONFIG_HOME"), *home = getenv ("HOME");
  struct passwd *pw;

  if (xdg && xdg[0] == '/')
    return cpb_xasprintf ("%s/cpb/nodes.yaml", xdg);
  if ((home == NULL || home[0] != '/') && (pw = getpwuid (getuid ())) != NULL)
    home = pw->pw_dir;
  if (home == NULL || home[0] != '/')
    {
      cpb_error_set (err, CPB_ERR_SYSTEM,
                     "cannot tell where nodes.yaml is: set HOME or "
                     "XDG_CONFIG_HOME");
      return NULL;
    }
  return cpb_xasprintf ("%s/.config/cpb/nodes.yaml", home);
}

/* ------------------------------------------------------------------ rendering an entry */

static bool
is_plain_word (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char)*s) && !strchr ("._-", *s))
      return false;
  return true;
}

/* S as a double-quoted YAML scalar. */
static void
put_quoted (cpb_buf *b, const char *s)
{
  cpb_buf_putc (b, '"');
  for (; *s; s++)
    {
      unsigned char c = (unsigned char)*s;

      if (c == '"' || c == '\\')
        cpb_buf_printf (b, "\\%c", c);
      else if (c < 0x20 || c == 0x7f)
        cpb_buf_printf (b, "\\x%02x", c);
      else
        cpb_buf_putc (b, (char)c);
    }
  cpb_buf_putc (b, '"');
}

static void
render_entry (cpb_buf *b, const struct cpb_node_conf *n, int indent, int step)
{
  int in = indent + step;

  cpb_buf_printf (b, "%*s%s:\n", indent, "", n->name);
  if (n->url)
    {
      cpb_buf_printf (b, "%*surl: ", in, "");
      put_quoted (b, n->url);
      cpb_buf_putc (b, '\n');
    }
  if (n->identity)
    {
      cpb_buf_printf (b, "%*sidentity: ", in, "");
      put_quoted (b, n->identity);
      cpb_buf_putc (b, '\n');
    }
  if (n->n_capabilities)
    {
      cpb_buf_printf (b, "%*scapabilities: [", in, "");
      for (size_t i = 0; i < n->n_capabilities; i++)
        {
          cpb_buf_puts (b, i ? ", " : "");
          if (is_plain_word (n->capabilities[i]))
            cpb_buf_puts (b, n->capabilities[i]);
          else
            put_quoted (b, n->capabilities[i]);
        }
      cpb_buf_puts (b, "]\n");
    }
  if (n->cpus)
    cpb_buf_printf (b, "%*scpus: %d\n", in, "", n->cpus);
  if (n->memory_text)
    cpb_buf_printf (b, "%*smemory: %s\n", in, "", n->memory_text);
  if (n->max_tasks)
    cpb_buf_printf (b, "%*smax_tasks: %d\n", in, "", n->max_tasks);
  if (!n->enabled)
    cpb_buf_printf (b, "%*senabled: false\n", in, "");
}

/* ------------------------------------------------------------------ editing text */

/* The lines of a text: line L (1-based) is [start[L-1], start[L]). */
struct lines
{
  const char *text;
  size_t *start;
  size_t n; /* lines; start has n + 1 entries */
};

static void
lines_split (const char *text, struct lines *l)
{
  size_t len = strlen (text), cap = 16;

  l->text = text;
  l->start = cpb_xcalloc (cap, sizeof *l->start);
  l->n = 0;
  for (size_t i = 0; i < len; i = l->start[l->n])
    {
      const char *nl = memchr (text + i, '\n', len - i);

      if (l->n + 2 > cap)
        l->start = cpb_xrealloc (l->start, (cap *= 2) * sizeof *l->start);
      l->start[++l->n] = nl ? (size_t)(nl - text) + 1 : len;
    }
}

/* Blank, or only a comment. */
static bool
line_is_filler (const struct lines *l, size_t line)
{
  const char *p = l->text + l->start[line - 1], *end = l->text + l->start[line];

  while (p < end && (*p == ' ' || *p == '\t'))
    p++;
  return p == end || *p == '\n' || *p == '\r' || *p == '#';
}

/* A comment line indented at least COL - 1 columns. */
static bool
line_is_comment_within (const struct lines *l, size_t line, unsigned col)
{
  const char *p = l->text + l->start[line - 1];
  unsigned c = 1;

  while (*p == ' ')
    p++, c++;
  return *p == '#' && c >= col;
}

/* TEXT with lines [FROM, TO] (1-based, inclusive; TO < FROM removes nothing) replaced by
   INSERT. */
static char *
splice_lines (const struct lines *l, size_t from, size_t to, const char *insert)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  size_t a = l->start[from - 1], z = to >= from ? l->start[to] : a;

  cpb_buf_append (&b, l->text, a);
  if (a > 0 && l->text[a - 1] != '\n')
    cpb_buf_putc (&b, '\n');
  cpb_buf_puts (&b, insert);
  cpb_buf_puts (&b, l->text + z);
  return cpb_buf_steal (&b, NULL);
}

/* Where the `nodes` mapping ends: the line before the next top-level key, or the last
   line, less the blank and comment lines that come before what follows. */
static size_t
nodes_end (const cpb_yaml_doc *doc, const struct lines *l, const cpb_yaml_pair *nodes, size_t floor)
{
  size_t end = l->n;

  for (size_t i = 0; i < doc->root->n_pairs; i++)
    {
      size_t kl = doc->root->pairs[i].key->pos.line;

      if (kl > nodes->key->pos.line && kl - 1 < end)
        end = kl - 1;
    }
  while (end > floor && line_is_filler (l, end))
    end--;
  return end;
}

/* Where the entry I of the nodes mapping ends (see nodes_end). */
static size_t
entry_end (const cpb_yaml_doc *doc, const struct lines *l, const cpb_yaml_pair *nodes, size_t i)
{
  const cpb_yaml_node *map = nodes->value;
  size_t key_line = map->pairs[i].key->pos.line, end;

  if (i + 1 == map->n_pairs)
    return nodes_end (doc, l, nodes, key_line);
  end = map->pairs[i + 1].key->pos.line - 1;
  while (end > key_line && line_is_filler (l, end))
    end--;
  return end;
}

static int
flow_style (const char *file, const cpb_yaml_pair *nodes, cpb_error **err)
{
  return cpb_error_set (err, CPB_ERR_INPUT,
                        "%s:%u:%u: 'nodes' is written in flow style ({...}): cpb edits only "
                        "block style; edit the file by hand",
                        file, nodes->value->pos.line, nodes->value->pos.col);
}

/* True when the mapping of NODES starts with '{' in the text. */
static bool
is_flow (const struct lines *l, const cpb_yaml_pair *nodes)
{
  const cpb_yaml_node *v = nodes->value;

  return v->kind == CPB_YAML_MAPPING && v->pos.line <= l->n &&
         l->text[l->start[v->pos.line - 1] + v->pos.col - 1] == '{';
}

/* The text with ENTRY (rendered) placed in the nodes mapping of DOC. */
static int
insert_entry (const char *file, const cpb_yaml_doc *doc, const struct lines *l,
              const struct cpb_node_conf *node, char **ret, cpb_error **err)
{
  const cpb_yaml_pair *nodes = cpb_yaml_lookup_pair (doc->root, "nodes");
  _cleanup_buf_ cpb_buf entry = CPB_BUF_INIT;
  const cpb_yaml_node *map;
  int indent = 2, step = 2;
  size_t after;

  if (nodes == NULL)
    {
      cpb_buf_puts (&entry, "nodes:\n");
      render_entry (&entry, node, indent, step);
      *ret = splice_lines (l, l->n + 1, l->n, entry.data);
      return 0;
    }
  map = nodes->value;
  if (is_flow (l, nodes) && map->n_pairs > 0)
    return flow_style (file, nodes, err);
  if (cpb_yaml_is_null (map) || map->n_pairs == 0)
    {
      /* `nodes:`, `nodes: ~` or `nodes: {}`: the key line becomes `nodes:`. */
      cpb_buf_puts (&entry, "nodes:\n");
      render_entry (&entry, node, indent, step);
      *ret = splice_lines (l, nodes->key->pos.line, nodes->key->pos.line, entry.data);
      return 0;
    }
  indent = (int)map->pairs[0].key->pos.col - 1;
  if (map->pairs[0].value->kind == CPB_YAML_MAPPING && map->pairs[0].value->n_pairs > 0 &&
      map->pairs[0].value->pos.line > map->pairs[0].key->pos.line)
    step = (int)map->pairs[0].value->pairs[0].key->pos.col - 1 - indent;
  if (step < 1)
    step = 2;
  render_entry (&entry, node, indent, step);
  after = entry_end (doc, l, nodes, map->n_pairs - 1);
  *ret = splice_lines (l, after + 1, after, entry.data);
  return 0;
}

/* Load TEXT as FILE and fail with its own errors (FILE:LINE:COL of the file as it is). */
static int
check_text (const char *file, const char *text, cpb_error **err)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *c = NULL;

  return cpb_nodes_conf_load_buffer (file, text, strlen (text), &c, err);
}

/* The edited text must load: anything else is a bug here, said as such. */
static int
check_result (const char *file, char **text, cpb_error **err)
{
  if (check_text (file, *text, err) == 0)
    return 0;
  free (TAKE_PTR (*text));
  return cpb_error_prefix (err, "%s: the edit would make the file invalid (edit it by hand)", file);
}

static bool
is_blank (const char *text)
{
  return text[strspn (text, " \t\r\n")] == '\0';
}

int
cpb_nodes_text_add (const char *file, const char *text, const struct cpb_node_conf *node,
                    char **ret, cpb_error **err)
{
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = NULL;
  struct lines l = { 0 };
  int r;

  if (cpb_nodes_conf_load_buffer (file, text, strlen (text), &c, err) < 0)
    return -1;
  if (cpb_nodes_conf_find (c, node->name))
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "%s:%u:%u: node '%s' exists already (cpb node rm %s first)", file,
                          cpb_nodes_conf_find (c, node->name)->pos.line,
                          cpb_nodes_conf_find (c, node->name)->pos.col, node->name, node->name);
  if (is_blank (text))
    {
      _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;

      cpb_buf_printf (&b, "%snodes:\n", header);
      render_entry (&b, node, 2, 2);
      *ret = cpb_buf_steal (&b, NULL);
      return check_result (file, ret, err);
    }
  if (cpb_yaml_load_buffer (file, text, strlen (text), &doc, err) < 0)
    return -1;
  lines_split (text, &l);
  r = insert_entry (file, doc, &l, node, ret, err);
  free (l.start);
  if (r < 0)
    return -1;
  return check_result (file, ret, err);
}

int
cpb_nodes_text_remove (const char *file, const char *text, const char *name, char **ret,
                       cpb_error **err)
{
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = NULL;
  const cpb_yaml_pair *nodes;
  struct lines l = { 0 };
  size_t i, from, to;

  if (cpb_nodes_conf_load_buffer (file, text, strlen (text), &c, err) < 0)
    return -1;
  if (cpb_nodes_conf_find (c, name) == NULL)
    return cpb_nodes_conf_unknown (c, name, err);
  if (cpb_yaml_load_buffer (file, text, strlen (text), &doc, err) < 0)
    return -1;
  nodes = cpb_yaml_lookup_pair (doc->root, "nodes");
  for (i = 0; strcmp (nodes->value->pairs[i].key->text, name) != 0; i++)
    ;
  lines_split (text, &l);
  if (is_flow (&l, nodes))
    {
      free (l.start);
      return flow_style (file, nodes, err);
    }
  from = nodes->value->pairs[i].key->pos.line;
  /* A comment just above an entry is about it: it goes with it. */
  while (from > 1 && line_is_comment_within (&l, from - 1, nodes->value->pairs[i].key->pos.col))
    from--;
  to = entry_end (doc, &l, nodes, i);
  *ret = splice_lines (&l, from, to, "");
  free (l.start);
  return check_result (file, ret, err);
}

/* ------------------------------------------------------------------ the file */

int
cpb_nodes_text_read (const char *path, char **ret, cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  char chunk[8192];
  ssize_t n;

  if (fd < 0 && errno == ENOENT)
    {
      *ret = cpb_xstrdup ("");
      return 0;
    }
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open '%s'", path);
  while ((n = read (fd, chunk, sizeof chunk)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return cpb_error_errno (err, errno, "cannot read '%s'", path);
      if (b.len + (size_t)n > CPB_YAML_MAX_FILE_SIZE)
        return cpb_error_set (err, CPB_ERR_INPUT, "%s: larger than %u bytes", path,
                              CPB_YAML_MAX_FILE_SIZE);
      cpb_buf_append (&b, chunk, (size_t)n);
    }
  cpb_buf_putc (&b, '\0');
  *ret = cpb_buf_steal (&b, NULL);
  return 0;
}

static int
write_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      data += n;
      len -= (size_t)n;
    }
  return 0;
}

int
cpb_nodes_text_write (const char *path, const char *text, cpb_error **err)
{
  _cleanup_free_ char *dir_copy = cpb_xstrdup (path);
  _cleanup_free_ char *tmp = cpb_xasprintf ("%s.XXXXXX", path);
  _cleanup_close_ int fd = -1;
  struct stat st;
  mode_t mode = stat (path, &st) == 0 ? (st.st_mode & 07777) : 0644;

  if (cpb_mkdir_p (dirname (dir_copy), 0755, err) < 0)
    return -1;
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot create '%s'", tmp);
  if (fchmod (fd, mode) < 0 || write_all (fd, text, strlen (text)) < 0 || fsync (fd) < 0)
    {
      int e = errno;
      unlink (tmp);
      return cpb_error_errno (err, e, "cannot write '%s'", tmp);
    }
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return cpb_error_errno (err, e, "cannot replace '%s'", path);
    }
  return 0;
}
