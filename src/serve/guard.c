/* guard.c: the request checks of cpb serve (see guard.h). */
#include "config.h"
#include "guard.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

int
cpb_guard_parse_listen (const char *arg, char **ret_host, unsigned *ret_port, cpb_error **err)
{
  const char *colon = strrchr (arg, ':');
  _cleanup_free_ char *host = NULL;
  char *end;
  unsigned long port;

  if (colon == NULL || colon[1] == '\0')
    return cpb_error_set (err, CPB_ERR_INPUT, "--listen '%s': expected HOST:PORT", arg);
  errno = 0;
  port = strtoul (colon + 1, &end, 10);
  if (*end != '\0' || errno || port > 65535)
    return cpb_error_set (err, CPB_ERR_INPUT, "--listen '%s': invalid port", arg);
  if (arg[0] == '[')
    {
      if (colon < arg + 2 || colon[-1] != ']')
        return cpb_error_set (err, CPB_ERR_INPUT, "--listen '%s': expected [ADDRESS]:PORT", arg);
      host = cpb_xstrndup (arg + 1, (size_t)(colon - arg - 2));
    }
  else
    host = colon == arg ? cpb_xstrdup ("127.0.0.1") : cpb_xstrndup (arg, (size_t)(colon - arg));
  *ret_host = TAKE_PTR (host);
  *ret_port = (unsigned)port;
  return 0;
}

bool
cpb_guard_is_loopback (const char *host)
{
  struct in_addr a4;
  struct in6_addr a6;

  if (strcmp (host, "localhost") == 0)
    return true;
  if (inet_pton (AF_INET, host, &a4) == 1)
    return (ntohl (a4.s_addr) >> 24) == 127;
  return inet_pton (AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK (&a6);
}

static int
random_hex (char out[CPB_GUARD_SECRET_LEN + 1], cpb_error **err)
{
  unsigned char bytes[CPB_GUARD_SECRET_LEN / 2];
  size_t got = 0;

  while (got < sizeof bytes)
    {
      ssize_t n = getrandom (bytes + got, sizeof bytes - got, 0);

      if (n < 0 && errno != EINTR)
        return cpb_error_errno (err, errno, "cannot get random bytes");
      if (n > 0)
        got += (size_t)n;
    }
  for (size_t i = 0; i < sizeof bytes; i++)
    snprintf (out + 2 * i, 3, "%02x", bytes[i]);
  return 0;
}

static void
add_host (char ***v, size_t *n, char *host)
{
  *v = cpb_xrealloc (*v, (*n + 2) * sizeof **v);
  (*v)[(*n)++] = host;
  (*v)[*n] = NULL;
}

/* NAME:PORT, with brackets around an IPv6 address as browsers send it. */
static char *
host_port (const char *name, unsigned port)
{
  return cpb_xasprintf (strchr (name, ':') ? "[%s]:%u" : "%s:%u", name, port);
}

/* "name:8080" and "[::1]:8080" name a port; "name" and "::1" do not. */
static bool
has_port (const char *name)
{
  if (name[0] == '[')
    return strstr (name, "]:") != NULL;
  return strchr (name, ':') != NULL && strchr (name, ':') == strrchr (name, ':');
}

int
cpb_guard_init (struct cpb_guard *g, const char *host, unsigned port, char *const *extra,
                cpb_error **err)
{
  size_t n = 0;

  memset (g, 0, sizeof *g);
  if (random_hex (g->token, err) < 0 || random_hex (g->session, err) < 0 ||
      random_hex (g->csrf, err) < 0)
    return -1;
  if (cpb_guard_is_loopback (host))
    {
      add_host (&g->hosts, &n, host_port ("127.0.0.1", port));
      add_host (&g->hosts, &n, host_port ("localhost", port));
      add_host (&g->hosts, &n, host_port ("::1", port));
    }
  add_host (&g->hosts, &n, host_port (host, port));
  for (char *const *e = extra; e && *e; e++)
    add_host (&g->hosts, &n, has_port (*e) ? cpb_xstrdup (*e) : host_port (*e, port));
  return 0;
}

void
cpb_guard_clear (struct cpb_guard *g)
{
  cpb_strv_free (g->hosts);
  memset (g, 0, sizeof *g);
}

bool
cpb_guard_host_ok (const struct cpb_guard *g, const char *host)
{
  if (host == NULL)
    return false;
  for (char **h = g->hosts; h && *h; h++)
    if (strcasecmp (*h, host) == 0)
      return true;
  return false;
}

bool
cpb_guard_secret_eq (const char *secret, const char *given)
{
  size_t len = strlen (secret);
  unsigned char diff = 0;

  if (given == NULL || strlen (given) != len)
    return false;
  for (size_t i = 0; i < len; i++)
    diff |= (unsigned char)(secret[i] ^ given[i]);
  return diff == 0;
}

bool
cpb_guard_origin_ok (const char *origin, const char *host)
{
  static const char scheme[] = "http://";

  return origin && host && strncasecmp (origin, scheme, sizeof scheme - 1) == 0 &&
         strcasecmp (origin + sizeof scheme - 1, host) == 0;
}
