/* helper_locate.h: where the cpb-helper binary to put into task containers is. */
#ifndef CPB_HELPER_LOCATE_H
#define CPB_HELPER_LOCATE_H

#include "error.h"

/* Find cpb-helper: $CPB_HELPER if set (it must then exist), else src/helper/cpb-helper in the
   build tree the running cpb comes from (so an uninstalled cpb uses its own helper), else
   CPB_LIBEXECDIR/cpb-helper.  *RET_PATH is an executable regular file, to be freed. */
int cpb_helper_locate (char **ret_path, cpb_error **err);

/* With --report-stderr the helper ends its stderr with "\n", this marker and the report's
   JSON: cpb takes the report from the log it fetches anyway, saving an archive call
   (~0.3 s on podman 4.3 rootless, which starts a copier process for each).  ASCII RS makes
   the marker unlikely in a task's own output. */
#define CPB_HELPER_REPORT_MARKER "\036cpb-helper-report "

#endif
