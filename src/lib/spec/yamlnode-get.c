/* spec/yamlnode-get.c: typed reading of yamlnode trees, recording diagnostics on mismatch. */
#include "config.h"
#include "spec/yamlnode.h"
#include "suggest.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool
cpb_yaml_is_null (const cpb_yaml_node *n)
{
  if (n == NULL)
    return true;
  if (n->kind != CPB_YAML_SCALAR || !n->plain || n->tag != NULL)
    return false;
  return n->len == 0 || strcmp (n->text, "~") == 0 || strcmp (n->text, "null") == 0 ||
         strcmp (n->text, "Null") == 0 || strcmp (n->text, "NULL") == 0;
}

static int
parse_bool (const char *s, bool *ret)
{
  static const char *const yes[] = { "true", "yes", "on" };
  static const char *const no[] = { "false", "no", "off" };

  for (size_t i = 0; i < 3; i++)
    {
      if (strcasecmp (s, yes[i]) == 0)
        return *ret = true, 0;
      if (strcasecmp (s, no[i]) == 0)
        return *ret = false, 0;
    }
  return -1;
}

static int
parse_int (const char *s, long long *ret)
{
  bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  char *end;
  long long v;

  /* Base 10 unless "0x": strtoll's base 0 would read "010" as octal, which nobody
     writing a count means. */
  if (!isdigit ((unsigned char)s[0]) && s[0] != '-' && s[0] != '+')
    return -1;
  errno = 0;
  v = hex ? strtoll (s + 2, &end, 16) : strtoll (s, &end, 10);
  if (errno || end == s || *end != '\0' || (hex && !isxdigit ((unsigned char)s[2])))
    return -1;
  *ret = v;
  return 0;
}

const char *
cpb_yaml_describe (const cpb_yaml_node *n)
{
  bool b;
  long long i;

  if (cpb_yaml_is_null (n))
    return "null";
  switch (n->kind)
    {
    case CPB_YAML_SEQUENCE:
      return "a list";
    case CPB_YAML_MAPPING:
      return "a mapping";
    case CPB_YAML_SCALAR:
    default:
      if (n->plain && parse_bool (n->text, &b) == 0)
        return "a boolean";
      if (n->plain && parse_int (n->text, &i) == 0)
        return "a number";
      return "a string";
    }
}

const cpb_yaml_pair *
cpb_yaml_lookup_pair (const cpb_yaml_node *map, const char *key)
{
  const cpb_yaml_pair *p;

  CPB_YAML_FOREACH_PAIR (p, map)
  {
    if (p->key->len == strlen (key) && strcmp (p->key->text, key) == 0)
      return p;
  }
  return NULL;
}

const cpb_yaml_node *
cpb_yaml_lookup (const cpb_yaml_node *map, const char *key)
{
  const cpb_yaml_pair *p = cpb_yaml_lookup_pair (map, key);

  return p ? p->value : NULL;
}

static void __attribute__ ((format (printf, 4, 0)))
vdiag_at (cpb_diag *d, const cpb_yaml_node *n, const char *ctx, const char *fmt, va_list ap)
{
  _cleanup_free_ char *msg = cpb_xvasprintf (fmt, ap);
  unsigned line = n ? n->pos.line : 0, col = n ? n->pos.col : 0;

  if (ctx)
    cpb_diag_add (d, line, col, "%s: %s", ctx, msg);
  else
    cpb_diag_add (d, line, col, "%s", msg);
}

int
cpb_yaml_diag (cpb_diag *d, const cpb_yaml_node *n, const char *ctx, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vdiag_at (d, n, ctx, fmt, ap);
  va_end (ap);
  return -1;
}

static void
check_unknown (cpb_diag *d, const cpb_yaml_pair *p, const cpb_yaml_key *keys, size_t n_keys,
               const char *ctx)
{
  _cleanup_free_ const char **names = cpb_xcalloc (n_keys + 1, sizeof *names);
  const char *hint;

  for (size_t i = 0; i < n_keys; i++)
    {
      if (strcmp (keys[i].name, p->key->text) == 0 && strlen (p->key->text) == p->key->len)
        return;
      names[i] = keys[i].name;
    }
  hint = cpb_suggest (p->key->text, names, n_keys);
  if (hint)
    cpb_yaml_diag (d, p->key, ctx, "unknown key '%s' (did you mean '%s'?)", p->key->text, hint);
  else
    cpb_yaml_diag (d, p->key, ctx, "unknown key '%s'", p->key->text);
}

int
cpb_yaml_check_keys (cpb_diag *d, const cpb_yaml_node *map, const cpb_yaml_key *keys,
                     const char *ctx)
{
  size_t before = cpb_diag_count (d), n_keys = 0;
  const cpb_yaml_pair *p;

  while (keys[n_keys].name)
    n_keys++;
  if (map && map->kind != CPB_YAML_MAPPING)
    return cpb_yaml_diag (d, map, ctx, "expected a mapping, not %s", cpb_yaml_describe (map));

  CPB_YAML_FOREACH_PAIR (p, map)
  {
    check_unknown (d, p, keys, n_keys, ctx);
  }
  for (size_t i = 0; i < n_keys; i++)
    {
      const cpb_yaml_pair *req = cpb_yaml_lookup_pair (map, keys[i].name);

      if (!(keys[i].flags & CPB_YAML_REQUIRED))
        continue;
      /* `from:` with nothing after it is null, which the getters take for absent. */
      if (req == NULL)
        cpb_yaml_diag (d, map, ctx, "missing required key '%s'", keys[i].name);
      else if (cpb_yaml_is_null (req->value))
        cpb_yaml_diag (d, req->key, ctx, "required key '%s' has no value", keys[i].name);
    }
  return cpb_diag_count (d) == before ? 0 : -1;
}

/* The scalar text of N, or a diagnostic "WHAT must be EXPECTED, not ...". */
static const char *
scalar_or_diag (cpb_diag *d, const cpb_yaml_node *n, const char *what, const char *expected)
{
  if (n == NULL)
    {
      cpb_yaml_diag (d, NULL, what, "missing");
      return NULL;
    }
  if (n->kind != CPB_YAML_SCALAR || cpb_yaml_is_null (n))
    {
      cpb_yaml_diag (d, n, NULL, "%s must be %s, not %s", what, expected, cpb_yaml_describe (n));
      return NULL;
    }
  if (strlen (n->text) != n->len)
    {
      cpb_yaml_diag (d, n, NULL, "%s must not contain NUL characters", what);
      return NULL;
    }
  return n->text;
}

int
cpb_yaml_as_str (cpb_diag *d, const cpb_yaml_node *n, const char *what, const char **ret)
{
  const char *s = scalar_or_diag (d, n, what, "a string");

  if (s == NULL)
    return -1;
  *ret = s;
  return 0;
}

int
cpb_yaml_as_bool (cpb_diag *d, const cpb_yaml_node *n, const char *what, bool *ret)
{
  const char *s = scalar_or_diag (d, n, what, "true or false");

  if (s == NULL)
    return -1;
  if (parse_bool (s, ret) < 0)
    return cpb_yaml_diag (d, n, NULL, "%s must be true or false, not '%s'", what, s);
  return 0;
}

int
cpb_yaml_as_int (cpb_diag *d, const cpb_yaml_node *n, const char *what, long long min,
                 long long max, long long *ret)
{
  const char *s = scalar_or_diag (d, n, what, "an integer");
  long long v;

  if (s == NULL)
    return -1;
  if (parse_int (s, &v) < 0)
    return cpb_yaml_diag (d, n, NULL, "%s must be an integer, not '%s'", what, s);
  if (v < min || v > max)
    return cpb_yaml_diag (d, n, NULL, "%s must be between %lld and %lld, not %lld", what, min, max,
                          v);
  *ret = v;
  return 0;
}

/* Powers of 1024 for K, M, G, T followed by nothing, "B" or "iB" (any case). */
static int
size_multiplier (const char *suffix, uint64_t *ret)
{
  static const char units[] = "KMGT";
  const char *u;

  if (*suffix == '\0' || strcasecmp (suffix, "b") == 0)
    return *ret = 1, 0;
  u = strchr (units, toupper ((unsigned char)suffix[0]));
  if (u == NULL)
    return -1;
  if (suffix[1] != '\0' && strcasecmp (suffix + 1, "b") != 0 && strcasecmp (suffix + 1, "ib") != 0)
    return -1;
  *ret = 1ull << (10 * (u - units + 1));
  return 0;
}

int
cpb_parse_size (const char *s, uint64_t *ret)
{
  char *end;
  double v;
  uint64_t mult;

  if (!isdigit ((unsigned char)*s))
    return -1;
  errno = 0;
  v = strtod (s, &end);
  if (errno || end == s || size_multiplier (end, &mult) < 0)
    return -1;
  v *= (double)mult;
  /* 2^63 keeps the conversion below defined; no memory or disk size comes near it. */
  if (v >= 9223372036854775808.0)
    return -1;
  *ret = (uint64_t)v;
  return 0;
}

int
cpb_yaml_as_size (cpb_diag *d, const cpb_yaml_node *n, const char *what, uint64_t *ret)
{
  const char *s = scalar_or_diag (d, n, what, "a size");

  if (s == NULL)
    return -1;
  if (cpb_parse_size (s, ret) < 0)
    return cpb_yaml_diag (d, n, NULL, "%s must be a size like 512M or 4G, not '%s'", what, s);
  return 0;
}

static int
unit_seconds (char c, uint64_t *ret)
{
  switch (c)
    {
    case 's':
      return *ret = 1, 0;
    case 'm':
      return *ret = 60, 0;
    case 'h':
      return *ret = 3600, 0;
    case 'd':
      return *ret = 86400, 0;
    default:
      return -1;
    }
}

static int
parse_duration (const char *s, uint64_t *ret)
{
  uint64_t total = 0;

  if (*s == '\0')
    return -1;
  while (*s)
    {
      uint64_t v = 0, mult = 1;

      if (!isdigit ((unsigned char)*s))
        return -1;
      for (; isdigit ((unsigned char)*s); s++)
        {
          if (v > (UINT64_MAX - 9) / 10)
            return -1;
          v = v * 10 + (uint64_t)(*s - '0');
        }
      if (*s && unit_seconds (*s++, &mult) < 0)
        return -1;
      if (v > (UINT64_MAX - total) / mult)
        return -1;
      total += v * mult;
    }
  *ret = total;
  return 0;
}

int
cpb_yaml_as_duration (cpb_diag *d, const cpb_yaml_node *n, const char *what, uint64_t *ret)
{
  const char *s = scalar_or_diag (d, n, what, "a duration");

  if (s == NULL)
    return -1;
  if (parse_duration (s, ret) < 0)
    return cpb_yaml_diag (d, n, NULL, "%s must be a duration like 90s, 15m or 2h, not '%s'", what,
                          s);
  return 0;
}

int
cpb_yaml_as_strv (cpb_diag *d, const cpb_yaml_node *n, const char *what, char ***ret, size_t *ret_n)
{
  _cleanup_strv_free_ char **v = NULL;
  size_t before = cpb_diag_count (d);
  const cpb_yaml_node *item;

  if (n == NULL || n->kind != CPB_YAML_SEQUENCE)
    return cpb_yaml_diag (d, n, NULL, "%s must be a list of strings, not %s", what,
                          cpb_yaml_describe (n));
  v = cpb_xcalloc (n->n_items + 1, sizeof *v);
  CPB_YAML_FOREACH_ITEM (item, n)
  {
    _cleanup_free_ char *item_what = cpb_xasprintf ("%s item %zu", what, _i_item + 1);
    const char *s;

    if (cpb_yaml_as_str (d, item, item_what, &s) == 0)
      v[_i_item] = cpb_xstrdup (s);
    else
      v[_i_item] = cpb_xstrdup ("");
  }
  if (cpb_diag_count (d) != before)
    return -1;
  if (ret_n)
    *ret_n = n->n_items;
  *ret = TAKE_PTR (v);
  return 0;
}

int
cpb_yaml_as_strmap (cpb_diag *d, const cpb_yaml_node *n, const char *what, cpb_strmap *ret)
{
  cpb_strmap m = { NULL, 0 };
  size_t before = cpb_diag_count (d);
  const cpb_yaml_pair *p;

  if (n == NULL || n->kind != CPB_YAML_MAPPING)
    return cpb_yaml_diag (d, n, NULL, "%s must be a mapping of names to strings, not %s", what,
                          cpb_yaml_describe (n));
  m.items = cpb_xcalloc (n->n_pairs + 1, sizeof *m.items);
  CPB_YAML_FOREACH_PAIR (p, n)
  {
    _cleanup_free_ char *item_what = cpb_xasprintf ("%s: '%s'", what, p->key->text);
    const char *value = "";

    if (p->key->len == 0 || strlen (p->key->text) != p->key->len)
      cpb_yaml_diag (d, p->key, NULL, "%s: names must be non-empty text", what);
    /* `KEY:` with nothing after it reads as null: take it as the empty string. */
    else if (cpb_yaml_is_null (p->value) || cpb_yaml_as_str (d, p->value, item_what, &value) == 0)
      m.items[m.n++] =
          (cpb_strmap_entry){ cpb_xstrdup (p->key->text), cpb_xstrdup (value), p->key->pos };
  }
  if (cpb_diag_count (d) != before)
    {
      cpb_strmap_clear (&m);
      return -1;
    }
  *ret = m;
  return 0;
}

const char *
cpb_strmap_get (const cpb_strmap *m, const char *key)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->items[i].key, key) == 0)
      return m->items[i].value;
  return NULL;
}

void
cpb_strmap_clear (cpb_strmap *m)
{
  for (size_t i = 0; i < m->n; i++)
    {
      free (m->items[i].key);
      free (m->items[i].value);
    }
  free (m->items);
  m->items = NULL;
  m->n = 0;
}

/* The value for KEY, or NULL when absent or null; *WHAT gets "CTX: 'KEY'". */
static const cpb_yaml_node *
get_value (const cpb_yaml_node *map, const char *key, const char *ctx, char **what)
{
  const cpb_yaml_node *v = cpb_yaml_lookup (map, key);

  if (cpb_yaml_is_null (v))
    return NULL;
  *what = ctx ? cpb_xasprintf ("%s: '%s'", ctx, key) : cpb_xasprintf ("'%s'", key);
  return v;
}

#define DEFINE_GETTER(name, type, call)                                                            \
  int cpb_yaml_get_##name (cpb_diag *d, const cpb_yaml_node *map, const char *key,                 \
                           const char *ctx, type ret)                                              \
  {                                                                                                \
    _cleanup_free_ char *what = NULL;                                                              \
    const cpb_yaml_node *n = get_value (map, key, ctx, &what);                                     \
                                                                                                   \
    if (n == NULL)                                                                                 \
      return 0;                                                                                    \
    return call < 0 ? -1 : 1;                                                                      \
  }

DEFINE_GETTER (str, const char **, cpb_yaml_as_str (d, n, what, ret))
DEFINE_GETTER (bool, bool *, cpb_yaml_as_bool (d, n, what, ret))
DEFINE_GETTER (size, uint64_t *, cpb_yaml_as_size (d, n, what, ret))
DEFINE_GETTER (duration, uint64_t *, cpb_yaml_as_duration (d, n, what, ret))
DEFINE_GETTER (strmap, cpb_strmap *, cpb_yaml_as_strmap (d, n, what, ret))

int
cpb_yaml_get_int (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                  long long min, long long max, long long *ret)
{
  _cleanup_free_ char *what = NULL;
  const cpb_yaml_node *n = get_value (map, key, ctx, &what);

  if (n == NULL)
    return 0;
  return cpb_yaml_as_int (d, n, what, min, max, ret) < 0 ? -1 : 1;
}

int
cpb_yaml_get_strv (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                   char ***ret, size_t *ret_n)
{
  _cleanup_free_ char *what = NULL;
  const cpb_yaml_node *n = get_value (map, key, ctx, &what);

  if (n == NULL)
    return 0;
  return cpb_yaml_as_strv (d, n, what, ret, ret_n) < 0 ? -1 : 1;
}
