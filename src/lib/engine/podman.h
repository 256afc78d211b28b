/* engine/podman.h: the Podman engine, one instance per Podman service (node).
 *
 * Per task: create (network none unless asked, no_new_privileges, capabilities dropped,
 * nofile/nproc rlimits, memory/cpu limits, io.cpb.* labels) -> one archive PUT of the
 * bundle (the helper, the upstream outputs, the inputs) -> start.  Exits are learnt from one
 * events stream (`died`, filtered by the batch's label) on its own connection and thread; a
 * list of the batch's containers every few seconds is the backstop should an event be lost.
 * On collection: logs (stdout and stderr apart), the helper's report and the working
 * directory go through engine/collect.h into the store, then the container is removed with
 * its volumes.  Launches and collections run on a few worker threads, each on a connection
 * of its own, so that collecting never holds up launching.
 */
#ifndef CPB_ENGINE_PODMAN_H
#define CPB_ENGINE_PODMAN_H

#include <stddef.h>
#include <time.h>

#include "engine/engine.h"
#include "nodes.h"

/* A Podman engine on NODE (borrowed; it must outlive the engine), reporting to SINK; unless
   CFG->inspect_only it starts its workers and its events stream. */
int cpb_engine_podman_new (struct cpb_node *node, const struct cpb_engine_config *cfg,
                           const struct cpb_engine_sink *sink, cpb_engine **ret, cpb_error **err);

/* The same as a cpb_engine_new_fn, CTX being the node. */
int cpb_engine_podman_make (void *node, const struct cpb_engine_config *cfg,
                            const struct cpb_engine_sink *sink, cpb_engine **ret, cpb_error **err);

#endif
