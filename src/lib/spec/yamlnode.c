/* spec/yamlnode.c: libyaml's event stream into a tree of positioned nodes.
 *
 * The conversions and getters that validators use are in yamlnode-get.c.
 */
#include "config.h"
#include "spec/yamlnode.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

struct anchor
{
  char *name;
  cpb_yaml_node *node;
  size_t weight;
};

/* The state of one load.  "weight" is the number of nodes a subtree stands for once
   aliases are expanded: bounding it (not only the nodes allocated) is what stops the
   "billion laughs" document, whose few dozen anchors expand to 10^9 nodes in any
   consumer that walks the tree. */
struct loader
{
  yaml_parser_t parser;
  cpb_yaml_doc *doc;
  cpb_diag *diag; /* duplicate keys: reported together once the document is read */
  struct anchor *anchors;
  size_t n_anchors, cap_anchors;
  cpb_error **err;
};

static void
yaml_event_deletep (yaml_event_t *ev)
{
  yaml_event_delete (ev);
}
#define _cleanup_yaml_event_ _cleanup_ (yaml_event_deletep)

static cpb_pos
mark_pos (yaml_mark_t m)
{
  return (cpb_pos){ .line = (unsigned)m.line + 1, .col = (unsigned)m.column + 1 };
}

/* Report a fatal problem at POS as "FILE:LINE:COL: message". */
static int __attribute__ ((format (printf, 3, 4)))
load_fail (struct loader *l, cpb_pos pos, const char *fmt, ...)
{
  _cleanup_free_ char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = cpb_xvasprintf (fmt, ap);
  va_end (ap);
  return cpb_error_set (l->err, CPB_ERR_INPUT, "%s:%u:%u: %s", l->doc->file, pos.line, pos.col,
                        msg);
}

static int
parser_fail (struct loader *l)
{
  yaml_parser_t *p = &l->parser;
  const char *problem = p->problem ? p->problem : "cannot parse";

  if (p->error == YAML_MEMORY_ERROR)
    return cpb_error_set (l->err, CPB_ERR_SYSTEM, "%s: out of memory parsing YAML", l->doc->file);
  /* The reader checks the encoding before any mark exists: point at the byte instead. */
  if (p->error == YAML_READER_ERROR)
    return cpb_error_set (l->err, CPB_ERR_INPUT, "%s: %s at byte %zu", l->doc->file, problem,
                          p->problem_offset);
  if (p->context)
    return load_fail (l, mark_pos (p->problem_mark), "syntax error: %s (%s at line %u)", problem,
                      p->context, mark_pos (p->context_mark).line);
  return load_fail (l, mark_pos (p->problem_mark), "syntax error: %s", problem);
}

static int
next_event (struct loader *l, yaml_event_t *ev)
{
  if (!yaml_parser_parse (&l->parser, ev))
    return parser_fail (l);
  return 0;
}

static cpb_yaml_node *
new_node (struct loader *l, enum cpb_yaml_kind kind, yaml_mark_t start, const yaml_char_t *tag)
{
  cpb_yaml_doc *doc = l->doc;
  cpb_yaml_node *n = cpb_xzalloc (sizeof *n);

  n->kind = kind;
  n->pos = mark_pos (start);
  if (tag)
    n->tag = cpb_xstrdup ((const char *)tag);
  if (doc->n_all == doc->cap_all)
    {
      doc->cap_all = doc->cap_all ? doc->cap_all * 2 : 64;
      doc->all = cpb_xrealloc (doc->all, doc->cap_all * sizeof *doc->all);
    }
  doc->all[doc->n_all++] = n;
  return n;
}

/* Add B to *A, failing past the expansion bound (so the sum cannot overflow either). */
static int
add_weight (struct loader *l, size_t *a, size_t b, cpb_pos pos)
{
  if (b > CPB_YAML_MAX_NODES || *a + b > CPB_YAML_MAX_NODES)
    return load_fail (l, pos,
                      "document too large: more than %u nodes (counting what aliases expand to)",
                      (unsigned)CPB_YAML_MAX_NODES);
  *a += b;
  return 0;
}

static void
add_anchor (struct loader *l, const yaml_char_t *name, cpb_yaml_node *n, size_t weight)
{
  struct anchor *a;

  if (name == NULL)
    return;
  /* A redefined anchor replaces the old one for later aliases, as YAML says. */
  for (size_t i = 0; i < l->n_anchors; i++)
    if (strcmp (l->anchors[i].name, (const char *)name) == 0)
      {
        l->anchors[i].node = n;
        l->anchors[i].weight = weight;
        return;
      }
  if (l->n_anchors == l->cap_anchors)
    {
      l->cap_anchors = l->cap_anchors ? l->cap_anchors * 2 : 8;
      l->anchors = cpb_xrealloc (l->anchors, l->cap_anchors * sizeof *l->anchors);
    }
  a = &l->anchors[l->n_anchors++];
  a->name = cpb_xstrdup ((const char *)name);
  a->node = n;
  a->weight = weight;
}

static int parse_node (struct loader *l, yaml_event_t *ev, unsigned depth, cpb_yaml_node **ret,
                       size_t *ret_weight);

static int
parse_scalar (struct loader *l, yaml_event_t *ev, cpb_yaml_node **ret, size_t *ret_weight)
{
  cpb_yaml_node *n = new_node (l, CPB_YAML_SCALAR, ev->start_mark, ev->data.scalar.tag);

  n->len = ev->data.scalar.length;
  n->text = cpb_xmalloc (n->len + 1);
  memcpy (n->text, ev->data.scalar.value, n->len);
  n->text[n->len] = '\0';
  n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
  add_anchor (l, ev->data.scalar.anchor, n, 1);
  *ret = n;
  *ret_weight = 1;
  return 0;
}

/* Anchors become visible when their node is complete, so an alias can never point into
   its own ancestor: the tree stays acyclic. */
static int
parse_alias (struct loader *l, yaml_event_t *ev, cpb_yaml_node **ret, size_t *ret_weight)
{
  const char *name = (const char *)ev->data.alias.anchor;

  for (size_t i = l->n_anchors; i-- > 0;)
    if (strcmp (l->anchors[i].name, name) == 0)
      {
        *ret = l->anchors[i].node;
        *ret_weight = l->anchors[i].weight;
        return 0;
      }
  return load_fail (l, mark_pos (ev->start_mark), "alias '*%s' names no anchor defined before it",
                    name);
}

static int
parse_sequence (struct loader *l, yaml_event_t *ev, unsigned depth, cpb_yaml_node **ret,
                size_t *ret_weight)
{
  cpb_yaml_node *n = new_node (l, CPB_YAML_SEQUENCE, ev->start_mark, ev->data.sequence_start.tag);
  size_t weight = 1, cap = 0;

  for (;;)
    {
      _cleanup_yaml_event_ yaml_event_t item_ev = { 0 };
      cpb_yaml_node *item;
      size_t w;

      if (next_event (l, &item_ev) < 0)
        return -1;
      if (item_ev.type == YAML_SEQUENCE_END_EVENT)
        break;
      if (parse_node (l, &item_ev, depth + 1, &item, &w) < 0)
        return -1;
      if (add_weight (l, &weight, w, n->pos) < 0)
        return -1;
      if (n->n_items == cap)
        {
          cap = cap ? cap * 2 : 4;
          n->items = cpb_xrealloc (n->items, cap * sizeof *n->items);
        }
      n->items[n->n_items++] = item;
    }
  add_anchor (l, ev->data.sequence_start.anchor, n, weight);
  *ret = n;
  *ret_weight = weight;
  return 0;
}

static void
push_pair (cpb_yaml_pair **v, size_t *n, size_t *cap, cpb_yaml_node *key, cpb_yaml_node *value)
{
  if (*n == *cap)
    {
      *cap = *cap ? *cap * 2 : 4;
      *v = cpb_xrealloc (*v, *cap * sizeof **v);
    }
  (*v)[*n].key = key;
  (*v)[*n].value = value;
  (*n)++;
}

static bool
is_merge_key (const cpb_yaml_node *key)
{
  return key->plain && strcmp (key->text, "<<") == 0;
}

/* `<<: *base` or `<<: [*a, *b]`: queue the pairs of those mappings behind the explicit ones
   (resolve_keys gives explicit keys, then earlier mappings, precedence). */
static int
queue_merge (struct loader *l, const cpb_yaml_node *value, cpb_yaml_pair **merged, size_t *n,
             size_t *cap)
{
  const cpb_yaml_node *const *srcs = &value;
  size_t n_srcs = 1;

  if (value->kind == CPB_YAML_SEQUENCE)
    {
      srcs = (const cpb_yaml_node *const *)value->items;
      n_srcs = value->n_items;
    }
  for (size_t i = 0; i < n_srcs; i++)
    {
      if (srcs[i]->kind != CPB_YAML_MAPPING)
        return load_fail (l, srcs[i]->pos,
                          "the merge key '<<' takes a mapping or a list of mappings");
      for (size_t j = 0; j < srcs[i]->n_pairs; j++)
        push_pair (merged, n, cap, srcs[i]->pairs[j].key, srcs[i]->pairs[j].value);
    }
  return 0;
}

struct key_ref
{
  const char *text;
  size_t len;
  size_t idx;
};

static int
key_ref_cmp (const void *a, const void *b)
{
  const struct key_ref *x = a, *y = b;
  size_t m = x->len < y->len ? x->len : y->len;
  int c = memcmp (x->text, y->text, m);

  if (c)
    return c;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Give N its final pairs: the first N_EXPLICIT of ALL are the mapping's own, the rest come
   from merge keys.  A repeated explicit key is recorded as a duplicate; a merged key loses
   to an explicit one or an earlier merged one.  Sorting keeps a 10^5-key mapping cheap. */
static void
resolve_keys (struct loader *l, cpb_yaml_node *n, cpb_yaml_pair *all, size_t n_all,
              size_t n_explicit)
{
  _cleanup_free_ struct key_ref *refs = cpb_xcalloc (n_all, sizeof *refs);
  _cleanup_free_ bool *keep = cpb_xcalloc (n_all, sizeof *keep);

  for (size_t i = 0; i < n_all; i++)
    refs[i] = (struct key_ref){ all[i].key->text, all[i].key->len, i };
  qsort (refs, n_all, sizeof *refs, key_ref_cmp);

  for (size_t i = 0; i < n_all; i++)
    {
      bool first = i == 0 || refs[i].len != refs[i - 1].len ||
                   memcmp (refs[i].text, refs[i - 1].text, refs[i].len) != 0;
      if (first)
        keep[refs[i].idx] = true;
      else if (refs[i].idx < n_explicit)
        cpb_diag_add (l->diag, all[refs[i].idx].key->pos.line, all[refs[i].idx].key->pos.col,
                      "duplicate key '%s' (first at line %u)", all[refs[i].idx].key->text,
                      all[refs[i - 1].idx].key->pos.line);
    }
  n->pairs = cpb_xcalloc (n_all, sizeof *n->pairs);
  for (size_t i = 0; i < n_all; i++)
    if (keep[i])
      n->pairs[n->n_pairs++] = all[i];
}

static int
parse_mapping (struct loader *l, yaml_event_t *ev, unsigned depth, cpb_yaml_node **ret,
               size_t *ret_weight)
{
  cpb_yaml_node *n = new_node (l, CPB_YAML_MAPPING, ev->start_mark, ev->data.mapping_start.tag);
  _cleanup_free_ cpb_yaml_pair *own = NULL, *merged = NULL;
  size_t n_own = 0, cap_own = 0, n_merged = 0, cap_merged = 0, weight = 1;

  for (;;)
    {
      _cleanup_yaml_event_ yaml_event_t key_ev = { 0 }, value_ev = { 0 };
      cpb_yaml_node *key, *value;
      size_t wk, wv;

      if (next_event (l, &key_ev) < 0)
        return -1;
      if (key_ev.type == YAML_MAPPING_END_EVENT)
        break;
      if (parse_node (l, &key_ev, depth + 1, &key, &wk) < 0)
        return -1;
      if (key->kind != CPB_YAML_SCALAR)
        return load_fail (l, key->pos, "mapping keys must be plain strings, not %s",
                          cpb_yaml_describe (key));
      if (next_event (l, &value_ev) < 0 || parse_node (l, &value_ev, depth + 1, &value, &wv) < 0)
        return -1;
      if (add_weight (l, &weight, wk, n->pos) < 0 || add_weight (l, &weight, wv, n->pos) < 0)
        return -1;
      if (is_merge_key (key))
        {
          if (queue_merge (l, value, &merged, &n_merged, &cap_merged) < 0)
            return -1;
        }
      else
        push_pair (&own, &n_own, &cap_own, key, value);
    }

  for (size_t i = 0; i < n_merged; i++)
    push_pair (&own, &n_own, &cap_own, merged[i].key, merged[i].value);
  resolve_keys (l, n, own, n_own, n_own - n_merged);
  add_anchor (l, ev->data.mapping_start.anchor, n, weight);
  *ret = n;
  *ret_weight = weight;
  return 0;
}

/* Build the node that starts with event EV (already read). */
static int
parse_node (struct loader *l, yaml_event_t *ev, unsigned depth, cpb_yaml_node **ret,
            size_t *ret_weight)
{
  switch (ev->type)
    {
    case YAML_SCALAR_EVENT:
      return parse_scalar (l, ev, ret, ret_weight);
    case YAML_ALIAS_EVENT:
      return parse_alias (l, ev, ret, ret_weight);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      if (depth >= CPB_YAML_MAX_DEPTH)
        return load_fail (l, mark_pos (ev->start_mark), "nested too deeply (more than %d levels)",
                          CPB_YAML_MAX_DEPTH);
      if (ev->type == YAML_SEQUENCE_START_EVENT)
        return parse_sequence (l, ev, depth, ret, ret_weight);
      return parse_mapping (l, ev, depth, ret, ret_weight);
    default:
      return load_fail (l, mark_pos (ev->start_mark), "unexpected YAML event %d", (int)ev->type);
    }
}

/* STREAM-START, then an empty stream or exactly one document. */
static int
parse_stream (struct loader *l)
{
  _cleanup_yaml_event_ yaml_event_t start = { 0 }, doc_start = { 0 }, node_ev = { 0 };
  _cleanup_yaml_event_ yaml_event_t doc_end = { 0 }, after = { 0 };
  size_t weight;

  if (next_event (l, &start) < 0 || next_event (l, &doc_start) < 0)
    return -1;
  if (doc_start.type == YAML_STREAM_END_EVENT)
    return 0;
  if (next_event (l, &node_ev) < 0 || parse_node (l, &node_ev, 0, &l->doc->root, &weight) < 0)
    return -1;
  if (next_event (l, &doc_end) < 0 || next_event (l, &after) < 0)
    return -1;
  /* A second document would be ignored silently by a reader of the first: refuse it. */
  if (after.type == YAML_DOCUMENT_START_EVENT)
    return load_fail (l, mark_pos (after.start_mark),
                      "a second YAML document ('---'): a spec file holds exactly one");
  return 0;
}

int
cpb_yaml_load_buffer (const char *name, const char *data, size_t len, cpb_yaml_doc **ret,
                      cpb_error **err)
{
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = cpb_xzalloc (sizeof *doc);
  struct loader l = { .doc = doc, .err = err };
  int r;

  doc->file = cpb_xstrdup (name);
  if (!yaml_parser_initialize (&l.parser))
    return cpb_error_set (err, CPB_ERR_SYSTEM, "%s: cannot initialise the YAML parser", name);
  yaml_parser_set_input_string (&l.parser, (const unsigned char *)data, len);
  l.diag = cpb_diag_new (name);

  r = parse_stream (&l);
  if (r == 0)
    r = cpb_diag_to_error (l.diag, err);

  yaml_parser_delete (&l.parser);
  cpb_diag_free (l.diag);
  for (size_t i = 0; i < l.n_anchors; i++)
    free (l.anchors[i].name);
  free (l.anchors);
  if (r < 0)
    return -1;
  *ret = TAKE_PTR (doc);
  return 0;
}

/* A spec the user named that is missing, a directory or unreadable is bad input (exit 2),
   not a fault of the host: keep errno for the message, make the kind CPB_ERR_INPUT. */
static int
spec_file_error (cpb_error **err, int errnum, const char *what, const char *path)
{
  cpb_error_errno (err, errnum, "%s '%s'", what, path);
  if (err && *err
      && (errnum == ENOENT || errnum == ENOTDIR || errnum == EISDIR || errnum == EACCES
          || errnum == ENAMETOOLONG || errnum == ELOOP))
    (*err)->kind = CPB_ERR_INPUT;
  return -1;
}

/* Read at most CPB_YAML_MAX_FILE_SIZE bytes of PATH into a new buffer. */
static int
read_bounded (const char *path, char **ret, size_t *ret_len, cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  _cleanup_free_ char *data = NULL;
  size_t len = 0, cap = 0;

  if (fd < 0)
    return spec_file_error (err, errno, "cannot open", path);
  for (;;)
    {
      ssize_t n;

      if (cap - len < 4096)
        {
          cap = cap ? cap * 2 : 16384;
          data = cpb_xrealloc (data, cap + 1);
        }
      n = read (fd, data + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return spec_file_error (err, errno, "cannot read", path);
      if (n == 0)
        break;
      len += (size_t)n;
      if (len > CPB_YAML_MAX_FILE_SIZE)
        return cpb_error_set (err, CPB_ERR_INPUT, "%s: file too large (over %u bytes)", path,
                              (unsigned)CPB_YAML_MAX_FILE_SIZE);
    }
  data[len] = '\0';
  *ret = TAKE_PTR (data);
  *ret_len = len;
  return 0;
}

int
cpb_yaml_load_file (const char *path, cpb_yaml_doc **ret, cpb_error **err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;

  if (read_bounded (path, &data, &len, err) < 0)
    return -1;
  return cpb_yaml_load_buffer (path, data, len, ret, err);
}

void
cpb_yaml_doc_free (cpb_yaml_doc *doc)
{
  if (doc == NULL)
    return;
  for (size_t i = 0; i < doc->n_all; i++)
    {
      cpb_yaml_node *n = doc->all[i];
      free (n->tag);
      free (n->text);
      free (n->items);
      free (n->pairs);
      free (n);
    }
  free (doc->all);
  free (doc->file);
  free (doc);
}
