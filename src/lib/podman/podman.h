/* podman/podman.h: the Podman REST client (libpod API over a UNIX socket with libcurl).
 *
 * One cpb_podman is one kept-alive connection to one service endpoint; it is not shared
 * between threads (cpb_podman_clone gives another thread its own).  Every call goes to the
 * versioned libpod API (/v4.0.0/libpod/...): Podman 4.3 answers 404 to unversioned paths.
 * Podman's own error message always reaches the caller, as "podman: MESSAGE", with the
 * HTTP status in err->http_status; a 404 is CPB_ERR_NOT_FOUND, an unreachable service
 * CPB_ERR_CONNECT, a cancelled call CPB_ERR_CANCELLED, any other failure CPB_ERR_PODMAN.
 *
 * The modules: podman.c (connection, requests, discovery, the embedded service),
 * podman-images.c, podman-build.c, podman-containers.c (with archive), podman-logs.c
 * (frame decoder), podman-events.c, podman-parse.c (typed parse functions of every
 * response document, exported below for the unit tests and fuzzers).
 */
#ifndef CPB_PODMAN_H
#define CPB_PODMAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "cleanup.h"
#include "error.h"

typedef struct cpb_podman cpb_podman;

/* ------------------------------------------------------------------ connection */

enum cpb_podman_connect_flags
{
  /* Never start an embedded `podman system service`: fail with CPB_ERR_CONNECT instead
     (cpb doctor, and anything that must not leave the user's session alone). */
  CPB_PODMAN_NO_EMBEDDED = 1 << 0,
  /* Leave out the "run 'cpb doctor'" advice an unreachable service's error ends with
     (cpb doctor itself, which reports the problem with its own advice). */
  CPB_PODMAN_NO_DOCTOR_HINT = 1 << 1,
};

/* Connect to a Podman service and check that it speaks libpod API 4.0 or newer.
 *
 * URL (unix:///path/podman.sock, ssh://user@host[:port]/path/podman.sock through the user's
 * OpenSSH client as podman/ssh.h describes, or tcp://host:port) is the caller's explicit
 * choice (--url, CPB_PODMAN_URL) and is the only place tried when given.  With URL NULL, the
 * service is discovered: $CONTAINER_HOST when set (also authoritative: it is the user's
 * explicit setting for every Podman client), else the rootless socket
 * $XDG_RUNTIME_DIR/podman/podman.sock, then the system socket /run/podman/podman.sock.
 * When none answers and `podman` is on PATH (and FLAGS lacks CPB_PODMAN_NO_EMBEDDED),
 * cpb starts `podman system service --time=0` on a private socket for the life of the
 * returned connection, so that trying cpb needs no systemd unit; cpb_podman_free stops it.
 * Call this from the main thread: the embedded service gets SIGTERM when the calling
 * thread dies (PR_SET_PDEATHSIG).  Known limit (4.3): when rootless podman had to create its
 * user namespace, it runs as two processes and only the outer one gets that signal, so a
 * cpb killed with SIGKILL can leave the inner one serving; cpb_podman_free stops both.
 * Failure to reach anything is CPB_ERR_CONNECT naming every place looked at. */
int cpb_podman_connect (const char *url, unsigned flags, cpb_podman **ret, cpb_error **err);

/* A second connection to the same endpoint, for another thread (the events stream runs on
   its own connection while others create and start containers).  No round trip is made.
   The clone must be freed before the original when the original owns an embedded service. */
int cpb_podman_clone (cpb_podman *p, cpb_podman **ret, cpb_error **err);

/* Close the connection and, when this connection started it, stop the embedded service. */
void cpb_podman_free (cpb_podman *p);

/* The endpoint as a URL (unix:///...), for messages and for passing on to child processes. */
const char *cpb_podman_url (const cpb_podman *p);

/* The Libpod-Api-Version the service announced in its _ping answer ("4.3.1"). */
const char *cpb_podman_api_version (const cpb_podman *p);

/* True when cpb started the service this connection talks to (cpb doctor says so). */
bool cpb_podman_is_embedded (const cpb_podman *p);

/* Make the call in progress on P (or the next one) fail with CPB_ERR_CANCELLED.  Safe
   from another thread and from a signal handler (an atomic flag that libcurl's progress
   callback checks about once a second, even on an idle stream). */
void cpb_podman_cancel (cpb_podman *p);

/* Clear a cancellation of P so that the connection can be used again. */
void cpb_podman_clear_cancel (cpb_podman *p);

/* Cancel every call on every connection of the process (a SIGINT handler calls this;
   async-signal-safe).  Sticky: later calls fail at once too. */
void cpb_podman_interrupt (void);

/* True once cpb_podman_interrupt has been called. */
bool cpb_podman_interrupted (void);

CPB_DEFINE_CLEANUP_FUNC (cpb_podman *, cpb_podman_free)
#define _cleanup_podman_ _cleanup_ (cpb_podman_freep)

/* ------------------------------------------------------------------ generic requests */

/* A callback's way to end a stream early without an error: the request then returns 0. */
#define CPB_PODMAN_STOP 1

/* Receives response bytes (raw data) or one line (without its newline; JSON-lines
   streams).  Returns 0 to go on, CPB_PODMAN_STOP to end the stream, or < 0 with *ERR set
   to fail the request with that error. */
typedef int (*cpb_podman_data_fn) (void *userdata, const char *data, size_t len, cpb_error **err);

/* Fills BUF with up to LEN bytes of a streamed request body; returns the count, 0 at the
   end, or -1 with errno set. */
typedef ssize_t (*cpb_podman_read_fn) (void *userdata, void *buf, size_t len);

enum cpb_podman_body_kind
{
  CPB_BODY_NONE = 0,
  CPB_BODY_MEMORY, /* data, len */
  CPB_BODY_FD,     /* streamed from fd until EOF (build contexts, archives: never in memory) */
  CPB_BODY_READ,   /* streamed from read (userdata) until it returns 0 */
};

struct cpb_podman_body
{
  enum cpb_podman_body_kind kind;
  const char *content_type; /* NULL: application/json for memory, application/x-tar else */
  const void *data;
  size_t len;
  int fd;
  cpb_podman_read_fn read;
  void *userdata;
};

#define CPB_PODMAN_BODY_MEMORY(d, l)                                                               \
  ((struct cpb_podman_body){ .kind = CPB_BODY_MEMORY, .data = (d), .len = (l) })
#define CPB_PODMAN_BODY_FD(f) ((struct cpb_podman_body){ .kind = CPB_BODY_FD, .fd = (f) })

struct cpb_podman_request
{
  const char *method;                 /* NULL means GET */
  const char *path;                   /* below the version prefix, escaped: "/libpod/_ping" */
  const char *const *query;           /* NULL, or name, value, name, value..., NULL; values
                                         are URL-escaped here; a name may repeat */
  const struct cpb_podman_body *body; /* NULL: no body */
  cpb_buf *response;                  /* collect a 2xx body here, or ... */
  cpb_podman_data_fn on_data;         /* ... hand raw bytes over as they arrive, or ... */
  cpb_podman_data_fn on_line;         /* ... hand over one line at a time */
  void *userdata;
  bool streaming; /* long-lived (wait, logs, events, build, save, load): no total timeout */
};

/* Make one request.  A status >= 400 is an error carrying Podman's message (its JSON
   {"cause","message","response"} body, or the raw text when not JSON); other statuses
   (200, 201, 204, 304) are returned in *RET_STATUS when not NULL. */
int cpb_podman_request (cpb_podman *p, const struct cpb_podman_request *req, long *ret_status,
                        cpb_error **err);

/* S escaped for use as one path segment or query value (every byte but [A-Za-z0-9._~-]
   as %XX): image names hold '/' and ':'. */
char *cpb_podman_escape (const char *s);

/* ------------------------------------------------------------------ shared types */

/* One label, environment variable or build argument. In results both strings are owned
   by the struct that holds the array. */
struct cpb_podman_kv
{
  const char *key;
  const char *value;
};

/* The value of KEY in KV[0..N), or NULL. */
const char *cpb_podman_kv_get (const struct cpb_podman_kv *kv, size_t n, const char *key);

/* ------------------------------------------------------------------ system */

struct cpb_podman_version
{
  char *version;     /* "4.3.1" */
  char *api_version; /* the Docker-compatible API version, "1.41" */
  char *go_version;
  char *os;
  char *arch;
  char *kernel;
};

/* GET /libpod/version: what cpb doctor and --json outputs report. */
int cpb_podman_get_version (cpb_podman *p, struct cpb_podman_version **ret, cpb_error **err);
void cpb_podman_version_free (struct cpb_podman_version *v);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_podman_version *, cpb_podman_version_free)
#define _cleanup_podman_version_ _cleanup_ (cpb_podman_version_freep)

struct cpb_podman_info
{
  char *hostname;
  char *os;   /* "linux" */
  char *arch; /* "amd64" */
  char *kernel;
  char *version; /* Podman's version */
  int cpus;
  uint64_t mem_total; /* bytes */
  uint64_t mem_free;  /* bytes, since boot: prefer /proc/meminfo when local */
  int cgroup_version; /* 1 or 2 */
  char *oci_runtime;  /* "runc", "crun" */
  bool rootless;
  char *storage_driver; /* "overlay", "vfs" */
  char *graph_root;
};

/* GET /libpod/info (about 0.5 s on 4.3: do not poll it). */
int cpb_podman_get_info (cpb_podman *p, struct cpb_podman_info **ret, cpb_error **err);
void cpb_podman_info_free (struct cpb_podman_info *i);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_podman_info *, cpb_podman_info_free)
#define _cleanup_podman_info_ _cleanup_ (cpb_podman_info_freep)

/* ------------------------------------------------------------------ images */

struct cpb_podman_image
{
  char *id;         /* 64 hex digits, no "sha256:" */
  char *digest;     /* "sha256:..." or NULL */
  char **repo_tags; /* NULL-terminated, never NULL: "localhost/name:tag" */
  struct cpb_podman_kv *labels;
  size_t n_labels;
  int64_t created; /* seconds since the epoch */
  int64_t size;    /* bytes */
};

struct cpb_podman_image_list
{
  struct cpb_podman_image *images;
  size_t n;
};

/* GET /libpod/images/json; LABEL_FILTER ("key" or "key=value") may be NULL for all. */
int cpb_podman_image_list (cpb_podman *p, const char *label_filter,
                           struct cpb_podman_image_list **ret, cpb_error **err);
/* GET /libpod/images/NAME/json; an unknown image is CPB_ERR_NOT_FOUND. */
int cpb_podman_image_inspect (cpb_podman *p, const char *name, struct cpb_podman_image **ret,
                              cpb_error **err);
/* GET /libpod/images/NAME/exists: *RET false for an unknown image (no error). */
int cpb_podman_image_exists (cpb_podman *p, const char *name, bool *ret, cpb_error **err);
/* POST /libpod/images/NAME/tag?repo=REPO&tag=TAG. */
int cpb_podman_image_tag (cpb_podman *p, const char *name, const char *repo, const char *tag,
                          cpb_error **err);
/* DELETE /libpod/images/NAME (force also removes it from containers using it). */
int cpb_podman_image_remove (cpb_podman *p, const char *name, bool force, cpb_error **err);
/* POST /libpod/images/import: a root filesystem tar from BODY becomes image REFERENCE,
   with Containerfile-style CHANGES ("CMD [\"/bin/sh\"]", NULL-terminated, may be NULL).
   *RET_ID (may be NULL) gets the new image's ID. */
int cpb_podman_image_import (cpb_podman *p, const struct cpb_podman_body *body,
                             const char *reference, const char *const *changes, char **ret_id,
                             cpb_error **err);

enum cpb_podman_archive_format
{
  CPB_IMAGE_OCI_ARCHIVE = 0, /* skopeo/apptainer can read it: oci-archive:FILE */
  CPB_IMAGE_DOCKER_ARCHIVE,
};

/* GET /libpod/images/NAME/get?format=...: the image as one archive, written to FD. */
int cpb_podman_image_save (cpb_podman *p, const char *name, enum cpb_podman_archive_format format,
                           int fd, cpb_error **err);
/* POST /libpod/images/load: load an archive made by save (either format) from BODY.
   The NULL-terminated names Podman reports go to *RET_NAMES (may be NULL). */
int cpb_podman_image_load (cpb_podman *p, const struct cpb_podman_body *body, char ***ret_names,
                           cpb_error **err);

void cpb_podman_image_free (struct cpb_podman_image *img);
void cpb_podman_image_list_free (struct cpb_podman_image_list *l);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_podman_image *, cpb_podman_image_free)
#define _cleanup_podman_image_ _cleanup_ (cpb_podman_image_freep)
CPB_DEFINE_CLEANUP_FUNC (struct cpb_podman_image_list *, cpb_podman_image_list_free)
#define _cleanup_podman_image_list_ _cleanup_ (cpb_podman_image_list_freep)

/* ------------------------------------------------------------------ build */

struct cpb_podman_build_options
{
  const char *tag;        /* t=: the image name, "localhost/solver:latest" */
  const char *dockerfile; /* path of the Containerfile inside the context; NULL: Containerfile */
  const struct cpb_podman_kv *labels;
  size_t n_labels;
  const struct cpb_podman_kv *build_args;
  size_t n_build_args;
  bool no_cache;
  /* Each decoded {"stream": ...} text as it arrives (may hold several lines or part of
     one), for progress output; may be NULL.  Returning < 0 fails the build. */
  cpb_podman_data_fn on_output;
  void *userdata;
};

/* POST /libpod/build with a tar of the context streamed from CONTEXT (never remote=: on
   4.x it deletes the parent of the context directory), layers=true, pullpolicy=never.
   Podman answers 200 and reports failure inside the stream: an error/errorDetail object
   becomes CPB_ERR_FAILED with Podman's text.  *RET_IMAGE_ID gets the 64-hex image ID. */
int cpb_podman_build (cpb_podman *p, const struct cpb_podman_build_options *opts,
                      const struct cpb_podman_body *context, char **ret_image_id, cpb_error **err);

/* ------------------------------------------------------------------ containers */

enum cpb_podman_netns
{
  CPB_NETNS_NONE = 0, /* no network at all (the default for tasks) */
  CPB_NETNS_SLIRP,    /* rootless user-mode networking (slirp4netns) */
};

/* What cpb_podman_container_create sends as a libpod SpecGenerator.  Podman silently
   ignores unknown fields, so only fields checked against 4.3 are here. */
struct cpb_container_spec
{
  const char *name; /* NULL: Podman picks one */
  const char *image;
  const char *const *command;    /* NULL-terminated argv, or NULL for the image's CMD */
  const char *const *entrypoint; /* NULL-terminated, or NULL for the image's */
  const struct cpb_podman_kv *env;
  size_t n_env;
  const char *work_dir;
  bool create_working_dir; /* 4.3 refuses a work_dir missing from the image without it */
  const char *user;        /* "uid[:gid]" or a name; NULL: the image's */
  const struct cpb_podman_kv *labels;
  size_t n_labels;
  enum cpb_podman_netns netns;
  bool cap_drop_all;
  const char *const *cap_add; /* NULL-terminated "CAP_..." names kept after dropping all */
  bool no_new_privileges;
  /* Always sent: the REST API ignores containers.conf default_ulimits and Podman's own
     default (1048576) cannot be set by a rootless user on hosts like ours.  0 = 1024/4096. */
  uint64_t nofile;
  uint64_t nproc;
  uint64_t memory_bytes;            /* 0: no limit */
  double cpus;                      /* 0: no limit; 1.5 = quota 150000 per period 100000 */
  const char *seccomp_profile_path; /* NULL: Podman's default profile */
  const char *hostname;             /* NULL: Podman's default */
  int stop_timeout;                 /* seconds before SIGKILL on stop; 0: Podman's default */
};

/* POST /libpod/containers/create: the new container's ID in *RET_ID.  remove is always
   false: an auto-removed container loses its exit code and its outputs. */
int cpb_podman_container_create (cpb_podman *p, const struct cpb_container_spec *spec,
                                 char **ret_id, cpb_error **err);
/* The same, also returning Podman's warnings (NULL-terminated, never NULL) in
   *RET_WARNINGS: on rootless cgroups v1 hosts 4.3 creates the container but warns
   "Resource limits are not supported and ignored on cgroups V1 rootless systems", i.e.
   memory_bytes and cpus are not enforced; a caller that promises limits must say so. */
int cpb_podman_container_create_ex (cpb_podman *p, const struct cpb_container_spec *spec,
                                    char **ret_id, char ***ret_warnings, cpb_error **err);
/* POST .../start.  Already running (304) is success.  A failed start (500 on 4.3) leaves
   the container in "created"; remove it. */
int cpb_podman_container_start (cpb_podman *p, const char *id, cpb_error **err);
/* POST .../wait?condition=stopped&condition=exited: the exit code in *RET_EXIT_CODE.
   Traps (4.3): answers 0 at once for a container never started, and loses the code of an
   auto-removed one; many concurrent waits load the service (prefer cpb_podman_events). */
int cpb_podman_container_wait (cpb_podman *p, const char *id, int *ret_exit_code, cpb_error **err);
/* POST .../kill?signal=N. */
int cpb_podman_container_kill (cpb_podman *p, const char *id, int signo, cpb_error **err);
/* POST .../pause and .../unpause (cgroup freezer; works rootless on cgroups v1 with runc). */
int cpb_podman_container_pause (cpb_podman *p, const char *id, cpb_error **err);
int cpb_podman_container_unpause (cpb_podman *p, const char *id, cpb_error **err);
/* POST .../stop?timeout=T: SIGTERM, then SIGKILL after T seconds (T < 0: the container's). */
int cpb_podman_container_stop (cpb_podman *p, const char *id, int timeout, cpb_error **err);
/* DELETE .../ID?force=F&volumes=true (libpod ignores Docker's v=). */
int cpb_podman_container_remove (cpb_podman *p, const char *id, bool force, cpb_error **err);

struct cpb_podman_container
{
  char *id;
  char *name;
  char *image; /* the name it was created from */
  char *image_id;
  char *status; /* "created", "running", "paused", "exited", "stopped", ... */
  int exit_code;
  /* Wrong on 4.3: stays false after a real OOM kill.  Treat exit 137 with a memory limit
     as a probable OOM kill instead. */
  bool oom_killed;
  int64_t pid;         /* 0 when not running */
  int64_t started_at;  /* seconds since the epoch, 0 when never started */
  int64_t finished_at; /* 0 while running or never started */
  struct cpb_podman_kv *labels;
  size_t n_labels;
};

struct cpb_podman_container_list
{
  struct cpb_podman_container *containers;
  size_t n;
};

/* GET .../ID/json. */
int cpb_podman_container_inspect (cpb_podman *p, const char *id, struct cpb_podman_container **ret,
                                  cpb_error **err);
/* GET /libpod/containers/json?all=true&filters={"label":[LABEL_FILTER]}: every container
   with that label ("key" or "key=value"; NULL for all).  Inspect fields the list does not
   carry (oom_killed, pid) are left 0. */
int cpb_podman_container_list (cpb_podman *p, const char *label_filter,
                               struct cpb_podman_container_list **ret, cpb_error **err);

void cpb_podman_container_free (struct cpb_podman_container *c);
void cpb_podman_container_list_free (struct cpb_podman_container_list *l);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_podman_container *, cpb_podman_container_free)
#define _cleanup_podman_container_ _cleanup_ (cpb_podman_container_freep)
CPB_DEFINE_CLEANUP_FUNC (struct cpb_podman_container_list *, cpb_podman_container_list_free)
#define _cleanup_podman_container_list_ _cleanup_ (cpb_podman_container_list_freep)

/* PUT .../archive?path=PATH: extract the tar in BODY under PATH (which must exist) in the
   container.  Works on a created, not yet started container (inputs, the helper). */
int cpb_podman_archive_put (cpb_podman *p, const char *id, const char *path,
                            const struct cpb_podman_body *body, cpb_error **err);
/* GET .../archive?path=PATH: a tar of PATH streamed to ON_DATA (use "DIR/." for the
   contents of DIR without DIR itself).  Works on exited containers; a missing path is
   CPB_ERR_NOT_FOUND. */
int cpb_podman_archive_get (cpb_podman *p, const char *id, const char *path,
                            cpb_podman_data_fn on_data, void *userdata, cpb_error **err);

/* ------------------------------------------------------------------ logs */

enum cpb_podman_log_stream
{
  CPB_LOG_STDOUT = 1,
  CPB_LOG_STDERR = 2,
};

/* Receives log bytes of one stream.  A frame may arrive in several calls; a line may span
   frames.  Same return convention as cpb_podman_data_fn. */
typedef int (*cpb_podman_log_fn) (void *userdata, enum cpb_podman_log_stream stream,
                                  const char *data, size_t len, cpb_error **err);

/* The incremental decoder of Podman's log framing: 8-byte headers [stream, 0, 0, 0,
   length as 32-bit big endian] each followed by that many bytes, split anywhere by the
   transport.  Podman 4.3 frames even tty containers' logs. */
struct cpb_logframe
{
  unsigned char header[8];
  size_t header_len;  /* bytes of the current header seen so far */
  int stream;         /* of the frame being read */
  uint32_t remaining; /* payload bytes of the current frame still to come */
};

#define CPB_LOGFRAME_INIT                                                                          \
  {                                                                                                \
    { 0 }, 0, 0, 0                                                                                 \
  }

/* Feed LEN bytes; payload is handed to FN as it completes.  An unknown stream byte is
   CPB_ERR_PODMAN (the stream is then unusable). */
int cpb_logframe_feed (struct cpb_logframe *d, const void *data, size_t len, cpb_podman_log_fn fn,
                       void *userdata, cpb_error **err);

/* True when D is between frames: the stream may end here without losing data. */
bool cpb_logframe_at_boundary (const struct cpb_logframe *d);

enum cpb_podman_logs_flags
{
  CPB_LOGS_STDOUT = 1 << 0,
  CPB_LOGS_STDERR = 1 << 1,
  CPB_LOGS_FOLLOW = 1 << 2, /* keep streaming until the container exits (or cancel) */
};

/* GET .../logs: the container's output, decoded, to FN.  With CPB_LOGS_FOLLOW, 4.3 sends
   its headers only with the first log line, so the call has no low-speed timeout. */
int cpb_podman_container_logs (cpb_podman *p, const char *id, unsigned flags, cpb_podman_log_fn fn,
                               void *userdata, cpb_error **err);

/* ------------------------------------------------------------------ events */

struct cpb_podman_event
{
  char *type;   /* "container", "image", "pod", "volume", ... */
  char *action; /* "died", "start", "create", "remove", "pull", ... (Status/Action) */
  char *id;
  char *name;
  char *image;
  int exit_code;                    /* Actor.Attributes.containerExitCode; -1 when absent */
  struct cpb_podman_kv *attributes; /* all of Actor.Attributes: the labels are here too */
  size_t n_attributes;
  int64_t time;      /* seconds since the epoch */
  int64_t time_nano; /* nanoseconds since the epoch, when given */
};

struct cpb_podman_event_filter
{
  const char *const *types;      /* NULL-terminated: "container" */
  const char *const *events;     /* "died", "start" */
  const char *const *labels;     /* "io.cpb.run=abc" (all must match) */
  const char *const *containers; /* names or IDs */
  const char *since;             /* Podman time syntax (RFC 3339, unix seconds, "5m"); NULL: now */
  const char *until;             /* NULL: stream until stopped */
};

/* Receives one event; the event is freed after the call returns.  Same return convention
   as cpb_podman_data_fn (CPB_PODMAN_STOP ends the stream). */
typedef int (*cpb_podman_event_fn) (void *userdata, const struct cpb_podman_event *ev,
                                    cpb_error **err);

/* GET /libpod/events?stream=true&filters=...: calls FN for each event until FN stops it,
   the connection is cancelled (CPB_ERR_CANCELLED) or, with until set, the service ends
   the stream.  One stream reports every exit cheaper than one wait per container.
   Trap (4.3): the stream only reports what happens after it is open, and Podman sends
   nothing (not even headers) until the first event, so a caller cannot tell when it is
   open: set since to a time taken before creating the containers (unix seconds as text)
   and the service replays the events in between, so no exit is missed. */
int cpb_podman_events (cpb_podman *p, const struct cpb_podman_event_filter *filter,
                       cpb_podman_event_fn fn, void *userdata, cpb_error **err);

void cpb_podman_event_free (struct cpb_podman_event *ev);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_podman_event *, cpb_podman_event_free)
#define _cleanup_podman_event_ _cleanup_ (cpb_podman_event_freep)

/* ------------------------------------------------------------------ parsers */

/* The typed parse functions of every response document the client reads, one per shape
   (exported for the unit tests and the fuzzers; callers use the calls above).  TEXT need
   not be NUL-terminated; unknown fields are ignored and missing ones left empty, but a
   document of the wrong shape (not an object, no ID) is CPB_ERR_PODMAN. */
int cpb_podman_parse_version (const char *text, size_t len, struct cpb_podman_version **ret,
                              cpb_error **err);
int cpb_podman_parse_info (const char *text, size_t len, struct cpb_podman_info **ret,
                           cpb_error **err);
int cpb_podman_parse_image_list (const char *text, size_t len, struct cpb_podman_image_list **ret,
                                 cpb_error **err);
int cpb_podman_parse_image_inspect (const char *text, size_t len, struct cpb_podman_image **ret,
                                    cpb_error **err);
int cpb_podman_parse_container_inspect (const char *text, size_t len,
                                        struct cpb_podman_container **ret, cpb_error **err);
int cpb_podman_parse_container_list (const char *text, size_t len,
                                     struct cpb_podman_container_list **ret, cpb_error **err);
int cpb_podman_parse_event (const char *text, size_t len, struct cpb_podman_event **ret,
                            cpb_error **err);
/* {"Id": ...} (create, import): the ID. */
int cpb_podman_parse_id (const char *text, size_t len, char **ret_id, cpb_error **err);
/* {"Id": ..., "Warnings": [...]} (create): the ID and the warnings (never NULL). */
int cpb_podman_parse_create (const char *text, size_t len, char **ret_id, char ***ret_warnings,
                             cpb_error **err);
/* {"Names": [...]} (load). */
int cpb_podman_parse_load (const char *text, size_t len, char ***ret_names, cpb_error **err);
/* The bare integer of wait. */
int cpb_podman_parse_wait (const char *text, size_t len, int *ret_exit_code, cpb_error **err);
/* An error body ({"cause","message","response"}, or raw text) with HTTP STATUS into *ERR
   as "podman: MESSAGE"; always returns -1. */
int cpb_podman_parse_error (const char *text, size_t len, long status, cpb_error **err);

/* One line of the build stream.  Sets *RET_STREAM to the text of a {"stream": ...} line
   (NULL otherwise, owned by the caller); returns -1 with Podman's text in *ERR for an
   error/errorDetail line (kind CPB_ERR_FAILED). */
int cpb_podman_parse_build_line (const char *text, size_t len, char **ret_stream, cpb_error **err);

#endif
