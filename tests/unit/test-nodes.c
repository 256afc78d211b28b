/* Unit tests for what reaching nodes parses: node URLs, a node's /proc figures, and the
   connections Podman stores (containers.conf of 4.x, podman-connections.json of 5.x). */
#include "config.h"
#include "tap.h"
#include "nodes.h"
#include "podman/ssh.h"
#include "xalloc.h"

#include <string.h>

/* ------------------------------------------------------------------ URLs */

static void
good_url (const char *text, enum cpb_url_scheme scheme, const char *user, const char *host,
          int port, bool given, const char *path, const char *formatted)
{
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_url u = { 0 };
  _cleanup_free_ char *back = NULL;

  if (!ok (cpb_url_parse (text, &u, &err) == 0, "'%s' parses%s%s", text, err ? ": " : "",
           err ? err->msg : ""))
    return;
  is_int (u.scheme, scheme, "%s: scheme", text);
  ok (user ? (u.user && strcmp (u.user, user) == 0) : u.user == NULL, "%s: user", text);
  ok (host ? (u.host && strcmp (u.host, host) == 0) : u.host == NULL, "%s: host", text);
  if (scheme == CPB_URL_SSH)
    {
      is_int (u.port, port, "%s: port", text);
      is_int (u.port_given, given, "%s: port given or not", text);
    }
  is_str (u.path, path, "%s: path", text);
  back = cpb_url_format (&u);
  is_str (back, formatted, "%s: written back", text);
  cpb_url_clear (&u);
}

static void
bad_url (const char *text, const char *want)
{
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_url u = { 0 };
  int r = cpb_url_parse (text, &u, &err);

  ok (r < 0 && err && err->kind == CPB_ERR_INPUT && strstr (err->msg, want), "'%s' is refused: %s",
      text, err ? err->msg : "(accepted)");
  if (r == 0)
    cpb_url_clear (&u);
}

static void
test_urls (void)
{
  good_url ("ssh://alice@lab1.example/run/user/1000/podman/podman.sock", CPB_URL_SSH, "alice",
            "lab1.example", 22, false, "/run/user/1000/podman/podman.sock",
            "ssh://alice@lab1.example/run/user/1000/podman/podman.sock");
  good_url ("ssh://alice@lab1.example:2222/run/p.sock", CPB_URL_SSH, "alice", "lab1.example", 2222,
            true, "/run/p.sock", "ssh://alice@lab1.example:2222/run/p.sock");
  good_url ("ssh://lab1/run/p.sock", CPB_URL_SSH, NULL, "lab1", 22, false, "/run/p.sock",
            "ssh://lab1/run/p.sock");
  good_url ("ssh://bob@[::1]:22/run/p.sock", CPB_URL_SSH, "bob", "::1", 22, true, "/run/p.sock",
            "ssh://bob@[::1]:22/run/p.sock");
  good_url ("ssh://x_y.z-1@10.0.0.7/home/x/podman.sock", CPB_URL_SSH, "x_y.z-1", "10.0.0.7", 22,
            false, "/home/x/podman.sock", "ssh://x_y.z-1@10.0.0.7/home/x/podman.sock");
  good_url ("unix:///run/user/1000/podman/podman.sock", CPB_URL_UNIX, NULL, NULL, 0, false,
            "/run/user/1000/podman/podman.sock", "unix:///run/user/1000/podman/podman.sock");

  bad_url ("lab1.example", "expected ssh://user@host[:port]/path/to/podman.sock");
  bad_url ("tcp://lab1:8080", "unsupported scheme 'tcp'");
  bad_url ("ssh://alice@lab1", "no socket path");
  bad_url ("ssh://alice@lab1/", "no socket path");
  bad_url ("ssh://alice@lab1:0/x.sock", "the port must be a number from 1 to 65535, not '0'");
  bad_url ("ssh://alice@lab1:65536/x.sock", "not '65536'");
  bad_url ("ssh://alice@lab1:22x/x.sock", "not '22x'");
  bad_url ("ssh://alice@lab1:/x.sock", "the port must be");
  bad_url ("ssh://alice:secret@lab1/x.sock", "a password in the URL is not supported");
  bad_url ("ssh://-oProxyCommand=sh@lab1/x.sock", "the user must be");
  bad_url ("ssh://alice@-oProxyCommand=x/x.sock", "the host must be");
  bad_url ("ssh://alice@/x.sock", "no host");
  bad_url ("ssh://alice@[zz]/x.sock", "an IPv6 address goes in brackets");
  bad_url ("ssh://alice@lab1/run/a:b.sock", "must not hold any of :");
  bad_url ("ssh://alice@lab1/run/a b.sock", "must not hold blanks");
  bad_url ("ssh://alice@lab1/run/x.sock?secure=1", "must not hold any of");
  bad_url ("unix://run/x.sock", "a unix URL has three slashes");
  bad_url ("ssh://a@b/run/podman/", "must name the socket, not a directory");
  {
    char longpath[200];

    memset (longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    _cleanup_free_ char *url = cpb_xasprintf ("ssh://a@b%s", longpath);
    bad_url (url, "longer than a UNIX socket path can be");
  }
}

/* ------------------------------------------------------------------ /proc figures */

static void
test_load (void)
{
  static const char text[] = "0.52 0.41 0.30 2/345 6789\n"
                             "MemTotal:       24683748 kB\n"
                             "MemFree:        22726428 kB\n"
                             "MemAvailable:   23810720 kB\n";
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_node_load l = { 0 };

  ok (cpb_node_parse_load (text, &l, &err) == 0, "loadavg + meminfo parse");
  ok (l.load1 == 0.52 && l.load5 == 0.41 && l.load15 == 0.30, "the three load averages");
  ok (l.mem_total == 24683748ull * 1024, "MemTotal in bytes");
  ok (l.mem_available == 23810720ull * 1024, "MemAvailable, not MemFree");
  ok (cpb_node_parse_load ("0.1 0.2 0.3 1/2 3\nMemTotal: 1000 kB\nMemFree: 10 kB\n", &l, &err) ==
              0 &&
          l.mem_available == 10 * 1024,
      "MemFree when MemAvailable is missing (kernels before 3.14)");
  ok (cpb_node_parse_load ("bash: cat: not found\n", &l, &err) < 0 && err->kind == CPB_ERR_FAILED,
      "something else is an error");
}

/* ------------------------------------------------------------------ Podman's connections */

/* What podman 4.3.1 `system connection add` wrote for the six commands of anchors §1.2. */
static const char conf_43[] =
    "[containers]\n"
    "\n"
    "[engine]\n"
    "  active_service = \"lab1\"\n"
    "  [engine.service_destinations]\n"
    "    [engine.service_destinations.lab1]\n"
    "      uri = \"ssh://alice@lab1.example:2222/run/user/1000/podman/podman.sock\"\n"
    "      identity = \"/home/alice/.ssh/id_ed25519\"\n"
    "    [engine.service_destinations.lab2]\n"
    "      uri = \"ssh://bob@lab2.example:22/run/user/1001/podman/podman.sock\"\n"
    "    [engine.service_destinations.local]\n"
    "      uri = \"unix:///run/user/1000/podman/podman.sock\"\n"
    "    [engine.service_destinations.weird]\n"
    "      uri = \"ssh://dave@h4.example:22\"\n"
    "\n"
    "[machine]\n"
    "\n"
    "[network]\n";

static const struct cpb_podman_connection *
find (const struct cpb_podman_connection *v, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i].name, name) == 0)
      return &v[i];
  return NULL;
}

static void
test_connections_toml (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_podman_connection *v = NULL;
  const struct cpb_podman_connection *c;
  size_t n = 0;

  ok (cpb_podman_connections_parse ("containers.conf", conf_43, NULL, NULL, &v, &n, &err) == 0,
      "Podman 4.3's containers.conf parses");
  is_int (n, 4, "four connections");
  is_str (v[0].name, "lab1", "sorted by name");
  c = find (v, n, "lab1");
  ok (c && c->is_default, "active_service is the default");
  is_str (c ? c->identity : NULL, "/home/alice/.ssh/id_ed25519", "the identity");
  is_str (c ? c->source : NULL, "containers.conf", "where it came from");
  c = find (v, n, "lab2");
  ok (c && !c->is_default && c->identity == NULL, "no identity, not the default");
  is_str (c ? c->url : NULL, "ssh://bob@lab2.example:22/run/user/1001/podman/podman.sock", "uri");
  c = find (v, n, "weird");
  is_str (c ? c->url : NULL, "ssh://dave@h4.example:22", "a uri Podman stored without its path");
  cpb_podman_connections_free (v, n);

  ok (cpb_podman_connections_parse ("c.conf",
                                    "[engine.service_destinations]\n"
                                    "  one = { uri = 'ssh://a@b:22/run/x.sock', identity = \"\" }\n"
                                    "[engine.service_destinations.\"two\"]\n"
                                    "uri=\"unix:///run/y.sock\" # a comment\n"
                                    "is_machine = true\n",
                                    NULL, NULL, &v, &n, &err) == 0,
      "inline tables, quoted names, literal strings");
  is_int (n, 2, "both");
  c = find (v, n, "one");
  is_str (c ? c->url : NULL, "ssh://a@b:22/run/x.sock", "inline uri");
  ok (c && c->identity == NULL, "an empty identity is none");
  c = find (v, n, "two");
  is_str (c ? c->url : NULL, "unix:///run/y.sock", "quoted table name, comment after the value");
  ok (c && c->is_machine, "is_machine");
  cpb_podman_connections_free (v, n);
}

static void
test_connections_json (void)
{
  static const char json[] =
      "{\"Connection\":{\"Default\":\"lab2\",\"Connections\":{"
      "\"lab1\":{\"URI\":\"ssh://alice@new.example:22/run/user/1000/podman/podman.sock\"},"
      "\"lab2\":{\"URI\":\"ssh://carol@lab3.example:22/run/p.sock\",\"Identity\":\"/k\","
      "\"IsMachine\":true}}},\"Farm\":{\"Default\":\"f1\",\"List\":{\"f1\":[\"lab1\",\"lab2\"]}}}";
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_podman_connection *v = NULL;
  const struct cpb_podman_connection *c;
  size_t n = 0;

  ok (cpb_podman_connections_parse ("containers.conf", conf_43, "podman-connections.json", json, &v,
                                    &n, &err) == 0,
      "both files");
  is_int (n, 4, "merged by name: still four");
  c = find (v, n, "lab1");
  is_str (c ? c->url : NULL, "ssh://alice@new.example:22/run/user/1000/podman/podman.sock",
          "the JSON entry wins on a name clash");
  ok (c && c->identity == NULL, "with its own fields only");
  is_str (c ? c->source : NULL, "podman-connections.json", "and its source");
  c = find (v, n, "lab2");
  ok (c && c->is_default && c->is_machine, "the JSON default wins over active_service");
  ok (find (v, n, "lab1") && !find (v, n, "lab1")->is_default, "lab1 is no longer the default");
  cpb_podman_connections_free (v, n);

  ok (cpb_podman_connections_parse (NULL, NULL, "p.json", "{\"Connection\": [", &v, &n, &err) < 0 &&
          err->kind == CPB_ERR_INPUT && strstr (err->msg, "p.json"),
      "broken JSON is an input error naming the file");
}

int
main (void)
{
  plan_no_plan ();
  test_urls ();
  test_load ();
  test_connections_toml ();
  test_connections_json ();
  return done_testing ();
}
