/* connect.c: the one way a verb reaches Podman, so discovery, the embedded service and the
 * messages about them are the same for every verb.
 */
#include "config.h"
#include "cmd.h"

#include <stdio.h>

int
cpb_cli_connect (const struct cpb_global *g, cpb_podman **ret, cpb_error **err)
{
  cpb_podman *p;

  if (cpb_podman_connect (g->url, 0, &p, err) < 0)
    return -1;
  /* Worth knowing under -v: the service lives only as long as this command, so images
     it builds land in the user's default storage but nothing keeps running afterwards. */
  if (g->verbose && cpb_podman_is_embedded (p))
    fprintf (stderr, "cpb: no Podman service was running; started one at %s for this command\n",
             cpb_podman_url (p));
  else if (g->verbose > 1)
    fprintf (stderr, "cpb: Podman API %s at %s\n", cpb_podman_api_version (p), cpb_podman_url (p));
  *ret = p;
  return 0;
}
