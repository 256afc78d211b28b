/* spec/expand.c: `{param}` templates, and a jobs.yaml expanded into tasks.
 *
 * A plan keeps, per task, only where the task came from (its group, and a matrix
 * combination number or an include/list entry number) and an offset into one arena of
 * names: about 24 bytes plus the name.  Everything else is recomputed when a caller asks
 * for the task (cpb_jobs_plan_task), from strings the spec already holds, so a
 * 100,000-task matrix costs a few megabytes instead of a copy of every command and
 * environment.  Names are kept because they must be checked for duplicates anyway.
 */
#include "config.h"
#include "spec/expand.h"
#include "xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Where a task of the plan came from. */
enum task_source
{
  SRC_MATRIX,  /* ref: the combination number (mixed radix, first axis most significant) */
  SRC_INCLUDE, /* ref: index into group->include */
  SRC_LIST,    /* ref: index into group->list */
  SRC_SINGLE,  /* the group is one task */
};

struct plan_item
{
  uint64_t ref;
  size_t name_off;
  uint32_t group;
  uint8_t source;
};

struct cpb_jobs_plan
{
  const cpb_jobs_spec *spec;
  struct plan_item *items;
  size_t n_items, cap_items;
  size_t *group_first; /* n_groups + 1 entries */
  cpb_buf names;       /* every task name, NUL-separated */
  uint32_t *slots;     /* hash set of names: task index + 1, 0 = empty */
  size_t n_slots;
};

/* ---- templates ---- */

static bool
is_name_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

/* At TEXT[I] == '{': the length of the placeholder name when it is one ("{NAME}" not
   after '$'), else 0.  Escapes ("{{") are the caller's business. */
static size_t
placeholder_len (const char *text, size_t i)
{
  size_t n = 0;

  if (i > 0 && text[i - 1] == '$')
    return 0;
  while (is_name_char (text[i + 1 + n]))
    n++;
  return n > 0 && text[i + 1 + n] == '}' ? n : 0;
}

static ssize_t
find_name (const char *name, size_t len, const char *const *names, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (names[i] && strncmp (names[i], name, len) == 0 && names[i][len] == '\0')
      return (ssize_t)i;
  return -1;
}

bool
cpb_template_find_unknown (const char *text, const char *const *names, size_t n, size_t *ret_offset,
                           size_t *ret_len)
{
  for (size_t i = 0; text[i]; i++)
    {
      size_t len;

      if (text[i] != '{')
        continue;
      if (text[i + 1] == '{')
        {
          i++;
          continue;
        }
      len = placeholder_len (text, i);
      if (len > 0 && find_name (text + i + 1, len, names, n) < 0)
        {
          *ret_offset = i + 1;
          *ret_len = len;
          return true;
        }
      i += len;
    }
  return false;
}

bool
cpb_template_is_constant (const char *text)
{
  for (size_t i = 0; text[i]; i++)
    if (text[i] == '{' && (text[i + 1] == '{' || placeholder_len (text, i) > 0))
      return false;
  return true;
}

void
cpb_template_expand (cpb_buf *out, const char *text, const char *const *names,
                     const char *const *values, size_t n)
{
  size_t start = 0, i;

  for (i = 0; text[i]; i++)
    {
      size_t len;
      ssize_t k;

      if (text[i] != '{')
        continue;
      if (text[i + 1] == '{')
        {
          cpb_buf_append (out, text + start, i + 1 - start);
          start = i + 2;
          i++;
          continue;
        }
      len = placeholder_len (text, i);
      if (len == 0 || (k = find_name (text + i + 1, len, names, n)) < 0)
        continue;
      cpb_buf_append (out, text + start, i - start);
      cpb_buf_puts (out, values[k]);
      i += len + 1;
      start = i + 1;
    }
  cpb_buf_append (out, text + start, i - start);
}

bool
cpb_jobs_name_valid (const char *name)
{
  size_t len = strlen (name);

  if (len == 0 || len > CPB_JOBS_MAX_NAME || !is_name_char (name[0]) || name[0] == '.' ||
      name[0] == '-' || name[0] == '_')
    return false;
  for (size_t i = 0; i < len; i++)
    if (!is_name_char (name[i]))
      return false;
  return true;
}

/* ---- what a task's templates see ---- */

/* The parameter names and values of one task plus the built-ins, as templates use them. */
struct task_vars
{
  const char **names;
  const char **values;
  size_t n_params; /* the first n_params are parameters, then the built-ins */
  size_t n;
  char index[24];
};

static void
task_vars_free (struct task_vars *v)
{
  free (v->names);
  free (v->values);
}

static void
task_vars_init (struct task_vars *v, const cpb_jobs_spec *spec, const char *group, size_t n_params)
{
  static const char *const builtins[] = { CPB_TEMPLATE_BUILTINS };

  v->n_params = n_params;
  v->n = n_params + CPB_TEMPLATE_N_BUILTINS;
  v->names = cpb_xcalloc (v->n, sizeof *v->names);
  v->values = cpb_xcalloc (v->n, sizeof *v->values);
  for (size_t i = 0; i < CPB_TEMPLATE_N_BUILTINS; i++)
    v->names[n_params + i] = builtins[i];
  v->values[n_params] = v->index;
  v->values[n_params + 1] = group;
  v->values[n_params + 2] = spec->batch.s ? spec->batch.s : "";
}

static void
task_vars_set_index (struct task_vars *v, size_t index)
{
  snprintf (v->index, sizeof v->index, "%zu", index);
}

/* Fill V's parameters for combination number COMBO of G's matrix. */
static void
decode_combo (const struct cpb_jobs_group *g, uint64_t combo, struct task_vars *v)
{
  for (size_t a = g->n_axes; a-- > 0;)
    {
      const struct cpb_jobs_axis *axis = &g->axes[a];

      v->names[a] = axis->name;
      v->values[a] = axis->values[combo % axis->n_values];
      combo /= axis->n_values;
    }
}

static void
entry_vars (const struct cpb_jobs_entry *e, struct task_vars *v)
{
  for (size_t i = 0; i < e->n_params; i++)
    {
      v->names[i] = e->param_names[i];
      v->values[i] = e->param_values[i];
    }
}

static size_t
source_n_params (const struct cpb_jobs_group *g, enum task_source src, uint64_t ref)
{
  switch (src)
    {
    case SRC_MATRIX:
      return g->n_axes;
    case SRC_INCLUDE:
      return g->include[ref].n_params;
    case SRC_LIST:
      return g->list[ref].n_params;
    case SRC_SINGLE:
    default:
      return 0;
    }
}

/* Set up V for task REF of source SRC in group G, INDEX within the group. */
static void
vars_for (const cpb_jobs_spec *spec, const struct cpb_jobs_group *g, enum task_source src,
          uint64_t ref, size_t index, struct task_vars *v)
{
  task_vars_init (v, spec, g->name, source_n_params (g, src, ref));
  task_vars_set_index (v, index);
  if (src == SRC_MATRIX)
    decode_combo (g, ref, v);
  else if (src == SRC_INCLUDE)
    entry_vars (&g->include[ref], v);
  else if (src == SRC_LIST)
    entry_vars (&g->list[ref], v);
}

static cpb_pos
source_pos (const struct cpb_jobs_group *g, enum task_source src, uint64_t ref)
{
  switch (src)
    {
    case SRC_MATRIX:
      return g->matrix_pos;
    case SRC_INCLUDE:
      return g->include[ref].pos;
    case SRC_LIST:
      return g->list[ref].pos;
    case SRC_SINGLE:
    default:
      return g->pos;
    }
}

/* ---- names ---- */

/* The name template that applies, or NULL for the default name. */
static const struct cpb_jobs_str *
name_template (const struct cpb_jobs_group *g, enum task_source src, uint64_t ref)
{
  if (src == SRC_LIST && g->list[ref].name.s)
    return &g->list[ref].name;
  if (g->name_template.s)
    return &g->name_template;
  return NULL;
}

/* Default names read like the parameters: GROUP-0.1-7; characters a file name should not
   have become '_'.  A group that is a single task is named after the group. */
static void
default_name (cpb_buf *out, const struct cpb_jobs_group *g, enum task_source src,
              const struct task_vars *v)
{
  cpb_buf_puts (out, g->name);
  if (src == SRC_SINGLE)
    return;
  if (v->n_params == 0)
    {
      cpb_buf_printf (out, "-%s", v->index);
      return;
    }
  for (size_t i = 0; i < v->n_params; i++)
    {
      cpb_buf_putc (out, '-');
      for (const char *c = v->values[i]; *c; c++)
        cpb_buf_putc (out, is_name_char (*c) ? *c : '_');
    }
}

static void
task_name (cpb_buf *out, const struct cpb_jobs_group *g, enum task_source src, uint64_t ref,
           const struct task_vars *v)
{
  const struct cpb_jobs_str *t = name_template (g, src, ref);

  if (t)
    cpb_template_expand (out, t->s, v->names, v->values, v->n);
  else
    default_name (out, g, src, v);
}

/* ---- the plan ---- */

static uint64_t
hash_name (const char *s)
{
  uint64_t h = 14695981039346656037ull;

  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static const char *
item_name (const cpb_jobs_plan *plan, size_t i)
{
  return plan->names.data + plan->items[i].name_off;
}

static void
slots_grow (cpb_jobs_plan *plan)
{
  size_t n = plan->n_slots ? plan->n_slots * 2 : 1024;

  free (plan->slots);
  plan->slots = cpb_xcalloc (n, sizeof *plan->slots);
  plan->n_slots = n;
  for (size_t i = 0; i < plan->n_items; i++)
    {
      size_t s = hash_name (item_name (plan, i)) & (n - 1);

      while (plan->slots[s])
        s = (s + 1) & (n - 1);
      plan->slots[s] = (uint32_t)i + 1;
    }
}

/* The slot for NAME: holding the task of that name, or the empty slot it would go in. */
static size_t
slot_find (const cpb_jobs_plan *plan, const char *name)
{
  size_t mask = plan->n_slots - 1, s = hash_name (name) & mask;

  while (plan->slots[s] && strcmp (item_name (plan, plan->slots[s] - 1), name) != 0)
    s = (s + 1) & mask;
  return s;
}

static size_t
plan_find (const cpb_jobs_plan *plan, const char *name)
{
  size_t s;

  if (plan->n_slots == 0)
    return (size_t)-1;
  s = slot_find (plan, name);
  return plan->slots[s] ? plan->slots[s] - 1 : (size_t)-1;
}

static void
plan_append (cpb_jobs_plan *plan, uint32_t group, enum task_source src, uint64_t ref,
             const char *name, size_t len)
{
  struct plan_item *it;

  if (plan->n_items == plan->cap_items)
    {
      plan->cap_items = plan->cap_items ? plan->cap_items * 2 : 256;
      plan->items = cpb_xrealloc (plan->items, plan->cap_items * sizeof *plan->items);
    }
  it = &plan->items[plan->n_items];
  it->ref = ref;
  it->group = group;
  it->source = (uint8_t)src;
  it->name_off = plan->names.len;
  cpb_buf_append (&plan->names, name, len + 1);
  plan->n_items++;
  if (plan->n_items * 2 > plan->n_slots)
    slots_grow (plan);
  else
    plan->slots[slot_find (plan, name)] = (uint32_t)plan->n_items;
}

/* "alpha=0.1 beta=2": which combination a message is about. */
static void
describe_params (cpb_buf *out, const struct task_vars *v)
{
  for (size_t i = 0; i < v->n_params; i++)
    cpb_buf_printf (out, "%s%s=%s", i ? " " : "", v->names[i], v->values[i]);
}

/* State of one group's expansion, for messages. */
struct build
{
  cpb_jobs_plan *plan;
  cpb_diag *d;
  bool bad_name_said; /* per group: one message about invalid names is enough */
};

static void
report_duplicate (struct build *b, const struct cpb_jobs_group *g, enum task_source src,
                  uint64_t ref, const struct task_vars *v, const char *name, size_t first)
{
  const cpb_jobs_spec *spec = b->plan->spec;
  const struct plan_item *it = &b->plan->items[first];
  const struct cpb_jobs_group *fg = &spec->groups[it->group];
  const struct cpb_jobs_str *t = name_template (g, src, ref);
  cpb_pos here = t ? t->pos : source_pos (g, src, ref);
  cpb_pos there = source_pos (fg, it->source, it->ref);
  _cleanup_buf_ cpb_buf what = CPB_BUF_INIT;
  struct task_vars fv;

  vars_for (spec, fg, it->source, it->ref, first - b->plan->group_first[it->group], &fv);
  describe_params (&what, v);
  cpb_buf_puts (&what, what.len ? "; the other: " : "the other: ");
  describe_params (&what, &fv);
  if (fv.n_params == 0)
    cpb_buf_printf (&what, "group '%s'", fg->name);
  cpb_diag_add (b->d, here.line, here.col,
                "group '%s': duplicate task name '%s' (%s, at %s:%u:%u)%s", g->name, name,
                what.data, cpb_diag_file (b->d), there.line, there.col,
                t ? "" : ": give the group a 'name' using every parameter");
  task_vars_free (&fv);
}

/* Inputs whose source has placeholders can only be checked once filled in. */
static void
check_templated_inputs (struct build *b, const struct cpb_jobs_input *in, size_t n,
                        const struct task_vars *v)
{
  const cpb_jobs_spec *spec = b->plan->spec;

  for (size_t i = 0; i < n && cpb_diag_count (b->d) < CPB_DIAG_MAX; i++)
    {
      _cleanup_buf_ cpb_buf src = CPB_BUF_INIT;
      _cleanup_free_ char *path = NULL;
      struct stat st;

      if (cpb_template_is_constant (in[i].src))
        continue;
      cpb_template_expand (&src, in[i].src, v->names, v->values, v->n);
      path = src.data[0] == '/' ? cpb_xstrdup (src.data)
                                : cpb_xasprintf ("%s/%s", spec->directory, src.data);
      if (stat (path, &st) < 0)
        cpb_diag_add (b->d, in[i].pos.line, in[i].pos.col, "input '%s' (from '%s'): %s", src.data,
                      in[i].src, strerror (errno));
    }
}

/* Add one task: name it, check the name, remember it. */
static void
build_task (struct build *b, size_t gi, enum task_source src, uint64_t ref, struct task_vars *v)
{
  cpb_jobs_plan *plan = b->plan;
  const struct cpb_jobs_group *g = &plan->spec->groups[gi];
  _cleanup_buf_ cpb_buf name = CPB_BUF_INIT;
  size_t first;

  task_vars_set_index (v, plan->n_items - plan->group_first[gi]);
  task_name (&name, g, src, ref, v);
  if (!cpb_jobs_name_valid (name.data))
    {
      const struct cpb_jobs_str *t = name_template (g, src, ref);
      cpb_pos p = t ? t->pos : source_pos (g, src, ref);

      if (!b->bad_name_said)
        cpb_diag_add (b->d, p.line, p.col,
                      "group '%s': task name '%s' is not valid: use 1 to %d letters, digits, "
                      "'.', '_' or '-', starting with a letter or digit",
                      g->name, name.data, CPB_JOBS_MAX_NAME);
      b->bad_name_said = true;
    }
  else if ((first = plan_find (plan, name.data)) != (size_t)-1)
    report_duplicate (b, g, src, ref, v, name.data, first);
  check_templated_inputs (b, g->inputs, g->n_inputs, v);
  if (src == SRC_LIST)
    check_templated_inputs (b, g->list[ref].inputs, g->list[ref].n_inputs, v);
  plan_append (plan, (uint32_t)gi, src, ref, name.data, name.len);
}

/* The matrix's combinations as axis value indices, each pattern of `exclude` as the value
   index per axis it constrains (-1: any; -2: a value the axis lacks, so never matches). */
static long *
exclude_patterns (const struct cpb_jobs_group *g)
{
  long *pat = cpb_xcalloc (g->n_exclude * g->n_axes + 1, sizeof *pat);

  for (size_t e = 0; e < g->n_exclude; e++)
    {
      const struct cpb_jobs_entry *x = &g->exclude[e];

      for (size_t a = 0; a < g->n_axes; a++)
        pat[e * g->n_axes + a] = -1;
      for (size_t p = 0; p < x->n_params; p++)
        for (size_t a = 0; a < g->n_axes; a++)
          if (strcmp (x->param_names[p], g->axes[a].name) == 0)
            {
              long found = -2;

              for (size_t k = 0; k < g->axes[a].n_values; k++)
                if (strcmp (g->axes[a].values[k], x->param_values[p]) == 0)
                  found = (long)k;
              pat[e * g->n_axes + a] = found;
            }
    }
  return pat;
}

static bool
excluded (const struct cpb_jobs_group *g, const long *pat, const size_t *idx)
{
  for (size_t e = 0; e < g->n_exclude; e++)
    {
      bool match = true;

      for (size_t a = 0; a < g->n_axes && match; a++)
        {
          long want = pat[e * g->n_axes + a];

          match = want == -1 || want == (long)idx[a];
        }
      if (match)
        return true;
    }
  return false;
}

static void
build_matrix (struct build *b, size_t gi, struct task_vars *v)
{
  const struct cpb_jobs_group *g = &b->plan->spec->groups[gi];
  _cleanup_free_ long *pat = exclude_patterns (g);
  _cleanup_free_ size_t *idx = cpb_xcalloc (g->n_axes + 1, sizeof *idx);
  uint64_t combo = 0;

  for (size_t a = 0; a < g->n_axes; a++)
    {
      v->names[a] = g->axes[a].name;
      v->values[a] = g->axes[a].values[0];
    }
  for (;;)
    {
      if (!excluded (g, pat, idx))
        build_task (b, gi, SRC_MATRIX, combo, v);
      if (cpb_diag_count (b->d) >= CPB_DIAG_MAX)
        return;
      /* An odometer: the last axis turns fastest, as the combination numbers count. */
      size_t a = g->n_axes;
      while (a > 0 && ++idx[a - 1] == g->axes[a - 1].n_values)
        {
          idx[a - 1] = 0;
          v->values[a - 1] = g->axes[a - 1].values[0];
          a--;
        }
      if (a == 0)
        return;
      v->values[a - 1] = g->axes[a - 1].values[idx[a - 1]];
      combo++;
    }
}

/* Upper bound of G's tasks, saturating past CPB_JOBS_MAX_TASKS. */
static uint64_t
group_bound (const struct cpb_jobs_group *g)
{
  uint64_t n = 1;

  if (!g->has_matrix && g->n_list == 0)
    return 1;
  if (!g->has_matrix)
    return g->n_list;
  for (size_t a = 0; a < g->n_axes; a++)
    {
      if (g->axes[a].n_values == 0)
        return g->n_include + g->n_list;
      if (n > (uint64_t)CPB_JOBS_MAX_TASKS / g->axes[a].n_values + 1)
        return (uint64_t)CPB_JOBS_MAX_TASKS + 1;
      n *= g->axes[a].n_values;
    }
  return n + g->n_include + g->n_list;
}

static void
build_group (struct build *b, size_t gi)
{
  const struct cpb_jobs_group *g = &b->plan->spec->groups[gi];
  struct task_vars v;

  b->bad_name_said = false;
  b->plan->group_first[gi] = b->plan->n_items;
  if (!g->has_matrix && g->n_list == 0)
    {
      task_vars_init (&v, b->plan->spec, g->name, 0);
      build_task (b, gi, SRC_SINGLE, 0, &v);
      task_vars_free (&v);
      return;
    }
  if (g->has_matrix && g->n_axes > 0)
    {
      task_vars_init (&v, b->plan->spec, g->name, g->n_axes);
      build_matrix (b, gi, &v);
      task_vars_free (&v);
    }
  for (size_t i = 0; i < g->n_include && cpb_diag_count (b->d) < CPB_DIAG_MAX; i++)
    {
      vars_for (b->plan->spec, g, SRC_INCLUDE, i, 0, &v);
      build_task (b, gi, SRC_INCLUDE, i, &v);
      task_vars_free (&v);
    }
  for (size_t i = 0; i < g->n_list && cpb_diag_count (b->d) < CPB_DIAG_MAX; i++)
    {
      vars_for (b->plan->spec, g, SRC_LIST, i, 0, &v);
      build_task (b, gi, SRC_LIST, i, &v);
      task_vars_free (&v);
    }
}

int
cpb_jobs_plan_build (const cpb_jobs_spec *spec, cpb_diag *d, cpb_jobs_plan **ret)
{
  cpb_jobs_plan *plan;
  struct build b = { NULL, d, false };
  uint64_t total = 0;

  for (size_t gi = 0; gi < spec->n_groups; gi++)
    total += group_bound (&spec->groups[gi]);
  if (total > CPB_JOBS_MAX_TASKS)
    {
      cpb_diag_add (d, 0, 0, "the tasks expand to more than %u tasks", CPB_JOBS_MAX_TASKS);
      return -1;
    }
  plan = cpb_xzalloc (sizeof *plan);
  plan->spec = spec;
  plan->group_first = cpb_xcalloc (spec->n_groups + 1, sizeof *plan->group_first);
  plan->cap_items = total ? total : 1;
  plan->items = cpb_xcalloc (plan->cap_items, sizeof *plan->items);
  b.plan = plan;
  for (size_t gi = 0; gi < spec->n_groups && cpb_diag_count (d) < CPB_DIAG_MAX; gi++)
    build_group (&b, gi);
  plan->group_first[spec->n_groups] = plan->n_items;
  if (cpb_diag_count (d) > 0)
    {
      cpb_jobs_plan_free (plan);
      return -1;
    }
  *ret = plan;
  return 0;
}

int
cpb_jobs_plan_new (const cpb_jobs_spec *spec, cpb_jobs_plan **ret, cpb_error **err)
{
  _cleanup_diag_ cpb_diag *d = cpb_diag_new (spec->path);

  if (cpb_jobs_plan_build (spec, d, ret) < 0)
    return cpb_diag_to_error (d, err);
  return 0;
}

void
cpb_jobs_plan_free (cpb_jobs_plan *plan)
{
  if (plan == NULL)
    return;
  free (plan->items);
  free (plan->group_first);
  free (plan->slots);
  cpb_buf_free (&plan->names);
  free (plan);
}

size_t
cpb_jobs_plan_count (const cpb_jobs_plan *plan)
{
  return plan->n_items;
}

void
cpb_jobs_plan_group_range (const cpb_jobs_plan *plan, size_t g, size_t *ret_first,
                           size_t *ret_count)
{
  *ret_first = plan->group_first[g];
  *ret_count = plan->group_first[g + 1] - plan->group_first[g];
}

const char *
cpb_jobs_plan_task_name (const cpb_jobs_plan *plan, size_t i)
{
  return item_name (plan, i);
}

size_t
cpb_jobs_plan_find (const cpb_jobs_plan *plan, const char *name)
{
  return plan_find (plan, name);
}

/* ---- making one task ---- */

/* The environment being assembled: a later setting of a name replaces an earlier one. */
struct env_list
{
  char **names;
  char **values;
  size_t n, cap;
};

static void
env_set (struct env_list *e, const char *name, char *value /* owned */)
{
  for (size_t i = 0; i < e->n; i++)
    if (strcmp (e->names[i], name) == 0)
      {
        free (e->values[i]);
        e->values[i] = value;
        return;
      }
  if (e->n == e->cap)
    {
      e->cap = e->cap ? e->cap * 2 : 16;
      e->names = cpb_xrealloc (e->names, e->cap * sizeof *e->names);
      e->values = cpb_xrealloc (e->values, e->cap * sizeof *e->values);
    }
  e->names[e->n] = cpb_xstrdup (name);
  e->values[e->n++] = value;
}

static int
cmp_env (const void *a, const void *b)
{
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  size_t lx = strcspn (x, "="), ly = strcspn (y, "=");
  int c = strncmp (x, y, lx < ly ? lx : ly);

  return c ? c : (lx > ly) - (lx < ly);
}

/* Turn E into a sorted "NAME=VALUE" vector, freeing E. */
static char **
env_finish (struct env_list *e, size_t *ret_n)
{
  char **v = cpb_xcalloc (e->n + 1, sizeof *v);

  for (size_t i = 0; i < e->n; i++)
    {
      v[i] = cpb_xasprintf ("%s=%s", e->names[i], e->values[i]);
      free (e->names[i]);
      free (e->values[i]);
    }
  qsort (v, e->n, sizeof *v, cmp_env);
  *ret_n = e->n;
  free (e->names);
  free (e->values);
  return v;
}

static char *
expand_dup (const char *text, const struct task_vars *v)
{
  cpb_buf out = CPB_BUF_INIT;

  cpb_template_expand (&out, text, v->names, v->values, v->n);
  return cpb_buf_steal (&out, NULL);
}

static bool
is_identifier (const char *s)
{
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_'))
      return false;
  return true;
}

/* CPB_PARAM_ and NAME upper-cased, other characters than letters and digits as '_'. */
static char *
param_env_name (const char *name)
{
  char *s = cpb_xasprintf ("CPB_PARAM_%s", name);

  for (char *c = s + strlen ("CPB_PARAM_"); *c; c++)
    if (*c >= 'a' && *c <= 'z')
      *c = (char)(*c - 'a' + 'A');
    else if (!((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
      *c = '_';
  return s;
}

/* From weakest to strongest: bare parameter names, the spec's env (defaults, group, entry,
   already merged), then what cpb defines, which the spec cannot override. */
static void
task_env (struct cpb_task *t, const cpb_jobs_spec *spec, const struct task_vars *v,
          const char *group)
{
  struct env_list e = { 0 };

  for (size_t i = 0; i < v->n_params; i++)
    if (is_identifier (v->names[i]))
      env_set (&e, v->names[i], cpb_xstrdup (v->values[i]));
  for (size_t i = 0; i < t->settings->n_env; i++)
    env_set (&e, t->settings->env[i].name, expand_dup (t->settings->env[i].value, v));
  for (size_t i = 0; i < v->n_params; i++)
    {
      _cleanup_free_ char *name = param_env_name (v->names[i]);
      env_set (&e, name, cpb_xstrdup (v->values[i]));
    }
  env_set (&e, "CPB_BATCH", cpb_xstrdup (spec->batch.s ? spec->batch.s : ""));
  env_set (&e, "CPB_GROUP", cpb_xstrdup (group));
  env_set (&e, "CPB_TASK_NAME", cpb_xstrdup (t->name));
  env_set (&e, "CPB_TASK_INDEX", cpb_xasprintf ("%zu", t->index));
  env_set (&e, "CPB_TASK_GLOBAL_INDEX", cpb_xasprintf ("%zu", t->global_index));
  t->env = env_finish (&e, &t->n_env);
}

static const char *
last_component (const char *path)
{
  size_t len = strlen (path);
  const char *slash;

  while (len > 1 && path[len - 1] == '/')
    len--;
  slash = memrchr (path, '/', len > 0 ? len - 1 : 0);
  return slash ? slash + 1 : path;
}

static void
add_inputs (struct cpb_task *t, const char *dir, const struct cpb_jobs_input *in, size_t n,
            const struct task_vars *v /* NULL: no placeholders */)
{
  t->inputs = cpb_xrealloc (t->inputs, (t->n_inputs + n + 1) * sizeof *t->inputs);
  for (size_t i = 0; i < n; i++)
    {
      struct cpb_task_input *ti = &t->inputs[t->n_inputs++];
      _cleanup_free_ char *src = v ? expand_dup (in[i].src, v) : cpb_xstrdup (in[i].src);

      ti->path = src[0] == '/' ? cpb_xstrdup (src) : cpb_xasprintf ("%s/%s", dir, src);
      if (in[i].dest)
        ti->dest = v ? expand_dup (in[i].dest, v) : cpb_xstrdup (in[i].dest);
      else
        ti->dest = cpb_xstrndup (last_component (src), strcspn (last_component (src), "/"));
      ti->pos = in[i].pos;
    }
}

static void
add_outputs (struct cpb_task *t, const struct cpb_jobs_str *out, size_t n,
             const struct task_vars *v)
{
  t->outputs = cpb_xrealloc (t->outputs, (t->n_outputs + n + 1) * sizeof *t->outputs);
  for (size_t i = 0; i < n; i++)
    t->outputs[t->n_outputs++] = v ? expand_dup (out[i].s, v) : cpb_xstrdup (out[i].s);
  t->outputs[t->n_outputs] = NULL;
}

static void
set_command (struct cpb_task *t, const struct cpb_jobs_str *command, const char **argv,
             const struct task_vars *v)
{
  size_t n = 0;

  if (command->s)
    {
      t->command = expand_dup (command->s, v);
      return;
    }
  if (argv == NULL)
    return;
  while (argv[n])
    n++;
  t->argv = cpb_xcalloc (n + 1, sizeof *t->argv);
  for (size_t i = 0; i < n; i++)
    t->argv[i] = expand_dup (argv[i], v);
}

static void
task_params (struct cpb_task *t, const struct task_vars *v)
{
  t->n_params = v->n_params;
  t->params = cpb_xcalloc (v->n_params + 1, sizeof *t->params);
  for (size_t i = 0; i < v->n_params; i++)
    {
      t->params[i].name = v->names[i];
      t->params[i].value = cpb_xstrdup (v->values[i]);
    }
}

struct cpb_task *
cpb_jobs_plan_task (const cpb_jobs_plan *plan, size_t i)
{
  const cpb_jobs_spec *spec = plan->spec;
  const struct plan_item *it = &plan->items[i];
  const struct cpb_jobs_group *g = &spec->groups[it->group];
  const struct cpb_jobs_entry *entry = it->source == SRC_LIST ? &g->list[it->ref] : NULL;
  struct cpb_task *t = cpb_xzalloc (sizeof *t);
  struct task_vars v;

  t->group = g;
  t->name = cpb_xstrdup (item_name (plan, i));
  t->index = i - plan->group_first[it->group];
  t->global_index = i;
  t->settings = entry ? &entry->settings : &g->settings;
  t->pos = source_pos (g, it->source, it->ref);
  vars_for (spec, g, it->source, it->ref, t->index, &v);
  task_params (t, &v);
  if (entry && (entry->command.s || entry->argv))
    set_command (t, &entry->command, entry->argv, &v);
  else
    set_command (t, &g->command, g->argv, &v);
  task_env (t, spec, &v, g->name);
  add_inputs (t, spec->directory, spec->inputs, spec->n_inputs, NULL);
  add_inputs (t, spec->directory, g->inputs, g->n_inputs, &v);
  if (entry)
    add_inputs (t, spec->directory, entry->inputs, entry->n_inputs, &v);
  add_outputs (t, spec->outputs, spec->n_outputs, &v);
  add_outputs (t, g->outputs, g->n_outputs, &v);
  task_vars_free (&v);
  return t;
}

struct cpb_task *
cpb_jobs_initialize_task (const cpb_jobs_spec *spec)
{
  const struct cpb_jobs_initialize *init = spec->initialize;
  struct cpb_task *t;
  struct task_vars v;

  if (init == NULL)
    return NULL;
  t = cpb_xzalloc (sizeof *t);
  t->name = cpb_xstrdup ("initialize");
  t->settings = &init->settings;
  t->pos = init->pos;
  task_vars_init (&v, spec, "initialize", 0);
  task_vars_set_index (&v, 0);
  task_params (t, &v);
  set_command (t, &init->command, init->argv, &v);
  task_env (t, spec, &v, "initialize");
  add_inputs (t, spec->directory, spec->inputs, spec->n_inputs, NULL);
  add_inputs (t, spec->directory, init->inputs, init->n_inputs, &v);
  add_outputs (t, init->outputs, init->n_outputs, &v);
  task_vars_free (&v);
  return t;
}

void
cpb_task_free (struct cpb_task *t)
{
  if (t == NULL)
    return;
  free (t->name);
  for (size_t i = 0; i < t->n_params; i++)
    free (t->params[i].value);
  free (t->params);
  free (t->command);
  cpb_strv_free (t->argv);
  cpb_strv_free (t->env);
  for (size_t i = 0; i < t->n_inputs; i++)
    {
      free (t->inputs[i].path);
      free (t->inputs[i].dest);
    }
  free (t->inputs);
  cpb_strv_free (t->outputs);
  free (t);
}
