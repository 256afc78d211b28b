/* Unit tests for the pods.yaml loader: the model, every diagnostic, dependency order. */
#include "config.h"
#include "tap.h"
#include "spec/pods.h"
#include "xalloc.h"

#include <string.h>

#define DATA CPB_SOURCE_ROOT "/tests/unit/data/pods/"

static cpb_pods_spec *
load_text (const char *text, cpb_error **err)
{
  cpb_pods_spec *spec = NULL;

  if (cpb_pods_spec_load_buffer ("pods.yaml", NULL, text, strlen (text), &spec, err) < 0)
    return NULL;
  return spec;
}

/* The error message of loading TEXT ("" when it loads). */
static char *
error_of (const char *text)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_pods_spec_ cpb_pods_spec *spec = load_text (text, &err);

  return cpb_xstrdup (spec ? "" : err->msg);
}

static void
test_good (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;
  const struct cpb_pod_image *base, *solver, *viewer;

  ok (cpb_pods_spec_load (DATA "good.yaml", &spec, &err) == 0, "good.yaml loads%s%s",
      err ? ": " : "", err ? err->msg : "");
  if (spec == NULL)
    return;
  is_int (spec->n_images, 3, "three images");
  is_str (spec->dir, CPB_SOURCE_ROOT "/tests/unit/data/pods", "the spec's directory");
  base = cpb_pods_spec_find (spec, "base");
  solver = cpb_pods_spec_find (spec, "solver:2.1");
  viewer = cpb_pods_spec_find (spec, "viewer");
  ok (base && solver && viewer, "images found by name and by name:tag");
  ok (cpb_pods_spec_find (spec, "solver:latest") == NULL, "a wrong tag finds nothing");

  is_str (base->tag, "latest", "tag defaults to latest");
  ok (base->helper, "helper: yes");
  is_int (base->from.kind, CPB_POD_FROM_RECIPE, "recipe:busybox is a recipe");
  is_str (base->from.ref, "busybox", "recipe name");
  is_str (cpb_strmap_get (&base->env, "A"), "1", "a number env value is its text");

  is_str (solver->tag, "2.1", "tag");
  is_int (solver->from.kind, CPB_POD_FROM_IMAGE, "from another image of the file");
  is_int (solver->from.image, 0, "its index");
  is_int (solver->from.pos.line, 17, "from keeps its line");
  is_str (solver->description, "The solver", "description");
  ok (solver->n_capabilities == 2 && strcmp (solver->capabilities[1], "fp64") == 0, "capabilities");
  is_int (solver->pkg_manager, CPB_PKG_APK, "package manager");
  ok (solver->n_packages == 2 && strcmp (solver->packages[1], "libgomp=13.2.1-r0") == 0,
      "packages");
  is_str (cpb_strmap_get (&solver->env, "VERBOSE"), "true", "a boolean env value is its text");
  is_int (solver->n_files, 3, "three files");
  is_str (solver->files[0].src, "files/solve.sh", "src as written");
  is_str (solver->files[0].src_path, CPB_SOURCE_ROOT "/tests/unit/data/pods/files/solve.sh",
          "src resolved against the spec's directory");
  is_int (solver->files[0].mode, 0755, "an unquoted 0755 is octal 0755");
  is_str (solver->files[1].sha256,
          "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
          "sha256 in lower case");
  is_str (solver->files[1].dest, "/opt/mesh/", "dest into a directory");
  is_int (solver->files[2].mode, -1, "mode absent is -1");
  is_int (solver->n_run, 2, "two run steps");
  is_int (solver->run[1].pos.line, 40, "a run step keeps its line");
  is_str (solver->run[1].cmd, "set -x\necho two\n", "a block run step");
  is_str (solver->workdir, "/work", "workdir merged from an anchor");
  is_str (cpb_strmap_get (&solver->labels, "org.example.team"), "cfd",
          "labels merged from an anchor");
  is_str (solver->user, "1000:1000", "user");
  ok (solver->entrypoint.set && !solver->entrypoint.exec_form,
      "entrypoint string is the shell form");
  is_str (solver->entrypoint.argv[0], "solve --fast", "shell form text");
  ok (solver->cmd.exec_form && solver->cmd.argc == 2, "cmd list is the exec form");
  is_str (solver->cmd.argv[1], "x y", "exec form argument");
  is_str (cpb_strmap_get (&solver->build_args, "VERSION"), "2.1", "build_args");
  ok (!solver->helper, "helper defaults to false");

  is_int (viewer->from.kind, CPB_POD_FROM_OCI, "an OCI reference");
  is_str (viewer->from.ref, "docker.io/library/debian:12", "reference text");
  is_int (viewer->pkg_manager, CPB_PKG_APT, "manager defaults to apt");
  ok (!viewer->cmd.set && !viewer->entrypoint.set, "no command set");
}

static void
test_bad (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;
  const char *want = DATA
      "bad.yaml:5:15: image 'base': 'helper' must be true or false, not 'maybe'\n" DATA
      "bad.yaml:7:13: image 2: name 'Solver_2' must be lower-case letters, digits and ._- "
      "(starting with a letter or digit)\n" DATA
      "bad.yaml:11:12: image 'solver': 'tag' must be letters, digits and ._- (at most 128, not "
      "starting with . or -)\n" DATA "bad.yaml:13:21: image 'solver': 'capabilities' must be a "
      "list of strings, not a string\n" DATA
      "bad.yaml:14:7: image 'solver': unknown key 'pakages' (did you mean 'packages'?)\n" DATA
      "bad.yaml:17:16: image 'solver': files item 1: 'src' must be a relative path inside the "
      "spec's directory\n" DATA "bad.yaml:18:17: image 'solver': files item 1: 'dest' must be an "
      "absolute path without '..'\n" DATA
      "bad.yaml:19:11: image 'solver': files item 2: 'sha256' is required with 'url' (downloads "
      "are verified)\n" DATA "bad.yaml:21:17: image 'solver': files item 2: 'mode' must be octal "
      "permission bits like \"0755\", not '999'\n" DATA
      "bad.yaml:22:11: image 'solver': files item 3: give exactly one of 'src' and 'url'\n" DATA
      "bad.yaml:24:9: image 'solver': env: '1BAD' is not a variable name (letters, digits and _, "
      "not starting with a digit)\n" DATA "bad.yaml:26:9: image 'solver': labels: 'io.cpb.task' is "
      "reserved: cpb sets the io.cpb.* labels itself\n" DATA
      "bad.yaml:28:11: image 'solver': 'run' step 1 is empty\n" DATA
      "bad.yaml:29:11: image 'solver': 'run' step 2 must be a string, not a list\n" DATA
      "bad.yaml:31:13: image 'solver' is defined twice (first at line 10)";

  ok (cpb_pods_spec_load (DATA "bad.yaml", &spec, &err) < 0, "bad.yaml is refused");
  ok (spec == NULL, "and nothing is returned");
  is_str (err->msg, want, "every problem reported, in file order");
  is_int (cpb_error_exit_code (err), CPB_EXIT_USAGE, "exit code 2");
}

static void
test_cycles_and_order (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;
  _cleanup_free_ size_t *order = NULL;
  size_t n = 0;
  const char *const pick[] = { "worker-stats", NULL };
  const char *const typo[] = { "worker-stast", NULL };

  ok (cpb_pods_spec_load (DATA "cycle.yaml", &spec, &err) < 0, "cycles are refused");
  is_str (err->msg,
          DATA "cycle.yaml:3:11: image 'a': 'from' makes a cycle: a -> c -> b -> a\n" DATA
               "cycle.yaml:9:11: image 'd': 'from' makes a cycle: d -> d",
          "each cycle named once, with its images");

  cpb_error_free (TAKE_PTR (err));
  ok (cpb_pods_spec_load (CPB_SOURCE_ROOT "/specs/examples/pods.yaml", &spec, &err) == 0,
      "the example loads%s%s", err ? ": " : "", err ? err->msg : "");
  if (spec == NULL)
    return;
  ok (cpb_pods_spec_build_order (spec, pick, &order, &n, &err) == 0, "order for one image");
  ok (n == 2 && strcmp (spec->images[order[0]].name, "worker-base") == 0 &&
          strcmp (spec->images[order[1]].name, "worker-stats") == 0,
      "its base comes first");
  free (TAKE_PTR (order));
  ok (cpb_pods_spec_build_order (spec, NULL, &order, &n, &err) == 0 && n == 3, "order for all");
  ok (cpb_pods_spec_build_order (spec, typo, &order, &n, &err) < 0, "an unknown image is refused");
  ok (strstr (err->msg, "unknown image 'worker-stast' (did you mean 'worker-stats'?)") != NULL,
      "with a suggestion: %s", err->msg);
}

static void
test_digests (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;

  ok (cpb_pods_spec_load (DATA "digest.yaml", &spec, &err) < 0, "wrong digests are refused");
  ok (strstr (err->msg,
              "digest.yaml:7:17: image 'pinned': files item 1: 'files/solver.conf' has sha256 ") !=
          NULL,
      "a digest that does not match");
  ok (strstr (err->msg, "digest.yaml:10:17: image 'pinned': files item 2: 'sha256' applies to a "
                        "file, and 'files' is not a regular file") != NULL,
      "a digest for a directory");
  ok (strstr (
          err->msg,
          "digest.yaml:11:14: image 'pinned': files item 3: 'files/missing.sh' not found in '") !=
          NULL,
      "a missing source");
}

static void
test_examples (void)
{
  static const char *const examples[] = { "pods.yaml", "pods-debian.yaml", NULL };

  for (const char *const *e = examples; *e; e++)
    {
      _cleanup_error_ cpb_error *err = NULL;
      _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;
      _cleanup_free_ char *path = cpb_xasprintf ("%s/specs/examples/%s", CPB_SOURCE_ROOT, *e);

      ok (cpb_pods_spec_load (path, &spec, &err) == 0, "specs/examples/%s loads%s%s", *e,
          err ? ": " : "", err ? err->msg : "");
    }
}

static void
test_messages (void)
{
  _cleanup_free_ char *empty = error_of ("");
  _cleanup_free_ char *top = error_of ("imgaes: []\n");
  _cleanup_free_ char *none = error_of ("images: []\n");
  _cleanup_free_ char *scalar = error_of ("images: [web]\n");
  _cleanup_free_ char *missing = error_of ("images:\n  - tag: x\n");
  _cleanup_free_ char *mgr =
      error_of ("images:\n  - {name: a, from: b, packages: {manager: atp, install: [x]}}\n");
  _cleanup_free_ char *pkg =
      error_of ("images:\n  - {name: a, from: b, packages: {install: [-oops]}}\n");
  _cleanup_free_ char *recipe = error_of ("images:\n  - {name: a, from: 'recipe:Bad_Name'}\n");
  _cleanup_free_ char *cmd = error_of ("images:\n  - {name: a, from: b, cmd: {x: 1}}\n");
  _cleanup_free_ char *ext = error_of ("x-anything: {a: 1}\nimages:\n  - {name: a, from: b}\n");
  _cleanup_free_ char *envnl = error_of ("images:\n  - {name: a, from: b, env: {A: \"x\\ny\"}}\n");
  _cleanup_free_ char *nofrom = error_of ("images:\n  - name: a\n    from:\n");
  _cleanup_free_ char *file =
      error_of ("images:\n  - {name: a, from: b, files: [{src: f, dest: /f, sha256: abc}]}\n");

  is_str (empty, "pods.yaml: the file is empty: expected 'images:'", "empty file");
  ok (strstr (top, "pods.yaml:1:1: unknown key 'imgaes' (did you mean 'images'?)") != NULL,
      "top-level typo");
  ok (strstr (top, "missing required key 'images'") != NULL, "and images missing");
  is_str (none, "pods.yaml:1:9: 'images' must be a list of images, not an empty list", "no images");
  is_str (scalar, "pods.yaml:1:10: 'images' item 1 must be a mapping, not a string",
          "image not a mapping");
  ok (strstr (missing, "pods.yaml:2:5: image 1: missing required key 'name'") != NULL &&
          strstr (missing, "image 1: missing required key 'from'") != NULL,
      "both required keys");
  ok (strstr (mgr, "unknown package manager 'atp' (did you mean 'apt'?)") != NULL, "manager: %s",
      mgr);
  ok (strstr (pkg, "'-oops' is not a package name") != NULL, "an option is not a package: %s", pkg);
  ok (strstr (recipe, "is not a recipe name") != NULL, "recipe name: %s", recipe);
  ok (strstr (cmd, "'cmd' must be a string or a list of strings, not a mapping") != NULL, "cmd: %s",
      cmd);
  is_str (ext, "", "x- keys are ignored");
  ok (strstr (file, "'sha256' must be 64 hexadecimal digits") != NULL, "sha256: %s", file);
  is_str (nofrom, "pods.yaml:3:5: image 'a': required key 'from' has no value",
          "an empty required key");
  is_str (envnl, "pods.yaml:2:33: image 'a': env: the value of 'A' must be one line",
          "env values are one line");
}

int
main (void)
{
  test_good ();
  test_bad ();
  test_cycles_and_order ();
  test_digests ();
  test_examples ();
  test_messages ();
  return done_testing ();
}
