/* podman/client.c: the connection and the generic request of the Podman REST client.
 *
 * One libcurl easy handle per connection: curl_easy_reset between requests forgets the
 * options but keeps the live connection, so a create/start/wait/remove cycle costs one
 * connect.  Responses are either collected, handed over as raw bytes or split into lines;
 * an error status diverts the body into a bounded buffer that becomes Podman's message.
 */
#include "config.h"
#include "podman/private.h"
#include "json.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Podman's error documents are short; anything longer is cut rather than held. */
#define ERROR_BODY_MAX (64 * 1024)
/* A single JSON line of a stream (a build step's output, an event) larger than this is a
   broken peer, not data. */
#define LINE_MAX_BYTES (16 * 1024 * 1024)
/* Short calls (inspect, create, start) that take longer than this mean a wedged service. */
#define CALL_TIMEOUT_S 300L
#define CONNECT_TIMEOUT_S 10L

#ifndef CURL_WRITEFUNC_ERROR
#define CURL_WRITEFUNC_ERROR 0 /* libcurl < 7.87: any short count fails the transfer */
#endif

static atomic_int interrupted;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once (void)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
}

void
cpb_podman_interrupt (void)
{
  atomic_store (&interrupted, 1);
}

bool
cpb_podman_interrupted (void)
{
  return atomic_load (&interrupted) != 0;
}

void
cpb_podman_cancel (cpb_podman *p)
{
  atomic_store (&p->cancelled, 1);
}

void
cpb_podman_clear_cancel (cpb_podman *p)
{
  atomic_store (&p->cancelled, 0);
}

const char *
cpb_podman_url (const cpb_podman *p)
{
  return p->url;
}

const char *
cpb_podman_api_version (const cpb_podman *p)
{
  return p->api_version ? p->api_version : "";
}

bool
cpb_podman_is_embedded (const cpb_podman *p)
{
  return p->service_pid > 0;
}

/* Split URL into the socket path (unix://) or the HTTP base (tcp://). */
static int
parse_url (cpb_podman *p, const char *url, cpb_error **err)
{
  if (strncmp (url, "unix://", 7) == 0 && url[7] == '/')
    {
      p->socket_path = cpb_xstrdup (url + 7);
      /* The host part is ignored over a UNIX socket; "d" keeps the URL valid. */
      p->base = cpb_xstrdup ("http://d" CPB_PODMAN_API_PREFIX);
      return 0;
    }
  if (strncmp (url, "tcp://", 6) == 0 && url[6] != '\0')
    {
      p->base = cpb_xasprintf ("http://%s" CPB_PODMAN_API_PREFIX, url + 6);
      return 0;
    }
  return cpb_error_set (
      err, CPB_ERR_INPUT,
      "unsupported Podman URL '%s': use unix:///path/podman.sock, "
      "ssh://user@host[:port]/path/podman.sock or tcp://host:port",
      url);
}

int
cpb_podman_open (const char *url, cpb_podman **ret, cpb_error **err)
{
  cpb_podman *p;

  pthread_once (&curl_once, curl_init_once);
  p = cpb_xzalloc (sizeof *p);
  if (parse_url (p, url, err) < 0)
    {
      cpb_podman_free (p);
      return -1;
    }
  p->url = cpb_xstrdup (url);
  p->curl = curl_easy_init ();
  if (p->curl == NULL)
    abort (); /* libcurl fails here only when out of memory */
  *ret = p;
  return 0;
}

cpb_podman *
cpb_podman_open_socket (const char *url, const char *socket_path)
{
  cpb_podman *p;

  pthread_once (&curl_once, curl_init_once);
  p = cpb_xzalloc (sizeof *p);
  p->url = cpb_xstrdup (url);
  p->socket_path = cpb_xstrdup (socket_path);
  p->base = cpb_xstrdup ("http://d" CPB_PODMAN_API_PREFIX);
  p->curl = curl_easy_init ();
  if (p->curl == NULL)
    abort (); /* libcurl fails here only when out of memory */
  return p;
}

int
cpb_podman_clone (cpb_podman *p, cpb_podman **ret, cpb_error **err)
{
  cpb_podman *c;

  /* A remote service's clones share its ssh master: one login per node and process. */
  if (p->tunnel)
    {
      c = cpb_podman_open_socket (p->url, p->socket_path);
      c->tunnel = cpb_ssh_tunnel_ref (p->tunnel);
    }
  else if (cpb_podman_open (p->url, &c, err) < 0)
    return -1;
  c->api_version = p->api_version ? cpb_xstrdup (p->api_version) : NULL;
  *ret = c;
  return 0;
}

void
cpb_podman_free (cpb_podman *p)
{
  if (p == NULL)
    return;
  if (p->curl)
    curl_easy_cleanup (p->curl);
  cpb_podman_stop_service (p);
  cpb_ssh_tunnel_unref (p->tunnel);
  free (p->url);
  free (p->socket_path);
  free (p->base);
  free (p->api_version);
  free (p);
}

char *
cpb_podman_escape (const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  char *out = cpb_xmalloc (strlen (s) * 3 + 1), *o = out;

  for (const unsigned char *c = (const unsigned char *)s; *c; c++)
    {
      if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
          *c == '-' || *c == '.' || *c == '_' || *c == '~')
        *o++ = (char)*c;
      else
        {
          *o++ = '%';
          *o++ = hex[*c >> 4];
          *o++ = hex[*c & 15];
        }
    }
  *o = '\0';
  return out;
}

const char *
cpb_podman_kv_get (const struct cpb_podman_kv *kv, size_t n, const char *key)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (kv[i].key, key) == 0)
      return kv[i].value;
  return NULL;
}

void
cpb_podman_kv_free (struct cpb_podman_kv *kv, size_t n)
{
  for (size_t i = 0; kv && i < n; i++)
    {
      free ((char *)kv[i].key);
      free ((char *)kv[i].value);
    }
  free (kv);
}

/* ------------------------------------------------------------------ one transfer */

struct transfer
{
  cpb_podman *p;
  const struct cpb_podman_request *req;
  cpb_buf error_body;  /* the body of an error status */
  cpb_buf line;        /* an incomplete line of a line stream */
  cpb_error *cb_error; /* what a callback failed with */
  bool stopped;        /* a callback asked to end the stream */
  int read_errno;
};

static bool
transfer_failed_status (struct transfer *t)
{
  long status = 0;

  curl_easy_getinfo (t->p->curl, CURLINFO_RESPONSE_CODE, &status);
  return status >= 400;
}

static int
deliver_lines (struct transfer *t, const char *data, size_t len)
{
  const struct cpb_podman_request *req = t->req;
  const char *nl;

  while ((nl = memchr (data, '\n', len)) != NULL)
    {
      size_t n = (size_t)(nl - data);
      int r;

      cpb_buf_append (&t->line, data, n);
      len -= n + 1;
      data = nl + 1;
      r = t->line.len ? req->on_line (req->userdata, t->line.data, t->line.len, &t->cb_error) : 0;
      cpb_buf_reset (&t->line);
      if (r != 0)
        return r;
    }
  if (t->line.len + len > LINE_MAX_BYTES)
    return cpb_error_set (&t->cb_error, CPB_ERR_PODMAN, "line of more than %d bytes in a stream",
                          LINE_MAX_BYTES);
  cpb_buf_append (&t->line, data, len);
  return 0;
}

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *userdata)
{
  struct transfer *t = userdata;
  const struct cpb_podman_request *req = t->req;
  size_t len = size * nmemb;
  int r = 0;

  if (transfer_failed_status (t))
    {
      if (t->error_body.len < ERROR_BODY_MAX)
        cpb_buf_append (&t->error_body, data, len);
      return len;
    }
  if (req->on_line)
    r = deliver_lines (t, data, len);
  else if (req->on_data)
    r = req->on_data (req->userdata, data, len, &t->cb_error);
  else if (req->response)
    cpb_buf_append (req->response, data, len);
  if (r == 0)
    return len;
  if (r > 0)
    t->stopped = true;
  else if (t->cb_error == NULL)
    cpb_error_set (&t->cb_error, CPB_ERR_PODMAN, "stream handler failed");
  return CURL_WRITEFUNC_ERROR;
}

static size_t
read_cb (char *buf, size_t size, size_t nitems, void *userdata)
{
  struct transfer *t = userdata;
  const struct cpb_podman_body *body = t->req->body;
  ssize_t n;

  do
    n = body->kind == CPB_BODY_FD ? read (body->fd, buf, size * nitems)
                                  : body->read (body->userdata, buf, size * nitems);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      t->read_errno = errno ? errno : EIO;
      return CURL_READFUNC_ABORT;
    }
  return (size_t)n;
}

static int
xferinfo_cb (void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
             curl_off_t ulnow)
{
  struct transfer *t = userdata;

  return atomic_load (&t->p->cancelled) || atomic_load (&interrupted) ? 1 : 0;
}

static char *
build_url (cpb_podman *p, const struct cpb_podman_request *req)
{
  _cleanup_buf_ cpb_buf url = CPB_BUF_INIT;
  char sep = '?';

  cpb_buf_printf (&url, "%s%s", p->base, req->path);
  for (const char *const *q = req->query; q && q[0] && q[1]; q += 2)
    {
      _cleanup_free_ char *value = cpb_podman_escape (q[1]);

      cpb_buf_printf (&url, "%c%s=%s", sep, q[0], value);
      sep = '&';
    }
  return cpb_buf_steal (&url, NULL);
}

/* The size of a body streamed from a regular file, so it goes with a Content-Length;
   -1 (chunked) for pipes and callbacks. */
static curl_off_t
body_size (const struct cpb_podman_body *body)
{
  struct stat st;

  if (body->kind == CPB_BODY_MEMORY)
    return (curl_off_t)body->len;
  if (body->kind == CPB_BODY_FD && fstat (body->fd, &st) == 0 && S_ISREG (st.st_mode) &&
      lseek (body->fd, 0, SEEK_CUR) == 0)
    return (curl_off_t)st.st_size;
  return -1;
}

static struct curl_slist *
set_body (struct transfer *t, const char *method)
{
  const struct cpb_podman_body *body = t->req->body;
  struct curl_slist *headers = curl_slist_append (NULL, "Expect:");
  const char *type = "application/json";
  CURL *c = t->p->curl;

  if (body == NULL || body->kind == CPB_BODY_NONE)
    {
      /* Podman 4.3 answers 400 to a POST with libcurl's form content type, so every
         POST and PUT says what it (does not) carry. */
      if (strcmp (method, "POST") == 0 || strcmp (method, "PUT") == 0)
        {
          curl_easy_setopt (c, CURLOPT_POSTFIELDS, "");
          curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
          headers = curl_slist_append (headers, "Content-Type: application/json");
        }
      return headers;
    }
  if (body->kind != CPB_BODY_MEMORY)
    type = "application/x-tar";
  if (body->content_type)
    type = body->content_type;
  {
    _cleanup_free_ char *h = cpb_xasprintf ("Content-Type: %s", type);
    headers = curl_slist_append (headers, h);
  }
  curl_easy_setopt (c, CURLOPT_POST, 1L);
  if (body->kind == CPB_BODY_MEMORY)
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, body->data ? body->data : "");
  else
    {
      curl_easy_setopt (c, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt (c, CURLOPT_READDATA, t);
    }
  curl_easy_setopt (c, CURLOPT_POSTFIELDSIZE_LARGE, body_size (body));
  return headers;
}

/* libcurl opens its sockets without SOCK_CLOEXEC, so every child cpb spawns (recipes,
   ssh, the embedded service) would inherit the connection to Podman: mmdebstrap's apt
   failed on such a stray descriptor.  Open them ourselves, close-on-exec. */
static curl_socket_t
opensocket_cb (void *userdata, curlsocktype purpose, struct curl_sockaddr *addr)
{
  int fd = socket (addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);

  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static void
set_common_options (struct transfer *t, const char *url, const char *method)
{
  CURL *c = t->p->curl;

  curl_easy_reset (c);
  curl_easy_setopt (c, CURLOPT_URL, url);
  if (t->p->socket_path)
    curl_easy_setopt (c, CURLOPT_UNIX_SOCKET_PATH, t->p->socket_path);
  curl_easy_setopt (c, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
  curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, t->p->curl_error);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, t);
  curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
  curl_easy_setopt (c, CURLOPT_XFERINFODATA, t);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
  /* Streams (logs, events, wait, build) may be silent for hours: no total or low-speed
     timeout there; podman 4.3 even holds back the headers of logs until the first line. */
  if (!t->req->streaming)
    curl_easy_setopt (c, CURLOPT_TIMEOUT, CALL_TIMEOUT_S);
  curl_easy_setopt (c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
}

/* Turn what libcurl said into the caller's error: cancellation, an unreachable service,
   a failed callback or body read. */
static int
transfer_error (struct transfer *t, CURLcode code, cpb_error **err)
{
  cpb_podman *p = t->p;

  if (t->cb_error)
    {
      cpb_error_free (*err);
      *err = TAKE_PTR (t->cb_error);
      return -1;
    }
  if (code == CURLE_ABORTED_BY_CALLBACK)
    return cpb_error_set (err, CPB_ERR_CANCELLED, "interrupted");
  if (t->read_errno)
    return cpb_error_errno (err, t->read_errno, "cannot read the request body");
  if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
    {
      long os_errno = 0;

      /* libcurl's own text speaks of "port 80" even over a UNIX socket: the errno of
         connect() says what the user needs (no such file, permission, refused). */
      curl_easy_getinfo (p->curl, CURLINFO_OS_ERRNO, &os_errno);
      cpb_error_set (err, CPB_ERR_CONNECT, "cannot connect to Podman at '%s': %s", p->url,
                     os_errno ? strerror ((int)os_errno) : curl_easy_strerror (code));
      /* Marks "nothing listens there", which discovery skips, apart from a service that
         answers wrongly, which it reports. */
      if (err)
        (*err)->errno_value = ECONNREFUSED;
      return -1;
    }
  return cpb_error_set (err, CPB_ERR_PODMAN, "talking to Podman at '%s': %s", p->url,
                        p->curl_error[0] ? p->curl_error : curl_easy_strerror (code));
}

/* The end of a successful transfer: a last line without its newline still counts. */
static int
transfer_finish (struct transfer *t, cpb_error **err)
{
  const struct cpb_podman_request *req = t->req;
  int r;

  if (!req->on_line || t->stopped || t->line.len == 0)
    return 0;
  r = req->on_line (req->userdata, t->line.data, t->line.len, &t->cb_error);
  if (r >= 0)
    return 0;
  return transfer_error (t, CURLE_OK, err);
}

int
cpb_podman_request (cpb_podman *p, const struct cpb_podman_request *req, long *ret_status,
                    cpb_error **err)
{
  struct transfer t = { .p = p, .req = req };
  const char *method = req->method ? req->method : "GET";
  _cleanup_free_ char *url = build_url (p, req);
  struct curl_slist *headers;
  long status = 0;
  CURLcode code;
  int r = 0;

  if (atomic_load (&p->cancelled) || atomic_load (&interrupted))
    return cpb_error_set (err, CPB_ERR_CANCELLED, "interrupted");
  p->curl_error[0] = '\0';
  set_common_options (&t, url, method);
  headers = set_body (&t, method);
  curl_easy_setopt (p->curl, CURLOPT_HTTPHEADER, headers);

  code = curl_easy_perform (p->curl);
  curl_easy_getinfo (p->curl, CURLINFO_RESPONSE_CODE, &status);
  if (code != CURLE_OK && !(t.stopped && code == CURLE_WRITE_ERROR))
    r = transfer_error (&t, code, err);
  else if (status >= 400)
    r = cpb_podman_parse_error (t.error_body.data ? t.error_body.data : "", t.error_body.len,
                                status, err);
  else
    r = transfer_finish (&t, err);
  if (r == 0 && ret_status)
    *ret_status = status;

  curl_slist_free_all (headers);
  cpb_buf_free (&t.error_body);
  cpb_buf_free (&t.line);
  cpb_error_free (t.cb_error);
  return r;
}

int
cpb_podman_call (cpb_podman *p, const char *method, const char *const *query, cpb_buf *response,
                 cpb_error **err, const char *path_fmt, ...)
{
  _cleanup_free_ char *path = NULL;
  va_list ap;

  va_start (ap, path_fmt);
  path = cpb_xvasprintf (path_fmt, ap);
  va_end (ap);
  struct cpb_podman_request req = {
    .method = method, .path = path, .query = query, .response = response
  };
  return cpb_podman_request (p, &req, NULL, err);
}
