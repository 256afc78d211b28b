/* server.c: the HTTP side of cpb serve: binding, the guard every request passes, routing
   (see serve.h and guard.h). */
#include "config.h"
#include "private.h"
#include "json.h"
#include "paths.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum kind
{
  ROUTE_NONE = 0,
  ROUTE_ASSET,
  ROUTE_SESSION,
  ROUTE_STATUS,
  ROUTE_OVERVIEW,
  ROUTE_EVENTS,
  ROUTE_TASKS,
  ROUTE_FINISHED,
  ROUTE_LOGS,
  ROUTE_ACTION,
};

/* Every request's own state between the calls MHD makes for it. */
struct request
{
  bool body_seen;
};

/* ------------------------------------------------------------------ replies */

static void
add_common_headers (cpb_server *s, struct MHD_Response *resp, bool set_cookie)
{
  MHD_add_response_header (resp, "Content-Security-Policy",
                           "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                           "form-action 'self'");
  MHD_add_response_header (resp, "Cache-Control", "no-store");
  MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header (resp, "X-Frame-Options", "DENY");
  /* The token may be in the URL of the first page: never send it on. */
  MHD_add_response_header (resp, "Referrer-Policy", "no-referrer");
  if (set_cookie)
    {
      _cleanup_free_ char *cookie = cpb_xasprintf ("%s=%s; HttpOnly; SameSite=Strict; Path=/",
                                                   s->cookie_name, s->guard.session);

      MHD_add_response_header (resp, "Set-Cookie", cookie);
    }
}

enum MHD_Result
cpb_serve_queue_response (cpb_server *s, struct MHD_Connection *c, unsigned status,
                          struct MHD_Response *resp, bool set_cookie)
{
  enum MHD_Result rc;

  if (resp == NULL)
    return MHD_NO;
  add_common_headers (s, resp, set_cookie);
  rc = MHD_queue_response (c, status, resp);
  MHD_destroy_response (resp);
  return rc;
}

enum MHD_Result
cpb_serve_queue (cpb_server *s, struct MHD_Connection *c, struct reply *r, bool set_cookie)
{
  struct MHD_Response *resp =
      r->static_body
          ? MHD_create_response_from_buffer (r->len, (void *)r->static_body, MHD_RESPMEM_PERSISTENT)
          : MHD_create_response_from_buffer (r->len, r->body, MHD_RESPMEM_MUST_FREE);

  if (resp == NULL)
    {
      free (r->body);
      return MHD_NO;
    }
  r->body = NULL;
  MHD_add_response_header (resp, "Content-Type", r->type ? r->type : "application/json");
  if (r->allow)
    MHD_add_response_header (resp, "Allow", r->allow);
  if (r->location)
    MHD_add_response_header (resp, "Location", r->location);
  return cpb_serve_queue_response (s, c, r->status, resp, set_cookie);
}

void
cpb_serve_error_reply (struct reply *r, unsigned status, const char *fmt, ...)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_free_ char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    msg = NULL;
  va_end (ap);
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "error", msg ? msg : "out of memory");
  yajl_gen_map_close (g);
  free (r->body);
  r->body = cpb_report_finish (g, &r->len);
  r->status = status;
  r->type = "application/json";
}

void
cpb_serve_error_from (struct reply *r, const cpb_error *err)
{
  unsigned status;

  switch (err ? err->kind : CPB_ERR_SYSTEM)
    {
    case CPB_ERR_NOT_FOUND:
      status = MHD_HTTP_NOT_FOUND;
      break;
    case CPB_ERR_INPUT:
      status = MHD_HTTP_BAD_REQUEST;
      break;
    case CPB_ERR_FAILED:
      status = MHD_HTTP_CONFLICT;
      break;
    case CPB_ERR_CONNECT:
      status = MHD_HTTP_SERVICE_UNAVAILABLE;
      break;
    default:
      status = MHD_HTTP_INTERNAL_SERVER_ERROR;
      break;
    }
  cpb_serve_error_reply (r, status, "%s", err ? err->msg : "internal error");
}

static void
text_reply (struct reply *r, unsigned status, const char *text)
{
  r->status = status;
  r->type = "text/plain; charset=utf-8";
  r->body = cpb_xstrdup (text);
  r->len = strlen (text);
}

/* ------------------------------------------------------------------ routing */

static const struct cpb_asset *
find_asset (const char *path)
{
  if (strcmp (path, "/") == 0)
    path = "/index.html";
  for (const struct cpb_asset *a = cpb_serve_assets; a->path; a++)
    if (strcmp (a->path, path) == 0)
      return a;
  return NULL;
}

static bool
is_action (const char *word)
{
  return strcmp (word, "hold") == 0 || strcmp (word, "release") == 0 ||
         strcmp (word, "cancel") == 0;
}

/* /api/batches/NS/BATCH/...: what follows the batch in V[4..N). */
static enum kind
route_batch (char **v, size_t n, struct route *rt)
{
  rt->ns = v[2];
  rt->batch = v[3];
  if (n == 5 && strcmp (v[4], "tasks") == 0)
    return ROUTE_TASKS;
  if (n == 5 && strcmp (v[4], "finished") == 0)
    return ROUTE_FINISHED;
  if (n == 5 && is_action (v[4]))
    {
      rt->action = v[4];
      return ROUTE_ACTION;
    }
  if (n == 7 && strcmp (v[4], "tasks") == 0)
    {
      rt->task = v[5];
      if (strcmp (v[6], "logs") == 0)
        return ROUTE_LOGS;
      if (is_action (v[6]))
        {
          rt->action = v[6];
          return ROUTE_ACTION;
        }
    }
  return ROUTE_NONE;
}

/* The segments after "/api/" (V[0] is "api"). */
static enum kind
route_api (char **v, size_t n, struct route *rt)
{
  if (n == 2 && strcmp (v[1], "session") == 0)
    return ROUTE_SESSION;
  if (n == 2 && strcmp (v[1], "overview") == 0)
    return ROUTE_OVERVIEW;
  if (n == 2 && strcmp (v[1], "events") == 0)
    return ROUTE_EVENTS;
  if ((n == 2 || n == 4) && strcmp (v[1], "status") == 0)
    {
      rt->ns = n == 4 ? v[2] : NULL;
      rt->batch = n == 4 ? v[3] : NULL;
      return ROUTE_STATUS;
    }
  if (n >= 5 && strcmp (v[1], "batches") == 0)
    return route_batch (v, n, rt);
  return ROUTE_NONE;
}

/* Split URL into at most 8 segments in the buffer COPY (no empty segment, no dot names). */
static size_t
split_path (char *copy, char **v, size_t max)
{
  size_t n = 0;

  for (char *save = NULL, *tok = strtok_r (copy, "/", &save); tok;
       tok = strtok_r (NULL, "/", &save))
    {
      if (n == max || tok[0] == '.')
        return 0;
      v[n++] = tok;
    }
  return n;
}

static enum kind
route (const char *url, char *copy, struct route *rt)
{
  char *v[8];
  size_t n;

  memset (rt, 0, sizeof *rt);
  if (strncmp (url, "/api/", 5) != 0)
    return find_asset (url) ? ROUTE_ASSET : ROUTE_NONE;
  n = split_path (copy, v, sizeof v / sizeof v[0]);
  return n >= 2 ? route_api (v, n, rt) : ROUTE_NONE;
}

/* The names in RT are checked as cpb checks every name (no '/', no dot start), so a path
   never reaches the store or the database with anything but a name. */
static int
check_route (const struct route *rt, cpb_error **err)
{
  if (rt->ns && cpb_check_name ("namespace", rt->ns, err) < 0)
    return -1;
  if (rt->batch && cpb_check_name ("batch", rt->batch, err) < 0)
    return -1;
  if (rt->task && cpb_check_name ("task", rt->task, err) < 0)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------ the guard */

static bool
authenticated (cpb_server *s, struct MHD_Connection *c, bool *ret_by_token)
{
  const char *cookie = MHD_lookup_connection_value (c, MHD_COOKIE_KIND, s->cookie_name);
  const char *token = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "token");

  *ret_by_token = false;
  if (cookie && cpb_guard_secret_eq (s->guard.session, cookie))
    return true;
  if (token && cpb_guard_secret_eq (s->guard.token, token))
    {
      *ret_by_token = true;
      return true;
    }
  return false;
}

/* An action must come from the page itself: the page's Origin and the CSRF token it got
   from /api/session (a cross-site form can send the cookie, never the header). */
static bool
action_allowed (cpb_server *s, struct MHD_Connection *c)
{
  const char *host = MHD_lookup_connection_value (c, MHD_HEADER_KIND, "Host");
  const char *origin = MHD_lookup_connection_value (c, MHD_HEADER_KIND, "Origin");
  const char *csrf = MHD_lookup_connection_value (c, MHD_HEADER_KIND, "X-CPB-CSRF");

  return cpb_guard_origin_ok (origin, host) && cpb_guard_secret_eq (s->guard.csrf, csrf);
}

/* ------------------------------------------------------------------ dispatch */

static void
serve_asset (const char *url, struct reply *r)
{
  const struct cpb_asset *a = find_asset (url);

  r->status = MHD_HTTP_OK;
  r->type = a->type;
  r->static_body = a->data;
  r->len = a->len;
}

static void
dispatch_get (cpb_server *s, struct MHD_Connection *c, enum kind k, const char *url,
              const struct route *rt, struct reply *r)
{
  switch (k)
    {
    case ROUTE_ASSET:
      serve_asset (url, r);
      break;
    case ROUTE_SESSION:
      cpb_api_session (s, r);
      break;
    case ROUTE_STATUS:
      cpb_api_status (s, rt, r);
      break;
    case ROUTE_OVERVIEW:
      cpb_api_overview (s, r);
      break;
    case ROUTE_TASKS:
      cpb_api_tasks (s, c, rt, r);
      break;
    case ROUTE_FINISHED:
      cpb_api_finished (s, rt, r);
      break;
    case ROUTE_LOGS:
      cpb_api_logs (s, rt, r);
      break;
    case ROUTE_NONE:
    case ROUTE_EVENTS:
    case ROUTE_ACTION:
    default:
      cpb_serve_error_reply (r, MHD_HTTP_NOT_FOUND, "no such page: %s", url);
      break;
    }
}

static bool
wants_follow (struct MHD_Connection *c)
{
  const char *f = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "follow");

  return f && strcmp (f, "0") != 0;
}

/* What the guard lets through: route by method and path. */
static enum MHD_Result
dispatch (cpb_server *s, struct MHD_Connection *c, const char *url, const char *method,
          bool set_cookie)
{
  _cleanup_free_ char *copy = cpb_xstrdup (url);
  _cleanup_error_ cpb_error *err = NULL;
  struct reply r = { 0 };
  struct route rt;
  enum kind k = route (url, copy, &rt);
  bool post = strcmp (method, MHD_HTTP_METHOD_POST) == 0;

  if (k != ROUTE_NONE && check_route (&rt, &err) < 0)
    cpb_serve_error_from (&r, err);
  else if (k == ROUTE_ACTION && !post)
    {
      cpb_serve_error_reply (&r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is an action: use POST",
                             rt.action);
      r.allow = "POST";
    }
  else if (k == ROUTE_ACTION && !action_allowed (s, c))
    cpb_serve_error_reply (&r, MHD_HTTP_FORBIDDEN,
                           "an action needs the page's Origin and its X-CPB-CSRF token");
  else if (k == ROUTE_ACTION)
    cpb_api_action (s, &rt, &r);
  else if (post)
    {
      cpb_serve_error_reply (&r, MHD_HTTP_METHOD_NOT_ALLOWED, "only actions take POST");
      r.allow = "GET, HEAD";
    }
  else if (k == ROUTE_EVENTS)
    return cpb_stream_events (s, c);
  else if (k == ROUTE_LOGS && wants_follow (c))
    return cpb_stream_logs (s, c, &rt);
  else
    dispatch_get (s, c, k, url, &rt, &r);
  return cpb_serve_queue (s, c, &r, set_cookie);
}

static enum MHD_Result
handle (void *cls, struct MHD_Connection *c, const char *url, const char *method,
        const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
  cpb_server *s = cls;
  struct request *req = *con_cls;
  struct reply r = { 0 };
  bool by_token = false;

  if (req == NULL)
    {
      /* Only the headers are in: say go on, the next call has the body (if any). */
      *con_cls = cpb_xzalloc (sizeof *req);
      return MHD_YES;
    }
  if (*upload_size > 0)
    {
      /* No action reads a body: what is sent is dropped as it arrives. */
      *upload_size = 0;
      req->body_seen = true;
      return MHD_YES;
    }
  if (!cpb_guard_host_ok (&s->guard, MHD_lookup_connection_value (c, MHD_HEADER_KIND, "Host")))
    text_reply (&r, MHD_HTTP_MISDIRECTED_REQUEST,
                "cpb serve: this server does not answer to that Host name\n");
  else if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 &&
           strcmp (method, MHD_HTTP_METHOD_HEAD) != 0 && strcmp (method, MHD_HTTP_METHOD_POST) != 0)
    {
      text_reply (&r, MHD_HTTP_METHOD_NOT_ALLOWED, "cpb serve: method not allowed\n");
      r.allow = "GET, HEAD, POST";
    }
  else if (!authenticated (s, c, &by_token))
    text_reply (&r, MHD_HTTP_UNAUTHORIZED,
                "cpb serve: open the address 'cpb serve' printed, with its ?token=\n");
  else if (by_token && strcmp (url, "/") == 0 && strcmp (method, MHD_HTTP_METHOD_POST) != 0)
    {
      /* Trade the token for the cookie and take it out of the address bar. */
      text_reply (&r, MHD_HTTP_SEE_OTHER, "see /\n");
      r.location = "/";
    }
  else
    return dispatch (s, c, url, method, by_token);
  return cpb_serve_queue (s, c, &r, by_token);
}

static void
request_done (void *cls, struct MHD_Connection *c, void **con_cls,
              enum MHD_RequestTerminationCode toe)
{
  free (*con_cls);
  *con_cls = NULL;
}

/* ------------------------------------------------------------------ start and stop */

static int
make_address (const char *host, unsigned port, struct sockaddr_storage *ss, bool *ret_v6,
              cpb_error **err)
{
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

  memset (ss, 0, sizeof *ss);
  *ret_v6 = false;
  if (strcmp (host, "localhost") == 0)
    host = "127.0.0.1";
  if (inet_pton (AF_INET, host, &in4->sin_addr) == 1)
    {
      in4->sin_family = AF_INET;
      in4->sin_port = htons ((uint16_t)port);
      return 0;
    }
  if (inet_pton (AF_INET6, host, &in6->sin6_addr) == 1)
    {
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons ((uint16_t)port);
      *ret_v6 = true;
      return 0;
    }
  return cpb_error_set (err, CPB_ERR_INPUT,
                        "--listen: '%s' is not an IP address (give 127.0.0.1, ::1 or another "
                        "address of this host)",
                        host);
}

static void
log_nothing (void *cls, const char *fmt, va_list ap)
{
}

/* Bind HOST:PORT ourselves, so that the port (chosen by the kernel for 0) is known, and the
   guard set, before the first request can arrive. */
static int
bind_socket (const char *host, unsigned port, unsigned *ret_port, cpb_error **err)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  _cleanup_close_ int fd = -1;
  int one = 1;
  bool v6;

  if (make_address (host, port, &ss, &v6, err) < 0)
    return -1;
  fd = socket (v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot make a socket");
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (fd, (struct sockaddr *)&ss,
            v6 ? sizeof (struct sockaddr_in6) : sizeof (struct sockaddr_in)) < 0)
    return cpb_error_errno (err, errno, "cannot listen on %s port %u", host, port);
  if (listen (fd, 32) < 0 || getsockname (fd, (struct sockaddr *)&ss, &len) < 0)
    return cpb_error_errno (err, errno, "cannot listen on %s port %u", host, port);
  *ret_port =
      ntohs (v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
  return TAKE_FD (fd);
}

static int
start_daemon (cpb_server *s, int fd, unsigned limit, cpb_error **err)
{
  s->daemon = MHD_start_daemon (
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, s,
      MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, limit ? limit : 16u,
      MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
      MHD_OPTION_EXTERNAL_LOGGER, log_nothing, NULL, MHD_OPTION_END);
  if (s->daemon == NULL)
    {
      close (fd);
      return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot start the HTTP server");
    }
  return 0;
}

int
cpb_server_start (const struct cpb_serve_options *o, cpb_server **ret, cpb_error **err)
{
  _cleanup_server_ cpb_server *s = cpb_xzalloc (sizeof *s);
  _cleanup_free_ char *host = NULL;
  unsigned port;
  int fd;

  if (cpb_guard_parse_listen (o->listen, &host, &port, err) < 0)
    return -1;
  if (!cpb_guard_is_loopback (host) && (o->allow_hosts == NULL || o->allow_hosts[0] == NULL))
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "--listen %s is not a loopback address: name the host names browsers "
                          "will use with --allow-host (or reach a loopback server over "
                          "'ssh -L')",
                          o->listen);
  s->state_path = cpb_xstrdup (o->state_path);
  s->podman = o->podman;
  if ((fd = bind_socket (host, port, &s->port, err)) < 0)
    return -1;
  s->cookie_name = cpb_xasprintf ("cpb_session_%u", s->port);
  if (cpb_guard_init (&s->guard, host, s->port, o->allow_hosts, err) < 0)
    {
      close (fd);
      return -1;
    }
  if (start_daemon (s, fd, o->connection_limit, err) < 0)
    return -1;
  s->url =
      cpb_xasprintf (strchr (host, ':') ? "http://[%s]:%u/?token=%s" : "http://%s:%u/?token=%s",
                     host, s->port, s->guard.token);
  *ret = TAKE_PTR (s);
  return 0;
}

const char *
cpb_server_url (const cpb_server *s)
{
  return s->url;
}

unsigned
cpb_server_port (const cpb_server *s)
{
  return s->port;
}

void
cpb_server_stop (cpb_server *s)
{
  if (s == NULL)
    return;
  atomic_store (&s->stopping, true);
  if (s->daemon)
    MHD_stop_daemon (s->daemon);
  cpb_guard_clear (&s->guard);
  free (s->state_path);
  free (s->url);
  free (s->cookie_name);
  free (s);
}
