/* Unit tests for nodes.yaml: the model, every diagnostic (FILE:LINE:COL, did you mean),
   and the edits cpb node add/rm make (only one entry's lines change). */
#include "config.h"
#include "tap.h"
#include "spec/nodes.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static cpb_nodes_conf *
load_text (const char *text, cpb_error **err)
{
  cpb_nodes_conf *c = NULL;

  if (cpb_nodes_conf_load_buffer ("nodes.yaml", text, strlen (text), &c, err) < 0)
    return NULL;
  return c;
}

/* The error message of loading TEXT ("" when it loads). */
static char *
error_of (const char *text)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = load_text (text, &err);

  return cpb_xstrdup (c ? "" : err->msg);
}

static void
expect_error (const char *text, const char *want, const char *what)
{
  _cleanup_free_ char *msg = error_of (text);

  ok (strstr (msg, want) != NULL, "%s", what);
  if (strstr (msg, want) == NULL)
    diag ("got: %s\n# expected to find: %s", msg, want);
}

static void
test_good (void)
{
  static const char text[] =
      "# the lab\n"
      "x-gpu: &gpu {capabilities: [gpu, cuda-12]}\n"
      "nodes:\n"
      "  lab1:\n"
      "    url: ssh://alice@lab1.example:2222/run/user/1000/podman/podman.sock\n"
      "    identity: ~/.ssh/id_ed25519\n"
      "    cpus: 8\n"
      "    memory: 16G\n"
      "    max_tasks: 6\n"
      "  lab2:\n"
      "    <<: *gpu\n"
      "    url: ssh://lab2/run/user/1000/podman/podman.sock\n"
      "    enabled: no\n"
      "  local:\n"
      "    capabilities: [bigdisk]\n";
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = NULL;
  const struct cpb_node_conf *n;

  setenv ("HOME", "/home/alice", 1);
  c = load_text (text, &err);
  ok (c != NULL, "a full file loads%s%s", err ? ": " : "", err ? err->msg : "");
  if (c == NULL)
    return;
  is_int (c->n, 3, "three nodes, in file order");
  n = &c->nodes[0];
  is_str (n->name, "lab1", "name");
  is_str (n->url, "ssh://alice@lab1.example:2222/run/user/1000/podman/podman.sock",
          "url as written");
  is_str (n->identity, "/home/alice/.ssh/id_ed25519", "identity with ~/ expanded");
  is_int (n->cpus, 8, "cpus");
  ok (n->memory == 16ull << 30, "memory 16G is 16 GiB");
  is_str (n->memory_text, "16G", "memory as written");
  is_int (n->max_tasks, 6, "max_tasks");
  ok (n->enabled, "enabled by default");
  ok (n->capabilities && n->capabilities[0] == NULL, "no capabilities: an empty list");
  is_int (n->pos.line, 4, "the name keeps its line");
  is_int (n->pos.col, 3, "and its column");
  n = cpb_nodes_conf_find (c, "lab2");
  ok (n && !n->enabled, "enabled: no");
  ok (n && n->n_capabilities == 2 && strcmp (n->capabilities[1], "cuda-12") == 0,
      "capabilities from a merged anchor");
  n = cpb_nodes_conf_find (c, "local");
  ok (n && n->url == NULL, "local needs no url");
  ok (n && n->n_capabilities == 1, "local's capabilities");
  ok (cpb_nodes_conf_find (c, "lab3") == NULL, "an unknown name finds nothing");
}

/* specs/examples/nodes.yaml is what docs/nodes.md shows: it must load. */
static void
test_example (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = NULL;
  const struct cpb_node_conf *gpu2;

  ok (cpb_nodes_conf_load (CPB_SOURCE_ROOT "/specs/examples/nodes.yaml", &c, &err) == 0,
      "specs/examples/nodes.yaml loads%s%s", err ? ": " : "", err ? err->msg : "");
  if (c == NULL)
    return;
  is_int (c->n, 4, "its four nodes");
  gpu2 = cpb_nodes_conf_find (c, "gpu2");
  ok (gpu2 && gpu2->max_tasks == 2 && gpu2->n_capabilities == 2, "gpu2 has the anchor's keys");
}

static void
test_empty (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *a = load_text ("", &err);
  _cleanup_nodes_conf_ cpb_nodes_conf *b = load_text ("nodes:\n", &err);
  _cleanup_nodes_conf_ cpb_nodes_conf *m = NULL;

  ok (a && a->n == 0, "an empty file: no nodes");
  ok (b && b->n == 0, "'nodes:' with nothing: no nodes");
  ok (cpb_nodes_conf_load ("/nonexistent/cpb/nodes.yaml", &m, &err) == 0 && m->n == 0 && !m->exists,
      "a missing file: no nodes, and no error");
}

static void
test_errors (void)
{
  expect_error ("nodes:\n  lab1:\n    url: ssh://a@b/x.sock\n    cpu: 4\n",
                "nodes.yaml:4:5: node 'lab1': unknown key 'cpu' (did you mean 'cpus'?)",
                "a typo in a key: its position and the key meant");
  expect_error ("nodes:\n  lab1:\n    capabilities: [gpu]\n",
                "nodes.yaml:3:5: node 'lab1': missing required key 'url'",
                "a node without url (only local may)");
  expect_error (
      "nodes:\n  lab1:\n    url: http://lab1/x.sock\n",
      "nodes.yaml:3:10: node 'lab1': bad URL 'http://lab1/x.sock': unsupported scheme 'http'",
      "a URL of another scheme, at the value");
  expect_error ("nodes:\n  lab1:\n    url: ssh://alice@lab1\n",
                "nodes.yaml:3:10: node 'lab1': bad URL 'ssh://alice@lab1': no socket path",
                "an ssh URL without the socket path");
  expect_error ("nodes:\n  lab1: {url: 'ssh://a@b/x.sock'}\n  lab1: {url: 'ssh://a@c/x.sock'}\n",
                "nodes.yaml:3:3", "a name given twice is refused where it repeats");
  expect_error ("nodes:\n  -bad:\n    url: ssh://a@b/x.sock\n",
                "nodes.yaml:2:3: '-bad' cannot be a node name", "a name that is no name");
  expect_error ("nodes:\n  lab1:\n    url: ssh://a@b/x.sock\n    cpus: 0\n", "nodes.yaml:4:11",
                "cpus below 1");
  expect_error ("nodes:\n  lab1:\n    url: ssh://a@b/x.sock\n    memory: lots\n",
                "nodes.yaml:4:13: node 'lab1': 'memory' must be a size like 512M or 4G, not 'lots'",
                "a memory that is no size");
  expect_error ("nodes:\n  lab1:\n    url: ssh://a@b/x.sock\n    capabilities: [\"g p u\"]\n",
                "capability 'g p u' must be a word", "a capability with blanks");
  expect_error ("nodes:\n  lab1:\n    url: ssh://a@b/x.sock\n    identity: id_rsa\n",
                "'identity' must be an absolute path or start with ~/", "a relative identity");
  expect_error ("node:\n  lab1: {url: 'ssh://a@b/x.sock'}\n",
                "nodes.yaml:1:1: unknown key 'node' (did you mean 'nodes'?)", "a typo at the top");
  expect_error ("nodes:\n  lab1:\n    url: ssh://a@b/x.sock\n    pause: true\n",
                "unknown key 'pause'", "owner policies are not keys yet");
  expect_error ("nodes: [lab1]\n", "nodes.yaml:1:8: 'nodes' must be a mapping of node names",
                "nodes as a list");
  {
    /* Every mistake at once. */
    _cleanup_free_ char *msg = error_of ("nodes:\n  a:\n    cpu: 1\n  b:\n    url: ftp://x/y\n");
    ok (strstr (msg, "3:5: node 'a': unknown key") && strstr (msg, "3:5: node 'a': missing") &&
            strstr (msg, "5:10: node 'b': bad URL"),
        "every problem of the file in one error");
  }
}

static void
test_unknown (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c =
      load_text ("nodes:\n  lab1: {url: 'ssh://a@b/x.sock'}\n", &err);

  cpb_nodes_conf_unknown (c, "lab2", &err);
  is_str (err->msg, "no node 'lab2' in nodes.yaml (did you mean 'lab1'?)", "did you mean");
  is_int (err->kind, CPB_ERR_NOT_FOUND, "not found");
  cpb_error_free (TAKE_PTR (err));
  cpb_nodes_conf_unknown (c, "locl", &err);
  is_str (err->msg, "no node 'locl' in nodes.yaml (did you mean 'local'?)",
          "the local node is a name too");
}

/* ------------------------------------------------------------------ edits */

static char *
add (const char *text, const char *name, const char *url, cpb_error **err)
{
  static char *caps[] = { (char *)"gpu", (char *)"x:y", NULL };
  struct cpb_node_conf n = { .name = (char *)name,
                             .url = (char *)url,
                             .capabilities = caps,
                             .n_capabilities = 2,
                             .cpus = 4,
                             .memory_text = (char *)"8G",
                             .enabled = true };
  char *out = NULL;

  return cpb_nodes_text_add ("nodes.yaml", text, &n, &out, err) < 0 ? NULL : out;
}

static void
test_add (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *first = add ("", "lab1", "ssh://a@lab1/run/podman.sock", &err);
  _cleanup_free_ char *second = NULL, *third = NULL, *dup = NULL, *flow = NULL, *empty = NULL;
  _cleanup_nodes_conf_ cpb_nodes_conf *c = NULL;
  static const char hand[] = "# mine\n"
                             "nodes:\n"
                             "    # the big one\n"
                             "    big:\n"
                             "        url: ssh://b@big/run/podman.sock   # keep me\n"
                             "\n"
                             "# trailing words\n";

  ok (first != NULL, "a new file gets the entry%s%s", err ? ": " : "", err ? err->msg : "");
  ok (first && strstr (first, "# cpb nodes:") == first, "with a header comment");
  ok (first && strstr (first, "nodes:\n  lab1:\n    url: \"ssh://a@lab1/run/podman.sock\"\n"
                              "    capabilities: [gpu, \"x:y\"]\n    cpus: 4\n    memory: 8G\n"),
      "rendered in block style");
  second = add (first, "lab2", "unix:///run/x.sock", &err);
  c = second ? load_text (second, &err) : NULL;
  ok (c && c->n == 2 && strcmp (c->nodes[1].name, "lab2") == 0, "a second entry goes last");
  third = add (hand, "lab3", "ssh://c@lab3/run/podman.sock", &err);
  ok (third && strstr (third, "# mine\n") && strstr (third, "# keep me\n") &&
          strstr (third, "# trailing words\n"),
      "comments of a hand-written file are kept");
  ok (third && strstr (third, "\n    lab3:\n        url: \"ssh://c@lab3"),
      "the file's own indentation is used");
  ok (third && strstr (third, "lab3") < strstr (third, "# trailing words"),
      "the entry goes before what follows the nodes");
  dup = add (first, "lab1", "ssh://a@x/y.sock", &err);
  ok (dup == NULL && err && strstr (err->msg, "nodes.yaml:5:3: node 'lab1' exists already"),
      "a name taken: refused, pointing at it");
  cpb_error_free (TAKE_PTR (err));
  flow = add ("nodes: {a: {url: 'ssh://a@b/x.sock'}}\n", "lab1", "ssh://a@x/y.sock", &err);
  ok (flow == NULL && err && strstr (err->msg, "flow style"), "flow style is left to the user");
  cpb_error_free (TAKE_PTR (err));
  empty = add ("x-a: 1\nnodes: {}\nx-b: 2\n", "lab1", "ssh://a@x/y.sock", &err);
  ok (empty && strstr (empty, "x-a: 1\nnodes:\n  lab1:\n") && strstr (empty, "x-b: 2"),
      "an empty 'nodes: {}' becomes a block");
}

static char *
rm (const char *text, const char *name, cpb_error **err)
{
  char *out = NULL;

  return cpb_nodes_text_remove ("nodes.yaml", text, name, &out, err) < 0 ? NULL : out;
}

static void
test_remove (void)
{
  static const char text[] = "# mine\n"
                             "nodes:\n"
                             "  a:\n"
                             "    url: ssh://a@a/run/x.sock\n"
                             "  # about b\n"
                             "  b:\n"
                             "    url: ssh://b@b/run/x.sock\n"
                             "    cpus: 2\n"
                             "\n"
                             "  c:\n"
                             "    url: ssh://c@c/run/x.sock\n"
                             "# the end\n";
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *no_b = rm (text, "b", &err), *no_c = rm (text, "c", &err);
  _cleanup_free_ char *none = rm (text, "d", &err);

  is_str (
      no_b,
      "# mine\nnodes:\n  a:\n    url: ssh://a@a/run/x.sock\n\n  c:\n    url: ssh://c@c/run/x.sock\n"
      "# the end\n",
      "removing b takes its lines and the comment above it");
  is_str (no_c,
          "# mine\nnodes:\n  a:\n    url: ssh://a@a/run/x.sock\n  # about b\n  b:\n"
          "    url: ssh://b@b/run/x.sock\n    cpus: 2\n\n# the end\n",
          "removing the last keeps what follows");
  ok (none == NULL && err && strstr (err->msg, "no node 'd'"), "an unknown name: not found");
  cpb_error_free (TAKE_PTR (err));
  {
    _cleanup_free_ char *anchor =
        rm ("nodes:\n  a: &a {url: 'ssh://a@a/x.sock'}\n  b: *a\n", "a", &err);
    ok (anchor == NULL && err && strstr (err->msg, "edit it by hand"),
        "an edit that would break the file is refused");
  }
}

int
main (void)
{
  plan_no_plan ();
  test_good ();
  test_example ();
  test_empty ();
  test_errors ();
  test_unknown ();
  test_add ();
  test_remove ();
  return done_testing ();
}
