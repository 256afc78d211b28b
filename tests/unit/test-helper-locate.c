/* Unit tests for cpb_helper_locate (src/lib/helper_locate.c): $CPB_HELPER first, checked;
 * otherwise the build tree or the installed path, with a clear error when none exists. */
#include "config.h"
#include "tap.h"
#include "helper-host.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy this very binary to ROOT/t, give ROOT a src/helper/cpb-helper, run the copy in its
   "report what you find" mode and compare: the build-tree rule, as the cpb binary uses it. */
static void
test_build_tree (const char *root)
{
  _cleanup_free_ char *helper_dir = cpb_xasprintf ("%s/src/helper", root);
  _cleanup_free_ char *helper = cpb_xasprintf ("%s/cpb-helper", helper_dir);
  _cleanup_free_ char *copy = cpb_xasprintf ("%s/t", root);
  _cleanup_free_ char *cmd = NULL, *src = cpb_xasprintf ("%s/src", root);
  char got[4096] = "";
  FILE *p;

  cmd = cpb_xasprintf ("cp /proc/%d/exe '%s' && mkdir -p '%s' && : > '%s' && chmod 0755 '%s'",
                       (int)getpid (), copy, helper_dir, helper, helper);
  ok (system (cmd) == 0, "a build tree with a helper");
  free (cmd);
  cmd = cpb_xasprintf ("env -u CPB_HELPER '%s' --locate", copy);
  ok ((p = popen (cmd, "r")) && fgets (got, sizeof got, p) && pclose (p) == 0, "run the copy");
  got[strcspn (got, "\n")] = '\0';
  is_str (got, helper, "the helper next to the running binary's build tree is found");
  unlink (helper);
  unlink (copy);
  rmdir (helper_dir);
  rmdir (src);
}

int
main (int argc, char **argv)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *path = NULL;
  char dir[] = "/tmp/cpb-test-locate.XXXXXX";
  _cleanup_free_ char *exe = NULL, *plain = NULL;
  FILE *f;

  if (argc > 1 && strcmp (argv[1], "--locate") == 0)
    {
      if (cpb_helper_locate (&path, &err) < 0)
        return 1;
      puts (path);
      return 0;
    }
  plan_no_plan ();
  ok (mkdtemp (dir) != NULL, "temporary directory");
  exe = cpb_xasprintf ("%s/cpb-helper", dir);
  plain = cpb_xasprintf ("%s/not-executable", dir);
  ok ((f = fopen (exe, "we")) && fclose (f) == 0 && chmod (exe, 0755) == 0, "an executable");
  ok ((f = fopen (plain, "we")) && fclose (f) == 0, "a plain file");

  setenv ("CPB_HELPER", exe, 1);
  ok (cpb_helper_locate (&path, &err) == 0, "$CPB_HELPER is used");
  is_str (path, exe, "its path");

  setenv ("CPB_HELPER", plain, 1);
  free (TAKE_PTR (path));
  ok (cpb_helper_locate (&path, &err) < 0 && err->kind == CPB_ERR_NOT_FOUND,
      "a non-executable $CPB_HELPER is an error, not skipped");
  ok (err && strstr (err->msg, "not an executable file"), "saying why: %s", err ? err->msg : "");
  ok (path == NULL, "ret_path untouched on failure");
  cpb_error_free (TAKE_PTR (err));

  /* Unset: this test binary is not at the root of the build tree, so the answer is the
     installed helper if there is one, else an error naming where it looked. */
  unsetenv ("CPB_HELPER");
  if (cpb_helper_locate (&path, &err) == 0)
    is_str (path, CPB_LIBEXECDIR "/cpb-helper", "the installed helper");
  else
    ok (strstr (err->msg, "cannot find cpb-helper") && strstr (err->msg, CPB_LIBEXECDIR),
        "no helper found: the error names where it looked");

  test_build_tree (dir);
  unlink (exe);
  unlink (plain);
  rmdir (dir);
  return done_testing ();
}
