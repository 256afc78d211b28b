/* serve.h: the web status page of `cpb serve`, a libmicrohttpd server linked into the cpb
 * binary only (docs/serve.md).
 *
 * It is a process of its own, apart from any `cpb run`: it reads the state database as a
 * WAL reader (report.h), reads logs through task-logs.h, and writes only for the actions a
 * person asks for (hold, release, cancel), through the same state calls as those verbs.  A
 * crash of the server leaves every run alone.
 *
 * Threads: one per connection (MHD_USE_THREAD_PER_CONNECTION), under a connection limit; a
 * request opens its own read-only database connection and, for live logs, its own clone of
 * the Podman connection, so threads share nothing but the immutable server struct.
 */
#ifndef CPB_SERVE_H
#define CPB_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "podman/podman.h"

struct cpb_serve_options
{
  const char *listen;        /* "127.0.0.1:22581", "[::1]:8080", "HOST:0" picks a port */
  char *const *allow_hosts;  /* more Host names to accept (NULL-terminated, may be NULL) */
  const char *state_path;    /* the state database, which must exist */
  cpb_podman *podman;        /* for live logs and cancel; may be NULL (kept by the caller,
                                who frees it after cpb_server_stop) */
  unsigned connection_limit; /* 0: 16 */
};

typedef struct cpb_server cpb_server;

/* Bind and start serving in the background.  Refuses a non-loopback address unless ALLOW
   names the Host values remote browsers will use (DNS rebinding has no other defence). */
int cpb_server_start (const struct cpb_serve_options *o, cpb_server **ret, cpb_error **err);

/* The address to open, with the token: "http://127.0.0.1:PORT/?token=...". */
const char *cpb_server_url (const cpb_server *s);

/* The port bound (the chosen one when asked for 0). */
unsigned cpb_server_port (const cpb_server *s);

/* End every stream, stop the server and free it. */
void cpb_server_stop (cpb_server *s);

CPB_DEFINE_CLEANUP_FUNC (cpb_server *, cpb_server_stop)
#define _cleanup_server_ _cleanup_ (cpb_server_stopp)

#endif
