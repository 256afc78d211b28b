/* spec/yamlnode.h: a YAML document as a tree of nodes that remember where they came from.
 *
 * libyaml's own document API drops the source marks we need for "FILE:LINE:COL: message"
 * and accepts duplicate keys silently, so cpb builds its own tree from libyaml's event
 * stream.  Every node keeps its 1-based line and column.  Duplicate keys are refused (the
 * second one is almost always a mistake), only the first document of a stream is read,
 * and the tree is bounded in depth and in size (counting what aliases expand to) so a
 * hostile file cannot exhaust memory.  Anchors and aliases work: an alias is the anchored
 * node itself (shared, never copied), and the YAML merge key `<<` copies in the pairs of
 * the mapping(s) it names unless the mapping sets them itself.
 *
 * Typical use by a spec loader:
 *
 *   _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;
 *   if (cpb_yaml_load_file (path, &doc, err) < 0)
 *     return -1;                                  // syntax errors, duplicate keys, limits
 *   _cleanup_diag_ cpb_diag *d = cpb_diag_new (doc->file);
 *   cpb_yaml_check_keys (d, doc->root, top_keys, NULL);
 *   const cpb_yaml_node *imgs = cpb_yaml_lookup (doc->root, "images");
 *   for (size_t i = 0; imgs && i < imgs->n_items; i++) ... cpb_yaml_get_str (d, ...);
 *   return cpb_diag_to_error (d, err);            // every problem, in file order
 *
 * Getters record a diagnostic and return -1 on a type mismatch; the caller carries on so
 * the user sees every problem in one run.  "what"/"ctx" strings name the thing for the
 * message (e.g. ctx "image 'solver'" and key "tag" give "image 'solver': 'tag' must be a
 * string, not a mapping").
 */
#ifndef CPB_YAMLNODE_H
#define CPB_YAMLNODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "diag.h"
#include "error.h"

/* Hostile-input bounds.  Spec files are hand-written and a few kB: these are generous. */
#define CPB_YAML_MAX_FILE_SIZE (8u << 20) /* bytes read from a file */
#define CPB_YAML_MAX_DEPTH 64             /* nesting of collections */
#define CPB_YAML_MAX_NODES 200000         /* nodes, counting each alias expansion */

enum cpb_yaml_kind
{
  CPB_YAML_SCALAR = 1,
  CPB_YAML_SEQUENCE,
  CPB_YAML_MAPPING,
};

typedef struct cpb_yaml_node cpb_yaml_node;

typedef struct cpb_yaml_pair
{
  cpb_yaml_node *key; /* always a scalar */
  cpb_yaml_node *value;
} cpb_yaml_pair;

struct cpb_yaml_node
{
  enum cpb_yaml_kind kind;
  cpb_pos pos; /* 1-based line and column where the node starts */
  char *tag;   /* explicit tag (e.g. "!!str"), NULL when none */

  /* CPB_YAML_SCALAR */
  char *text; /* the scalar's value as libyaml delivers it, NUL-terminated */
  size_t len; /* may hold NULs: check len == strlen (text) where it matters */
  bool plain; /* unquoted, not a block scalar: only plain scalars can be null/bool/int */

  /* CPB_YAML_SEQUENCE */
  cpb_yaml_node **items;
  size_t n_items;

  /* CPB_YAML_MAPPING (keys unique, in source order) */
  cpb_yaml_pair *pairs;
  size_t n_pairs;
};

typedef struct cpb_yaml_doc
{
  char *file;          /* the name used in messages */
  cpb_yaml_node *root; /* NULL for an empty document */
  /* private: every node, for freeing (aliases share nodes) */
  cpb_yaml_node **all;
  size_t n_all, cap_all;
} cpb_yaml_doc;

/* Read and parse the file at PATH; messages name it as given.  Errors are CPB_ERR_INPUT
   with "PATH:LINE:COL: " (syntax, duplicate keys, aliases to unknown anchors, limits),
   CPB_ERR_SYSTEM when the file cannot be read. */
int cpb_yaml_load_file (const char *path, cpb_yaml_doc **ret, cpb_error **err);

/* The same for a buffer already in memory; NAME is used in messages. */
int cpb_yaml_load_buffer (const char *name, const char *data, size_t len, cpb_yaml_doc **ret,
                          cpb_error **err);

void cpb_yaml_doc_free (cpb_yaml_doc *doc);
CPB_DEFINE_CLEANUP_FUNC (cpb_yaml_doc *, cpb_yaml_doc_free)
#define _cleanup_yaml_doc_ _cleanup_ (cpb_yaml_doc_freep)

/* "a string", "a list", "a mapping", "null": how messages name what the user wrote. */
const char *cpb_yaml_describe (const cpb_yaml_node *n);

/* A plain `~`, `null`, `Null`, `NULL` or empty scalar (also a NULL pointer). */
bool cpb_yaml_is_null (const cpb_yaml_node *n);

/* The value for KEY in mapping MAP; NULL when MAP is NULL, not a mapping, or lacks KEY. */
const cpb_yaml_node *cpb_yaml_lookup (const cpb_yaml_node *map, const char *key);

/* The pair for KEY (to point a message at the key rather than the value). */
const cpb_yaml_pair *cpb_yaml_lookup_pair (const cpb_yaml_node *map, const char *key);

/* Iterate: `CPB_YAML_FOREACH_ITEM (item, seq) { ... }` with item a `cpb_yaml_node *`;
   `CPB_YAML_FOREACH_PAIR (pair, map) { pair->key->text ... pair->value ... }`.
   Both do nothing when the node is NULL or of another kind. */
#define CPB_YAML_FOREACH_ITEM(item, seq)                                                           \
  for (size_t _i_##item = 0; (seq) && (seq)->kind == CPB_YAML_SEQUENCE &&                          \
                             _i_##item < (seq)->n_items && ((item) = (seq)->items[_i_##item], 1);  \
       _i_##item++)
#define CPB_YAML_FOREACH_PAIR(pair, map)                                                           \
  for (size_t _i_##pair = 0; (map) && (map)->kind == CPB_YAML_MAPPING &&                           \
                             _i_##pair < (map)->n_pairs && ((pair) = &(map)->pairs[_i_##pair], 1); \
       _i_##pair++)

/* The keys a mapping may have; end the array with { NULL }. */
typedef struct cpb_yaml_key
{
  const char *name;
  unsigned flags; /* CPB_YAML_REQUIRED */
} cpb_yaml_key;
#define CPB_YAML_REQUIRED 1u

/* Check that MAP is a mapping whose keys are all in KEYS, and that every required key is
   there.  Records "CTX: unknown key 'pakages' (did you mean 'packages'?)" at the key and
   "CTX: missing required key 'from'" at the mapping.  CTX may be NULL (top level).
   Returns 0 when all is well, -1 when anything was recorded. */
int cpb_yaml_check_keys (cpb_diag *d, const cpb_yaml_node *map, const cpb_yaml_key *keys,
                         const char *ctx);

/* Record a diagnostic at node N ("CTX: message" when CTX is not NULL).  Returns -1. */
int cpb_yaml_diag (cpb_diag *d, const cpb_yaml_node *n, const char *ctx, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* Converters of one node.  WHAT names the value in messages ("image 'solver': 'tag'").
   They return 0 and fill *RET, or record a diagnostic, leave *RET alone and return -1.
   A NULL node is "missing" and recorded as such.  */

/* Any scalar except null, as its source text (so env values `1` or `yes` stay "1", "yes");
   text with NUL bytes is refused.  *RET points into the tree (valid as long as the doc). */
int cpb_yaml_as_str (cpb_diag *d, const cpb_yaml_node *n, const char *what, const char **ret);

/* true/false (also yes/no, on/off, in any case, as YAML 1.1 did). */
int cpb_yaml_as_bool (cpb_diag *d, const cpb_yaml_node *n, const char *what, bool *ret);

/* A decimal integer (optionally 0x hex) within [MIN, MAX]. */
int cpb_yaml_as_int (cpb_diag *d, const cpb_yaml_node *n, const char *what, long long min,
                     long long max, long long *ret);

/* A size: "512", "512M", "4G", "1.5G", "64KiB", "2GB"; suffixes K M G T (optionally followed
   by "B" or "iB", any case) are powers of 1024 as in Podman's --memory.  Bytes. */
int cpb_yaml_as_size (cpb_diag *d, const cpb_yaml_node *n, const char *what, uint64_t *ret);

/* The size syntax of cpb_yaml_as_size for text that is not in a YAML file (a command-line
   option such as `cpb node add --memory`): 0, or -1 when S is not a size. */
int cpb_parse_size (const char *s, uint64_t *ret);

/* A duration: "90" or "90s", "15m", "2h", "1d", and sums like "1h30m".  Seconds. */
int cpb_yaml_as_duration (cpb_diag *d, const cpb_yaml_node *n, const char *what, uint64_t *ret);

/* A list of strings (a single scalar is not a list).  *RET is a new NULL-terminated
   array of copies, *RET_N (may be NULL) its length. */
int cpb_yaml_as_strv (cpb_diag *d, const cpb_yaml_node *n, const char *what, char ***ret,
                      size_t *ret_n);

/* A mapping of strings to strings (env, labels): each entry keeps its position. */
typedef struct cpb_strmap_entry
{
  char *key;
  char *value;
  cpb_pos pos; /* of the key */
} cpb_strmap_entry;

typedef struct cpb_strmap
{
  cpb_strmap_entry *items;
  size_t n;
} cpb_strmap;

int cpb_yaml_as_strmap (cpb_diag *d, const cpb_yaml_node *n, const char *what, cpb_strmap *ret);

/* The value for KEY in STRMAP, or NULL. */
const char *cpb_strmap_get (const cpb_strmap *m, const char *key);

/* Free the entries (not M itself) and leave M empty. */
void cpb_strmap_clear (cpb_strmap *m);

/* Getters by key in mapping MAP: like the converters with WHAT = "CTX: 'KEY'".  They return
   1 when KEY is present and valid, 0 when it is absent or null (*RET untouched), -1 after
   recording a diagnostic.  Required keys are best checked with cpb_yaml_check_keys. */
int cpb_yaml_get_str (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                      const char **ret);
int cpb_yaml_get_bool (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                       bool *ret);
int cpb_yaml_get_int (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                      long long min, long long max, long long *ret);
int cpb_yaml_get_size (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                       uint64_t *ret);
int cpb_yaml_get_duration (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                           uint64_t *ret);
int cpb_yaml_get_strv (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                       char ***ret, size_t *ret_n);
int cpb_yaml_get_strmap (cpb_diag *d, const cpb_yaml_node *map, const char *key, const char *ctx,
                         cpb_strmap *ret);

#endif
