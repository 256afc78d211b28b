/* build/buildctx.h: the build context of one image, as a tar streamed to Podman.
 *
 * A build context holds the rendered Containerfile and exactly the files the image copies,
 * never a copy of the spec's directory: the service copies the whole context to /var/tmp
 * before it builds (Podman 4.3), so every extra byte costs twice.  The tar is written by
 * libarchive straight into a socket whose other end the Podman client streams as the
 * request body, so nothing is staged on disk whatever the size of the inputs.
 *
 * The same walk over the entries feeds cpb_buildctx_hash(), so the content hash that
 * decides whether an image is up to date covers exactly what a build would send.
 */
#ifndef CPB_BUILDCTX_H
#define CPB_BUILDCTX_H

#include <stddef.h>
#include <sys/types.h>
#include "error.h"
#include "hash.h"

/* One member of the context: a host file or directory (SRC), or bytes in memory (DATA). */
struct cpb_buildctx_entry
{
  const char *name; /* relative path in the tar, e.g. "Containerfile" or "files/2" */
  const char *src;  /* host path to read, NULL when DATA is used; a directory is walked */
  const void *data; /* in-memory contents when SRC is NULL */
  size_t len;
  mode_t mode; /* permission bits for regular files; 0 keeps the host file's */
};

/* Write the context tar of the N ENTRIES to FD, in order, directories walked in name
   order.  Owner and group are 0 in the tar: COPY makes files root's unless told otherwise.
   Used by the stream's writer thread and by tests. */
int cpb_buildctx_write (int fd, const struct cpb_buildctx_entry *entries, size_t n,
                        cpb_error **err);

/* Digest of what cpb_buildctx_write would send, without mtimes (touching a file must not
   force a rebuild), into HEX. */
int cpb_buildctx_hash (const struct cpb_buildctx_entry *entries, size_t n,
                       char hex[CPB_SHA256_HEX_LEN + 1], cpb_error **err);

typedef struct cpb_buildctx_stream cpb_buildctx_stream;

/* Start writing the context in a thread of its own into a socket; *RET_FD is the end to
   read the tar from (the request body).  ENTRIES are copied, the caller may free them.
   The reader must read to the end or close *RET_FD before cpb_buildctx_stream_finish. */
int cpb_buildctx_stream_start (const struct cpb_buildctx_entry *entries, size_t n, int *ret_fd,
                               cpb_buildctx_stream **ret_stream, cpb_error **err);

/* Wait for the writer and free the stream; fails with the writer's error, if any (a
   reader that stopped early shows up as a broken pipe).  Accepts NULL. */
int cpb_buildctx_stream_finish (cpb_buildctx_stream *s, cpb_error **err);

static inline void
cpb_buildctx_stream_finishp (cpb_buildctx_stream **s)
{
  if (*s)
    cpb_buildctx_stream_finish (*s, NULL);
}
#define _cleanup_buildctx_stream_ _cleanup_ (cpb_buildctx_stream_finishp)

#endif
