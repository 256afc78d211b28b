/* json.h: yajl helpers — typed lookups in parsed trees and a generator with cleanup.
 *
 * Podman speaks JSON everywhere; yajl's tree API is small but untyped, and its generator
 * reports errors per call that no caller can act on.  These helpers give every parse
 * function the same shape (look a key up, get NULL or a default when it is absent or of
 * the wrong type) and turn the generator into plain calls that cannot fail in practice
 * (a generator error is a programming error here: keys and nesting are ours).
 */
#ifndef CPB_JSON_H
#define CPB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "cleanup.h"
#include "error.h"

CPB_DEFINE_CLEANUP_FUNC (yajl_val, yajl_tree_free)
#define _cleanup_yajl_val_ _cleanup_ (yajl_tree_freep)

CPB_DEFINE_CLEANUP_FUNC (yajl_gen, yajl_gen_free)
#define _cleanup_yajl_gen_ _cleanup_ (yajl_gen_freep)

/* Documents larger than this are refused before parsing: Podman's answers are far smaller,
   and a tree of an unbounded document would let a broken peer exhaust memory. */
#define CPB_JSON_MAX_DOCUMENT (64u * 1024 * 1024)

/* Parse LEN bytes of TEXT (need not be NUL-terminated) into a tree.  On failure the error
   (kind CPB_ERR_PODMAN unless the caller prefixes otherwise) carries yajl's reason. */
int cpb_json_parse (const char *text, size_t len, yajl_val *ret, cpb_error **err);

/* The member KEY of object OBJ, or NULL when OBJ is not an object or has no such key. */
yajl_val cpb_json_get (yajl_val obj, const char *key);

/* Walk nested objects: cpb_json_path (v, "State", "ExitCode", NULL). */
yajl_val cpb_json_path (yajl_val obj, ...) __attribute__ ((sentinel));

/* The string at KEY, or NULL when absent or not a string (a JSON null included). */
const char *cpb_json_get_string (yajl_val obj, const char *key);

/* A copy of the string at KEY (cpb_xstrdup), or NULL when absent. */
char *cpb_json_dup_string (yajl_val obj, const char *key);

/* The integer at KEY in *RET; returns false (RET untouched) when absent or not an integer.
   A numeric string ("137", as Podman puts exit codes in event attributes) also counts. */
bool cpb_json_get_int64 (yajl_val obj, const char *key, int64_t *ret);

/* The number at KEY as a double (integers too); false when absent. */
bool cpb_json_get_double (yajl_val obj, const char *key, double *ret);

/* The boolean at KEY, or DEFAULT_VALUE when absent or not a boolean. */
bool cpb_json_get_bool (yajl_val obj, const char *key, bool default_value);

/* A NULL-terminated copy of the array of strings V (non-strings skipped); an absent or
   non-array V gives an empty (not NULL) vector, so callers can iterate unconditionally. */
char **cpb_json_strv (yajl_val v);

/* A string-to-string object (labels, annotations) as parallel NULL-terminated vectors of
   keys and values, in document order; non-string values are skipped.  Returns the count. */
size_t cpb_json_string_map (yajl_val obj, char ***ret_keys, char ***ret_values);

/* A generator that writes compact JSON and validates UTF-8 (labels come from users). */
yajl_gen cpb_json_gen_new (void);

/* Write one string (NULL writes a JSON null).  A string that is not valid UTF-8 is written
   with its non-ASCII bytes replaced by '?' (yajl would silently drop it, breaking the
   document). */
void cpb_json_gen_string (yajl_gen g, const char *s);
/* Write an object key; the value follows with any other call. */
void cpb_json_gen_key (yajl_gen g, const char *key);
void cpb_json_gen_key_string (yajl_gen g, const char *key, const char *value);
void cpb_json_gen_key_int (yajl_gen g, const char *key, int64_t value);
void cpb_json_gen_key_bool (yajl_gen g, const char *key, bool value);
/* Write a NULL-terminated vector of strings as an array (NULL writes []). */
void cpb_json_gen_strv (yajl_gen g, const char *const *v);
/* Write N keys and values as one object: labels, build args, env maps. */
void cpb_json_gen_map (yajl_gen g, const char *const *keys, const char *const *values, size_t n);

/* The document written so far, as a new NUL-terminated string (length in *RET_LEN when not
   NULL).  Returns NULL, with ERR set, only when nothing was written. */
char *cpb_json_gen_finish (yajl_gen g, size_t *ret_len, cpb_error **err);

#endif
