/* Unit tests for the guard of cpb serve (src/serve/guard.c): listen addresses, which Host
 * names and Origins the server answers to, and the secrets. */
#include "config.h"
#include "tap.h"
#include "guard.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static void
test_listen (void)
{
  _cleanup_free_ char *h1 = NULL, *h2 = NULL, *h3 = NULL, *h4 = NULL;
  unsigned port = 1;

  ok (cpb_guard_parse_listen ("127.0.0.1:22581", &h1, &port, NULL) == 0 && port == 22581,
      "HOST:PORT");
  is_str (h1, "127.0.0.1", "the host");
  ok (cpb_guard_parse_listen ("[::1]:0", &h2, &port, NULL) == 0 && port == 0, "[V6]:PORT");
  is_str (h2, "::1", "brackets are not part of the address");
  ok (cpb_guard_parse_listen (":8080", &h3, &port, NULL) == 0 && port == 8080, ":PORT");
  is_str (h3, "127.0.0.1", "no host is loopback");
  ok (cpb_guard_parse_listen ("localhost", &h4, &port, NULL) < 0, "no port is refused");
  ok (cpb_guard_parse_listen ("a:70000", &h4, &port, NULL) < 0, "a port above 65535 is refused");
  ok (cpb_guard_parse_listen ("a:8x", &h4, &port, NULL) < 0, "a port that is not a number");
  ok (cpb_guard_parse_listen ("[::1:80", &h4, &port, NULL) < 0, "an unclosed bracket");
}

static void
test_loopback (void)
{
  ok (cpb_guard_is_loopback ("127.0.0.1") && cpb_guard_is_loopback ("127.8.9.10"), "127/8");
  ok (cpb_guard_is_loopback ("::1") && cpb_guard_is_loopback ("localhost"), "::1, localhost");
  ok (!cpb_guard_is_loopback ("0.0.0.0") && !cpb_guard_is_loopback ("192.0.2.1") &&
          !cpb_guard_is_loopback ("::") && !cpb_guard_is_loopback ("example.org"),
      "any address, others, names");
}

static void
test_hosts (void)
{
  struct cpb_guard g;
  char *extra[] = { (char *)"farm.example", (char *)"other:99", NULL };

  ok (cpb_guard_init (&g, "127.0.0.1", 4242, NULL, NULL) == 0, "init");
  ok (strlen (g.token) == 64 && strlen (g.session) == 64 && strlen (g.csrf) == 64,
      "three secrets of 64 hex digits");
  ok (strcmp (g.token, g.session) != 0 && strcmp (g.session, g.csrf) != 0, "all different");
  ok (cpb_guard_host_ok (&g, "127.0.0.1:4242") && cpb_guard_host_ok (&g, "localhost:4242") &&
          cpb_guard_host_ok (&g, "[::1]:4242") && cpb_guard_host_ok (&g, "LOCALHOST:4242"),
      "the loopback names with the port");
  ok (!cpb_guard_host_ok (&g, "127.0.0.1:4243") && !cpb_guard_host_ok (&g, "127.0.0.1") &&
          !cpb_guard_host_ok (&g, "evil.example:4242") && !cpb_guard_host_ok (&g, NULL),
      "another port, no port, another name, no Host");
  cpb_guard_clear (&g);
  ok (cpb_guard_init (&g, "192.0.2.7", 80, extra, NULL) == 0, "init on another address");
  ok (cpb_guard_host_ok (&g, "192.0.2.7:80") && cpb_guard_host_ok (&g, "farm.example:80") &&
          cpb_guard_host_ok (&g, "other:99"),
      "the address and the allowed names (with their own port)");
  ok (!cpb_guard_host_ok (&g, "localhost:80"), "loopback names only when listening on loopback");
  cpb_guard_clear (&g);
}

static void
test_secrets_and_origin (void)
{
  ok (cpb_guard_secret_eq ("abc", "abc"), "equal");
  ok (!cpb_guard_secret_eq ("abc", "abd") && !cpb_guard_secret_eq ("abc", "ab") &&
          !cpb_guard_secret_eq ("abc", "abcd") && !cpb_guard_secret_eq ("abc", NULL),
      "different, shorter, longer, missing");
  ok (cpb_guard_origin_ok ("http://127.0.0.1:4242", "127.0.0.1:4242"), "the page's origin");
  ok (!cpb_guard_origin_ok ("http://evil.example", "127.0.0.1:4242") &&
          !cpb_guard_origin_ok ("https://127.0.0.1:4242", "127.0.0.1:4242") &&
          !cpb_guard_origin_ok ("null", "127.0.0.1:4242") &&
          !cpb_guard_origin_ok (NULL, "127.0.0.1:4242"),
      "another origin, scheme, an opaque origin, none");
}

int
main (void)
{
  plan_no_plan ();
  test_listen ();
  test_loopback ();
  test_hosts ();
  test_secrets_and_origin ();
  return done_testing ();
}
