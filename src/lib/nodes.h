/* nodes.h: the machines tasks run on.
 *
 * A node is one Podman service and what it can hold.  The local service is the node
 * "local", found as every verb finds it (no configuration at all); others come from
 * nodes.yaml (spec/nodes.h) and are reached over ssh (podman/ssh.h).  Capacity is read
 * once: for a node on this machine from /proc (the cpus this process may use, MemTotal),
 * because `GET /info` costs half a second on Podman 4.3; for a remote node from its
 * service's info; nodes.yaml may lower either (an owner lending part of a machine).  Live
 * load (load average, MemAvailable) is read from the node's own /proc, over its ssh
 * connection for a remote node, never from Podman's info (slow, and its CPU figures are
 * averages since boot).  The scheduler and executor only ever see struct cpb_node.
 */
#ifndef CPB_NODES_H
#define CPB_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "podman/podman.h"
#include "podman/ssh.h"
#include "spec/nodes.h"

struct cpb_node
{
  char *name;          /* "local", or the node's name in nodes.yaml */
  bool local;          /* the service runs on this host: /proc describes it */
  cpb_podman *podman;  /* the node's connection (owned); clones share its ssh link */
  int cpus;            /* capacity: cpus available to containers */
  uint64_t memory;     /* capacity: bytes of memory */
  char **capabilities; /* what the node itself offers (NULL-terminated; images add theirs) */
  /* from nodes.yaml */
  int max_tasks; /* at most this many tasks at once; 0: as many as fit */
  /* from the service (GET /info), when it was asked: remote nodes always, local ones on
     request (CPB_PROBE_INFO); NULL/0 otherwise */
  char *podman_version;
  bool has_info;
  bool rootless;
  int cgroup_version;
  char *oci_runtime;
  char *storage_driver;
  char *graph_root;
  char *hostname;
  char *arch;
};

/* The local node served by connection P (taken over, even on failure).  Capacity from
   /proc: the cpus this process may use and MemTotal. */
int cpb_node_local (cpb_podman *p, struct cpb_node **ret, cpb_error **err);

/* The node for an existing connection P (taken over, even on failure), asking the service for its
   capacity: the way remote nodes are made. */
int cpb_node_remote (const char *name, cpb_podman *p, struct cpb_node **ret, cpb_error **err);

/* Load of NODE: the 1-minute load average and the memory available now, for placement and
   for cpb status.  A local node reads /proc, a remote one `cat`s it over its connection. */
int cpb_node_load (const struct cpb_node *node, double *ret_load1, uint64_t *ret_mem_available,
                   cpb_error **err);

struct cpb_node_load
{
  double load1, load5, load15; /* /proc/loadavg */
  uint64_t mem_total;          /* bytes, /proc/meminfo MemTotal */
  uint64_t mem_available;      /* bytes, MemAvailable (MemFree on kernels before 3.14) */
};

/* All of the above figures at once (one round trip for a remote node). */
int cpb_node_read_load (const struct cpb_node *node, struct cpb_node_load *ret, cpb_error **err);

/* Parse the text of /proc/loadavg followed by /proc/meminfo (what `cat /proc/loadavg
   /proc/meminfo` prints) into RET; CPB_ERR_FAILED when it is not that. */
int cpb_node_parse_load (const char *text, struct cpb_node_load *ret, cpb_error **err);

/* Run COMMAND on NODE (over its ssh connection, or with /bin/sh here), with bounded output
   and a timeout: see cpb_podman_exec.  For the owner checks a node may need (who is
   logged in, whether the screen is locked) as much as for /proc. */
int cpb_node_exec (const struct cpb_node *node, const char *command, size_t max_output,
                   int timeout_ms, struct cpb_exec_result *ret, cpb_error **err);

/* How many cpb task containers NODE holds (io.cpb.task label), and how many of them run. */
int cpb_node_count_tasks (const struct cpb_node *node, size_t *ret_running, size_t *ret_total,
                          cpb_error **err);

void cpb_node_free (struct cpb_node *node);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_node *, cpb_node_free)
#define _cleanup_node_ _cleanup_ (cpb_node_freep)

/* Parse the "MemTotal:" or another KEY of /proc/meminfo TEXT into bytes; false if absent. */
bool cpb_meminfo_value (const char *text, const char *key, uint64_t *ret);

/* ------------------------------------------------------------------ every node at once */

enum cpb_probe_what
{
  CPB_PROBE_INFO = 1 << 0,  /* ask local nodes' services for their info too (remote: always) */
  CPB_PROBE_LOAD = 1 << 1,  /* read the load figures */
  CPB_PROBE_TASKS = 1 << 2, /* count cpb's task containers */
};

struct cpb_nodes_options
{
  const char *local_url;   /* the implicit local node: --url / CPB_PODMAN_URL, NULL: discovery */
  unsigned local_flags;    /* cpb_podman_connect flags for it (CPB_PODMAN_NO_EMBEDDED, ...) */
  const char *const *only; /* NULL-terminated names to use (cpb run --node), NULL: all */
  bool with_disabled;      /* also list nodes with enabled: false (never contacted) */
  int timeout_ms;          /* per node, login to last answer; 0: CPB_NODES_TIMEOUT_MS */
  unsigned what;           /* cpb_probe_what flags */
};

#define CPB_NODES_TIMEOUT_MS 20000

/* What was learnt about one node.  ERROR (NULL when reachable) and the figure errors do
   not repeat the node's name: callers say "node NAME: ...". */
struct cpb_node_probe
{
  char *name;
  char *url;       /* as configured; for the implicit local node the URL that answered */
  bool configured; /* it has an entry in nodes.yaml */
  bool enabled;
  char **capabilities;   /* as configured (never NULL) */
  struct cpb_node *node; /* connected, or NULL */
  cpb_error *error;      /* why not */
  bool embedded;         /* the local service is one cpb started for this command */
  bool has_load;
  struct cpb_node_load load;
  char *load_error;
  bool has_tasks;
  size_t running_tasks, task_containers;
  char *tasks_error;
};

/* Reach every enabled node of CONF (and the local node unless CONF disables it) in
   parallel, each within the timeout, and learn what O->what asks.  A node that does not
   answer in time is reported as such while the others are not held up.  Master ssh
   processes start on the calling thread, which must be the main thread (see podman/ssh.h).
   Fails only for an O->only name that is no node (CPB_ERR_NOT_FOUND, did you mean). */
int cpb_nodes_probe (const cpb_nodes_conf *conf, const struct cpb_nodes_options *o,
                     struct cpb_node_probe **ret, size_t *ret_n, cpb_error **err);

void cpb_node_probes_free (struct cpb_node_probe *v, size_t n);

struct cpb_node_failure
{
  char *name;
  cpb_error *error; /* without the node's name */
};

/* The nodes a run can use, connected, and those it cannot, with why. */
struct cpb_node_set
{
  struct cpb_node **nodes;
  size_t n;
  struct cpb_node_failure *failed;
  size_t n_failed;
};

/* Every usable node of CONF as a live struct cpb_node, the unreachable ones skipped and
   listed in RET->failed (cpb run reports them and goes on with the rest; with none left,
   it is the caller's to fail).  Capacity comes from each node (remote: its info), lowered
   by nodes.yaml.  O may be NULL (all nodes, discovery for the local one). */
int cpb_nodes_connect_all (const cpb_nodes_conf *conf, const struct cpb_nodes_options *o,
                           struct cpb_node_set **ret, cpb_error **err);

void cpb_node_set_free (struct cpb_node_set *s);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_node_set *, cpb_node_set_free)
#define _cleanup_node_set_ _cleanup_ (cpb_node_set_freep)

/* ------------------------------------------------------------------ Podman's connections */

/* One connection the user gave Podman itself (`podman system connection add`). */
struct cpb_podman_connection
{
  char *name;
  char *url;      /* as stored: ssh://user@host:22/path, unix:///path */
  char *identity; /* NULL when none */
  char *source;   /* the file it came from */
  bool is_default;
  bool is_machine; /* a podman machine VM (its own key, host key not checked by Podman) */
};

/* The user's Podman connections, as Podman merges them (anchors §1.2): the
   [engine.service_destinations] tables of containers.conf ($CONTAINERS_CONF alone when
   set, else /usr/share, /etc and the user's file, later ones overriding), then Podman 5's
   podman-connections.json ($PODMAN_CONNECTIONS_CONF, else next to the user's
   containers.conf), whose entries win on a name clash.  Sorted by name.  Unreadable or
   malformed files are errors naming the file. */
int cpb_podman_connections (struct cpb_podman_connection **ret, size_t *ret_n, cpb_error **err);

/* The same from given texts (unit tests): CONF may be NULL, JSON may be NULL. */
int cpb_podman_connections_parse (const char *conf_name, const char *conf, const char *json_name,
                                  const char *json, struct cpb_podman_connection **ret,
                                  size_t *ret_n, cpb_error **err);

void cpb_podman_connections_free (struct cpb_podman_connection *v, size_t n);

#endif
