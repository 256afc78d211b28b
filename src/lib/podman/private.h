/* podman/private.h: what the podman*.c modules share and nobody else sees. */
#ifndef CPB_PODMAN_PRIVATE_H
#define CPB_PODMAN_PRIVATE_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "podman/podman.h"

/* Every call goes below this prefix: Podman 4.3 answers 404 to unversioned libpod paths,
   and 4.0 is the oldest API cpb supports. */
#define CPB_PODMAN_API_PREFIX "/v4.0.0"

struct cpb_podman
{
  CURL *curl;        /* one easy handle: libcurl keeps its connection alive */
  char *url;         /* as given or discovered: unix:///path, tcp://host:port */
  char *socket_path; /* for unix:// endpoints, else NULL */
  char *base;        /* http://d/v4.0.0 or http://host:port/v4.0.0 */
  char *api_version; /* Libpod-Api-Version of _ping */
  pid_t service_pid; /* > 0 when this connection started the service */
  char *service_dir; /* its private directory, removed when it stops */
  atomic_int cancelled;
  char curl_error[CURL_ERROR_SIZE];
};

/* A connection to URL with no round trip made yet (podman.c). */
int cpb_podman_open (const char *url, cpb_podman **ret, cpb_error **err);

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
