/* spec/expand.h: `{param}` templates and the expansion of a jobs.yaml into its tasks.
 *
 * The plan and task functions researchers' tasks come from are declared in spec/jobs.h
 * (one header for the run stage); this header holds the template primitives and the
 * expansion entry point the loader uses to report naming problems with positions.
 *
 * Template syntax (docs/spec-jobs.md): `{NAME}` is replaced by the value of parameter
 * NAME, where NAME is one or more of [A-Za-z0-9_.-]; `{{` is a literal `{`; a `{` preceded
 * by `$` is left alone so that shell's `${VAR}` passes through (parameters are also in the
 * environment, so `${alpha}` and `{alpha}` agree); any other `{` (e.g. awk's `{ print }`
 * with a space) is literal.  An unknown NAME is an error, reported when the spec loads.
 */
#ifndef CPB_EXPAND_H
#define CPB_EXPAND_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "diag.h"
#include "spec/jobs.h"

/* The names every template may use besides the task's parameters. */
#define CPB_TEMPLATE_BUILTINS "index", "group", "batch"
#define CPB_TEMPLATE_N_BUILTINS 3

/* Find the first placeholder of TEXT whose name is not among NAMES (N long).  Returns
   false when every placeholder is known; otherwise true with *RET_OFFSET and *RET_LEN set to
   the name inside TEXT (after the '{'). */
bool cpb_template_find_unknown (const char *text, const char *const *names, size_t n,
                                size_t *ret_offset, size_t *ret_len);

/* True when TEXT has no placeholder and no `{{` escape, so that expanding it is a copy
   (such strings are shared by every task rather than copied). */
bool cpb_template_is_constant (const char *text);

/* Append TEXT to OUT with each `{NAME}` replaced by VALUES[i] where NAMES[i] is NAME and
   `{{` by `{`.  Unknown names are copied as written (check them first). */
void cpb_template_expand (cpb_buf *out, const char *text, const char *const *names,
                          const char *const *values, size_t n);

/* True when NAME is a valid task, group or batch name: 1..CPB_JOBS_MAX_NAME bytes of
   [A-Za-z0-9._-], starting with a letter or digit (it becomes a file name in the archive
   and part of a container name). */
bool cpb_jobs_name_valid (const char *name);

/* Expand SPEC, recording naming problems in D (invalid or duplicate task names, more
   tasks than CPB_JOBS_MAX_TASKS, inputs that do not exist once their placeholders are
   filled).  Returns 0 with *RET set, or -1 when anything was recorded. */
int cpb_jobs_plan_build (const cpb_jobs_spec *spec, cpb_diag *d, cpb_jobs_plan **ret);

#endif
