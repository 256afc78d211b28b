/* podman/logs.c: the log frame decoder and GET /libpod/containers/ID/logs.
 *
 * Podman multiplexes stdout and stderr into frames: an 8-byte header [stream, 0, 0, 0,
 * payload length as 32-bit big endian] and the payload.  The transport splits frames
 * anywhere, so the decoder keeps a partial header between calls and hands payload over
 * as it arrives instead of buffering whole frames (a frame may be large).
 */
#include "config.h"
#include "podman/private.h"
#include "xalloc.h"

#include <string.h>

bool
cpb_logframe_at_boundary (const struct cpb_logframe *d)
{
  return d->header_len == 0 && d->remaining == 0;
}

/* Complete the header with bytes from *DATA; true once all 8 are there. */
static bool
take_header (struct cpb_logframe *d, const unsigned char **data, size_t *len)
{
  size_t n = sizeof d->header - d->header_len;

  if (n > *len)
    n = *len;
  memcpy (d->header + d->header_len, *data, n);
  d->header_len += n;
  *data += n;
  *len -= n;
  return d->header_len == sizeof d->header;
}

int
cpb_logframe_feed (struct cpb_logframe *d, const void *data, size_t len, cpb_podman_log_fn fn,
                   void *userdata, cpb_error **err)
{
  const unsigned char *p = data;

  while (len > 0)
    {
      if (d->remaining == 0)
        {
          if (!take_header (d, &p, &len))
            return 0;
          d->stream = d->header[0];
          d->remaining = (uint32_t)d->header[4] << 24 | (uint32_t)d->header[5] << 16 |
                         (uint32_t)d->header[6] << 8 | d->header[7];
          d->header_len = 0;
          if (d->stream != CPB_LOG_STDOUT && d->stream != CPB_LOG_STDERR)
            return cpb_error_set (err, CPB_ERR_PODMAN,
                                  "podman: logs: unknown stream %d in frame header", d->stream);
          continue;
        }
      size_t n = len < d->remaining ? len : d->remaining;
      int r = fn (userdata, (enum cpb_podman_log_stream)d->stream, (const char *)p, n, err);

      d->remaining -= (uint32_t)n;
      p += n;
      len -= n;
      if (r != 0)
        return r;
    }
  return 0;
}

struct logs_state
{
  struct cpb_logframe frame;
  cpb_podman_log_fn fn;
  void *userdata;
};

static int
on_log_data (void *userdata, const char *data, size_t len, cpb_error **err)
{
  struct logs_state *st = userdata;

  return cpb_logframe_feed (&st->frame, data, len, st->fn, st->userdata, err);
}

int
cpb_podman_container_logs (cpb_podman *p, const char *id, unsigned flags, cpb_podman_log_fn fn,
                           void *userdata, cpb_error **err)
{
  struct logs_state st = { .frame = CPB_LOGFRAME_INIT, .fn = fn, .userdata = userdata };
  _cleanup_free_ char *n = cpb_podman_escape (id);
  _cleanup_free_ char *path = cpb_xasprintf ("/libpod/containers/%s/logs", n);
  const char *query[] = { "stdout", (flags & CPB_LOGS_STDOUT) ? "true" : "false",
                          "stderr", (flags & CPB_LOGS_STDERR) ? "true" : "false",
                          "follow", (flags & CPB_LOGS_FOLLOW) ? "true" : "false",
                          NULL };
  struct cpb_podman_request req = {
    .path = path, .query = query, .on_data = on_log_data, .userdata = &st, .streaming = true
  };

  if (cpb_podman_request (p, &req, NULL, err) < 0)
    return cpb_error_prefix (err, "logs of container '%s'", id);
  if (!cpb_logframe_at_boundary (&st.frame))
    return cpb_error_set (err, CPB_ERR_PODMAN,
                          "logs of container '%s': podman: stream ended inside a frame", id);
  return 0;
}
