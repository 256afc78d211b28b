/* hash.h: SHA-256 digests as lower-case hex, for content keys and manifests. */
#ifndef CPB_HASH_H
#define CPB_HASH_H

#include <stddef.h>
#include "error.h"

#define CPB_SHA256_HEX_LEN 64

typedef struct cpb_sha256 cpb_sha256;

/* Incremental hashing: new, update any number of times, then finish into HEX
   (CPB_SHA256_HEX_LEN + 1 bytes).  finish frees the context. */
cpb_sha256 *cpb_sha256_new (void);
void cpb_sha256_update (cpb_sha256 *h, const void *data, size_t len);
void cpb_sha256_finish (cpb_sha256 *h, char hex[CPB_SHA256_HEX_LEN + 1]);
void cpb_sha256_free (cpb_sha256 *h);

/* One-shot digest of a memory block. */
void cpb_sha256_hex (const void *data, size_t len, char hex[CPB_SHA256_HEX_LEN + 1]);

/* Digest of a file's contents, read in blocks. */
int cpb_sha256_file (const char *path, char hex[CPB_SHA256_HEX_LEN + 1], cpb_error **err);

CPB_DEFINE_CLEANUP_FUNC (cpb_sha256 *, cpb_sha256_free)
#define _cleanup_sha256_ _cleanup_ (cpb_sha256_freep)

#endif
