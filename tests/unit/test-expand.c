/* Unit tests for {param} templates and the expansion of a spec into tasks: order, names,
   environment, inputs, duplicates, and the size a large matrix may have. */
#include "config.h"
#include "tap.h"
#include "spec/expand.h"
#include "spec/jobs.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static char *
expand (const char *text)
{
  static const char *const names[] = { "alpha", "beta.x", "index" };
  static const char *const values[] = { "0.1", "B", "7" };
  cpb_buf out = CPB_BUF_INIT;

  cpb_template_expand (&out, text, names, values, 3);
  return cpb_buf_steal (&out, NULL);
}

static void
test_templates (void)
{
  static const char *const names[] = { "alpha", "beta.x", "index" };
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "run-{alpha}", "run-0.1" },
    { "{alpha}{beta.x}{index}", "0.1B7" },
    { "{{alpha}", "{alpha}" },
    { "{{{alpha}", "{0.1" },
    { "echo ${alpha} $HOME", "echo ${alpha} $HOME" },
    { "awk '{ print $1 }'", "awk '{ print $1 }'" },
    { "awk '{{print}'", "awk '{print}'" },
    { "{}", "{}" },
    { "{alpha", "{alpha" },
    { "alpha}", "alpha}" },
    { "", "" },
  };
  size_t off = 0, len = 0;

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      _cleanup_free_ char *got = expand (cases[i].in);
      is_str (got, cases[i].out, "expand '%s'", cases[i].in);
    }
  ok (!cpb_template_find_unknown ("a {alpha} ${zzz} {{zzz} { zzz }", names, 3, &off, &len),
      "only {NAME} outside ${...} and {{ counts");
  ok (cpb_template_find_unknown ("x {alpha} {gamma}", names, 3, &off, &len), "unknown found");
  is_int (off, 11, "at the name's offset");
  is_int (len, 5, "with the name's length");
  ok (cpb_template_find_unknown ("awk '{print}'", names, 3, &off, &len),
      "awk's {print} looks like a placeholder (write {{)");
  ok (cpb_template_is_constant ("echo ${x} '{ print }'"), "constant text");
  ok (!cpb_template_is_constant ("{{"), "an escape is not constant");
  ok (!cpb_template_is_constant ("{a}"), "a placeholder is not constant");
  ok (cpb_jobs_name_valid ("run-0.1_x"), "valid name");
  ok (!cpb_jobs_name_valid ("-x") && !cpb_jobs_name_valid (".x") && !cpb_jobs_name_valid ("a/b") &&
          !cpb_jobs_name_valid ("") && !cpb_jobs_name_valid ("a b"),
      "invalid names");
}

static cpb_jobs_spec *
load (const char *yaml, cpb_error **err)
{
  cpb_jobs_spec *spec = NULL;

  if (cpb_jobs_spec_load_buffer ("t.yaml", CPB_SOURCE_ROOT "/tests/unit/data/jobs", yaml,
                                 strlen (yaml), &spec, err) < 0)
    return NULL;
  return spec;
}

static const char *
env_get (const struct cpb_task *t, const char *name)
{
  size_t len = strlen (name);

  for (size_t i = 0; i < t->n_env; i++)
    if (strncmp (t->env[i], name, len) == 0 && t->env[i][len] == '=')
      return t->env[i] + len + 1;
  return NULL;
}

static const char matrix_yaml[] =
    "batch: b1\n"
    "defaults:\n"
    "  env: {SHARED: s, MODE: outer}\n"
    "  image: worker-base\n"
    "inputs: [src/model.awk]\n"
    "outputs: ['*.csv']\n"
    "tasks:\n"
    "  matrix:\n"
    "    alpha: [0.1, 0.2, 0.3]\n"
    "    learning-rate: [a b, c]\n"
    "  exclude:\n"
    "    - {alpha: 0.2}\n"
    "  include:\n"
    "    - {alpha: 9, learning-rate: z}\n"
    "  command: 'run --a {alpha} --lr \"{learning-rate}\" --i {index} --g {group} --b {batch}'\n"
    "  env: {MODE: 'inner-{alpha}'}\n"
    "  inputs: [{src: src/seeds.txt, dest: 'seeds/{alpha}.txt'}]\n"
    "  outputs: ['out-{alpha}/*']\n"
    "groups:\n"
    "  reduce:\n"
    "    after: [tasks]\n"
    "    command: [sh, -c, 'echo {group}']\n"
    "  extra:\n"
    "    list:\n"
    "      - {name: 'e-{k}', params: {k: one}, command: 'x {k}', priority: 3}\n"
    "      - {params: {k: two}}\n"
    "    command: 'y {k}'\n";

static void
test_matrix (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_spec_ cpb_jobs_spec *spec = load (matrix_yaml, &err);
  _cleanup_jobs_plan_ cpb_jobs_plan *plan = NULL;
  size_t first, count;

  if (!ok (spec != NULL, "matrix spec loads"))
    {
      diag ("%s", err->msg);
      return;
    }
  ok (cpb_jobs_plan_new (spec, &plan, &err) == 0, "plan");
  is_int (cpb_jobs_plan_count (plan), 8, "3x2 less 2 excluded plus 1 included, 2 listed, 1");
  is_str (cpb_jobs_plan_task_name (plan, 0), "tasks-0.1-a_b", "first axis slowest; '_' for ' '");
  is_str (cpb_jobs_plan_task_name (plan, 3), "tasks-0.3-c", "exclusion skips alpha=0.2");
  is_str (cpb_jobs_plan_task_name (plan, 4), "tasks-9-z", "include after the product");
  is_str (cpb_jobs_plan_task_name (plan, 5), "reduce",
          "a one-task group is named after it; ready after tasks, so before 'extra'");
  is_str (cpb_jobs_plan_task_name (plan, 6), "e-one", "list entry name template");
  is_str (cpb_jobs_plan_task_name (plan, 7), "extra-two", "default name of a list entry");
  is_int (cpb_jobs_plan_find (plan, "tasks-0.3-c"), 3, "find by name");
  is_int (cpb_jobs_plan_find (plan, "nope"), (size_t)-1, "find a missing name");
  cpb_jobs_plan_group_range (plan, 2, &first, &count);
  ok (first == 6 && count == 2, "group range of 'extra'");

  _cleanup_task_ struct cpb_task *t = cpb_jobs_plan_task (plan, 1);
  is_str (t->command, "run --a 0.1 --lr \"c\" --i 1 --g tasks --b b1", "command substituted");
  is_int (t->index, 1, "index");
  is_int (t->n_params, 2, "two params");
  is_str (t->params[1].name, "learning-rate", "param name");
  is_str (t->params[1].value, "c", "param value");
  is_str (env_get (t, "CPB_PARAM_LEARNING_RATE"), "c", "CPB_PARAM_ upper-cased, '-' as '_'");
  ok (env_get (t, "learning-rate") == NULL, "no bare name when not an identifier");
  is_str (env_get (t, "alpha"), "0.1", "bare name when an identifier");
  is_str (env_get (t, "MODE"), "inner-0.1", "group env overrides defaults, substituted");
  is_str (env_get (t, "SHARED"), "s", "defaults env");
  is_str (env_get (t, "CPB_TASK_NAME"), "tasks-0.1-c", "CPB_TASK_NAME");
  is_str (env_get (t, "CPB_TASK_INDEX"), "1", "CPB_TASK_INDEX");
  is_str (env_get (t, "CPB_BATCH"), "b1", "CPB_BATCH");
  ok (strcmp (t->env[0], t->env[1]) < 0, "env sorted");
  is_int (t->n_inputs, 2, "shared and group inputs");
  ok (strstr (t->inputs[0].path, "/tests/unit/data/jobs/src/model.awk") != NULL,
      "input path from the spec's directory");
  is_str (t->inputs[0].dest, "model.awk", "default dest is the last component");
  is_str (t->inputs[1].dest, "seeds/0.1.txt", "dest substituted");
  is_int (t->n_outputs, 2, "top and group outputs");
  is_str (t->outputs[1], "out-0.1/*", "outputs substituted");

  _cleanup_task_ struct cpb_task *e = cpb_jobs_plan_task (plan, 6);
  is_str (e->command, "x one", "list entry's own command");
  is_int (e->settings->priority, 3, "list entry's own setting");
  _cleanup_task_ struct cpb_task *e2 = cpb_jobs_plan_task (plan, 7);
  is_str (e2->command, "y two", "group command with the entry's params");

  _cleanup_task_ struct cpb_task *r = cpb_jobs_plan_task (plan, 5);
  ok (r->command == NULL && r->argv && strcmp (r->argv[2], "echo reduce") == 0,
      "exec form substituted item by item");
  is_int (r->global_index, 5, "global index");
}

static void
test_duplicates (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  cpb_jobs_spec *spec = load ("batch: b\n"
                              "tasks:\n"
                              "  matrix: {a: [a b, a_b]}\n"
                              "  command: 'true'\n"
                              "defaults: {image: i}\n",
                              &err);

  ok (spec == NULL, "values that sanitise to one name are refused");
  ok (err && strstr (err->msg, "t.yaml:3:11: group 'tasks': duplicate task name 'tasks-a_b' "
                               "(a=a_b; the other: a=a b, at t.yaml:3:11)"),
      "as a duplicate name, with both positions");
  ok (err && strstr (err->msg, "give the group a 'name'") != NULL, "suggesting a name template");
  cpb_jobs_spec_free (spec);
}

static void
test_large (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_spec_ cpb_jobs_spec *spec =
      load ("batch: big\n"
            "tasks:\n"
            "  matrix: {a: {from: 1, to: 100}, b: {from: 0, to: 999}}\n"
            "  name: 't-{a}-{b}'\n"
            "  command: 'echo {a} {b}'\n"
            "defaults: {image: i}\n",
            &err);
  _cleanup_jobs_plan_ cpb_jobs_plan *plan = NULL;

  if (!ok (spec != NULL, "100,000-task matrix loads"))
    return;
  ok (cpb_jobs_plan_new (spec, &plan, &err) == 0, "and expands");
  is_int (cpb_jobs_plan_count (plan), 100000, "100,000 tasks");
  is_str (cpb_jobs_plan_task_name (plan, 99999), "t-100-999", "last task");
  _cleanup_task_ struct cpb_task *t = cpb_jobs_plan_task (plan, 12345);
  is_str (t->command, "echo 13 345", "a task in the middle decodes its combination");

  cpb_jobs_spec *huge = load ("batch: huge\n"
                              "tasks:\n"
                              "  matrix: {a: {from: 1, to: 100000}, b: {from: 1, to: 100000}}\n"
                              "  command: 'true'\n"
                              "defaults: {image: i}\n",
                              &err);
  ok (huge == NULL && strstr (err->msg, "more than 1000000 tasks"), "a runaway matrix is refused");
  cpb_jobs_spec_free (huge);
}

static void
test_initialize (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_jobs_spec_ cpb_jobs_spec *spec =
      load ("batch: b\n"
            "inputs: [src/model.awk]\n"
            "initialize: {command: 'cc -o prog {batch}', outputs: [prog], "
            "inputs: [src/seeds.txt]}\n"
            "tasks: {command: ./prog}\n"
            "defaults: {image: i}\n",
            &err);
  _cleanup_task_ struct cpb_task *t = NULL;

  if (!ok (spec != NULL, "spec with initialize loads"))
    return;
  t = cpb_jobs_initialize_task (spec);
  is_str (t->name, "initialize", "initialize task name");
  is_str (t->command, "cc -o prog b", "built-ins in initialize");
  is_int (t->n_inputs, 2, "shared inputs, then its own");
  ok (t->n_outputs == 1 && strcmp (t->outputs[0], "prog") == 0, "only its own outputs");
  is_str (env_get (t, "CPB_TASK_NAME"), "initialize", "its env");
}

int
main (void)
{
  test_templates ();
  test_matrix ();
  test_duplicates ();
  test_large ();
  test_initialize ();
  return done_testing ();
}
