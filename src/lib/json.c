/* json.c: typed lookups in yajl trees and a generator that reports errors once, at the end. */
#include "config.h"
#include "json.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int
cpb_json_parse (const char *text, size_t len, yajl_val *ret, cpb_error **err)
{
  _cleanup_free_ char *copy = NULL;
  char reason[256] = "";
  yajl_val tree;

  if (text == NULL)
    text = ""; /* an empty answer (cpb_buf data stays NULL) is a parse error below */
  if (len > CPB_JSON_MAX_DOCUMENT)
    return cpb_error_set (err, CPB_ERR_PODMAN, "JSON document too large (%zu bytes)", len);
  /* yajl_tree_parse wants a NUL-terminated string, and a NUL inside the data would make it
     silently parse a prefix: refuse that instead. */
  if (memchr (text, '\0', len) != NULL)
    return cpb_error_set (err, CPB_ERR_PODMAN, "invalid JSON: NUL byte in document");
  copy = cpb_xstrndup (text, len);
  tree = yajl_tree_parse (copy, reason, sizeof reason);
  if (tree == NULL)
    {
      char *nl = strchr (reason, '\n');

      if (nl)
        *nl = '\0';
      return cpb_error_set (err, CPB_ERR_PODMAN, "invalid JSON: %s",
                            reason[0] ? reason : "parse error");
    }
  *ret = tree;
  return 0;
}

yajl_val
cpb_json_get (yajl_val obj, const char *key)
{
  if (obj == NULL || !YAJL_IS_OBJECT (obj))
    return NULL;
  for (size_t i = 0; i < obj->u.object.len; i++)
    if (strcmp (obj->u.object.keys[i], key) == 0)
      return obj->u.object.values[i];
  return NULL;
}

yajl_val
cpb_json_path (yajl_val obj, ...)
{
  va_list ap;
  const char *key;

  va_start (ap, obj);
  while (obj && (key = va_arg (ap, const char *)) != NULL)
    obj = cpb_json_get (obj, key);
  va_end (ap);
  return obj;
}

const char *
cpb_json_get_string (yajl_val obj, const char *key)
{
  yajl_val v = cpb_json_get (obj, key);

  return v && YAJL_IS_STRING (v) ? v->u.string : NULL;
}

char *
cpb_json_dup_string (yajl_val obj, const char *key)
{
  const char *s = cpb_json_get_string (obj, key);

  return s ? cpb_xstrdup (s) : NULL;
}

bool
cpb_json_get_int64 (yajl_val obj, const char *key, int64_t *ret)
{
  yajl_val v = cpb_json_get (obj, key);

  if (v && YAJL_IS_INTEGER (v))
    {
      *ret = v->u.number.i;
      return true;
    }
  if (v && YAJL_IS_STRING (v) && v->u.string[0] != '\0')
    {
      char *end;
      long long n;

      errno = 0;
      n = strtoll (v->u.string, &end, 10);
      if (errno == 0 && *end == '\0')
        {
          *ret = n;
          return true;
        }
    }
  return false;
}

bool
cpb_json_get_double (yajl_val obj, const char *key, double *ret)
{
  yajl_val v = cpb_json_get (obj, key);

  if (v == NULL || !YAJL_IS_NUMBER (v))
    return false;
  *ret = YAJL_IS_DOUBLE (v) ? v->u.number.d : (double)v->u.number.i;
  return true;
}

bool
cpb_json_get_bool (yajl_val obj, const char *key, bool default_value)
{
  yajl_val v = cpb_json_get (obj, key);

  if (v && YAJL_IS_TRUE (v))
    return true;
  if (v && YAJL_IS_FALSE (v))
    return false;
  return default_value;
}

char **
cpb_json_strv (yajl_val v)
{
  size_t n = v && YAJL_IS_ARRAY (v) ? v->u.array.len : 0, k = 0;
  char **out = cpb_xcalloc (n + 1, sizeof *out);

  for (size_t i = 0; i < n; i++)
    if (YAJL_IS_STRING (v->u.array.values[i]))
      out[k++] = cpb_xstrdup (v->u.array.values[i]->u.string);
  return out;
}

size_t
cpb_json_string_map (yajl_val obj, char ***ret_keys, char ***ret_values)
{
  size_t n = obj && YAJL_IS_OBJECT (obj) ? obj->u.object.len : 0, k = 0;
  char **keys = cpb_xcalloc (n + 1, sizeof *keys);
  char **values = cpb_xcalloc (n + 1, sizeof *values);

  for (size_t i = 0; i < n; i++)
    if (YAJL_IS_STRING (obj->u.object.values[i]))
      {
        keys[k] = cpb_xstrdup (obj->u.object.keys[i]);
        values[k++] = cpb_xstrdup (obj->u.object.values[i]->u.string);
      }
  *ret_keys = keys;
  *ret_values = values;
  return k;
}

yajl_gen
cpb_json_gen_new (void)
{
  yajl_gen g = yajl_gen_alloc (NULL);

  if (g == NULL)
    abort (); /* yajl only fails to allocate */
  yajl_gen_config (g, yajl_gen_validate_utf8, 1);
  return g;
}

/* yajl refuses invalid UTF-8 by dropping the string and carrying on, which would leave a
   key without its value; a label from a user with a stray Latin-1 byte must not break the
   document, so such a string is written with its non-ASCII bytes replaced by '?'. */
void
cpb_json_gen_string (yajl_gen g, const char *s)
{
  size_t len;

  if (s == NULL)
    {
      yajl_gen_null (g);
      return;
    }
  len = strlen (s);
  if (yajl_gen_string (g, (const unsigned char *)s, len) == yajl_gen_invalid_string)
    {
      _cleanup_free_ char *ascii = cpb_xstrdup (s);

      for (char *c = ascii; *c; c++)
        if ((unsigned char)*c >= 0x80)
          *c = '?';
      yajl_gen_string (g, (const unsigned char *)ascii, len);
    }
}

void
cpb_json_gen_key (yajl_gen g, const char *key)
{
  yajl_gen_string (g, (const unsigned char *)key, strlen (key));
}

void
cpb_json_gen_key_string (yajl_gen g, const char *key, const char *value)
{
  cpb_json_gen_key (g, key);
  cpb_json_gen_string (g, value);
}

void
cpb_json_gen_key_int (yajl_gen g, const char *key, int64_t value)
{
  cpb_json_gen_key (g, key);
  yajl_gen_integer (g, (long long)value);
}

void
cpb_json_gen_key_bool (yajl_gen g, const char *key, bool value)
{
  cpb_json_gen_key (g, key);
  yajl_gen_bool (g, value);
}

void
cpb_json_gen_strv (yajl_gen g, const char *const *v)
{
  yajl_gen_array_open (g);
  for (; v && *v; v++)
    cpb_json_gen_string (g, *v);
  yajl_gen_array_close (g);
}

void
cpb_json_gen_map (yajl_gen g, const char *const *keys, const char *const *values, size_t n)
{
  yajl_gen_map_open (g);
  for (size_t i = 0; i < n; i++)
    cpb_json_gen_key_string (g, keys[i], values[i]);
  yajl_gen_map_close (g);
}

char *
cpb_json_gen_finish (yajl_gen g, size_t *ret_len, cpb_error **err)
{
  const unsigned char *buf = NULL;
  size_t len = 0;

  if (yajl_gen_get_buf (g, &buf, &len) != yajl_gen_status_ok || buf == NULL || len == 0)
    {
      cpb_error_set (err, CPB_ERR_SYSTEM, "cannot encode JSON: empty document");
      return NULL;
    }
  if (ret_len)
    *ret_len = len;
  return cpb_xstrndup ((const char *)buf, len);
}
