/* spec/jobs.h: jobs.yaml, a researcher's workload, as a validated model and its tasks.
 *
 * docs/spec-jobs.md documents every field and specs/jobs.schema.json is the same contract
 * for editors.  The loader reports every problem of a file at once as FILE:LINE:COL lines
 * (CPB_ERR_INPUT, exit 2); a spec that loads is complete: every `{param}` placeholder names
 * a parameter, every group named in `after`/`inputs_from` exists and they form no cycle,
 * every task name is valid and unique, every syscall in `deny` is known to libseccomp,
 * every input exists.  Later stages never have to report a spec error themselves, but
 * fields keep their source position (cpb_pos) in case a later stage wants to point back.
 *
 * The model is in three layers, so that a 100,000-task matrix stays cheap:
 *
 *   struct cpb_jobs_spec      what the file says (strings point into the kept YAML tree)
 *   struct cpb_jobs_plan      the expansion: per task only its group, where it came from
 *                             (a matrix combination, an include entry, a list entry) and its
 *                             name; a few dozen bytes a task
 *   struct cpb_task           one task with everything resolved, made on demand by
 *                             cpb_jobs_plan_task() and owned by the caller
 *
 * Settings resolve from the outside in: `defaults`, then the group, then the list entry;
 * a level that sets a field replaces it, except `env`, which merges key by key.
 */
#ifndef CPB_SPEC_JOBS_H
#define CPB_SPEC_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "diag.h"
#include "error.h"
#include "seccomp-profile.h"

/* Bounds against mistakes and hostile files (a typo in a range must not eat the machine). */
#define CPB_JOBS_MAX_TASKS 1000000u /* tasks a spec may expand to, all groups together */
#define CPB_JOBS_MAX_NAME 128       /* bytes in a task, group or batch name */
#define CPB_JOBS_MAX_RETRIES 100
#define CPB_JOBS_MAX_PRIORITY 1000000 /* priorities are within +/- this */

/* A string of the file with the position it was written at. */
struct cpb_jobs_str
{
  const char *s; /* NULL when absent */
  cpb_pos pos;
};

/* One `env` entry; the value may hold {param} placeholders. */
struct cpb_jobs_env
{
  const char *name;
  const char *value;
  cpb_pos pos;
};

/* A named counted resource: a task holds COUNT of NAME while it runs (e.g. licences). */
struct cpb_jobs_count
{
  const char *name;
  long long count;
  cpb_pos pos;
};

/* One input: SRC (a file or a directory, relative to the spec's directory unless absolute)
   is copied to DEST (relative to the task's working directory; defaults to SRC's last
   component).  Both may hold {param} placeholders in groups. */
struct cpb_jobs_input
{
  const char *src;
  const char *dest; /* NULL when not given */
  cpb_pos pos;
};


enum cpb_jobs_network
{
  CPB_NETWORK_NONE = 0, /* no network at all (Podman netns "none"): the default */
  CPB_NETWORK_SLIRP,    /* rootless user-mode networking (slirp4netns) */
};

/* Which fields of a cpb_jobs_settings a level of the file set (bit = 1 << index). */
enum cpb_jobs_setting
{
  CPB_SET_IMAGE,
  CPB_SET_REQUIRES,
  CPB_SET_CPUS,
  CPB_SET_MEMORY,
  CPB_SET_COUNTED,
  CPB_SET_TIMEOUT,
  CPB_SET_RETRIES,
  CPB_SET_PRIORITY,
  CPB_SET_SECCOMP,
  CPB_SET_NETWORK,
  CPB_SET_WORKDIR,
  CPB_SET_CAP_ADD,
  CPB_SET_N_
};

/* The settings `defaults`, `initialize`, a group and a list entry may each give.  In a
   resolved settings (cpb_task.settings, cpb_jobs_group.settings) every field holds its
   effective value, defaults filled in; POS says where each field was last set (0:0 when
   it holds the built-in default). */
struct cpb_jobs_settings
{
  unsigned set;            /* bits 1 << CPB_SET_*: fields this level wrote */
  cpb_pos pos[CPB_SET_N_]; /* where each set field was written */
  const char *image;       /* a pods.yaml image name or any OCI reference; NULL: none */
  const char **requires;   /* capabilities, n_requires long */
  size_t n_requires;
  double cpus;     /* 0: no limit */
  uint64_t memory; /* bytes; 0: no limit */
  struct cpb_jobs_count *counted;
  size_t n_counted;
  uint64_t timeout; /* seconds; 0: none */
  int retries;      /* extra attempts after a failure; default 0 */
  int priority;     /* higher runs first; default 0 */
  enum cpb_profile_kind seccomp;
  const char **deny; /* extra syscall names to deny, n_deny long */
  size_t n_deny;
  enum cpb_jobs_network network;
  const char **cap_add; /* "CAP_..." kept after dropping all, NULL-terminated, n_cap_add long */
  size_t n_cap_add;
  const char *workdir;      /* absolute path in the container; default "/work" */
  struct cpb_jobs_env *env; /* merged: outer levels first, a key appears once */
  size_t n_env;
};

/* A matrix axis: a name and its values (in the order written). */
struct cpb_jobs_axis
{
  const char *name;
  const char **values;
  cpb_pos *value_pos;
  size_t n_values;
  cpb_pos pos;
};

/* One `include` entry of a matrix (a value for every axis, in axis order), one `exclude`
   pattern (values for some axes, in axis order), or one entry of `list` (its own
   parameters, names and values, and the fields marked "list").  Entry settings are only
   meaningful for list entries. */
struct cpb_jobs_entry
{
  const char **param_names;
  const char **param_values;
  size_t n_params;
  struct cpb_jobs_str name;          /* list: its own name (template); NULL: the group's */
  struct cpb_jobs_str command;       /* list: its own shell command; NULL: the group's */
  const char **argv;                 /* list: its own exec-form command (NULL-terminated) */
  struct cpb_jobs_settings settings; /* list: resolved (defaults + group + entry) */
  struct cpb_jobs_input *inputs;     /* list: its own inputs, added to the group's */
  size_t n_inputs;
  cpb_pos pos;
};

/* A named group of tasks.  The top-level `tasks` is the group named "tasks"; `groups`
   adds more (e.g. a `reduce` after the tasks).  A group with neither `matrix` nor `list`
   is one task named after the group. */
struct cpb_jobs_group
{
  const char *name;
  cpb_pos pos;
  size_t *after; /* indices into cpb_jobs_spec.groups of groups that must finish
                    first (inputs_from included) */
  size_t n_after;
  size_t *inputs_from; /* indices of groups whose tasks' outputs this group's tasks get,
                          each task's under WORKDIR/GROUP/TASK/ */
  size_t n_inputs_from;
  struct cpb_jobs_str name_template; /* `name`; NULL: see docs (GROUP-VALUE-VALUE...) */
  struct cpb_jobs_str command;       /* shell form (sh -c); NULL with argv or none */
  const char **argv;                 /* exec form, NULL-terminated; NULL unless a list */
  cpb_pos command_pos;
  struct cpb_jobs_settings settings; /* resolved: defaults + group */
  struct cpb_jobs_input *inputs;     /* the group's own (shared inputs are separate) */
  size_t n_inputs;
  struct cpb_jobs_str *outputs; /* the group's own globs, added to the top-level ones */
  size_t n_outputs;
  struct cpb_jobs_axis *axes; /* matrix axes, in file order; none without matrix */
  size_t n_axes;
  bool has_matrix;
  cpb_pos matrix_pos;
  struct cpb_jobs_entry *include; /* extra combinations (every axis set) */
  size_t n_include;
  struct cpb_jobs_entry *exclude; /* patterns: a combination matching every parameter
                                     of one entry is left out */
  size_t n_exclude;
  struct cpb_jobs_entry *list; /* explicit tasks */
  size_t n_list;
};

/* `initialize`: one step before every task; its outputs go into every task's working
   directory (before the task's own inputs).  If it fails, no task runs. */
struct cpb_jobs_initialize
{
  cpb_pos pos;
  struct cpb_jobs_str command;
  const char **argv;
  struct cpb_jobs_settings settings; /* resolved: defaults + initialize */
  struct cpb_jobs_input *inputs;     /* its own, after the shared inputs */
  size_t n_inputs;
  struct cpb_jobs_str *outputs; /* its own globs only */
  size_t n_outputs;
};

typedef struct cpb_jobs_spec
{
  char *path;      /* as given (messages use it); "<stdin>", or the name of a buffer */
  char *directory; /* the directory inputs are relative to (absolute) */
  struct cpb_jobs_str batch;
  struct cpb_jobs_str namespace; /* NULL when absent: the caller defaults it (login name) */
  struct cpb_jobs_str description;
  struct cpb_jobs_count *limits; /* farm-wide totals of counted resources */
  size_t n_limits;
  struct cpb_jobs_settings defaults; /* resolved: built-in defaults + `defaults` */
  struct cpb_jobs_input *inputs;     /* shared: every task and initialize */
  size_t n_inputs;
  struct cpb_jobs_str *outputs; /* kept from every task (groups may add more) */
  size_t n_outputs;
  struct cpb_jobs_initialize *initialize; /* NULL when absent */
  struct cpb_jobs_group *groups;          /* in dependency order (file order where free) */
  size_t n_groups;
  void *priv; /* private: the YAML tree the strings point into */
} cpb_jobs_spec;

/* Load and validate PATH ("-" reads standard input, named "<stdin>" in messages, with
   inputs relative to the current directory).  Every problem is reported at once,
   one "FILE:LINE:COL: message" line each, as a CPB_ERR_INPUT error; CPB_ERR_SYSTEM when
   the file cannot be read.  The spec is also expanded once to check task names, so a spec
   that loads always expands. */
int cpb_jobs_spec_load (const char *path, cpb_jobs_spec **ret, cpb_error **err);

/* The same for a buffer already in memory; NAME is used in messages and DIRECTORY is what
   relative inputs are resolved against (NULL: the current directory). */
int cpb_jobs_spec_load_buffer (const char *name, const char *directory, const char *data,
                               size_t len, cpb_jobs_spec **ret, cpb_error **err);

void cpb_jobs_spec_free (cpb_jobs_spec *spec);
CPB_DEFINE_CLEANUP_FUNC (cpb_jobs_spec *, cpb_jobs_spec_free)
#define _cleanup_jobs_spec_ _cleanup_ (cpb_jobs_spec_freep)

/* A commented starting jobs.yaml (`cpb template`); MINIMAL: the shortest useful one.
   Both load without error wherever they are saved (they name no input files). */
const char *cpb_jobs_template (bool minimal);

/* The group called NAME, or NULL. */
const struct cpb_jobs_group *cpb_jobs_spec_group (const cpb_jobs_spec *spec, const char *name);

/* ---- tasks (implemented in expand.c) ---- */

/* One parameter of a task. */
struct cpb_task_param
{
  const char *name; /* borrowed from the spec */
  char *value;
};

/* One input of a task, resolved. */
struct cpb_task_input
{
  char *path; /* on the host: absolute, or relative to the current directory */
  char *dest; /* relative to the working directory */
  cpb_pos pos;
};

/* One task with everything resolved.  Made by cpb_jobs_plan_task(), freed with
   cpb_task_free(); borrowed pointers stay valid as long as the spec. */
struct cpb_task
{
  const struct cpb_jobs_group *group; /* borrowed */
  char *name;
  size_t index;                  /* 0-based within the group */
  size_t global_index;           /* 0-based in the whole plan */
  struct cpb_task_param *params; /* in axis (or list entry) order */
  size_t n_params;
  char *command; /* shell form: run as /bin/sh -c COMMAND */
  char **argv;   /* exec form (NULL-terminated), or NULL */
  char **env;    /* "NAME=VALUE", NULL-terminated, sorted by name;
                    see docs/spec-jobs.md for what is in it */
  size_t n_env;
  struct cpb_task_input *inputs; /* shared inputs first, then group, then entry */
  size_t n_inputs;
  char **outputs; /* globs, NULL-terminated */
  size_t n_outputs;
  const struct cpb_jobs_settings *settings; /* borrowed: image, requires, cpus, memory,
                                               counted, timeout, retries, priority, seccomp,
                                               deny, network, workdir */
  cpb_pos pos;                              /* what defined the task: the matrix, an include
                                               or list entry, or the group */
};

void cpb_task_free (struct cpb_task *task);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_task *, cpb_task_free)
#define _cleanup_task_ _cleanup_ (cpb_task_freep)

/* The expansion of a spec into its tasks, in a deterministic order: groups in
   cpb_jobs_spec.groups order; within a group the matrix combinations (the first axis
   varies slowest, as in nested loops written in axis order) less the excluded ones, then
   the include entries, then the list entries. */
typedef struct cpb_jobs_plan cpb_jobs_plan;

/* Expand SPEC (which must outlive the plan).  Fails only when SPEC did not come from
   cpb_jobs_spec_load* (which already expanded it once). */
int cpb_jobs_plan_new (const cpb_jobs_spec *spec, cpb_jobs_plan **ret, cpb_error **err);
void cpb_jobs_plan_free (cpb_jobs_plan *plan);
CPB_DEFINE_CLEANUP_FUNC (cpb_jobs_plan *, cpb_jobs_plan_free)
#define _cleanup_jobs_plan_ _cleanup_ (cpb_jobs_plan_freep)

/* Number of tasks (all groups; initialize is not a task of the plan). */
size_t cpb_jobs_plan_count (const cpb_jobs_plan *plan);

/* Tasks of group G are the GLOBAL indices [first, first + count). */
void cpb_jobs_plan_group_range (const cpb_jobs_plan *plan, size_t g, size_t *ret_first,
                                size_t *ret_count);

/* The name of task I without making the whole task (valid as long as the plan). */
const char *cpb_jobs_plan_task_name (const cpb_jobs_plan *plan, size_t i);

/* The global index of the task called NAME, or (size_t) -1. */
size_t cpb_jobs_plan_find (const cpb_jobs_plan *plan, const char *name);

/* Make task I (0 <= I < count) with everything resolved.  Cannot fail on a loaded spec
   except for memory, which aborts. */
struct cpb_task *cpb_jobs_plan_task (const cpb_jobs_plan *plan, size_t i);

/* The initialize step as a task (group NULL, name "initialize", index 0), or NULL when the
   spec has none.  Its env has CPB_TASK_NAME=initialize and no parameters. */
struct cpb_task *cpb_jobs_initialize_task (const cpb_jobs_spec *spec);

#endif
