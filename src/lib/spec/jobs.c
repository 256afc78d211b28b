/* spec/jobs.c: jobs.yaml loaded from the YAML tree into the model of spec/jobs.h.
 *
 * Strings of the model point into the YAML tree, which the spec keeps; arrays the loader
 * makes are registered with the spec and freed with it, so the loader's many small
 * allocations need no individual bookkeeping.  Every check records a diagnostic and
 * carries on, so the user sees every problem of the file in one go; the expansion (names,
 * duplicates) only runs on a file that is otherwise clean, to avoid follow-on noise.
 */
#include "config.h"
#include "spec/jobs.h"
#include "spec/expand.h"
#include "suggest.h"
#include "xalloc.h"
#include "spec/yamlnode.h"
#include "seccomp-profile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct jobs_priv
{
  cpb_yaml_doc *doc;
  void **owned;
  size_t n_owned, cap_owned;
};

struct loader
{
  cpb_jobs_spec *spec;
  struct jobs_priv *priv;
  cpb_diag *d;
  bool *group_dirty; /* per group: its own keys had errors, so checking its placeholders
                        would only add follow-on noise */
  bool init_dirty;
};

/* clang-format off */
#define SETTINGS_KEYS                                                                              \
  { "image", 0 }, { "requires", 0 }, { "resources", 0 }, { "env", 0 }, { "timeout", 0 },           \
      { "retries", 0 }, { "priority", 0 }, { "seccomp", 0 }, { "network", 0 }, { "workdir", 0 }, \
      { "cap_add", 0 }
/* clang-format on */

static const cpb_yaml_key top_keys[] = { { "batch", CPB_YAML_REQUIRED },
                                         { "namespace", 0 },
                                         { "description", 0 },
                                         { "limits", 0 },
                                         { "defaults", 0 },
                                         { "inputs", 0 },
                                         { "outputs", 0 },
                                         { "initialize", 0 },
                                         { "tasks", 0 },
                                         { "groups", 0 },
                                         { NULL, 0 } };
static const cpb_yaml_key defaults_keys[] = { SETTINGS_KEYS, { NULL, 0 } };
static const cpb_yaml_key init_keys[] = { SETTINGS_KEYS,        { "command", CPB_YAML_REQUIRED },
                                          { "inputs", 0 },      { "outputs", 0 },
                                          { "description", 0 }, { NULL, 0 } };
static const cpb_yaml_key group_keys[] = { SETTINGS_KEYS,   { "after", 0 },   { "inputs_from", 0 },
                                           { "matrix", 0 }, { "include", 0 }, { "exclude", 0 },
                                           { "list", 0 },   { "name", 0 },    { "command", 0 },
                                           { "inputs", 0 }, { "outputs", 0 }, { "description", 0 },
                                           { NULL, 0 } };
static const cpb_yaml_key entry_keys[] = { SETTINGS_KEYS,   { "name", 0 },   { "command", 0 },
                                           { "params", 0 }, { "inputs", 0 }, { "description", 0 },
                                           { NULL, 0 } };
static const cpb_yaml_key resources_keys[] = {
  { "cpus", 0 }, { "memory", 0 }, { "counted", 0 }, { NULL, 0 }
};
static const cpb_yaml_key seccomp_keys[] = { { "profile", 0 }, { "deny", 0 }, { NULL, 0 } };
static const cpb_yaml_key input_keys[] = { { "src", CPB_YAML_REQUIRED },
                                           { "dest", 0 },
                                           { NULL, 0 } };
static const cpb_yaml_key range_keys[] = {
  { "from", CPB_YAML_REQUIRED }, { "to", CPB_YAML_REQUIRED }, { "step", 0 }, { NULL, 0 }
};

/* ---- allocation owned by the spec ---- */

static void *
own (struct loader *l, void *p)
{
  struct jobs_priv *pv = l->priv;

  if (pv->n_owned == pv->cap_owned)
    {
      pv->cap_owned = pv->cap_owned ? pv->cap_owned * 2 : 64;
      pv->owned = cpb_xrealloc (pv->owned, pv->cap_owned * sizeof *pv->owned);
    }
  pv->owned[pv->n_owned++] = p;
  return p;
}

static void *
lalloc (struct loader *l, size_t n, size_t size)
{
  return own (l, cpb_xcalloc (n + 1, size));
}

static const char *lstrdup_printf (struct loader *l, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static const char *
lstrdup_printf (struct loader *l, const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start (ap, fmt);
  s = cpb_xvasprintf (fmt, ap);
  va_end (ap);
  return own (l, s);
}

/* ---- small checks ---- */

static bool
is_seq (const cpb_yaml_node *n)
{
  return n && n->kind == CPB_YAML_SEQUENCE;
}

static bool
is_map (const cpb_yaml_node *n)
{
  return n && n->kind == CPB_YAML_MAPPING;
}

/* Record "CTX: 'KEY' must be WHAT, not ..." at N and return -1. */
static int
type_error (struct loader *l, const cpb_yaml_node *n, const char *ctx, const char *key,
            const char *what)
{
  return cpb_yaml_diag (l->d, n, ctx, "'%s' must be %s, not %s", key, what, cpb_yaml_describe (n));
}

/* Why PATH is not a clean path relative to the working directory, or NULL. */
static const char *
relpath_problem (const char *path)
{
  const char *c = path;

  if (*path == '\0')
    return "is empty";
  if (*path == '/')
    return "must be relative to the working directory";
  while (*c)
    {
      size_t len = strcspn (c, "/");

      if (len == 2 && c[0] == '.' && c[1] == '.')
        return "must not leave the working directory ('..')";
      c += len;
      c += strspn (c, "/");
    }
  return NULL;
}

static bool
is_env_name (const char *s)
{
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_'))
      return false;
  return true;
}

static bool
is_param_name (const char *s)
{
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '.' || *s == '-'))
      return false;
  return true;
}

static bool
is_builtin (const char *name)
{
  static const char *const builtins[] = { CPB_TEMPLATE_BUILTINS };

  for (size_t i = 0; i < CPB_TEMPLATE_N_BUILTINS; i++)
    if (strcmp (builtins[i], name) == 0)
      return true;
  return false;
}

/* A parameter or axis name: usable in {NAME} and not one of the built-ins. */
static int
check_param_name (struct loader *l, const cpb_yaml_node *key, const char *ctx)
{
  if (!is_param_name (key->text))
    return cpb_yaml_diag (l->d, key, ctx,
                          "parameter name '%s' may only use letters, digits, '_', '.' and '-'",
                          key->text);
  if (is_builtin (key->text))
    return cpb_yaml_diag (l->d, key, ctx, "'%s' is a built-in parameter and cannot be redefined",
                          key->text);
  return 0;
}

/* ---- strings and lists ---- */

static struct cpb_jobs_str
get_str (struct loader *l, const cpb_yaml_node *map, const char *key, const char *ctx)
{
  struct cpb_jobs_str s = { NULL, { 0, 0 } };
  const cpb_yaml_node *n = cpb_yaml_lookup (map, key);

  if (cpb_yaml_get_str (l->d, map, key, ctx, &s.s) > 0)
    s.pos = n->pos;
  return s;
}

/* A list of strings; a single string is taken as a list of one where SCALAR_OK. */
static struct cpb_jobs_str *
get_str_list (struct loader *l, const cpb_yaml_node *n, const char *ctx, const char *key,
              bool scalar_ok, size_t *ret_n)
{
  struct cpb_jobs_str *v;
  const cpb_yaml_node *item;
  size_t k = 0;

  *ret_n = 0;
  if (n == NULL || cpb_yaml_is_null (n))
    return NULL;
  if (n->kind == CPB_YAML_SCALAR && scalar_ok)
    {
      v = lalloc (l, 1, sizeof *v);
      if (cpb_yaml_as_str (l->d, n, key, &v[0].s) < 0)
        return NULL;
      v[0].pos = n->pos;
      *ret_n = 1;
      return v;
    }
  if (!is_seq (n))
    {
      type_error (l, n, ctx, key, "a list of strings");
      return NULL;
    }
  v = lalloc (l, n->n_items, sizeof *v);
  CPB_YAML_FOREACH_ITEM (item, n)
  {
    _cleanup_free_ char *what =
        cpb_xasprintf ("%s%s'%s' item", ctx ? ctx : "", ctx ? ": " : "", key);
    if (cpb_yaml_as_str (l->d, item, what, &v[k].s) == 0)
      v[k++].pos = item->pos;
  }
  *ret_n = k;
  return v;
}

/* The same as a NULL-terminated array of plain strings. */
static const char **
strs_of (struct loader *l, const struct cpb_jobs_str *v, size_t n)
{
  const char **s = lalloc (l, n, sizeof *s);

  for (size_t i = 0; i < n; i++)
    s[i] = v[i].s;
  return s;
}

/* ---- settings ---- */

static void
mark (struct cpb_jobs_settings *s, enum cpb_jobs_setting which, const cpb_yaml_node *n)
{
  s->set |= 1u << which;
  s->pos[which] = n->pos;
}

static void
parse_cpus (struct loader *l, const cpb_yaml_node *n, const char *ctx, struct cpb_jobs_settings *s)
{
  char *end = NULL;
  double v;

  if (n->kind != CPB_YAML_SCALAR)
    {
      type_error (l, n, ctx, "cpus", "a number");
      return;
    }
  errno = 0;
  v = strtod (n->text, &end);
  if (errno || end == n->text || *end || !isfinite (v) || v <= 0 || v > 4096)
    {
      cpb_yaml_diag (l->d, n, ctx,
                     "'cpus' must be a number of CPUs above 0 like 1 or 0.5, not '%s'", n->text);
      return;
    }
  s->cpus = v;
  mark (s, CPB_SET_CPUS, n);
}

/* `counted` (task) and `limits` (top level): name -> positive count. */
static struct cpb_jobs_count *
parse_counts (struct loader *l, const cpb_yaml_node *n, const char *ctx, const char *key,
              size_t *ret_n)
{
  struct cpb_jobs_count *v;
  const cpb_yaml_pair *p;
  size_t k = 0;

  *ret_n = 0;
  if (!is_map (n))
    {
      type_error (l, n, ctx, key, "a mapping of names to counts");
      return NULL;
    }
  v = lalloc (l, n->n_pairs, sizeof *v);
  CPB_YAML_FOREACH_PAIR (p, n)
  {
    long long c;
    _cleanup_free_ char *what = cpb_xasprintf ("'%s' of '%s'", p->key->text, key);

    if (!is_param_name (p->key->text))
      {
        cpb_yaml_diag (l->d, p->key, ctx,
                       "resource name '%s' may only use letters, digits, "
                       "'_', '.' and '-'",
                       p->key->text);
        continue;
      }
    if (cpb_yaml_as_int (l->d, p->value, what, 1, 1000000, &c) < 0)
      continue;
    v[k].name = p->key->text;
    v[k].count = c;
    v[k++].pos = p->key->pos;
  }
  *ret_n = k;
  return v;
}

static void
parse_resources (struct loader *l, const cpb_yaml_node *n, const char *ctx,
                 struct cpb_jobs_settings *s)
{
  const cpb_yaml_node *v;
  _cleanup_free_ char *rctx = cpb_xasprintf ("%s%sresources", ctx ? ctx : "", ctx ? ": " : "");

  if (!is_map (n))
    {
      type_error (l, n, ctx, "resources", "a mapping (cpus, memory, counted)");
      return;
    }
  cpb_yaml_check_keys (l->d, n, resources_keys, rctx);
  if ((v = cpb_yaml_lookup (n, "cpus")) && !cpb_yaml_is_null (v))
    parse_cpus (l, v, rctx, s);
  if (cpb_yaml_get_size (l->d, n, "memory", rctx, &s->memory) > 0)
    mark (s, CPB_SET_MEMORY, cpb_yaml_lookup (n, "memory"));
  if ((v = cpb_yaml_lookup (n, "counted")) && !cpb_yaml_is_null (v))
    {
      s->counted = parse_counts (l, v, rctx, "counted", &s->n_counted);
      mark (s, CPB_SET_COUNTED, v);
    }
}

static int
parse_profile (struct loader *l, const cpb_yaml_node *n, const char *ctx,
               enum cpb_profile_kind *ret)
{
  static const char *const names[] = { "default", "strict", "none", NULL };
  const char *text;

  if (cpb_yaml_as_str (l->d, n, "seccomp profile", &text) < 0)
    return -1;
  if (cpb_profile_parse_kind (text, ret, NULL) == 0)
    return 0;
  const char *s = cpb_suggest (text, names, (size_t)-1);
  return cpb_yaml_diag (l->d, n, ctx, "profile '%s' is not one of default, strict, none%s%s%s",
                        text, s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
}

static void
parse_seccomp (struct loader *l, const cpb_yaml_node *n, const char *ctx,
               struct cpb_jobs_settings *s)
{
  _cleanup_free_ char *sctx = cpb_xasprintf ("%s%sseccomp", ctx ? ctx : "", ctx ? ": " : "");
  struct cpb_jobs_str *deny;
  size_t n_deny = 0, k = 0;

  if (n->kind == CPB_YAML_SCALAR)
    {
      if (parse_profile (l, n, ctx, &s->seccomp) == 0)
        {
          s->deny = NULL;
          s->n_deny = 0;
          mark (s, CPB_SET_SECCOMP, n);
        }
      return;
    }
  if (!is_map (n))
    {
      type_error (l, n, ctx, "seccomp", "a profile name or a mapping (profile, deny)");
      return;
    }
  cpb_yaml_check_keys (l->d, n, seccomp_keys, sctx);
  s->seccomp = CPB_PROFILE_DEFAULT;
  if (cpb_yaml_lookup (n, "profile"))
    parse_profile (l, cpb_yaml_lookup (n, "profile"), sctx, &s->seccomp);
  deny = get_str_list (l, cpb_yaml_lookup (n, "deny"), sctx, "deny", false, &n_deny);
  s->deny = lalloc (l, n_deny, sizeof *s->deny);
  for (size_t i = 0; i < n_deny; i++)
    {
      const char *why = cpb_profile_deny_problem (deny[i].s);

      if (why)
        cpb_diag_add (l->d, deny[i].pos.line, deny[i].pos.col, "%s: deny: '%s': %s", sctx,
                      deny[i].s, why);
      else
        s->deny[k++] = deny[i].s;
    }
  s->n_deny = k;
  if (n_deny > 0 && s->seccomp == CPB_PROFILE_NONE)
    cpb_yaml_diag (l->d, n, sctx, "'deny' needs a filter: use profile default or strict");
  mark (s, CPB_SET_SECCOMP, n);
}

static void
parse_network (struct loader *l, const cpb_yaml_node *n, const char *ctx,
               struct cpb_jobs_settings *s)
{
  static const char *const names[] = { "none", "slirp", NULL };
  const char *text;

  if (cpb_yaml_as_str (l->d, n, "network", &text) < 0)
    return;
  for (int i = 0; names[i]; i++)
    if (strcmp (text, names[i]) == 0)
      {
        s->network = (enum cpb_jobs_network)i;
        mark (s, CPB_SET_NETWORK, n);
        return;
      }
  cpb_yaml_diag (l->d, n, ctx, "'network' must be none or slirp, not '%s'", text);
}

/* `env` merged over the outer level's: a key set here replaces the outer value. */
static void
parse_env (struct loader *l, const cpb_yaml_node *n, const char *ctx, struct cpb_jobs_settings *s)
{
  struct cpb_jobs_env *env;
  const cpb_yaml_pair *p;

  if (!is_map (n))
    {
      type_error (l, n, ctx, "env", "a mapping of names to values");
      return;
    }
  env = lalloc (l, s->n_env + n->n_pairs, sizeof *env);
  if (s->n_env)
    memcpy (env, s->env, s->n_env * sizeof *env);
  CPB_YAML_FOREACH_PAIR (p, n)
  {
    const char *name = p->key->text, *value;
    _cleanup_free_ char *what = cpb_xasprintf ("env '%s'", name);
    size_t i;

    if (!is_env_name (name))
      {
        cpb_yaml_diag (l->d, p->key, ctx, "env name '%s' is not a valid variable name", name);
        continue;
      }
    if (strncmp (name, "CPB_", 4) == 0)
      {
        cpb_yaml_diag (l->d, p->key, ctx, "env name '%s': names starting with CPB_ are cpb's own",
                       name);
        continue;
      }
    if (cpb_yaml_as_str (l->d, p->value, what, &value) < 0)
      continue;
    for (i = 0; i < s->n_env && strcmp (env[i].name, name) != 0; i++)
      ;
    env[i].name = name;
    env[i].value = value;
    env[i].pos = p->value->pos;
    if (i == s->n_env)
      s->n_env++;
  }
  s->env = env;
}

static void
parse_image_requires (struct loader *l, const cpb_yaml_node *map, const char *ctx,
                      struct cpb_jobs_settings *s)
{
  const cpb_yaml_node *n;
  struct cpb_jobs_str *req;
  size_t n_req;

  if (cpb_yaml_get_str (l->d, map, "image", ctx, &s->image) > 0)
    {
      mark (s, CPB_SET_IMAGE, cpb_yaml_lookup (map, "image"));
      if (s->image[0] == '\0')
        cpb_yaml_diag (l->d, cpb_yaml_lookup (map, "image"), ctx, "'image' is empty");
    }
  if ((n = cpb_yaml_lookup (map, "requires")) == NULL || cpb_yaml_is_null (n))
    return;
  req = get_str_list (l, n, ctx, "requires", false, &n_req);
  for (size_t i = 0; i < n_req; i++)
    if (req[i].s[0] == '\0' || strchr (req[i].s, ','))
      cpb_diag_add (l->d, req[i].pos.line, req[i].pos.col,
                    "%s%scapability '%s' must be a non-empty name without ','", ctx ? ctx : "",
                    ctx ? ": " : "", req[i].s);
  s->requires = strs_of (l, req, n_req);
  s->n_requires = n_req;
  mark (s, CPB_SET_REQUIRES, n);
}

static void
parse_numbers (struct loader *l, const cpb_yaml_node *map, const char *ctx,
               struct cpb_jobs_settings *s)
{
  long long v;

  if (cpb_yaml_get_duration (l->d, map, "timeout", ctx, &s->timeout) > 0)
    mark (s, CPB_SET_TIMEOUT, cpb_yaml_lookup (map, "timeout"));
  if (cpb_yaml_get_int (l->d, map, "retries", ctx, 0, CPB_JOBS_MAX_RETRIES, &v) > 0)
    {
      s->retries = (int)v;
      mark (s, CPB_SET_RETRIES, cpb_yaml_lookup (map, "retries"));
    }
  if (cpb_yaml_get_int (l->d, map, "priority", ctx, -CPB_JOBS_MAX_PRIORITY, CPB_JOBS_MAX_PRIORITY,
                        &v) > 0)
    {
      s->priority = (int)v;
      mark (s, CPB_SET_PRIORITY, cpb_yaml_lookup (map, "priority"));
    }
}

/* The Linux capabilities (linux/capability.h, 6.x), the names Podman's cap_add takes. */
/* clang-format off */
static const char *const linux_caps[]
    = { "CAP_CHOWN",           "CAP_DAC_OVERRIDE",   "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
        "CAP_FSETID",          "CAP_KILL",           "CAP_SETGID",          "CAP_SETUID",
        "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",       "CAP_NET_RAW",        "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",      "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",      "CAP_SYS_BOOT",        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",       "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
        "CAP_LEASE",           "CAP_AUDIT_WRITE",    "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",          "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",     "CAP_PERFMON",         "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE", NULL };
/* clang-format on */

/* cap_add: the capabilities a task keeps after cpb drops them all.  Written as the kernel
   names them, with or without CAP_, in any case; stored as "CAP_NAME" so Podman and the
   task's key see one spelling.  A name the kernel does not have is refused here, at its
   line, rather than by Podman when the container is created. */
static void
parse_cap_add (struct loader *l, const cpb_yaml_node *n, const char *ctx,
               struct cpb_jobs_settings *s)
{
  size_t n_caps, k = 0;
  struct cpb_jobs_str *caps = get_str_list (l, n, ctx, "cap_add", false, &n_caps);
  const char **v = lalloc (l, n_caps, sizeof *v);

  for (size_t i = 0; i < n_caps; i++)
    {
      _cleanup_free_ char *canon = cpb_xasprintf (
          "CAP_%s", strncasecmp (caps[i].s, "CAP_", 4) == 0 ? caps[i].s + 4 : caps[i].s);
      const char *near;
      size_t c;

      for (char *p = canon; *p; p++)
        *p = (char)toupper ((unsigned char)*p);
      for (c = 0; linux_caps[c] && strcmp (linux_caps[c], canon) != 0; c++)
        ;
      if (linux_caps[c])
        {
          v[k++] = linux_caps[c];
          continue;
        }
      near = cpb_suggest (canon, linux_caps, (size_t)-1);
      cpb_diag_add (l->d, caps[i].pos.line, caps[i].pos.col,
                    "%s%scap_add: '%s' is not a Linux capability%s%s%s", ctx ? ctx : "",
                    ctx ? ": " : "", caps[i].s, near ? " (did you mean '" : "", near ? near : "",
                    near ? "'?)" : "");
    }
  s->cap_add = v;
  s->n_cap_add = k;
  mark (s, CPB_SET_CAP_ADD, n);
}

/* Read the settings keys of MAP over *S, which holds the outer level's resolved values.
   The set bits and positions say what this level wrote. */
static void
parse_settings (struct loader *l, const cpb_yaml_node *map, const char *ctx,
                struct cpb_jobs_settings *s)
{
  const cpb_yaml_node *n;

  s->set = 0;
  parse_image_requires (l, map, ctx, s);
  if ((n = cpb_yaml_lookup (map, "resources")) && !cpb_yaml_is_null (n))
    parse_resources (l, n, ctx, s);
  if ((n = cpb_yaml_lookup (map, "env")) && !cpb_yaml_is_null (n))
    parse_env (l, n, ctx, s);
  parse_numbers (l, map, ctx, s);
  if ((n = cpb_yaml_lookup (map, "seccomp")) && !cpb_yaml_is_null (n))
    parse_seccomp (l, n, ctx, s);
  if ((n = cpb_yaml_lookup (map, "network")) && !cpb_yaml_is_null (n))
    parse_network (l, n, ctx, s);
  if ((n = cpb_yaml_lookup (map, "cap_add")) && !cpb_yaml_is_null (n))
    parse_cap_add (l, n, ctx, s);
  if (cpb_yaml_get_str (l->d, map, "workdir", ctx, &s->workdir) > 0)
    {
      n = cpb_yaml_lookup (map, "workdir");
      mark (s, CPB_SET_WORKDIR, n);
      if (s->workdir[0] != '/' || (s->workdir[1] && relpath_problem (s->workdir + 1)))
        cpb_yaml_diag (l->d, n, ctx, "'workdir' must be an absolute path without '..'");
    }
}

/* ---- inputs and outputs ---- */

static void
check_input_exists (struct loader *l, const struct cpb_jobs_input *in, const char *ctx)
{
  _cleanup_free_ char *path = NULL;
  struct stat st;

  if (!cpb_template_is_constant (in->src))
    return; /* checked per task by the expansion */
  path = in->src[0] == '/' ? cpb_xstrdup (in->src)
                           : cpb_xasprintf ("%s/%s", l->spec->directory, in->src);
  if (stat (path, &st) < 0)
    cpb_diag_add (l->d, in->pos.line, in->pos.col, "%s%sinput '%s': %s", ctx ? ctx : "",
                  ctx ? ": " : "", in->src, strerror (errno));
}

/* One input: "path" or {src: path, dest: name}. */
static int
parse_input (struct loader *l, const cpb_yaml_node *n, const char *ctx, struct cpb_jobs_input *in)
{
  const char *why;

  in->pos = n->pos;
  if (is_map (n))
    {
      cpb_yaml_check_keys (l->d, n, input_keys, ctx);
      if (cpb_yaml_get_str (l->d, n, "src", ctx, &in->src) <= 0)
        return -1;
      if (cpb_yaml_get_str (l->d, n, "dest", ctx, &in->dest) > 0 &&
          (why = relpath_problem (in->dest)))
        return cpb_yaml_diag (l->d, cpb_yaml_lookup (n, "dest"), ctx, "input dest '%s' %s",
                              in->dest, why);
    }
  else if (cpb_yaml_as_str (l->d, n, "input", &in->src) < 0)
    return -1;
  if (in->src[0] == '\0')
    return cpb_yaml_diag (l->d, n, ctx, "input 'src' is empty");
  if (in->dest == NULL)
    {
      const char *last = strrchr (in->src, '/');
      const char *base = last && last[1] ? last + 1 : in->src;

      if (strcmp (base, ".") == 0 || strcmp (base, "..") == 0 || strcmp (base, "/") == 0)
        return cpb_yaml_diag (l->d, n, ctx, "input '%s' needs a 'dest'", in->src);
    }
  check_input_exists (l, in, ctx);
  return 0;
}

static struct cpb_jobs_input *
parse_inputs (struct loader *l, const cpb_yaml_node *map, const char *ctx, size_t *ret_n)
{
  const cpb_yaml_node *n = cpb_yaml_lookup (map, "inputs"), *item;
  struct cpb_jobs_input *v;
  size_t k = 0;

  *ret_n = 0;
  if (n == NULL || cpb_yaml_is_null (n))
    return NULL;
  if (!is_seq (n))
    {
      type_error (l, n, ctx, "inputs", "a list of paths or {src, dest} mappings");
      return NULL;
    }
  v = lalloc (l, n->n_items, sizeof *v);
  CPB_YAML_FOREACH_ITEM (item, n)
  if (parse_input (l, item, ctx, &v[k]) == 0)
    k++;
  *ret_n = k;
  return v;
}

static struct cpb_jobs_str *
parse_outputs (struct loader *l, const cpb_yaml_node *map, const char *ctx, size_t *ret_n)
{
  struct cpb_jobs_str *v =
      get_str_list (l, cpb_yaml_lookup (map, "outputs"), ctx, "outputs", false, ret_n);

  for (size_t i = 0; i < *ret_n; i++)
    {
      const char *why = relpath_problem (v[i].s);

      if (why)
        cpb_diag_add (l->d, v[i].pos.line, v[i].pos.col, "%s%soutput '%s' %s", ctx ? ctx : "",
                      ctx ? ": " : "", v[i].s, why);
    }
  return v;
}

/* `command`: a string (run by /bin/sh -c) or a list (the program and its arguments). */
static void
parse_command (struct loader *l, const cpb_yaml_node *map, const char *ctx,
               struct cpb_jobs_str *ret_command, const char ***ret_argv, cpb_pos *ret_pos)
{
  const cpb_yaml_node *n = cpb_yaml_lookup (map, "command");
  struct cpb_jobs_str *v;
  size_t len;

  if (n == NULL || cpb_yaml_is_null (n))
    return;
  if (ret_pos)
    *ret_pos = n->pos;
  if (n->kind == CPB_YAML_SCALAR)
    {
      *ret_command = get_str (l, map, "command", ctx);
      if (ret_command->s && ret_command->s[0] == '\0')
        cpb_yaml_diag (l->d, n, ctx, "'command' is empty");
      return;
    }
  if (!is_seq (n))
    {
      type_error (l, n, ctx, "command", "a string (a shell command) or a list (argv)");
      return;
    }
  v = get_str_list (l, n, ctx, "command", false, &len);
  if (len == 0)
    cpb_yaml_diag (l->d, n, ctx, "'command' is an empty list");
  else
    *ret_argv = strs_of (l, v, len);
}

/* ---- matrix ---- */

static int
cmp_values (const void *a, const void *b, void *arg)
{
  const char *const *values = arg;

  return strcmp (values[*(const size_t *)a], values[*(const size_t *)b]);
}

/* A value written twice would make two identical tasks: say where both are. */
static void
check_axis_duplicates (struct loader *l, const struct cpb_jobs_axis *axis, const char *ctx)
{
  _cleanup_free_ size_t *order = cpb_xcalloc (axis->n_values + 1, sizeof *order);

  for (size_t i = 0; i < axis->n_values; i++)
    order[i] = i;
  qsort_r (order, axis->n_values, sizeof *order, cmp_values, (void *)axis->values);
  for (size_t i = 1; i < axis->n_values; i++)
    {
      size_t a = order[i - 1], b = order[i];

      if (strcmp (axis->values[a], axis->values[b]) != 0)
        continue;
      if (a > b)
        {
          size_t t = a;
          a = b;
          b = t;
        }
      cpb_diag_add (l->d, axis->value_pos[b].line, axis->value_pos[b].col,
                    "%s: axis '%s': duplicate value '%s' (also at %s:%u:%u)", ctx, axis->name,
                    axis->values[b], l->spec->path, axis->value_pos[a].line,
                    axis->value_pos[a].col);
    }
}

/* `{from: 1, to: 100, step: 1}`: integers, both ends included. */
static void
parse_range (struct loader *l, const cpb_yaml_node *n, const char *ctx, struct cpb_jobs_axis *axis)
{
  const long long lim = 1000000000000LL;
  long long from, to, step = 0;
  unsigned long long count;

  if (cpb_yaml_check_keys (l->d, n, range_keys, ctx) < 0 ||
      cpb_yaml_get_int (l->d, n, "from", ctx, -lim, lim, &from) <= 0 ||
      cpb_yaml_get_int (l->d, n, "to", ctx, -lim, lim, &to) <= 0 ||
      cpb_yaml_get_int (l->d, n, "step", ctx, -lim, lim, &step) < 0)
    return;
  if (step == 0)
    step = to >= from ? 1 : -1;
  if ((to - from) / step < 0)
    {
      cpb_yaml_diag (l->d, n, ctx, "axis '%s': a step of %lld never goes from %lld to %lld",
                     axis->name, step, from, to);
      return;
    }
  count = (unsigned long long)((to - from) / step) + 1;
  if (count > CPB_JOBS_MAX_TASKS)
    {
      cpb_yaml_diag (l->d, n, ctx, "axis '%s': %llu values are more than %u", axis->name, count,
                     CPB_JOBS_MAX_TASKS);
      return;
    }
  axis->values = lalloc (l, count, sizeof *axis->values);
  axis->value_pos = lalloc (l, count, sizeof *axis->value_pos);
  for (size_t i = 0; i < count; i++)
    {
      axis->values[i] = lstrdup_printf (l, "%lld", from + (long long)i * step);
      axis->value_pos[i] = n->pos;
    }
  axis->n_values = count;
}

static void
parse_axis (struct loader *l, const cpb_yaml_pair *p, const char *ctx, struct cpb_jobs_axis *axis)
{
  const cpb_yaml_node *item;

  axis->name = p->key->text;
  axis->pos = p->key->pos;
  if (check_param_name (l, p->key, ctx) < 0)
    return;
  if (is_map (p->value))
    {
      parse_range (l, p->value, ctx, axis);
      return;
    }
  if (!is_seq (p->value) || p->value->n_items == 0)
    {
      cpb_yaml_diag (l->d, p->value, ctx,
                     "axis '%s' must be a non-empty list of values or a {from, to, step} range, "
                     "not %s%s",
                     axis->name, is_seq (p->value) ? "an empty " : "",
                     is_seq (p->value) ? "list" : cpb_yaml_describe (p->value));
      return;
    }
  axis->values = lalloc (l, p->value->n_items, sizeof *axis->values);
  axis->value_pos = lalloc (l, p->value->n_items, sizeof *axis->value_pos);
  CPB_YAML_FOREACH_ITEM (item, p->value)
  {
    _cleanup_free_ char *what = cpb_xasprintf ("%s: axis '%s' value", ctx, axis->name);

    if (cpb_yaml_as_str (l->d, item, what, &axis->values[axis->n_values]) == 0)
      axis->value_pos[axis->n_values++] = item->pos;
  }
  check_axis_duplicates (l, axis, ctx);
}

static void
parse_matrix (struct loader *l, const cpb_yaml_node *n, const char *ctx, struct cpb_jobs_group *g)
{
  const cpb_yaml_pair *p;

  g->has_matrix = true;
  g->matrix_pos = n->pos;
  if (!is_map (n) || n->n_pairs == 0)
    {
      cpb_yaml_diag (l->d, n, ctx, "'matrix' must be a mapping of axis names to values, not %s",
                     cpb_yaml_describe (n));
      return;
    }
  g->axes = lalloc (l, n->n_pairs, sizeof *g->axes);
  CPB_YAML_FOREACH_PAIR (p, n)
  {
    parse_axis (l, p, ctx, &g->axes[g->n_axes]);
    /* An axis without values was reported; leave it out so nothing follows from it. */
    if (g->axes[g->n_axes].n_values > 0)
      g->n_axes++;
  }
}

/* The axes of G as keys for cpb_yaml_check_keys (so typos get "did you mean"). */
static cpb_yaml_key *
axis_keys (const struct cpb_jobs_group *g, unsigned flags)
{
  cpb_yaml_key *keys = cpb_xcalloc (g->n_axes + 1, sizeof *keys);

  for (size_t a = 0; a < g->n_axes; a++)
    {
      keys[a].name = g->axes[a].name;
      keys[a].flags = flags;
    }
  return keys;
}

/* An include or exclude entry: values for (some of) the axes, kept in axis order. */
static int
parse_combination (struct loader *l, const cpb_yaml_node *n, const struct cpb_jobs_group *g,
                   const char *ctx, bool all, struct cpb_jobs_entry *e)
{
  _cleanup_free_ cpb_yaml_key *keys = axis_keys (g, all ? CPB_YAML_REQUIRED : 0);

  e->pos = n->pos;
  if (cpb_yaml_check_keys (l->d, n, keys, ctx) < 0)
    return -1;
  e->param_names = lalloc (l, g->n_axes, sizeof *e->param_names);
  e->param_values = lalloc (l, g->n_axes, sizeof *e->param_values);
  for (size_t a = 0; a < g->n_axes; a++)
    {
      const cpb_yaml_node *v = cpb_yaml_lookup (n, g->axes[a].name);
      _cleanup_free_ char *what = cpb_xasprintf ("%s: '%s'", ctx, g->axes[a].name);
      size_t k;

      if (v == NULL)
        continue;
      if (cpb_yaml_as_str (l->d, v, what, &e->param_values[e->n_params]) < 0)
        return -1;
      e->param_names[e->n_params] = g->axes[a].name;
      for (k = 0; k < g->axes[a].n_values; k++)
        if (strcmp (g->axes[a].values[k], e->param_values[e->n_params]) == 0)
          break;
      if (!all && k == g->axes[a].n_values)
        return cpb_yaml_diag (l->d, v, ctx, "'%s' is not a value of axis '%s'",
                              e->param_values[e->n_params], g->axes[a].name);
      e->n_params++;
    }
  return 0;
}

static struct cpb_jobs_entry *
parse_combinations (struct loader *l, const cpb_yaml_node *group, const char *key,
                    const struct cpb_jobs_group *g, const char *gctx, bool all, size_t *ret_n)
{
  const cpb_yaml_node *n = cpb_yaml_lookup (group, key), *item;
  _cleanup_free_ char *ctx = cpb_xasprintf ("%s: %s", gctx, key);
  struct cpb_jobs_entry *v;

  *ret_n = 0;
  if (n == NULL || cpb_yaml_is_null (n))
    return NULL;
  if (!g->has_matrix)
    {
      cpb_yaml_diag (l->d, n, gctx, "'%s' needs a 'matrix'", key);
      return NULL;
    }
  if (!is_seq (n))
    {
      type_error (l, n, gctx, key, "a list of mappings of axis names to values");
      return NULL;
    }
  v = lalloc (l, n->n_items, sizeof *v);
  CPB_YAML_FOREACH_ITEM (item, n)
  if (parse_combination (l, item, g, ctx, all, &v[*ret_n]) == 0)
    (*ret_n)++;
  return v;
}

/* ---- groups ---- */

/* Dependencies by name, resolved once every group is known. */
struct group_deps
{
  struct cpb_jobs_str *after;
  size_t n_after;
  struct cpb_jobs_str *inputs_from;
  size_t n_inputs_from;
};

static void
parse_params (struct loader *l, const cpb_yaml_node *n, const char *ctx, struct cpb_jobs_entry *e)
{
  const cpb_yaml_pair *p;

  if (n == NULL || cpb_yaml_is_null (n))
    return;
  if (!is_map (n))
    {
      type_error (l, n, ctx, "params", "a mapping of parameter names to values");
      return;
    }
  e->param_names = lalloc (l, n->n_pairs, sizeof *e->param_names);
  e->param_values = lalloc (l, n->n_pairs, sizeof *e->param_values);
  CPB_YAML_FOREACH_PAIR (p, n)
  {
    _cleanup_free_ char *what = cpb_xasprintf ("%s: param '%s'", ctx, p->key->text);

    if (check_param_name (l, p->key, ctx) < 0 ||
        cpb_yaml_as_str (l->d, p->value, what, &e->param_values[e->n_params]) < 0)
      continue;
    e->param_names[e->n_params++] = p->key->text;
  }
}

static void
parse_list_entry (struct loader *l, const cpb_yaml_node *n, const struct cpb_jobs_group *g,
                  size_t i, struct cpb_jobs_entry *e)
{
  _cleanup_free_ char *ctx = cpb_xasprintf ("group '%s': list item %zu", g->name, i + 1);

  e->pos = n->pos;
  e->settings = g->settings;
  if (!is_map (n))
    {
      cpb_yaml_diag (l->d, n, ctx, "must be a mapping (name, command, params, ...), not %s",
                     cpb_yaml_describe (n));
      return;
    }
  cpb_yaml_check_keys (l->d, n, entry_keys, ctx);
  e->name = get_str (l, n, "name", ctx);
  parse_command (l, n, ctx, &e->command, &e->argv, NULL);
  parse_params (l, cpb_yaml_lookup (n, "params"), ctx, e);
  e->inputs = parse_inputs (l, n, ctx, &e->n_inputs);
  parse_settings (l, n, ctx, &e->settings);
  if (e->command.s == NULL && e->argv == NULL && g->command.s == NULL && g->argv == NULL)
    cpb_yaml_diag (l->d, n, ctx, "no 'command': give it one, or give the group one");
}

static void
parse_list (struct loader *l, const cpb_yaml_node *n, struct cpb_jobs_group *g, const char *ctx)
{
  const cpb_yaml_node *item;

  if (n == NULL || cpb_yaml_is_null (n))
    return;
  if (!is_seq (n))
    {
      type_error (l, n, ctx, "list", "a list of tasks");
      return;
    }
  g->list = lalloc (l, n->n_items, sizeof *g->list);
  CPB_YAML_FOREACH_ITEM (item, n)
  {
    parse_list_entry (l, item, g, g->n_list, &g->list[g->n_list]);
    g->n_list++;
  }
}

/* Only the matrix and a single-task group need the group's command: list entries without
   one of their own are checked one by one. */
static bool
group_needs_command (const struct cpb_jobs_group *g)
{
  return g->has_matrix || g->n_list == 0;
}

/* A group written as a mapping; a list is short for {list: [...]}. */
static void
parse_group (struct loader *l, const cpb_yaml_node *key, const cpb_yaml_node *n,
             struct cpb_jobs_group *g, struct group_deps *deps)
{
  _cleanup_free_ char *ctx = NULL;

  g->name = key->text;
  g->pos = key->pos;
  g->settings = l->spec->defaults;
  ctx = cpb_xasprintf ("group '%s'", g->name);
  if (!cpb_jobs_name_valid (g->name) || strcmp (g->name, "initialize") == 0)
    cpb_yaml_diag (l->d, key, NULL,
                   "group name '%s' is not valid: use letters, digits, '.', '_' "
                   "or '-' ('initialize' is taken)",
                   g->name);
  if (is_seq (n))
    {
      parse_list (l, n, g, ctx);
      return;
    }
  if (!is_map (n))
    {
      cpb_yaml_diag (l->d, n, ctx,
                     "must be a mapping (command, matrix, ...) or a list of tasks, "
                     "not %s",
                     cpb_yaml_describe (n));
      return;
    }
  cpb_yaml_check_keys (l->d, n, group_keys, ctx);
  parse_settings (l, n, ctx, &g->settings);
  g->name_template = get_str (l, n, "name", ctx);
  parse_command (l, n, ctx, &g->command, &g->argv, &g->command_pos);
  g->inputs = parse_inputs (l, n, ctx, &g->n_inputs);
  g->outputs = parse_outputs (l, n, ctx, &g->n_outputs);
  if (cpb_yaml_lookup (n, "matrix"))
    parse_matrix (l, cpb_yaml_lookup (n, "matrix"), ctx, g);
  g->include = parse_combinations (l, n, "include", g, ctx, true, &g->n_include);
  g->exclude = parse_combinations (l, n, "exclude", g, ctx, false, &g->n_exclude);
  parse_list (l, cpb_yaml_lookup (n, "list"), g, ctx);
  deps->after = get_str_list (l, cpb_yaml_lookup (n, "after"), ctx, "after", true, &deps->n_after);
  deps->inputs_from = get_str_list (l, cpb_yaml_lookup (n, "inputs_from"), ctx, "inputs_from", true,
                                    &deps->n_inputs_from);
  if (group_needs_command (g) && g->command.s == NULL && g->argv == NULL)
    cpb_yaml_diag (l->d, n, ctx, "missing required key 'command'");
}

/* ---- dependencies between groups ---- */

static ssize_t
group_index (const struct cpb_jobs_group *groups, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (groups[i].name, name) == 0)
      return (ssize_t)i;
  return -1;
}

/* Resolve NAMES to group indices, adding each once to *V (capacity n_groups). */
static void
resolve_deps (struct loader *l, struct cpb_jobs_group *groups, size_t n_groups, size_t gi,
              const struct cpb_jobs_str *names, size_t n, const char *key, size_t *v, size_t *ret_n)
{
  _cleanup_free_ const char **cands = cpb_xcalloc (n_groups + 1, sizeof *cands);

  for (size_t i = 0; i < n_groups; i++)
    cands[i] = groups[i].name;
  for (size_t i = 0; i < n; i++)
    {
      ssize_t k = group_index (groups, n_groups, names[i].s);
      bool seen = false;

      if (k < 0 || (size_t)k == gi)
        {
          const char *s = k < 0 ? cpb_suggest (names[i].s, cands, n_groups) : NULL;

          cpb_diag_add (l->d, names[i].pos.line, names[i].pos.col, "group '%s': %s: %s '%s'%s%s%s",
                        groups[gi].name, key,
                        k < 0 ? "no group named" : "a group cannot wait for itself:", names[i].s,
                        s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
          continue;
        }
      for (size_t j = 0; j < *ret_n; j++)
        seen = seen || v[j] == (size_t)k;
      if (!seen)
        v[(*ret_n)++] = (size_t)k;
    }
}

static void
resolve_group_deps (struct loader *l, struct cpb_jobs_group *groups, size_t n,
                    const struct group_deps *deps)
{
  for (size_t g = 0; g < n; g++)
    {
      groups[g].after = lalloc (l, n, sizeof *groups[g].after);
      groups[g].inputs_from = lalloc (l, n, sizeof *groups[g].inputs_from);
      resolve_deps (l, groups, n, g, deps[g].inputs_from, deps[g].n_inputs_from, "inputs_from",
                    groups[g].inputs_from, &groups[g].n_inputs_from);
      /* Taking a group's outputs means waiting for it. */
      memcpy (groups[g].after, groups[g].inputs_from,
              groups[g].n_inputs_from * sizeof *groups[g].after);
      groups[g].n_after = groups[g].n_inputs_from;
      resolve_deps (l, groups, n, g, deps[g].after, deps[g].n_after, "after", groups[g].after,
                    &groups[g].n_after);
    }
}

/* Report one cycle through group START (which is on a cycle or leads to one). */
static void
report_cycle (struct loader *l, const struct cpb_jobs_group *groups, size_t n, size_t start,
              const bool *placed)
{
  _cleanup_free_ size_t *path = cpb_xcalloc (n + 1, sizeof *path);
  _cleanup_free_ ssize_t *at = cpb_xcalloc (n + 1, sizeof *at);
  _cleanup_buf_ cpb_buf msg = CPB_BUF_INIT;
  size_t len = 0, g = start;

  for (size_t i = 0; i < n; i++)
    at[i] = -1;
  /* Every unplaced group waits for another unplaced one: walk until a group repeats. */
  while (at[g] < 0)
    {
      at[g] = (ssize_t)len;
      path[len++] = g;
      for (size_t k = 0; k < groups[g].n_after; k++)
        if (!placed[groups[g].after[k]])
          {
            g = groups[g].after[k];
            break;
          }
    }
  for (size_t i = (size_t)at[g]; i < len; i++)
    cpb_buf_printf (&msg, "'%s' -> ", groups[path[i]].name);
  cpb_buf_printf (&msg, "'%s'", groups[g].name);
  cpb_diag_add (l->d, groups[g].pos.line, groups[g].pos.col,
                "groups wait for each other in a cycle: %s", msg.data);
}

/* Order of the groups: each after those it waits for, otherwise as written. */
static size_t *
group_order (struct loader *l, const struct cpb_jobs_group *groups, size_t n)
{
  size_t *order = cpb_xcalloc (n + 1, sizeof *order);
  _cleanup_free_ bool *placed = cpb_xcalloc (n + 1, sizeof *placed);

  for (size_t k = 0; k < n; k++)
    {
      size_t g;

      for (g = 0; g < n; g++)
        {
          bool ready = !placed[g];

          for (size_t a = 0; ready && a < groups[g].n_after; a++)
            ready = placed[groups[g].after[a]];
          if (ready)
            break;
        }
      if (g == n)
        {
          for (g = 0; placed[g]; g++)
            ;
          report_cycle (l, groups, n, g, placed);
          free (order);
          return NULL;
        }
      placed[g] = true;
      order[k] = g;
    }
  return order;
}

/* Put the groups of L's spec in dependency order and renumber their references. */
static void
order_groups (struct loader *l, struct cpb_jobs_group *groups, size_t n)
{
  _cleanup_free_ size_t *order = group_order (l, groups, n);
  _cleanup_free_ size_t *where = cpb_xcalloc (n + 1, sizeof *where);
  struct cpb_jobs_group *sorted;
  bool *dirty;

  if (order == NULL)
    return;
  sorted = lalloc (l, n, sizeof *sorted);
  dirty = lalloc (l, n, sizeof *dirty);
  for (size_t k = 0; k < n; k++)
    {
      sorted[k] = groups[order[k]];
      dirty[k] = l->group_dirty[order[k]];
      where[order[k]] = k;
    }
  l->group_dirty = dirty;
  for (size_t k = 0; k < n; k++)
    {
      for (size_t a = 0; a < sorted[k].n_after; a++)
        sorted[k].after[a] = where[sorted[k].after[a]];
      for (size_t a = 0; a < sorted[k].n_inputs_from; a++)
        sorted[k].inputs_from[a] = where[sorted[k].inputs_from[a]];
    }
  l->spec->groups = sorted;
}

/* ---- placeholders ---- */

/* The scalar node whose text is TEXT itself (strings of the model point into the tree). */
static const cpb_yaml_node *
find_scalar (const cpb_yaml_node *n, const char *text, unsigned depth)
{
  const cpb_yaml_node *item, *found = NULL;
  const cpb_yaml_pair *p;

  if (n == NULL || depth > CPB_YAML_MAX_DEPTH)
    return NULL;
  if (n->kind == CPB_YAML_SCALAR)
    return n->text == text ? n : NULL;
  CPB_YAML_FOREACH_ITEM (item, n)
  if (found == NULL)
    found = find_scalar (item, text, depth + 1);
  CPB_YAML_FOREACH_PAIR (p, n)
  if (found == NULL)
    found = find_scalar (p->value, text, depth + 1);
  return found;
}

/* Where the character at OFFSET of template TEXT was written: exact for a plain scalar on
   one line, whose text is the source; else where its scalar starts (or FALLBACK). */
static cpb_pos
placeholder_pos (struct loader *l, const char *text, size_t offset, cpb_pos fallback)
{
  const cpb_yaml_node *n = find_scalar (l->priv->doc->root, text, 0);

  if (n == NULL)
    return fallback;
  if (n->plain && strchr (text, '\n') == NULL)
    return (cpb_pos){ n->pos.line, n->pos.col + (unsigned)offset };
  return n->pos;
}

static void
check_template (struct loader *l, const char *text, cpb_pos pos, const char *ctx,
                const char *const *names, size_t n)
{
  size_t off, len;
  _cleanup_free_ char *name = NULL;
  const char *s;

  if (text == NULL || !cpb_template_find_unknown (text, names, n, &off, &len))
    return;
  pos = placeholder_pos (l, text, off - 1, pos);
  name = cpb_xstrndup (text + off, len);
  s = cpb_suggest (name, names, n);
  if (s)
    cpb_diag_add (l->d, pos.line, pos.col, "%s: unknown parameter '{%s}' (did you mean '{%s}'?)",
                  ctx, name, s);
  else
    cpb_diag_add (l->d, pos.line, pos.col,
                  "%s: unknown parameter '{%s}' (write '{{' for a literal '{')", ctx, name);
}

static void
check_command_templates (struct loader *l, const struct cpb_jobs_str *command, const char **argv,
                         cpb_pos argv_pos, const char *ctx, const char *const *names, size_t n)
{
  check_template (l, command->s, command->pos, ctx, names, n);
  for (size_t i = 0; argv && argv[i]; i++)
    check_template (l, argv[i], argv_pos, ctx, names, n);
}

static void
check_io_templates (struct loader *l, const struct cpb_jobs_input *in, size_t n_in,
                    const struct cpb_jobs_str *out, size_t n_out, const char *ctx,
                    const char *const *names, size_t n)
{
  for (size_t i = 0; i < n_in; i++)
    {
      check_template (l, in[i].src, in[i].pos, ctx, names, n);
      check_template (l, in[i].dest, in[i].pos, ctx, names, n);
    }
  for (size_t i = 0; i < n_out; i++)
    check_template (l, out[i].s, out[i].pos, ctx, names, n);
}

static void
check_env_templates (struct loader *l, const struct cpb_jobs_settings *s, const char *ctx,
                     const char *const *names, size_t n)
{
  for (size_t i = 0; i < s->n_env; i++)
    check_template (l, s->env[i].value, s->env[i].pos, ctx, names, n);
}

/* Every template a task of G sees, with the parameters that task has (NAMES, N params
   followed by the built-ins); E is the list entry, if the task comes from one. */
static void
check_task_templates (struct loader *l, const struct cpb_jobs_group *g,
                      const struct cpb_jobs_entry *e, const char **names, size_t n)
{
  static const char *const builtins[] = { CPB_TEMPLATE_BUILTINS };
  _cleanup_free_ char *ctx = cpb_xasprintf ("group '%s'", g->name);
  const cpb_jobs_spec *spec = l->spec;

  for (size_t i = 0; i < CPB_TEMPLATE_N_BUILTINS; i++)
    names[n + i] = builtins[i];
  n += CPB_TEMPLATE_N_BUILTINS;
  check_template (l, e && e->name.s ? e->name.s : g->name_template.s,
                  e && e->name.s ? e->name.pos : g->name_template.pos, ctx, names, n);
  if (e && (e->command.s || e->argv))
    check_command_templates (l, &e->command, e->argv, e->pos, ctx, names, n);
  else
    check_command_templates (l, &g->command, g->argv, g->command_pos, ctx, names, n);
  check_env_templates (l, e ? &e->settings : &g->settings, ctx, names, n);
  check_io_templates (l, g->inputs, g->n_inputs, g->outputs, g->n_outputs, ctx, names, n);
  check_io_templates (l, NULL, 0, spec->outputs, spec->n_outputs, ctx, names, n);
  if (e)
    check_io_templates (l, e->inputs, e->n_inputs, NULL, 0, ctx, names, n);
}

static void
check_group_templates (struct loader *l, const struct cpb_jobs_group *g)
{
  _cleanup_free_ const char **names = NULL;

  if (g->has_matrix || g->n_list == 0)
    {
      names = cpb_xcalloc (g->n_axes + CPB_TEMPLATE_N_BUILTINS + 1, sizeof *names);
      for (size_t a = 0; a < g->n_axes; a++)
        names[a] = g->axes[a].name;
      check_task_templates (l, g, NULL, names, g->n_axes);
    }
  for (size_t i = 0; i < g->n_list; i++)
    {
      const struct cpb_jobs_entry *e = &g->list[i];

      free (names);
      names = cpb_xcalloc (e->n_params + CPB_TEMPLATE_N_BUILTINS + 1, sizeof *names);
      for (size_t k = 0; k < e->n_params; k++)
        names[k] = e->param_names[k];
      check_task_templates (l, g, e, names, e->n_params);
    }
}

static void
check_initialize_templates (struct loader *l, const struct cpb_jobs_initialize *init)
{
  static const char *const names[] = { CPB_TEMPLATE_BUILTINS };
  const char *ctx = "initialize";

  check_command_templates (l, &init->command, init->argv, init->pos, ctx, names,
                           CPB_TEMPLATE_N_BUILTINS);
  check_env_templates (l, &init->settings, ctx, names, CPB_TEMPLATE_N_BUILTINS);
  check_io_templates (l, init->inputs, init->n_inputs, init->outputs, init->n_outputs, ctx, names,
                      CPB_TEMPLATE_N_BUILTINS);
}

/* ---- counted resources against the farm's limits ---- */

static void
check_counted (struct loader *l, const struct cpb_jobs_settings *s, const char *ctx)
{
  const cpb_jobs_spec *spec = l->spec;

  /* Inherited values were checked where they were written. */
  if (!(s->set & (1u << CPB_SET_COUNTED)))
    return;
  for (size_t i = 0; i < s->n_counted; i++)
    {
      const struct cpb_jobs_count *c = &s->counted[i];
      size_t k;

      for (k = 0; k < spec->n_limits && strcmp (spec->limits[k].name, c->name) != 0; k++)
        ;
      if (k == spec->n_limits)
        cpb_diag_add (l->d, c->pos.line, c->pos.col,
                      "%s: counted resource '%s' has no total: declare it under 'limits'", ctx,
                      c->name);
      else if (c->count > spec->limits[k].count)
        cpb_diag_add (l->d, c->pos.line, c->pos.col,
                      "%s: needs %lld of '%s' but 'limits' has only %lld", ctx, c->count, c->name,
                      spec->limits[k].count);
    }
}

/* ---- the file ---- */

static void
parse_groups (struct loader *l, const cpb_yaml_node *root)
{
  const cpb_yaml_pair *tasks = cpb_yaml_lookup_pair (root, "tasks");
  const cpb_yaml_node *more = cpb_yaml_lookup (root, "groups");
  const cpb_yaml_pair *p;
  size_t n = 0, cap = (tasks ? 1 : 0) + (is_map (more) ? more->n_pairs : 0);
  struct cpb_jobs_group *groups = lalloc (l, cap, sizeof *groups);
  _cleanup_free_ struct group_deps *deps = cpb_xcalloc (cap + 1, sizeof *deps);

  if (more && !cpb_yaml_is_null (more) && !is_map (more))
    type_error (l, more, NULL, "groups", "a mapping of group names to groups");
  l->group_dirty = lalloc (l, cap, sizeof *l->group_dirty);
  if (tasks)
    {
      size_t before = cpb_diag_count (l->d);

      parse_group (l, tasks->key, tasks->value, &groups[n], &deps[n]);
      l->group_dirty[n++] = cpb_diag_count (l->d) > before;
    }
  CPB_YAML_FOREACH_PAIR (p, more)
  {
    size_t before = cpb_diag_count (l->d);

    if (group_index (groups, n, p->key->text) >= 0)
      {
        cpb_yaml_diag (l->d, p->key, NULL, "group '%s' is defined twice (also at %s:%u:%u)",
                       p->key->text, l->spec->path,
                       groups[group_index (groups, n, p->key->text)].pos.line,
                       groups[group_index (groups, n, p->key->text)].pos.col);
        continue;
      }
    parse_group (l, p->key, p->value, &groups[n], &deps[n]);
    l->group_dirty[n++] = cpb_diag_count (l->d) > before;
  }
  if (n == 0)
    cpb_yaml_diag (l->d, root, NULL, "no tasks: add 'tasks' (or named 'groups')");
  /* Names that did not resolve were left out: a cycle among the others is still worth
     reporting now. */
  resolve_group_deps (l, groups, n, deps);
  l->spec->groups = groups;
  l->spec->n_groups = n;
  order_groups (l, groups, n);
}

static void
parse_initialize (struct loader *l, const cpb_yaml_node *n)
{
  struct cpb_jobs_initialize *init;
  const char *ctx = "initialize";

  if (n == NULL || cpb_yaml_is_null (n))
    return;
  if (!is_map (n))
    {
      type_error (l, n, NULL, "initialize", "a mapping (command, inputs, outputs, ...)");
      return;
    }
  size_t before = cpb_diag_count (l->d);
  init = lalloc (l, 1, sizeof *init);
  init->pos = n->pos;
  init->settings = l->spec->defaults;
  cpb_yaml_check_keys (l->d, n, init_keys, ctx);
  parse_command (l, n, ctx, &init->command, &init->argv, NULL);
  init->inputs = parse_inputs (l, n, ctx, &init->n_inputs);
  init->outputs = parse_outputs (l, n, ctx, &init->n_outputs);
  parse_settings (l, n, ctx, &init->settings);
  if (init->n_outputs == 0)
    cpb_yaml_diag (l->d, n, ctx,
                   "'outputs' is missing: what initialize makes is given to the "
                   "tasks through its outputs");
  l->spec->initialize = init;
  l->init_dirty = cpb_diag_count (l->d) > before;
}

static struct cpb_jobs_str
get_name (struct loader *l, const cpb_yaml_node *root, const char *key)
{
  struct cpb_jobs_str s = get_str (l, root, key, NULL);

  if (s.s && !cpb_jobs_name_valid (s.s))
    cpb_diag_add (l->d, s.pos.line, s.pos.col,
                  "%s '%s' is not valid: use 1 to %d letters, digits, '.', '_' or '-', "
                  "starting with a letter or digit",
                  key, s.s, CPB_JOBS_MAX_NAME);
  return s;
}

static void
builtin_defaults (struct cpb_jobs_settings *s)
{
  memset (s, 0, sizeof *s);
  s->workdir = "/work";
  s->seccomp = CPB_PROFILE_DEFAULT;
  s->network = CPB_NETWORK_NONE;
}

/* Top-level keys starting with `x-` are ignored, so that a file can hold anchors to reuse
   (`x-common: &common {...}`), as in pods.yaml and compose files. */
static void
check_top_keys (struct loader *l, const cpb_yaml_node *root)
{
  cpb_yaml_node filtered = *root;
  _cleanup_free_ cpb_yaml_pair *pairs = cpb_xcalloc (root->n_pairs + 1, sizeof *pairs);

  filtered.pairs = pairs;
  filtered.n_pairs = 0;
  for (size_t i = 0; i < root->n_pairs; i++)
    if (strncmp (root->pairs[i].key->text, "x-", 2) != 0)
      pairs[filtered.n_pairs++] = root->pairs[i];
  cpb_yaml_check_keys (l->d, &filtered, top_keys, NULL);
}

static void
parse_top (struct loader *l, const cpb_yaml_node *root)
{
  cpb_jobs_spec *spec = l->spec;
  const cpb_yaml_node *n;

  check_top_keys (l, root);
  spec->batch = get_name (l, root, "batch");
  spec->namespace = get_name (l, root, "namespace");
  spec->description = get_str (l, root, "description", NULL);
  if ((n = cpb_yaml_lookup (root, "limits")) && !cpb_yaml_is_null (n))
    spec->limits = parse_counts (l, n, NULL, "limits", &spec->n_limits);
  builtin_defaults (&spec->defaults);
  if ((n = cpb_yaml_lookup (root, "defaults")) && !cpb_yaml_is_null (n))
    {
      cpb_yaml_check_keys (l->d, n, defaults_keys, "defaults");
      if (is_map (n))
        parse_settings (l, n, "defaults", &spec->defaults);
    }
  spec->inputs = parse_inputs (l, root, NULL, &spec->n_inputs);
  for (size_t i = 0; i < spec->n_inputs; i++)
    if (!cpb_template_is_constant (spec->inputs[i].src) ||
        (spec->inputs[i].dest && !cpb_template_is_constant (spec->inputs[i].dest)))
      cpb_diag_add (l->d, spec->inputs[i].pos.line, spec->inputs[i].pos.col,
                    "shared input '%s': placeholders belong in a group's 'inputs'",
                    spec->inputs[i].src);
  spec->outputs = parse_outputs (l, root, NULL, &spec->n_outputs);
  parse_initialize (l, cpb_yaml_lookup (root, "initialize"));
  parse_groups (l, root);
}

/* A task without an image cannot run: say so here, where the position is known. */
static void
check_image (struct loader *l, const struct cpb_jobs_settings *s, cpb_pos pos, const char *ctx)
{
  if (s->image == NULL)
    cpb_diag_add (l->d, pos.line, pos.col, "%s: no image: set 'image' under 'defaults' or here",
                  ctx);
}

/* Every check that needs the whole file. */
static void
check_spec (struct loader *l)
{
  const cpb_jobs_spec *spec = l->spec;

  check_counted (l, &spec->defaults, "defaults");
  if (spec->initialize)
    check_image (l, &spec->initialize->settings, spec->initialize->pos, "initialize");
  if (spec->initialize && !l->init_dirty)
    {
      check_initialize_templates (l, spec->initialize);
      check_counted (l, &spec->initialize->settings, "initialize");
    }
  for (size_t g = 0; g < spec->n_groups; g++)
    {
      const struct cpb_jobs_group *grp = &spec->groups[g];
      _cleanup_free_ char *ctx = cpb_xasprintf ("group '%s'", grp->name);

      if (!l->group_dirty[g])
        check_group_templates (l, grp);
      check_image (l, &grp->settings, grp->pos, ctx);
      for (size_t i = 0; i < grp->n_list; i++)
        check_image (l, &grp->list[i].settings, grp->list[i].pos, ctx);
      check_counted (l, &grp->settings, ctx);
      for (size_t i = 0; i < grp->n_list; i++)
        check_counted (l, &grp->list[i].settings, ctx);
    }
}

static char *
absolute_directory (const char *dir)
{
  char *abs = realpath (dir && *dir ? dir : ".", NULL);

  return abs ? abs : cpb_xstrdup (dir && *dir ? dir : ".");
}

/* Build the spec from DOC (taken), reporting every problem at once. */
static int
load_doc (cpb_yaml_doc *doc, const char *path, const char *directory, cpb_jobs_spec **ret,
          cpb_error **err)
{
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = cpb_xzalloc (sizeof *spec);
  _cleanup_diag_ cpb_diag *d = cpb_diag_new (path);
  struct jobs_priv *priv = cpb_xzalloc (sizeof *priv);
  struct loader l = { spec, priv, d };
  cpb_jobs_plan *plan = NULL;

  priv->doc = doc;
  spec->priv = priv;
  spec->path = cpb_xstrdup (path);
  spec->directory = absolute_directory (directory);
  if (doc->root == NULL || !is_map (doc->root))
    {
      cpb_diag_add (d, doc->root ? doc->root->pos.line : 0, doc->root ? doc->root->pos.col : 0,
                    "a jobs file must be a mapping (batch, tasks, ...), not %s",
                    doc->root ? cpb_yaml_describe (doc->root) : "empty");
      return cpb_diag_to_error (d, err);
    }
  parse_top (&l, doc->root);
  check_spec (&l);
  /* Names and duplicates only mean something in an otherwise valid file. */
  if (cpb_diag_count (d) == 0 && cpb_jobs_plan_build (spec, d, &plan) == 0)
    cpb_jobs_plan_free (plan);
  if (cpb_diag_to_error (d, err) < 0)
    return -1;
  *ret = TAKE_PTR (spec);
  return 0;
}

static char *
parent_directory (const char *path)
{
  const char *slash = strrchr (path, '/');

  if (slash == NULL)
    return cpb_xstrdup (".");
  if (slash == path)
    return cpb_xstrdup ("/");
  return cpb_xstrndup (path, (size_t)(slash - path));
}

/* Standard input, bounded like a file. */
static int
read_stdin (cpb_buf *out, cpb_error **err)
{
  char chunk[65536];
  ssize_t n;

  while ((n = read (0, chunk, sizeof chunk)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return cpb_error_errno (err, errno, "cannot read standard input");
      if (out->len + (size_t)n > CPB_YAML_MAX_FILE_SIZE)
        return cpb_error_set (err, CPB_ERR_INPUT, "standard input: more than %u bytes",
                              CPB_YAML_MAX_FILE_SIZE);
      cpb_buf_append (out, chunk, (size_t)n);
    }
  return 0;
}

int
cpb_jobs_spec_load (const char *path, cpb_jobs_spec **ret, cpb_error **err)
{
  cpb_yaml_doc *doc = NULL;
  _cleanup_free_ char *dir = NULL;

  if (strcmp (path, "-") == 0)
    {
      _cleanup_buf_ cpb_buf in = CPB_BUF_INIT;

      if (read_stdin (&in, err) < 0)
        return -1;
      return cpb_jobs_spec_load_buffer ("<stdin>", NULL, in.data ? in.data : "", in.len, ret, err);
    }
  if (cpb_yaml_load_file (path, &doc, err) < 0)
    return -1;
  dir = parent_directory (path);
  return load_doc (doc, path, dir, ret, err);
}

int
cpb_jobs_spec_load_buffer (const char *name, const char *directory, const char *data, size_t len,
                           cpb_jobs_spec **ret, cpb_error **err)
{
  cpb_yaml_doc *doc = NULL;

  if (cpb_yaml_load_buffer (name, data, len, &doc, err) < 0)
    return -1;
  return load_doc (doc, name, directory, ret, err);
}

void
cpb_jobs_spec_free (cpb_jobs_spec *spec)
{
  struct jobs_priv *priv;

  if (spec == NULL)
    return;
  priv = spec->priv;
  if (priv)
    {
      for (size_t i = 0; i < priv->n_owned; i++)
        free (priv->owned[i]);
      free (priv->owned);
      cpb_yaml_doc_free (priv->doc);
      free (priv);
    }
  free (spec->path);
  free (spec->directory);
  free (spec);
}

const struct cpb_jobs_group *
cpb_jobs_spec_group (const cpb_jobs_spec *spec, const char *name)
{
  for (size_t i = 0; i < spec->n_groups; i++)
    if (strcmp (spec->groups[i].name, name) == 0)
      return &spec->groups[i];
  return NULL;
}

/* ---- the starting file of `cpb template` ---- */

static const char template_full[] =
    "# jobs.yaml: one workload for `cpb run jobs.yaml`.\n"
    "# Every field is described in cpb-template(1) and docs/spec-jobs.md; editors check the\n"
    "# file as you type with specs/jobs.schema.json (yaml-language-server: $schema=...).\n"
    "\n"
    "# Results go to ARCHIVE/NAMESPACE/BATCH/TASK.tar.zst: a new batch name keeps runs apart.\n"
    "batch: my-sweep\n"
    "# namespace: alice            # default: your login name\n"
    "# description: what this batch is for\n"
    "\n"
    "# Settings every task gets unless its group (or list entry) sets them itself.\n"
    "defaults:\n"
    "  image: worker-base:1.0       # an image of pods.yaml (NAME:TAG) or any OCI reference\n"
    "  # requires: [awk]            # capabilities the image must offer\n"
    "  resources:\n"
    "    cpus: 1                    # may be fractional: 0.5\n"
    "    memory: 256M               # K, M, G, T (powers of 1024)\n"
    "    # counted: {licence: 1}    # held while the task runs; totals under 'limits'\n"
    "  timeout: 10m                 # 90s, 15m, 2h, 1h30m; none by default\n"
    "  retries: 1                   # extra attempts after a failure\n"
    "  # priority: 0                # higher runs first\n"
    "  # env: {OMP_NUM_THREADS: 1}  # merged key by key with a group's env\n"
    "  # seccomp: default           # default | strict | none, or {profile: default, deny: "
    "[socket]}\n"
    "  # network: none              # none | slirp\n"
    "  # cap_add: [NET_RAW]         # Linux capabilities kept; all dropped by default\n"
    "  # workdir: /work             # where inputs land and the command runs\n"
    "\n"
    "# limits: {licence: 4}         # farm-wide totals of counted resources\n"
    "\n"
    "# Files and directories (relative to this file) copied into every task's working\n"
    "# directory; dest renames.\n"
    "# inputs:\n"
    "#   - model.awk\n"
    "#   - {src: data/, dest: input}\n"
    "\n"
    "# What is kept of every task: globs relative to the working directory.\n"
    "outputs:\n"
    "  - \"*.csv\"\n"
    "\n"
    "# Runs once before the tasks; its outputs are copied into every task's working directory.\n"
    "# If it fails, no task runs.\n"
    "initialize:\n"
    "  command: seq 1 100 > points.txt\n"
    "  outputs: [points.txt]\n"
    "\n"
    "# The tasks: one per combination of the matrix axes (the first axis varies slowest).\n"
    "# {alpha} is replaced by the parameter's value, also in name, env, inputs and outputs;\n"
    "# {index}, {group} and {batch} are built in; write {{ for a literal {.  Each task also\n"
    "# finds its parameters in the environment: $alpha and $CPB_PARAM_ALPHA.\n"
    "tasks:\n"
    "  matrix:\n"
    "    alpha: [0.5, 1, 2]\n"
    "    seed: {from: 1, to: 4}     # 1, 2, 3, 4\n"
    "  # exclude: [{alpha: 2, seed: 4}]\n"
    "  # include: [{alpha: 10, seed: 1}]\n"
    "  name: run-{alpha}-{seed}      # default: tasks-0.5-1\n"
    "  command: awk -v a={alpha} -v s={seed} '{{ print s, a * $1 }' points.txt > result.csv\n"
    "  # list:                       # explicit tasks, besides or instead of a matrix\n"
    "  #   - {name: special, params: {alpha: 7, seed: 0}}\n"
    "\n"
    "# More groups; 'after' and 'inputs_from' wait for the groups they name.\n"
    "groups:\n"
    "  reduce:\n"
    "    inputs_from: [tasks]       # every task's outputs, under tasks/TASK/\n"
    "    command: cat tasks/*/result.csv > all.csv\n"
    "    outputs: [all.csv]\n";

static const char template_minimal[] = "batch: my-batch\n"
                                       "defaults:\n"
                                       "  image: worker-base:1.0\n"
                                       "outputs: [out.txt]\n"
                                       "tasks:\n"
                                       "  matrix:\n"
                                       "    n: [1, 2, 3]\n"
                                       "  command: echo {n} > out.txt\n";

const char *
cpb_jobs_template (bool minimal)
{
  return minimal ? template_minimal : template_full;
}
