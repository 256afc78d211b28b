/* podman/private.h: what the podman*.c modules share and nobody else sees. */
#ifndef CPB_PODMAN_PRIVATE_H
#define CPB_PODMAN_PRIVATE_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "podman/podman.h"
#include "podman/ssh.h"

/* The ssh master of a remote service (ssh.c), shared by a connection and its clones. */
struct cpb_ssh_tunnel;

/* Every call goes below this prefix: Podman 4.3 answers 404 to unversioned libpod paths,
   and 4.0 is the oldest API cpb supports. */
#define CPB_PODMAN_API_PREFIX "/v4.0.0"

struct cpb_podman
{
  CURL *curl;        /* one easy handle: libcurl keeps its connection alive */
  char *url;         /* as given or discovered: unix:///path, tcp://host:port, ssh://... */
  char *socket_path; /* for unix:// endpoints and ssh forwards, else NULL */
  char *base;        /* http://d/v4.0.0 or http://host:port/v4.0.0 */
  char *api_version; /* Libpod-Api-Version of _ping */
  pid_t service_pid; /* > 0 when this connection started the service */
  char *service_dir; /* its private directory, removed when it stops */
  struct cpb_ssh_tunnel *tunnel; /* ssh:// only: one reference to the master */
  atomic_int cancelled;
  char curl_error[CURL_ERROR_SIZE];
};

/* A connection to URL with no round trip made yet (podman.c). */
int cpb_podman_open (const char *url, cpb_podman **ret, cpb_error **err);

/* A connection named URL (for messages) that talks to the UNIX socket SOCKET_PATH: the
   local end of an ssh forward (client.c). */
cpb_podman *cpb_podman_open_socket (const char *url, const char *socket_path);

/* The path of the executable NAME on $PATH, or NULL (connect.c). */
char *cpb_podman_find_program (const char *name);

/* The ssh master (ssh.c).  Start spawns it (from the main thread: its death signal
   follows the thread); wait returns once it is logged in and forwarding, or fails with the
   reason; explain turns a first request that failed through a ready master into the
   reason (no socket at the path on the node, or nothing answering there). */
int cpb_ssh_tunnel_start (const struct cpb_url *u, const char *identity, int timeout_ms,
                          struct cpb_ssh_tunnel **ret, cpb_error **err);
int cpb_ssh_tunnel_wait (struct cpb_ssh_tunnel *t, const atomic_int *cancelled, cpb_error **err);
int cpb_ssh_tunnel_explain (struct cpb_ssh_tunnel *t, const cpb_error *ping_err, cpb_error **err);
int cpb_ssh_tunnel_exec (struct cpb_ssh_tunnel *t, const char *command, size_t max_output,
                         int timeout_ms, const atomic_int *cancelled, struct cpb_exec_result *ret,
                         cpb_error **err);
const char *cpb_ssh_tunnel_forward (const struct cpb_ssh_tunnel *t);
struct cpb_ssh_tunnel *cpb_ssh_tunnel_ref (struct cpb_ssh_tunnel *t);
/* The last reference stops the master and removes its directory. */
void cpb_ssh_tunnel_unref (struct cpb_ssh_tunnel *t);

/* Stop the embedded service of P, if any, and remove its directory (podman-connect.c). */
void cpb_podman_stop_service (cpb_podman *p);

/* The request shapes most calls need (podman.c).  PATH_FMT is printf-style; names
   inside must already be escaped (cpb_podman_escape). */
int cpb_podman_call (cpb_podman *p, const char *method, const char *const *query, cpb_buf *response,
                     cpb_error **err, const char *path_fmt, ...)
    __attribute__ ((format (printf, 6, 7)));

/* Free a result array of key/value pairs that own their strings. */
void cpb_podman_kv_free (struct cpb_podman_kv *kv, size_t n);

#endif
