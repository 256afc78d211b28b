/* helper-host.c: find the cpb-helper binary (see helper_locate.h for the order). */
#include "config.h"
#include "helper-host.h"
#include "xalloc.h"

#include <libgen.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
is_executable (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISREG (st.st_mode) && access (path, X_OK) == 0;
}

/* The helper of the build tree the running binary was built in: cpb lives at the root of
   the build directory and the helper in src/helper/ below it. */
static char *
build_tree_candidate (void)
{
  char exe[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);

  if (n <= 0)
    return NULL;
  exe[n] = '\0';
  return cpb_xasprintf ("%s/src/helper/cpb-helper", dirname (exe));
}

int
cpb_helper_locate (char **ret_path, cpb_error **err)
{
  const char *env = getenv ("CPB_HELPER");
  _cleanup_free_ char *built = NULL;

  if (env && *env)
    {
      if (!is_executable (env))
        return cpb_error_set (err, CPB_ERR_NOT_FOUND, "$CPB_HELPER: '%s' is not an executable file",
                              env);
      *ret_path = cpb_xstrdup (env);
      return 0;
    }
  built = build_tree_candidate ();
  if (built && is_executable (built))
    {
      *ret_path = TAKE_PTR (built);
      return 0;
    }
  if (is_executable (CPB_LIBEXECDIR "/cpb-helper"))
    {
      *ret_path = cpb_xstrdup (CPB_LIBEXECDIR "/cpb-helper");
      return 0;
    }
  return cpb_error_set (err, CPB_ERR_NOT_FOUND,
                        "cannot find cpb-helper (looked in $CPB_HELPER, %s and %s/cpb-helper): "
                        "install cpb or set CPB_HELPER",
                        built ? built : "the build tree", CPB_LIBEXECDIR);
}
