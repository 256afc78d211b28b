/* Unit tests for the incremental decoder of Podman's log frames. */
#include "config.h"
#include "tap.h"
#include "podman/podman.h"
#include "buf.h"

#include <string.h>

struct sink
{
  cpb_buf out, err;
  int calls;
  int stop_after; /* return CPB_PODMAN_STOP on this call (0: never) */
};

static int
collect (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
         cpb_error **err)
{
  struct sink *s = userdata;

  cpb_buf_append (stream == CPB_LOG_STDOUT ? &s->out : &s->err, data, len);
  s->calls++;
  return s->stop_after && s->calls == s->stop_after ? CPB_PODMAN_STOP : 0;
}

/* Append a frame of STREAM holding TEXT. */
static void
frame (cpb_buf *b, int stream, const char *text)
{
  size_t n = strlen (text);
  unsigned char h[8] = { (unsigned char)stream,
                         0,
                         0,
                         0,
                         (unsigned char)(n >> 24),
                         (unsigned char)(n >> 16),
                         (unsigned char)(n >> 8),
                         (unsigned char)n };

  cpb_buf_append (b, h, 8);
  cpb_buf_append (b, text, n);
}

static void
sink_free (struct sink *s)
{
  cpb_buf_free (&s->out);
  cpb_buf_free (&s->err);
}

/* Feed WIRE in pieces of CHUNK bytes; true when every byte decoded without error. */
static bool
feed_chunked (const cpb_buf *wire, size_t chunk, struct sink *s)
{
  struct cpb_logframe d = CPB_LOGFRAME_INIT;
  cpb_error *err = NULL;

  for (size_t off = 0; off < wire->len; off += chunk)
    {
      size_t n = wire->len - off < chunk ? wire->len - off : chunk;

      if (cpb_logframe_feed (&d, wire->data + off, n, collect, s, &err) != 0)
        {
          cpb_error_free (err);
          return false;
        }
    }
  return cpb_logframe_at_boundary (&d);
}

static void
test_split_anywhere (void)
{
  _cleanup_buf_ cpb_buf wire = CPB_BUF_INIT;
  bool all = true;

  frame (&wire, 1, "out line 1\n");
  frame (&wire, 2, "err\n");
  frame (&wire, 1, "");
  frame (&wire, 1, "out line 2\n");
  for (size_t chunk = 1; chunk <= wire.len; chunk++)
    {
      struct sink s = { CPB_BUF_INIT, CPB_BUF_INIT, 0, 0 };

      all &= feed_chunked (&wire, chunk, &s);
      all &= s.out.data && strcmp (s.out.data, "out line 1\nout line 2\n") == 0;
      all &= s.err.data && strcmp (s.err.data, "err\n") == 0;
      sink_free (&s);
    }
  ok (all, "frames split at every possible chunk size decode to the same streams");
}

static void
test_fixture (void)
{
  _cleanup_fclose_ FILE *f =
      fopen (CPB_SOURCE_ROOT "/tests/unit/data/podman/logs-frames.bin", "re");
  struct sink s = { CPB_BUF_INIT, CPB_BUF_INIT, 0, 0 };
  _cleanup_buf_ cpb_buf wire = CPB_BUF_INIT;
  char block[256];
  size_t n;

  while (f && (n = fread (block, 1, sizeof block, f)) > 0)
    cpb_buf_append (&wire, block, n);
  ok (wire.len > 0, "captured logs of 'echo out; echo err >&2' read");
  ok (feed_chunked (&wire, 3, &s), "decode in 3-byte pieces");
  is_str (s.out.data, "out\n", "stdout separated");
  is_str (s.err.data, "err\n", "stderr separated");
  sink_free (&s);
}

static void
test_bad_and_partial (void)
{
  static const unsigned char bad[] = { 3, 0, 0, 0, 0, 0, 0, 1, 'x' };
  static const unsigned char partial[] = { 1, 0, 0, 0, 0, 0, 0, 5, 'a', 'b' };
  struct cpb_logframe d = CPB_LOGFRAME_INIT;
  struct sink s = { CPB_BUF_INIT, CPB_BUF_INIT, 0, 0 };
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_buf_ cpb_buf wire = CPB_BUF_INIT;

  ok (cpb_logframe_feed (&d, bad, sizeof bad, collect, &s, &err) < 0,
      "an unknown stream byte is an error");
  ok (err && strstr (err->msg, "unknown stream 3") != NULL, "which names the stream");

  d = (struct cpb_logframe)CPB_LOGFRAME_INIT;
  ok (cpb_logframe_feed (&d, partial, sizeof partial, collect, &s, &err) == 0,
      "a partial frame is fine");
  ok (!cpb_logframe_at_boundary (&d), "but not at a boundary (3 bytes still due)");
  is_str (s.out.data, "ab", "its payload so far is delivered at once");

  frame (&wire, 1, "one");
  frame (&wire, 1, "two");
  sink_free (&s);
  s = (struct sink){ CPB_BUF_INIT, CPB_BUF_INIT, 0, 1 };
  d = (struct cpb_logframe)CPB_LOGFRAME_INIT;
  is_int (cpb_logframe_feed (&d, wire.data, wire.len, collect, &s, &err), CPB_PODMAN_STOP,
          "a callback's stop ends decoding");
  is_str (s.out.data, "one", "after the frame it was given");
  sink_free (&s);
}

int
main (void)
{
  test_split_anywhere ();
  test_fixture ();
  test_bad_and_partial ();
  return done_testing ();
}
