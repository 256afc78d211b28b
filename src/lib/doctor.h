/* doctor.h: the checks of `cpb doctor`, each ending in what to run when it fails.
 *
 * A machine that cannot run cpb usually fails for one of a handful of reasons that Podman
 * reports far from their cause (a container that will not start because crun refuses a
 * hybrid cgroup tree, or because Podman's default nofile limit is above what a rootless
 * user may set).  The doctor looks at those causes directly: first on the host (no
 * service needed, so they are reported even when nothing answers), then through the
 * Podman service.  A check never fails as a function: what it finds is its result.
 *
 * The pure parts (parsing /etc/subuid, /proc/self/cgroup, containers.conf) are exported
 * for the unit tests.
 */
#ifndef CPB_DOCTOR_H
#define CPB_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "podman/podman.h"

enum cpb_check_status
{
  CPB_CHECK_OK = 0,
  CPB_CHECK_WARN,    /* works, but something users will notice (slow storage, no network) */
  CPB_CHECK_PROBLEM, /* cpb will fail on this machine until it is fixed */
  CPB_CHECK_SKIPPED, /* does not apply here, or needs the service that did not answer */
};

struct cpb_check
{
  char *name; /* short and stable, for scripts: "subuid", "cgroups", "service" */
  enum cpb_check_status status;
  char *detail; /* what was found, one line */
  char *advice; /* the command to run (or the change to make), NULL when nothing to do */
};

struct cpb_doctor
{
  struct cpb_check *checks;
  size_t n, cap;
  bool reachable;  /* a Podman service answered */
  char *url;       /* where it answered, or NULL */
  int cgroup_mode; /* a cpb_cgroup_mode, from the local checks */
};

#define CPB_DOCTOR_INIT                                                                            \
  {                                                                                                \
    NULL, 0, 0, false, NULL, 0                                                                     \
  }

/* Free what D holds (not D itself, which callers keep on the stack). */
void cpb_doctor_clear (struct cpb_doctor *d);

static inline void
cpb_doctor_clearp (struct cpb_doctor *d)
{
  cpb_doctor_clear (d);
}
#define _cleanup_doctor_ __attribute__ ((cleanup (cpb_doctor_clearp)))

/* Run the checks that need no service: podman and newuidmap on PATH, subordinate ids of the
   calling user, cgroup version against the configured runtime, /dev/net/tun, and the nofile
   and nproc limits containers get (containers.conf) against what this user may set. */
void cpb_doctor_local (struct cpb_doctor *d);

/* Connect to the service at URL (NULL: discovery as every verb does it, but never starting
   an embedded service, since the question is whether one answers) and check its API
   version, whether it is rootless, its OCI runtime against the cgroup version, and its
   storage driver.  When nothing answers, one "service" problem says how to start one. */
void cpb_doctor_service (struct cpb_doctor *d, const char *url);

/* The same checks over a connection P already made (cpb node check: a node's service,
   maybe over ssh).  REMOTE names the node when it is another machine, so that advice
   speaks of files there rather than here; NULL for a service on this machine. */
void cpb_doctor_connection (struct cpb_doctor *d, cpb_podman *p, const char *remote);

/* Record one more check in D (DETAIL and ADVICE, which may be NULL, are taken over): the
   checks a caller can make that the doctor cannot (a node's load over its connection). */
void cpb_doctor_add (struct cpb_doctor *d, const char *name, enum cpb_check_status status,
                     char *detail, char *advice);

/* Number of checks with status STATUS. */
size_t cpb_doctor_count (const struct cpb_doctor *d, enum cpb_check_status status);

/* The name of STATUS as printed and in --json: "ok", "warn", "problem", "skipped". */
const char *cpb_check_status_name (enum cpb_check_status status);

/* ------------------------------------------------------------------ pure parts */

/* How the cgroup hierarchy is mounted.  crun refuses both v1 forms ("cgroups in hybrid
   mode not supported"); runc runs on all three. */
enum cpb_cgroup_mode
{
  CPB_CGROUP_UNKNOWN = 0,
  CPB_CGROUP_V1,     /* legacy: controllers only */
  CPB_CGROUP_HYBRID, /* controllers on v1 plus an empty unified (v2) hierarchy */
  CPB_CGROUP_V2,     /* unified only */
};

/* The mode read from the text of /proc/self/cgroup: only a "0::" line is v2, "0::" beside
   controller lines is hybrid, controller lines alone are v1. */
enum cpb_cgroup_mode cpb_cgroup_mode_parse (const char *proc_self_cgroup);

/* "v1", "hybrid", "v2" or "unknown". */
const char *cpb_cgroup_mode_name (enum cpb_cgroup_mode mode);

/* The number of subordinate ids TEXT (the contents of /etc/subuid or /etc/subgid) gives
   the user named USER or numbered UID (both forms are valid there), summed over lines. */
uint64_t cpb_subid_count (const char *text, const char *user, uid_t uid);

/* The first id after every range in TEXT, at least 100000 (where useradd starts): a range
   starting there overlaps nobody's. */
uint64_t cpb_subid_next_free (const char *text);

/* The value of KEY in table SECTION of a containers.conf (TOML) TEXT, as written (a
   string keeps its quotes, an array its brackets, possibly over several lines), in a new
   string; NULL when not set.  Comments and other tables are skipped. */
char *cpb_toml_get (const char *text, const char *section, const char *key);

/* Find NAME ("nofile", "nproc") in a default_ulimits array value (as cpb_toml_get returns
   it: ["nofile=1024:1024", ...]) and store its soft and hard limits; a single number sets
   both.  False when NAME is not in the array or malformed. */
bool cpb_ulimit_parse (const char *array, const char *name, uint64_t *ret_soft, uint64_t *ret_hard);

#endif
