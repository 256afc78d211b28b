/* stream.c: the server-sent event streams of cpb serve: /api/events (the overview again
   whenever the state database changes) and a task's logs followed live.
 *
 * Each stream runs in its connection's own thread (thread-per-connection mode), where
 * libmicrohttpd lets the content reader block: it waits in short ticks so that a stopping
 * server ends it within a tick, and sends a comment line every few seconds so that a
 * browser that went away is noticed (the write fails) and its connection freed. */
#include "config.h"
#include "private.h"
#include "json.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 250
#define KEEPALIVE_SECONDS 5
/* Node load changes without the database changing: send the overview this often anyway. */
#define REFRESH_SECONDS 10

/* Bytes waiting to go out, shared by both kinds of stream. */
struct outbox
{
  cpb_buf buf;
  size_t off;
  time_t last_sent;
};

/* Copy what is waiting into MHD's buffer; 0 when nothing is. */
static ssize_t
outbox_take (struct outbox *o, char *buf, size_t max)
{
  size_t n = o->buf.len - o->off;

  if (n == 0)
    return 0;
  if (n > max)
    n = max;
  memcpy (buf, o->buf.data + o->off, n);
  o->off += n;
  if (o->off == o->buf.len)
    {
      cpb_buf_reset (&o->buf);
      o->off = 0;
    }
  o->last_sent = time (NULL);
  return (ssize_t)n;
}

/* One event: "event: NAME", the data as one line (JSON has no raw newline), a blank line. */
static void
outbox_event (struct outbox *o, const char *name, const char *json, size_t len)
{
  while (len > 0 && json[len - 1] == '\n')
    len--;
  cpb_buf_printf (&o->buf, "event: %s\ndata: ", name);
  cpb_buf_append (&o->buf, json, len);
  cpb_buf_puts (&o->buf, "\n\n");
}

static struct MHD_Response *
sse_response (MHD_ContentReaderCallback reader, void *cls, MHD_ContentReaderFreeCallback done)
{
  struct MHD_Response *resp =
      MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 16 * 1024, reader, cls, done);

  if (resp)
    {
      MHD_add_response_header (resp, "Content-Type", "text/event-stream; charset=utf-8");
      MHD_add_response_header (resp, "X-Accel-Buffering", "no");
    }
  return resp;
}

static void
sleep_tick (void)
{
  struct timespec ts = { 0, TICK_MS * 1000000L };

  nanosleep (&ts, NULL);
}

/* ------------------------------------------------------------------ /api/events */

struct events
{
  cpb_server *s;
  cpb_report_db *db;
  struct outbox out;
  time_t last_doc;
};

static void
events_overview (struct events *e)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *doc = NULL;
  size_t len = 0;

  if (cpb_api_overview_doc (e->s, e->db, &doc, &len, &err) < 0)
    {
      _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "error", err->msg);
      yajl_gen_map_close (g);
      doc = cpb_report_finish (g, &len);
      outbox_event (&e->out, "problem", doc, len);
    }
  else
    outbox_event (&e->out, "overview", doc, len);
  e->last_doc = time (NULL);
}

static ssize_t
events_read (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct events *e = cls;

  for (;;)
    {
      ssize_t n = outbox_take (&e->out, buf, max);
      time_t now = time (NULL);

      if (n > 0)
        return n;
      if (atomic_load (&e->s->stopping))
        return MHD_CONTENT_READER_END_OF_STREAM;
      if (cpb_report_db_changed (e->db) || now - e->last_doc >= REFRESH_SECONDS)
        events_overview (e);
      else if (now - e->out.last_sent >= KEEPALIVE_SECONDS)
        cpb_buf_puts (&e->out.buf, ": keepalive\n\n");
      else
        sleep_tick ();
    }
}

static void
events_free (void *cls)
{
  struct events *e = cls;

  cpb_report_db_close (e->db);
  cpb_buf_free (&e->out.buf);
  free (e);
}

enum MHD_Result
cpb_stream_events (cpb_server *s, struct MHD_Connection *c)
{
  _cleanup_error_ cpb_error *err = NULL;
  struct events *e;
  struct reply r = { 0 };
  cpb_report_db *db = NULL;

  if (cpb_api_open_db (s, &db, &err) < 0)
    {
      cpb_serve_error_from (&r, err);
      return cpb_serve_queue (s, c, &r, false);
    }
  e = cpb_xzalloc (sizeof *e);
  e->s = s;
  e->db = db;
  /* Tell EventSource how long to wait before it reconnects after an error. */
  cpb_buf_puts (&e->out.buf, "retry: 2000\n\n");
  return cpb_serve_queue_response (s, c, MHD_HTTP_OK, sse_response (events_read, e, events_free),
                                   false);
}

/* ------------------------------------------------------------------ a task's logs, live */

/* A producer thread reads the logs (Podman's call blocks and calls back) and writes events
   into a pipe; the connection's reader drains the pipe.  Closing the read end is how the
   reader tells the producer that nobody listens any more. */
struct logstream
{
  cpb_server *s;
  struct route rt;
  char *ns, *batch, *task;
  cpb_podman *p; /* the producer's connection; cancelled to end a quiet follow */
  int rfd, wfd;
  pthread_t thread;
  bool started;
  /* An incomplete UTF-8 sequence at the end of a chunk waits for the next one, so that a
     character split by the transport is not turned into '?' by the JSON encoder. */
  char partial[2][4];
  size_t partial_len[2];
  time_t last_sent;
};

static int
write_all (int fd, const char *data, size_t len, cpb_error **err)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return cpb_error_errno (err, errno, "the page went away");
      data += n;
      len -= (size_t)n;
    }
  return 0;
}

static int
send_event (struct logstream *l, const char *name, yajl_gen g, cpb_error **err)
{
  _cleanup_free_ char *doc = NULL;
  struct outbox o = { CPB_BUF_INIT, 0, 0 };
  size_t len = 0;
  int rc;

  doc = cpb_report_finish (g, &len);
  outbox_event (&o, name, doc ? doc : "null", doc ? len : 4);
  rc = write_all (l->wfd, o.buf.data, o.buf.len, err);
  cpb_buf_free (&o.buf);
  return rc;
}

/* How many bytes at the end of DATA start a UTF-8 sequence that is not complete yet. */
static size_t
utf8_incomplete_tail (const char *data, size_t len)
{
  for (size_t back = 1; back <= 3 && back <= len; back++)
    {
      unsigned char c = (unsigned char)data[len - back];
      size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;

      if ((c & 0xc0) == 0x80)
        continue; /* a continuation byte: look further back */
      return need > back ? back : 0;
    }
  return 0;
}

static int
on_chunk (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
          cpb_error **err)
{
  struct logstream *l = userdata;
  int i = stream == CPB_LOG_STDERR;
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  cpb_buf text = CPB_BUF_INIT;
  size_t tail;
  int rc;

  cpb_buf_append (&text, l->partial[i], l->partial_len[i]);
  cpb_buf_append (&text, data, len);
  tail = utf8_incomplete_tail (text.data, text.len);
  memcpy (l->partial[i], text.data + text.len - tail, tail);
  l->partial_len[i] = tail;
  text.data[text.len -= tail] = '\0';
  cpb_json_gen_string (g, text.data);
  cpb_buf_free (&text);
  rc = send_event (l, i ? "stderr" : "stdout", g, err);
  return rc;
}

static void *
logstream_produce (void *arg)
{
  struct logstream *l = arg;
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_state_task t = { 0 };
  int rc = cpb_api_read_logs (l->s, l->p, &l->rt, &t, on_chunk, l, true, &err);
  cpb_report_db *db = NULL;

  /* The state now, not when the stream began (the run may not have recorded the end yet). */
  if (t.name && cpb_api_open_db (l->s, &db, NULL) == 0)
    {
      cpb_state_task_clear (&t);
      cpb_report_db_task (db, l->rt.ns, l->rt.batch, l->rt.task, &t, NULL);
      cpb_report_db_close (db);
    }
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "state", t.name ? cpb_task_state_name (t.state) : NULL);
  cpb_json_gen_key_string (g, "error", rc < 0 && err ? err->msg : NULL);
  yajl_gen_map_close (g);
  cpb_state_task_clear (&t);
  send_event (l, "end", g, NULL);
  close (l->wfd);
  l->wfd = -1;
  return NULL;
}

static ssize_t
logstream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct logstream *l = cls;

  for (;;)
    {
      struct pollfd p = { .fd = l->rfd, .events = POLLIN };
      int ready = poll (&p, 1, TICK_MS);
      ssize_t n;

      if (atomic_load (&l->s->stopping))
        return MHD_CONTENT_READER_END_OF_STREAM;
      if (ready > 0)
        {
          n = read (l->rfd, buf, max);
          if (n > 0)
            l->last_sent = time (NULL);
          if (n > 0 || (n < 0 && errno == EINTR))
            return n > 0 ? n : 0;
          return MHD_CONTENT_READER_END_OF_STREAM;
        }
      if (time (NULL) - l->last_sent >= KEEPALIVE_SECONDS)
        {
          static const char ping[] = ": keepalive\n\n";

          l->last_sent = time (NULL);
          memcpy (buf, ping, sizeof ping - 1 < max ? sizeof ping - 1 : max);
          return (ssize_t)(sizeof ping - 1 < max ? sizeof ping - 1 : max);
        }
    }
}

static void
logstream_free (void *cls)
{
  struct logstream *l = cls;

  close (l->rfd); /* the producer's next write fails: it stops */
  if (l->p)
    cpb_podman_cancel (l->p); /* and a follow with nothing to say stops within a second */
  if (l->started)
    pthread_join (l->thread, NULL);
  cpb_podman_free (l->p);
  if (l->wfd >= 0)
    close (l->wfd);
  free (l->ns);
  free (l->batch);
  free (l->task);
  free (l);
}

enum MHD_Result
cpb_stream_logs (cpb_server *s, struct MHD_Connection *c, const struct route *rt)
{
  struct logstream *l = cpb_xzalloc (sizeof *l);
  int fds[2];

  l->s = s;
  l->ns = cpb_xstrdup (rt->ns);
  l->batch = cpb_xstrdup (rt->batch);
  l->task = cpb_xstrdup (rt->task);
  l->rt = (struct route){ .ns = l->ns, .batch = l->batch, .task = l->task };
  l->last_sent = time (NULL);
  if (s->podman && cpb_podman_clone (s->podman, &l->p, NULL) < 0)
    l->p = NULL; /* then the logs of a running task say Podman is not reachable */
  if (pipe2 (fds, O_CLOEXEC) < 0)
    {
      cpb_podman_free (l->p);
      free (l->ns), free (l->batch), free (l->task), free (l);
      return MHD_NO;
    }
  l->rfd = fds[0];
  l->wfd = fds[1];
  l->started = pthread_create (&l->thread, NULL, logstream_produce, l) == 0;
  if (!l->started)
    {
      close (l->wfd);
      l->wfd = -1;
    }
  return cpb_serve_queue_response (s, c, MHD_HTTP_OK,
                                   sse_response (logstream_read, l, logstream_free), false);
}
