/* nodes.h: the machines tasks run on.
 *
 * A node is one Podman service and what it can hold.  Today the farm has one node, the
 * local service (no configuration at all): its capacity is the host's cpus and memory, read
 * from /proc, because `GET /info` costs half a second on Podman 4.3 and reports figures
 * since boot.  A remote node (an SSH-forwarded socket) is the same struct with LOCAL false:
 * its capacity then comes from the service's info, and its load from its own answers; the
 * scheduler and executor only ever see struct cpb_node.
 */
#ifndef CPB_NODES_H
#define CPB_NODES_H

#include <stdbool.h>
#include <stdint.h>
#include "error.h"
#include "podman/podman.h"

struct cpb_node
{
  char *name;          /* "local", or the host name of a remote node */
  bool local;          /* the service runs on this host: /proc describes it */
  cpb_podman *podman;  /* the node's connection (owned) */
  int cpus;            /* capacity: cpus available to containers */
  uint64_t memory;     /* capacity: bytes of memory */
  char **capabilities; /* what the node itself offers (NULL-terminated; images add theirs) */
};

/* The local node served by connection P (taken over, freed with the node).  Capacity from
   /proc: the cpus this process may use and MemTotal. */
int cpb_node_local (cpb_podman *p, struct cpb_node **ret, cpb_error **err);

/* The node for an existing connection P (taken over), asking the service for its capacity:
   the way remote nodes are made. */
int cpb_node_remote (const char *name, cpb_podman *p, struct cpb_node **ret, cpb_error **err);

/* Load of NODE: the 1-minute load average and the memory available now, for placement and
   for cpb status.  Local nodes read /proc/loadavg and /proc/meminfo. */
int cpb_node_load (const struct cpb_node *node, double *ret_load1, uint64_t *ret_mem_available,
                   cpb_error **err);

void cpb_node_free (struct cpb_node *node);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_node *, cpb_node_free)
#define _cleanup_node_ _cleanup_ (cpb_node_freep)

/* Parse the "MemTotal:" or another KEY of /proc/meminfo TEXT into bytes; false if absent. */
bool cpb_meminfo_value (const char *text, const char *key, uint64_t *ret);

#endif
