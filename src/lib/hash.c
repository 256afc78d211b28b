/* hash.c: SHA-256 through OpenSSL's EVP interface (libcrypto is already on every host that
   has libcurl, so this adds no real dependency). */
#include "config.h"
#include "hash.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <openssl/evp.h>

struct cpb_sha256
{
  EVP_MD_CTX *ctx;
};

cpb_sha256 *
cpb_sha256_new (void)
{
  cpb_sha256 *h = cpb_xzalloc (sizeof *h);

  h->ctx = EVP_MD_CTX_new ();
  if (h->ctx == NULL || EVP_DigestInit_ex (h->ctx, EVP_sha256 (), NULL) != 1)
    abort ();
  return h;
}

void
cpb_sha256_update (cpb_sha256 *h, const void *data, size_t len)
{
  if (len && EVP_DigestUpdate (h->ctx, data, len) != 1)
    abort ();
}

static void
to_hex (const unsigned char *md, unsigned int n, char *hex)
{
  static const char digits[] = "0123456789abcdef";

  for (unsigned int i = 0; i < n; i++)
    {
      hex[2 * i] = digits[md[i] >> 4];
      hex[2 * i + 1] = digits[md[i] & 0xf];
    }
  hex[2 * n] = '\0';
}

void
cpb_sha256_finish (cpb_sha256 *h, char hex[CPB_SHA256_HEX_LEN + 1])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;

  if (EVP_DigestFinal_ex (h->ctx, md, &n) != 1 || n != CPB_SHA256_HEX_LEN / 2)
    abort ();
  to_hex (md, n, hex);
  cpb_sha256_free (h);
}

void
cpb_sha256_free (cpb_sha256 *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free (h->ctx);
  free (h);
}

void
cpb_sha256_hex (const void *data, size_t len, char hex[CPB_SHA256_HEX_LEN + 1])
{
  cpb_sha256 *h = cpb_sha256_new ();

  cpb_sha256_update (h, data, len);
  cpb_sha256_finish (h, hex);
}

int
cpb_sha256_file (const char *path, char hex[CPB_SHA256_HEX_LEN + 1], cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  _cleanup_sha256_ cpb_sha256 *h = NULL;
  char block[65536];
  ssize_t n;

  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open '%s'", path);

  h = cpb_sha256_new ();
  while ((n = read (fd, block, sizeof block)) != 0)
    {
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          return cpb_error_errno (err, errno, "cannot read '%s'", path);
        }
      cpb_sha256_update (h, block, (size_t) n);
    }
  cpb_sha256_finish (TAKE_PTR (h), hex);
  return 0;
}
