/* Unit tests for the jobs.yaml loader: the model a full file loads into, and what every
   kind of mistake reports (FILE:LINE:COL, all problems at once). */
#include "config.h"
#include "tap.h"
#include "spec/jobs.h"
#include "spec/expand.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA CPB_SOURCE_ROOT "/tests/unit/data/jobs/"

static cpb_jobs_spec *
load (const char *file, cpb_error **err)
{
  cpb_jobs_spec *spec = NULL;
  /* main() runs in DATA, so that messages name the files as the user gave them. */
  if (cpb_jobs_spec_load (file, &spec, err) < 0)
    return NULL;
  return spec;
}

static void
test_good (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = load ("good.yaml", &err);
  const struct cpb_jobs_settings *d;
  const struct cpb_jobs_group *tasks, *reduce;

  if (!ok (spec != NULL, "good.yaml loads"))
    {
      diag ("%s", err->msg);
      return;
    }
  d = &spec->defaults;
  is_str (spec->batch.s, "sweep-7", "batch");
  is_int (spec->batch.pos.line, 2, "batch keeps its line");
  is_str (spec->namespace.s, "alice", "namespace");
  is_int (spec->n_limits, 1, "one limit");
  is_int (spec->limits[0].count, 4, "limit count");
  is_str (d->image, "worker-base", "default image");
  is_int (d->n_requires, 2, "requires");
  is_str (d->requires[1], "fast-disk", "requires in order");
  ok (d->cpus == 0.5, "cpus 0.5");
  is_int (d->memory, 256u << 20, "memory in bytes");
  is_int (d->timeout, 5400, "timeout 1h30m in seconds");
  is_int (d->retries, 2, "retries");
  is_int (d->priority, 5, "priority");
  is_int (d->seccomp, CPB_PROFILE_STRICT, "seccomp profile");
  ok (d->n_deny == 1 && strcmp (d->deny[0], "mkdir") == 0, "deny list");
  is_int (d->network, CPB_NETWORK_NONE, "network");
  is_str (d->workdir, "/work", "workdir");
  is_int (d->pos[CPB_SET_TIMEOUT].line, 16, "timeout keeps its line");
  is_int (spec->n_inputs, 2, "shared inputs");
  is_str (spec->inputs[1].dest, "awklib", "input rename");
  ok (spec->directory[0] == '/', "directory is absolute");
  ok (spec->initialize != NULL, "initialize");
  is_int (spec->initialize->settings.timeout, 300, "initialize's own timeout");
  is_int (spec->initialize->settings.retries, 2, "initialize inherits retries");

  is_int (spec->n_groups, 2, "two groups");
  tasks = &spec->groups[0];
  reduce = &spec->groups[1];
  is_str (tasks->name, "tasks", "tasks first: reduce waits for it");
  is_str (reduce->name, "reduce", "reduce second");
  ok (reduce->n_after == 1 && reduce->after[0] == 0, "inputs_from implies after");
  ok (reduce->n_inputs_from == 1 && reduce->inputs_from[0] == 0, "inputs_from resolved");
  ok (cpb_jobs_spec_group (spec, "reduce") == reduce, "group lookup by name");
  is_int (tasks->n_axes, 2, "two axes");
  is_int (tasks->axes[1].n_values, 3, "range axis 3..1");
  is_str (tasks->axes[1].values[2], "1", "range values counted down");
  is_int (tasks->settings.priority, 9, "group priority overrides");
  is_int (tasks->settings.retries, 2, "group inherits retries");
  is_int (tasks->settings.n_env, 2, "env merged: no duplicate key");
  ok (reduce->argv && strcmp (reduce->argv[0], "sh") == 0, "exec-form command");
  is_int (reduce->settings.network, CPB_NETWORK_SLIRP, "network slirp");
  is_int (reduce->settings.seccomp, CPB_PROFILE_NONE, "seccomp scalar form");
  is_int (reduce->settings.n_deny, 0, "seccomp scalar clears deny");
  is_int (reduce->settings.n_counted, 1, "counted resource");
  is_int (reduce->settings.memory, 256u << 20, "resources not given are inherited");
}

/* Each bad file and lines its error must hold (at least one; all problems are listed). */
static const struct
{
  const char *file;
  const char *want[4];
} bad[] = {
  { "bad-keys.yaml",
    { "bad-keys.yaml:1:1: unknown key 'taks' (did you mean 'tasks'?)",
      "bad-keys.yaml:1:1: missing required key 'batch'",
      "bad-keys.yaml:4:5: group 'one': unknown key 'comand' (did you mean 'command'?)" } },
  { "bad-types.yaml",
    { "bad-types.yaml:3:12: defaults: 'timeout' must be a duration",
      "bad-types.yaml:7:22: defaults: seccomp: profile 'strikt' is not one of default, strict, "
      "none (did you mean 'strict'?)",
      "bad-types.yaml:7:37: defaults: seccomp: deny: 'nosuchcall': unknown system call",
      "bad-types.yaml:12:13: group 'tasks': 'priority' must be an integer" } },
  { "bad-types.yaml",
    { "bad-types.yaml:8:9: defaults: env name 'CPB_TASK_NAME': names starting with CPB_",
      "bad-types.yaml:9:12: defaults: 'workdir' must be an absolute path",
      "bad-types.yaml:5:32: defaults: resources: 'memory' must be a size",
      "bad-types.yaml:6:12: defaults: 'network' must be none or slirp" } },
  { "bad-params.yaml",
    { "bad-params.yaml:4:19: group 'tasks': axis 'alpha': duplicate value '1' (also at "
      "bad-params.yaml:4:13)",
      "bad-params.yaml:5:5: group 'tasks': 'index' is a built-in parameter",
      "bad-params.yaml:16:11: group 'other': unknown parameter '{sise}' (did you mean '{size}'?)",
      "bad-params.yaml:10:15: group 'tasks': exclude: '7' is not a value of axis 'alpha'" } },
  { "bad-params.yaml",
    { "bad-params.yaml:8:8: group 'tasks': include: unknown key 'alpah' (did you mean 'alpha'?)",
      "bad-params.yaml:17:14: group 'other': unknown parameter '{nothing_like_it}'",
      "not an empty list" } },
  { "bad-groups.yaml",
    { "bad-groups.yaml:6:13: group 'reduce': after: no group named 'taks' (did you mean 'tasks'?)",
      "bad-groups.yaml:8:3: groups wait for each other in a cycle: 'a' -> 'b' -> 'a'" } },
  { "bad-names.yaml",
    { "bad-names.yaml:6:9: group 'tasks': duplicate task name 't-1' (alpha=1 beta=y; the other: "
      "alpha=1 beta=x, at bad-names.yaml:4:5)",
      "bad-names.yaml:11:15: group 'more': duplicate task name 't-2' (the other: alpha=2 beta=y, "
      "at bad-names.yaml:4:5)",
      "bad-names.yaml:13:15: group 'more': task name 'has space' is not valid" } },
  { "bad-inputs.yaml",
    { "bad-inputs.yaml:3:5: input 'does-not-exist.txt': No such file or directory",
      "bad-inputs.yaml:4:32: input dest '../escape.awk' must not leave the working directory",
      "bad-inputs.yaml:5:11: output '/etc/passwd' must be relative to the working directory" } },
  { "bad-input-param.yaml",
    { "bad-input-param.yaml:6:12: input 'src/missing-2.txt' (from 'src/missing-{n}.txt'): No "
      "such file or directory" } },
  { "bad-counted.yaml",
    { "bad-counted.yaml:6:15: group 'tasks': needs 3 of 'matlab' but 'limits' has only 2",
      "bad-counted.yaml:6:26: group 'tasks': counted resource 'comsol' has no total" } },
  { "bad-yaml.yaml", { "bad-yaml.yaml:2:1: duplicate key 'batch'" } },
  { "bad-seccomp.yaml", { "bad-seccomp.yaml:5:5: group 'tasks': seccomp: 'deny' needs a filter" } },
  { "bad-command.yaml",
    { "bad-command.yaml:4:5: group 'tasks': list item 1: no 'command': give it one, or give "
      "the group one" } },
  { "bad-init.yaml", { "bad-init.yaml:3:3: initialize: 'outputs' is missing" } },
  { "bad-caps.yaml",
    { "bad-caps.yaml:3:13: defaults: cap_add: 'NET_RAWW' is not a Linux capability (did you "
      "mean 'CAP_NET_RAW'?)",
      "bad-caps.yaml:5:12: group 'tasks': 'cap_add' must be a list of strings" } },
};

static void
test_bad (void)
{
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      _cleanup_error_ cpb_error *err = NULL;
      _cleanup_jobs_spec_ cpb_jobs_spec *spec = load (bad[i].file, &err);

      if (!ok (spec == NULL && err && err->kind == CPB_ERR_INPUT, "%s is refused as bad input",
               bad[i].file))
        continue;
      for (size_t k = 0; k < 4 && bad[i].want[k]; k++)
        if (!ok (strstr (err->msg, bad[i].want[k]) != NULL, "%s: %.60s", bad[i].file,
                 bad[i].want[k]))
          diag ("got: %s", err->msg);
    }
}

/* cap_add: any spelling the kernel's name allows becomes CAP_NAME; a level replaces the
   outer list; without it, nothing is kept. */
static void
test_caps (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = load ("caps.yaml", &err);
  _cleanup_jobs_plan_ cpb_jobs_plan *plan = NULL;
  _cleanup_task_ struct cpb_task *plain = NULL, *more = NULL;

  if (!ok (spec != NULL && cpb_jobs_plan_new (spec, &plan, &err) == 0, "caps.yaml plans"))
    {
      diag ("%s", err->msg);
      return;
    }
  plain = cpb_jobs_plan_task (plan, 0);
  more = cpb_jobs_plan_task (plan, 1);
  ok (plain->settings->n_cap_add == 1 &&
          strcmp (plain->settings->cap_add[0], "CAP_NET_BIND_SERVICE") == 0,
      "defaults' cap_add, lower case, as CAP_NET_BIND_SERVICE");
  ok (more->settings->n_cap_add == 2 && strcmp (more->settings->cap_add[0], "CAP_CHOWN") == 0 &&
          strcmp (more->settings->cap_add[1], "CAP_NET_RAW") == 0 &&
          more->settings->cap_add[2] == NULL,
      "an entry's list replaces it, NULL-terminated");
  ok (!(spec->groups[0].settings.set & (1u << CPB_SET_CAP_ADD)), "the group did not set it");
  is_int (spec->groups[0].settings.pos[CPB_SET_CAP_ADD].line, 3, "defaults did, at line 3");
}

static void
test_init_template (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  static const char y[] = "batch: b\n"
                          "initialize:\n"
                          "  command: make {alpha}\n"
                          "  outputs: [x]\n"
                          "tasks: {command: 'true'}\n";
  cpb_jobs_spec *spec = NULL;

  ok (cpb_jobs_spec_load_buffer ("init.yaml", NULL, y, strlen (y), &spec, &err) < 0,
      "initialize has no parameters");
  ok (err && strstr (err->msg, "init.yaml:3:17: initialize: unknown parameter '{alpha}'"),
      "and says where: the column of the placeholder in a plain scalar");
}

static void
test_placeholder_positions (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  static const char y[] = "batch: b\n"
                          "defaults: {image: i}\n"
                          "tasks:\n"
                          "  matrix: {n: [1]}\n"
                          "  command:\n"
                          "    - sh\n"
                          "    - '-c'\n"
                          "    - 'echo {m}'\n"
                          "  env: {A: \"{n}\", B: \"x{nn}\"}\n";
  cpb_jobs_spec *spec = NULL;

  ok (cpb_jobs_spec_load_buffer ("pos.yaml", NULL, y, strlen (y), &spec, &err) < 0,
      "unknown placeholders in a list command and in env");
  ok (err && strstr (err->msg, "pos.yaml:8:7: group 'tasks': unknown parameter '{m}'"),
      "an argv item is reported at its own line (quoted: where it starts)");
  ok (err && strstr (err->msg, "pos.yaml:9:22: group 'tasks': unknown parameter '{nn}' (did you "
                               "mean '{n}'?)"),
      "an env value at its own position (quoted: where it starts)");
}

/* `cpb template` promises files that load as they are, from any directory. */
static void
test_template (void)
{
  for (int minimal = 0; minimal <= 1; minimal++)
    {
      _cleanup_error_ cpb_error *err = NULL;
      _cleanup_jobs_spec_ cpb_jobs_spec *spec = NULL;
      _cleanup_jobs_plan_ cpb_jobs_plan *plan = NULL;
      const char *text = cpb_jobs_template (minimal);

      if (!ok (cpb_jobs_spec_load_buffer ("template.yaml", "/", text, strlen (text), &spec, &err) ==
                   0,
               "the %s template loads", minimal ? "minimal" : "full"))
        {
          diag ("%s", err->msg);
          continue;
        }
      ok (cpb_jobs_plan_new (spec, &plan, &err) == 0, "and expands");
      is_int (cpb_jobs_plan_count (plan), minimal ? 3 : 13, "to its tasks");
      ok (minimal || (spec->initialize && spec->n_groups == 2), "with initialize and reduce");
    }
}

static void
test_missing_file (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  cpb_jobs_spec *spec = NULL;

  ok (cpb_jobs_spec_load ("/nonexistent/jobs.yaml", &spec, &err) < 0, "missing file fails");
  ok (err && strstr (err->msg, "/nonexistent/jobs.yaml"), "naming the file");
}

static void
test_examples (void)
{
  static const char *const files[] = { "jobs.yaml" };

  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    {
      _cleanup_error_ cpb_error *err = NULL;
      _cleanup_jobs_spec_ cpb_jobs_spec *spec = NULL;
      _cleanup_free_ char *path = cpb_xasprintf (CPB_SOURCE_ROOT "/specs/examples/%s", files[i]);

      if (!ok (cpb_jobs_spec_load (path, &spec, &err) == 0, "specs/examples/%s loads", files[i]))
        diag ("%s", err->msg);
    }
}

int
main (void)
{
  if (chdir (DATA) < 0)
    {
      perror (DATA);
      return 1;
    }
  test_good ();
  test_bad ();
  test_caps ();
  test_init_template ();
  test_placeholder_positions ();
  test_template ();
  test_missing_file ();
  test_examples ();
  return done_testing ();
}
