/* spec/pods.c: loading and validating pods.yaml (docs/spec-pods.md is the reference).
 *
 * Validation never stops at the first problem: each field is checked on its own and every
 * problem lands in one cpb_diag, so a user fixing a file sees the whole list at once.
 * Values that end up in a Containerfile (paths, users, package names) are also refused
 * when they hold characters that would change its meaning (newlines, leading dashes).
 */
#include "config.h"
#include "spec/pods.h"
#include "buf.h"
#include "hash.h"
#include "suggest.h"
#include "xalloc.h"

#include <ctype.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECIPE_PREFIX "recipe:"

static const cpb_yaml_key top_keys[] = {
  { "images", CPB_YAML_REQUIRED },
  { NULL, 0 },
};

static const cpb_yaml_key image_keys[] = {
  { "name", CPB_YAML_REQUIRED },
  { "tag", 0 },
  { "from", CPB_YAML_REQUIRED },
  { "description", 0 },
  { "capabilities", 0 },
  { "packages", 0 },
  { "env", 0 },
  { "files", 0 },
  { "run", 0 },
  { "workdir", 0 },
  { "user", 0 },
  { "entrypoint", 0 },
  { "cmd", 0 },
  { "labels", 0 },
  { "build_args", 0 },
  { "helper", 0 },
  { NULL, 0 },
};

static const cpb_yaml_key packages_keys[] = {
  { "manager", 0 },
  { "install", CPB_YAML_REQUIRED },
  { NULL, 0 },
};

static const cpb_yaml_key file_keys[] = {
  { "src", 0 },  { "url", 0 }, { "sha256", 0 }, { "dest", CPB_YAML_REQUIRED },
  { "mode", 0 }, { NULL, 0 },
};

/* What a validator needs besides the node: where to record, and how to name things. */
struct ctx
{
  cpb_diag *d;
  const char *name; /* "image 'solver'" */
  const cpb_pods_spec *spec;
};

/* S is non-empty, its first character is in FIRST and the rest in REST (alnum implied). */
static bool
matches (const char *s, const char *first, const char *rest)
{
  if (*s == '\0' || !(isalnum ((unsigned char)*s) || strchr (first, *s)))
    return false;
  for (s++; *s; s++)
    if (!(isalnum ((unsigned char)*s) || strchr (rest, *s)))
      return false;
  return true;
}

static bool
is_lower_name (const char *s)
{
  for (const char *p = s; *p; p++)
    if (isupper ((unsigned char)*p))
      return false;
  return matches (s, "", "._-");
}

static bool
has_space_or_control (const char *s)
{
  for (; *s; s++)
    if (isspace ((unsigned char)*s) || iscntrl ((unsigned char)*s))
      return true;
  return false;
}

static bool
has_newline (const char *s)
{
  return strpbrk (s, "\r\n") != NULL;
}

/* An absolute path without ".." components or line breaks. */
static bool
is_clean_abs_path (const char *s)
{
  if (s[0] != '/' || has_newline (s))
    return false;
  for (const char *p = s; (p = strstr (p, "..")); p += 2)
    if ((p == s || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
      return false;
  return true;
}

/* A relative path that stays inside the spec's directory. */
static bool
is_inner_rel_path (const char *s)
{
  _cleanup_free_ char *abs = NULL;

  if (s[0] == '\0' || s[0] == '/')
    return false;
  abs = cpb_xasprintf ("/%s", s);
  return is_clean_abs_path (abs);
}

static char *
strdup_or_null (const char *s)
{
  return s ? cpb_xstrdup (s) : NULL;
}

/* A string field: copied into *RET when present; CHECK (may be NULL) validates it and
   PROBLEM says what is wrong otherwise. */
static void
get_checked_str (struct ctx *c, const cpb_yaml_node *map, const char *key, char **ret,
                 bool (*check) (const char *), const char *problem)
{
  const char *s;

  if (cpb_yaml_get_str (c->d, map, key, c->name, &s) <= 0)
    return;
  if (check && !check (s))
    {
      cpb_yaml_diag (c->d, cpb_yaml_lookup (map, key), c->name, "'%s' %s", key, problem);
      return;
    }
  *ret = cpb_xstrdup (s);
}

static bool
is_tag (const char *s)
{
  return strlen (s) <= 128 && matches (s, "_", "._-");
}

static bool
is_user (const char *s)
{
  return !has_space_or_control (s) && s[0] != '-';
}

static void
load_capabilities (struct ctx *c, const cpb_yaml_node *map, struct cpb_pod_image *img)
{
  const cpb_yaml_node *list = cpb_yaml_lookup (map, "capabilities");

  if (cpb_yaml_get_strv (c->d, map, "capabilities", c->name, &img->capabilities,
                         &img->n_capabilities) <= 0)
    return;
  /* They are joined with ',' into the io.cpb.capabilities label and matched as words. */
  for (size_t i = 0; i < img->n_capabilities; i++)
    if (!matches (img->capabilities[i], "", "._:+=/-"))
      cpb_yaml_diag (c->d, list->items[i], c->name,
                     "capability '%s' must be a word of letters, digits and ._:+=/-",
                     img->capabilities[i]);
}

static int
parse_manager (const char *s, enum cpb_pkg_manager *ret)
{
  for (int m = CPB_PKG_APT; m <= CPB_PKG_APK; m++)
    if (strcmp (s, cpb_pkg_manager_name (m)) == 0)
      {
        *ret = m;
        return 0;
      }
  return -1;
}

static void
load_packages (struct ctx *c, const cpb_yaml_node *map, struct cpb_pod_image *img)
{
  static const char *const managers[] = { "apt", "dnf", "apk", NULL };
  const cpb_yaml_node *pk = cpb_yaml_lookup (map, "packages");
  _cleanup_free_ char *name = cpb_xasprintf ("%s: packages", c->name);
  const char *mgr;

  if (cpb_yaml_is_null (pk))
    return;
  img->packages_pos = pk->pos;
  if (cpb_yaml_check_keys (c->d, pk, packages_keys, name) < 0 && pk->kind != CPB_YAML_MAPPING)
    return;
  if (cpb_yaml_get_str (c->d, pk, "manager", name, &mgr) > 0 &&
      parse_manager (mgr, &img->pkg_manager) < 0)
    {
      const char *hint = cpb_suggest (mgr, managers, (size_t)-1);
      cpb_yaml_diag (
          c->d, cpb_yaml_lookup (pk, "manager"), name, "unknown package manager '%s' (%s%s%s)", mgr,
          hint ? "did you mean '" : "one of apt, dnf, apk", hint ? hint : "", hint ? "'?" : "");
    }
  if (cpb_yaml_get_strv (c->d, pk, "install", name, &img->packages, &img->n_packages) <= 0)
    return;
  /* Names go on an install command line: a leading '-' would be an option. */
  for (size_t i = 0; i < img->n_packages; i++)
    if (!matches (img->packages[i], "", ".+_:=~@/-"))
      cpb_yaml_diag (c->d, cpb_yaml_lookup (pk, "install")->items[i], name,
                     "'%s' is not a package name", img->packages[i]);
}

static bool
is_env_name (const char *s)
{
  return !isdigit ((unsigned char)s[0]) && matches (s, "_", "_");
}

/* A string map whose keys must satisfy CHECK (described by PROBLEM). */
static void
load_strmap (struct ctx *c, const cpb_yaml_node *map, const char *key, cpb_strmap *ret,
             bool (*check) (const char *), const char *problem)
{
  if (cpb_yaml_get_strmap (c->d, map, key, c->name, ret) <= 0)
    return;
  for (size_t i = 0; i < ret->n; i++)
    if (check && !check (ret->items[i].key))
      cpb_diag_add (c->d, ret->items[i].pos.line, ret->items[i].pos.col, "%s: %s: '%s' %s", c->name,
                    key, ret->items[i].key, problem);
}

/* An ENV instruction holds one line: a value with a line break cannot be rendered. */
static void
check_env_values (struct ctx *c, const cpb_yaml_node *map, const cpb_strmap *env)
{
  const cpb_yaml_node *env_node = cpb_yaml_lookup (map, "env");

  for (size_t i = 0; i < env->n; i++)
    if (has_newline (env->items[i].value))
      cpb_yaml_diag (c->d, cpb_yaml_lookup (env_node, env->items[i].key), c->name,
                     "env: the value of '%s' must be one line", env->items[i].key);
}

static bool
is_user_label (const char *s)
{
  return strncmp (s, "io.cpb.", 7) != 0 && !has_newline (s);
}

static bool
is_hex64 (const char *s)
{
  if (strlen (s) != CPB_SHA256_HEX_LEN)
    return false;
  for (; *s; s++)
    if (!isxdigit ((unsigned char)*s))
      return false;
  return true;
}

/* "0755", "755" or "0644": octal permission bits.  YAML 1.1 reads an unquoted 0755 as the
   number 493; taking the source text keeps what the user meant. */
static int
parse_mode (const char *s, int *ret)
{
  size_t len = strlen (s);
  long v;
  char *end;

  if (len < 3 || len > 5 || strspn (s, "01234567") != len)
    return -1;
  v = strtol (s, &end, 8);
  if (v > 07777)
    return -1;
  *ret = (int)v;
  return 0;
}

/* A sha256 given with src pins the file: a changed input fails the load, not a later task. */
static void
check_src_digest (struct ctx *c, const cpb_yaml_node *n, const struct cpb_pod_file *f,
                  const char *name, const struct stat *st)
{
  _cleanup_error_ cpb_error *err = NULL;
  char hex[CPB_SHA256_HEX_LEN + 1];

  if (!S_ISREG (st->st_mode))
    cpb_yaml_diag (c->d, cpb_yaml_lookup (n, "sha256"), name,
                   "'sha256' applies to a file, and '%s' is not a regular file", f->src);
  else if (cpb_sha256_file (f->src_path, hex, &err) < 0)
    cpb_yaml_diag (c->d, cpb_yaml_lookup (n, "src"), name, "%s", err->msg);
  else if (strcmp (hex, f->sha256) != 0)
    cpb_yaml_diag (c->d, cpb_yaml_lookup (n, "sha256"), name,
                   "'%s' has sha256 %s, not the one given", f->src, hex);
}

static void
check_file_source (struct ctx *c, const cpb_yaml_node *n, struct cpb_pod_file *f, const char *name)
{
  struct stat st;

  /* By key presence: a src that failed its own check must not read as missing. */
  if (cpb_yaml_is_null (cpb_yaml_lookup (n, "src")) ==
      cpb_yaml_is_null (cpb_yaml_lookup (n, "url")))
    {
      cpb_yaml_diag (c->d, n, name, "give exactly one of 'src' and 'url'");
      return;
    }
  if (f->url && cpb_yaml_is_null (cpb_yaml_lookup (n, "sha256")))
    cpb_yaml_diag (c->d, n, name, "'sha256' is required with 'url' (downloads are verified)");
  if (f->src == NULL || c->spec->dir == NULL)
    return;
  f->src_path = cpb_xasprintf ("%s/%s", c->spec->dir, f->src);
  if (stat (f->src_path, &st) < 0)
    cpb_yaml_diag (c->d, cpb_yaml_lookup (n, "src"), name, "'%s' not found in '%s'", f->src,
                   c->spec->dir);
  else if (f->sha256)
    check_src_digest (c, n, f, name, &st);
}

static bool
is_url (const char *s)
{
  return (strncmp (s, "https://", 8) == 0 || strncmp (s, "http://", 7) == 0) && s[7] != '\0' &&
         !has_space_or_control (s);
}

static void
load_file (struct ctx *c, const cpb_yaml_node *n, size_t idx, struct cpb_pod_file *f)
{
  _cleanup_free_ char *name = cpb_xasprintf ("%s: files item %zu", c->name, idx + 1);
  struct ctx fc = { c->d, name, c->spec };
  const char *mode;

  f->pos = n->pos;
  f->mode = -1;
  if (cpb_yaml_check_keys (c->d, n, file_keys, name) < 0 && n->kind != CPB_YAML_MAPPING)
    return;
  get_checked_str (&fc, n, "src", &f->src, is_inner_rel_path,
                   "must be a relative path inside the spec's directory");
  get_checked_str (&fc, n, "url", &f->url, is_url, "must be an http:// or https:// URL");
  get_checked_str (&fc, n, "sha256", &f->sha256, is_hex64, "must be 64 hexadecimal digits");
  get_checked_str (&fc, n, "dest", &f->dest, is_clean_abs_path,
                   "must be an absolute path without '..'");
  if (cpb_yaml_get_str (c->d, n, "mode", name, &mode) > 0 && parse_mode (mode, &f->mode) < 0)
    cpb_yaml_diag (c->d, cpb_yaml_lookup (n, "mode"), name,
                   "'mode' must be octal permission bits like \"0755\", not '%s'", mode);
  for (char *p = f->sha256; p && *p; p++)
    *p = (char)tolower ((unsigned char)*p);
  check_file_source (c, n, f, name);
}

static void
load_files (struct ctx *c, const cpb_yaml_node *map, struct cpb_pod_image *img)
{
  const cpb_yaml_node *list = cpb_yaml_lookup (map, "files"), *item;

  if (cpb_yaml_is_null (list))
    return;
  if (list->kind != CPB_YAML_SEQUENCE)
    {
      cpb_yaml_diag (c->d, list, c->name, "'files' must be a list, not %s",
                     cpb_yaml_describe (list));
      return;
    }
  img->files = cpb_xcalloc (list->n_items, sizeof *img->files);
  img->n_files = list->n_items;
  CPB_YAML_FOREACH_ITEM (item, list)
  {
    load_file (c, item, _i_item, &img->files[_i_item]);
  }
}

static void
load_run (struct ctx *c, const cpb_yaml_node *map, struct cpb_pod_image *img)
{
  const cpb_yaml_node *list = cpb_yaml_lookup (map, "run"), *item;

  if (cpb_yaml_is_null (list))
    return;
  if (list->kind != CPB_YAML_SEQUENCE)
    {
      cpb_yaml_diag (c->d, list, c->name, "'run' must be a list of shell commands, not %s",
                     cpb_yaml_describe (list));
      return;
    }
  img->run = cpb_xcalloc (list->n_items, sizeof *img->run);
  CPB_YAML_FOREACH_ITEM (item, list)
  {
    _cleanup_free_ char *what = cpb_xasprintf ("%s: 'run' step %zu", c->name, _i_item + 1);
    const char *cmd;

    if (cpb_yaml_as_str (c->d, item, what, &cmd) < 0)
      continue;
    if (cmd[strspn (cmd, " \t\r\n")] == '\0')
      {
        cpb_yaml_diag (c->d, item, NULL, "%s is empty", what);
        continue;
      }
    img->run[img->n_run].cmd = cpb_xstrdup (cmd);
    img->run[img->n_run].pos = item->pos;
    img->n_run++;
  }
}

/* entrypoint / cmd: a string (shell form) or a non-empty list of strings (exec form). */
static void
load_command (struct ctx *c, const cpb_yaml_node *map, const char *key, struct cpb_pod_command *cmd)
{
  const cpb_yaml_node *n = cpb_yaml_lookup (map, key);
  _cleanup_free_ char *what = cpb_xasprintf ("%s: '%s'", c->name, key);
  const char *s;

  if (cpb_yaml_is_null (n))
    return;
  cmd->pos = n->pos;
  if (n->kind == CPB_YAML_SEQUENCE)
    {
      if (n->n_items == 0)
        cpb_yaml_diag (c->d, n, NULL, "%s must not be an empty list", what);
      else if (cpb_yaml_as_strv (c->d, n, what, &cmd->argv, &cmd->argc) == 0)
        cmd->set = cmd->exec_form = true;
      return;
    }
  if (n->kind != CPB_YAML_SCALAR)
    {
      cpb_yaml_diag (c->d, n, NULL, "%s must be a string or a list of strings, not %s", what,
                     cpb_yaml_describe (n));
      return;
    }
  if (cpb_yaml_as_str (c->d, n, what, &s) < 0)
    return;
  cmd->argv = cpb_xcalloc (2, sizeof *cmd->argv);
  cmd->argv[0] = cpb_xstrdup (s);
  cmd->argc = 1;
  cmd->set = true;
}

/* The image's name first: every later message about the image is prefixed with it. */
static char *
load_name (cpb_diag *d, const cpb_yaml_node *map, size_t idx, struct cpb_pod_image *img)
{
  const cpb_yaml_node *n = cpb_yaml_lookup (map, "name");
  _cleanup_free_ char *fallback = cpb_xasprintf ("image %zu", idx + 1);
  const char *s;

  if (cpb_yaml_get_str (d, map, "name", fallback, &s) <= 0)
    return TAKE_PTR (fallback);
  img->name_pos = n->pos;
  if (!is_lower_name (s) || strlen (s) > 128)
    {
      cpb_yaml_diag (
          d, n, fallback,
          "name '%s' must be lower-case letters, digits and ._- (starting with a letter or digit)",
          s);
      return TAKE_PTR (fallback);
    }
  img->name = cpb_xstrdup (s);
  return cpb_xasprintf ("image '%s'", s);
}

static void
load_from_text (struct ctx *c, const cpb_yaml_node *map, struct cpb_pod_image *img)
{
  const cpb_yaml_node *n = cpb_yaml_lookup (map, "from");
  const char *s;

  if (cpb_yaml_get_str (c->d, map, "from", c->name, &s) <= 0)
    return;
  img->from.pos = n->pos;
  if (has_space_or_control (s))
    {
      cpb_yaml_diag (c->d, n, c->name, "'from' must be an image reference without spaces");
      return;
    }
  img->from.text = cpb_xstrdup (s);
}

static void
load_image (struct ctx *c, const cpb_yaml_node *map, size_t idx, struct cpb_pod_image *img)
{
  _cleanup_free_ char *name = NULL;

  img->pos = map->pos;
  img->pkg_manager = CPB_PKG_APT;
  if (map->kind != CPB_YAML_MAPPING)
    {
      cpb_yaml_diag (c->d, map, NULL, "'images' item %zu must be a mapping, not %s", idx + 1,
                     cpb_yaml_describe (map));
      return;
    }
  name = load_name (c->d, map, idx, img);
  struct ctx ic = { c->d, name, c->spec };

  cpb_yaml_check_keys (c->d, map, image_keys, name);
  get_checked_str (&ic, map, "tag", &img->tag, is_tag,
                   "must be letters, digits and ._- (at most 128, not starting with . or -)");
  load_from_text (&ic, map, img);
  get_checked_str (&ic, map, "description", &img->description, NULL, NULL);
  load_capabilities (&ic, map, img);
  load_packages (&ic, map, img);
  load_strmap (&ic, map, "env", &img->env, is_env_name,
               "is not a variable name (letters, digits and _, not starting with a digit)");
  check_env_values (&ic, map, &img->env);
  load_files (&ic, map, img);
  load_run (&ic, map, img);
  get_checked_str (&ic, map, "workdir", &img->workdir, is_clean_abs_path,
                   "must be an absolute path without '..'");
  get_checked_str (&ic, map, "user", &img->user, is_user, "must be a user name or uid[:gid]");
  load_command (&ic, map, "entrypoint", &img->entrypoint);
  load_command (&ic, map, "cmd", &img->cmd);
  load_strmap (&ic, map, "labels", &img->labels, is_user_label,
               "is reserved: cpb sets the io.cpb.* labels itself");
  load_strmap (&ic, map, "build_args", &img->build_args, is_env_name,
               "is not a build argument name (letters, digits and _)");
  cpb_yaml_get_bool (c->d, map, "helper", name, &img->helper);
}

/* Defaults, so that users of the model need no NULL checks for absent fields. */
static void
fill_defaults (struct cpb_pod_image *img)
{
  if (img->tag == NULL)
    img->tag = cpb_xstrdup ("latest");
  if (img->capabilities == NULL)
    img->capabilities = cpb_xcalloc (1, sizeof *img->capabilities);
  if (img->packages == NULL)
    img->packages = cpb_xcalloc (1, sizeof *img->packages);
}

static void
check_unique_names (cpb_diag *d, cpb_pods_spec *spec)
{
  for (size_t i = 0; i < spec->n_images; i++)
    for (size_t j = 0; spec->images[i].name && j < i; j++)
      if (spec->images[j].name && strcmp (spec->images[i].name, spec->images[j].name) == 0)
        {
          cpb_diag_add (d, spec->images[i].name_pos.line, spec->images[i].name_pos.col,
                        "image '%s' is defined twice (first at line %u)", spec->images[i].name,
                        spec->images[j].name_pos.line);
          break;
        }
}

/* The index of the image REF ("name" or "name:tag") names, or -1. */
static ssize_t
find_image (const cpb_pods_spec *spec, const char *ref)
{
  const char *colon = strchr (ref, ':');
  size_t name_len = colon ? (size_t)(colon - ref) : strlen (ref);

  for (size_t i = 0; i < spec->n_images; i++)
    {
      const struct cpb_pod_image *img = &spec->images[i];

      if (img->name == NULL || strlen (img->name) != name_len ||
          strncmp (img->name, ref, name_len) != 0)
        continue;
      if (colon == NULL || (img->tag && strcmp (colon + 1, img->tag) == 0))
        return (ssize_t)i;
    }
  return -1;
}

static void
resolve_from (cpb_diag *d, cpb_pods_spec *spec, struct cpb_pod_image *img)
{
  struct cpb_pod_from *f = &img->from;
  ssize_t idx;

  if (f->text == NULL)
    return;
  if (strncmp (f->text, RECIPE_PREFIX, strlen (RECIPE_PREFIX)) == 0)
    {
      f->kind = CPB_POD_FROM_RECIPE;
      f->ref = cpb_xstrdup (f->text + strlen (RECIPE_PREFIX));
      if (!is_lower_name (f->ref))
        cpb_diag_add (d, f->pos.line, f->pos.col,
                      "image '%s': 'from': '%s' is not a recipe name (images/NAME/ with NAME "
                      "in lower-case letters, digits and ._-)",
                      img->name ? img->name : "?", f->text);
      return;
    }
  idx = find_image (spec, f->text);
  if (idx >= 0)
    {
      f->kind = CPB_POD_FROM_IMAGE;
      f->image = (size_t)idx;
      f->ref = cpb_xstrdup (spec->images[idx].name);
      return;
    }
  f->kind = CPB_POD_FROM_OCI;
  f->ref = cpb_xstrdup (f->text);
}

static ssize_t
parent_of (const cpb_pods_spec *spec, size_t i)
{
  const struct cpb_pod_from *f = &spec->images[i].from;

  return f->kind == CPB_POD_FROM_IMAGE ? (ssize_t)f->image : -1;
}

/* "a -> b -> c -> a" for the cycle through START: the images each one builds FROM. */
static char *
describe_cycle (const cpb_pods_spec *spec, size_t start)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  size_t i = start;

  do
    {
      cpb_buf_printf (&b, "%s -> ", spec->images[i].name);
      i = (size_t)parent_of (spec, i);
    }
  while (i != start);
  cpb_buf_puts (&b, spec->images[start].name);
  return cpb_buf_steal (&b, NULL);
}

/* Each image has at most one parent, so following parents from every image with
   white/grey/black marks finds every cycle in linear time. */
static void
check_cycles (cpb_diag *d, const cpb_pods_spec *spec)
{
  _cleanup_free_ unsigned char *mark = cpb_xcalloc (spec->n_images + 1, 1);

  for (size_t i = 0; i < spec->n_images; i++)
    {
      ssize_t j = (ssize_t)i;

      while (j >= 0 && mark[j] == 0)
        {
          mark[j] = 1;
          j = parent_of (spec, (size_t)j);
        }
      if (j >= 0 && mark[j] == 1)
        {
          /* Report the cycle once, at the first image of it in the file. */
          size_t first = (size_t)j;
          for (ssize_t k = parent_of (spec, (size_t)j); k != j; k = parent_of (spec, (size_t)k))
            if ((size_t)k < first)
              first = (size_t)k;
          _cleanup_free_ char *cycle = describe_cycle (spec, first);
          cpb_diag_add (d, spec->images[first].from.pos.line, spec->images[first].from.pos.col,
                        "image '%s': 'from' makes a cycle: %s", spec->images[first].name, cycle);
        }
      for (j = (ssize_t)i; j >= 0 && mark[j] == 1; j = parent_of (spec, (size_t)j))
        mark[j] = 2;
    }
}

static void
load_images (cpb_diag *d, cpb_pods_spec *spec, const cpb_yaml_node *root)
{
  const cpb_yaml_node *list = cpb_yaml_lookup (root, "images"), *item;
  struct ctx c = { d, NULL, spec };

  if (list == NULL)
    return;
  if (list->kind != CPB_YAML_SEQUENCE || list->n_items == 0)
    {
      cpb_yaml_diag (d, list, NULL, "'images' must be a list of images, not %s",
                     list->kind == CPB_YAML_SEQUENCE ? "an empty list" : cpb_yaml_describe (list));
      return;
    }
  spec->images = cpb_xcalloc (list->n_items, sizeof *spec->images);
  spec->n_images = list->n_items;
  CPB_YAML_FOREACH_ITEM (item, list)
  {
    load_image (&c, item, _i_item, &spec->images[_i_item]);
    fill_defaults (&spec->images[_i_item]);
  }
  check_unique_names (d, spec);
  for (size_t i = 0; i < spec->n_images; i++)
    resolve_from (d, spec, &spec->images[i]);
  check_cycles (d, spec);
}

/* Top-level keys: `images`, and any `x-...` key, which cpb ignores so that a file can hold
   anchors for reuse (`x-common: &common {...}`), as compose files do. */
static void
check_top_keys (cpb_diag *d, const cpb_yaml_node *root)
{
  cpb_yaml_node filtered;
  _cleanup_free_ cpb_yaml_pair *pairs = NULL;

  if (root == NULL || root->kind != CPB_YAML_MAPPING)
    {
      if (root == NULL)
        cpb_diag_add (d, 0, 0, "the file is empty: expected 'images:'");
      else
        cpb_yaml_diag (d, root, NULL, "expected a mapping with 'images:', not %s",
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
load_doc (const cpb_yaml_doc *doc, const char *dir, cpb_pods_spec **ret, cpb_error **err)
{
  _cleanup_pods_spec_ cpb_pods_spec *spec = cpb_xzalloc (sizeof *spec);
  _cleanup_diag_ cpb_diag *d = cpb_diag_new (doc->file);

  spec->path = cpb_xstrdup (doc->file);
  spec->dir = strdup_or_null (dir);
  check_top_keys (d, doc->root);
  if (doc->root && doc->root->kind == CPB_YAML_MAPPING)
    load_images (d, spec, doc->root);
  if (cpb_diag_to_error (d, err) < 0)
    return -1;
  *ret = TAKE_PTR (spec);
  return 0;
}

int
cpb_pods_spec_load_buffer (const char *name, const char *dir, const char *data, size_t len,
                           cpb_pods_spec **ret, cpb_error **err)
{
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;

  if (cpb_yaml_load_buffer (name, data, len, &doc, err) < 0)
    return -1;
  return load_doc (doc, dir, ret, err);
}

int
cpb_pods_spec_load (const char *path, cpb_pods_spec **ret, cpb_error **err)
{
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;
  _cleanup_free_ char *copy = cpb_xstrdup (path);

  if (cpb_yaml_load_file (path, &doc, err) < 0)
    return -1;
  return load_doc (doc, dirname (copy), ret, err);
}

const struct cpb_pod_image *
cpb_pods_spec_find (const cpb_pods_spec *spec, const char *name)
{
  ssize_t i = find_image (spec, name);

  return i < 0 ? NULL : &spec->images[i];
}

/* Append I after its parents (those not already in ORDER). */
static int
append_with_parents (const cpb_pods_spec *spec, size_t i, size_t *order, size_t *n, bool *done,
                     cpb_error **err)
{
  _cleanup_free_ size_t *chain = cpb_xcalloc (spec->n_images + 1, sizeof *chain);
  size_t len = 0;

  for (ssize_t j = (ssize_t)i; j >= 0 && !done[j]; j = parent_of (spec, (size_t)j))
    {
      if (len == spec->n_images)
        {
          _cleanup_free_ char *cycle = describe_cycle (spec, (size_t)j);
          return cpb_error_set (err, CPB_ERR_INPUT, "image '%s': 'from' makes a cycle: %s",
                                spec->images[j].name, cycle);
        }
      chain[len++] = (size_t)j;
    }
  while (len > 0)
    {
      size_t k = chain[--len];
      done[k] = true;
      order[(*n)++] = k;
    }
  return 0;
}

static int
unknown_image (const cpb_pods_spec *spec, const char *name, cpb_error **err)
{
  _cleanup_free_ const char **names = cpb_xcalloc (spec->n_images + 1, sizeof *names);
  const char *hint;

  for (size_t i = 0; i < spec->n_images; i++)
    names[i] = spec->images[i].name;
  hint = cpb_suggest (name, names, spec->n_images);
  if (hint)
    return cpb_error_set (err, CPB_ERR_INPUT, "%s: unknown image '%s' (did you mean '%s'?)",
                          spec->path, name, hint);
  return cpb_error_set (err, CPB_ERR_INPUT, "%s: unknown image '%s'", spec->path, name);
}

int
cpb_pods_spec_build_order (const cpb_pods_spec *spec, const char *const *names, size_t **ret_order,
                           size_t *ret_n, cpb_error **err)
{
  _cleanup_free_ size_t *order = cpb_xcalloc (spec->n_images + 1, sizeof *order);
  _cleanup_free_ bool *done = cpb_xcalloc (spec->n_images + 1, sizeof *done);
  size_t n = 0;

  if (names == NULL)
    {
      for (size_t i = 0; i < spec->n_images; i++)
        if (append_with_parents (spec, i, order, &n, done, err) < 0)
          return -1;
    }
  else
    for (const char *const *p = names; *p; p++)
      {
        ssize_t i = find_image (spec, *p);
        if (i < 0)
          return unknown_image (spec, *p, err);
        if (append_with_parents (spec, (size_t)i, order, &n, done, err) < 0)
          return -1;
      }
  *ret_order = TAKE_PTR (order);
  *ret_n = n;
  return 0;
}

const char *
cpb_pkg_manager_name (enum cpb_pkg_manager m)
{
  switch (m)
    {
    case CPB_PKG_DNF:
      return "dnf";
    case CPB_PKG_APK:
      return "apk";
    case CPB_PKG_APT:
    default:
      return "apt";
    }
}

static void
command_clear (struct cpb_pod_command *c)
{
  cpb_strv_free (c->argv);
}

static void
image_clear (struct cpb_pod_image *img)
{
  free (img->name);
  free (img->tag);
  free (img->description);
  free (img->from.text);
  free (img->from.ref);
  cpb_strv_free (img->capabilities);
  cpb_strv_free (img->packages);
  cpb_strmap_clear (&img->env);
  for (size_t i = 0; i < img->n_files; i++)
    {
      free (img->files[i].src);
      free (img->files[i].src_path);
      free (img->files[i].url);
      free (img->files[i].sha256);
      free (img->files[i].dest);
    }
  free (img->files);
  for (size_t i = 0; i < img->n_run; i++)
    free (img->run[i].cmd);
  free (img->run);
  free (img->workdir);
  free (img->user);
  command_clear (&img->entrypoint);
  command_clear (&img->cmd);
  cpb_strmap_clear (&img->labels);
  cpb_strmap_clear (&img->build_args);
}

void
cpb_pods_spec_free (cpb_pods_spec *spec)
{
  if (spec == NULL)
    return;
  for (size_t i = 0; i < spec->n_images; i++)
    image_clear (&spec->images[i]);
  free (spec->images);
  free (spec->path);
  free (spec->dir);
  free (spec);
}
