/* helper-host.h: where the cpb-helper binary to put into task containers is. */
#ifndef CPB_HELPER_LOCATE_H
#define CPB_HELPER_LOCATE_H

#include "error.h"
#include "helper/protocol.h"

/* Find cpb-helper: $CPB_HELPER if set (it must then exist), else src/helper/cpb-helper in the
   build tree the running cpb comes from (so an uninstalled cpb uses its own helper), else
   CPB_LIBEXECDIR/cpb-helper.  *RET_PATH is an executable regular file, to be freed. */
int cpb_helper_locate (char **ret_path, cpb_error **err);

#endif
