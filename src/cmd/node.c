/* node.c: `cpb node add|list|rm|check|import` — the machines of the farm, in nodes.yaml.
 *
 * The verb parses, calls src/lib (spec/nodes.h for the file, nodes.h to reach nodes,
 * doctor.h for the checks) and prints.  Adding and importing check that the node answers
 * unless told not to, so nodes.yaml holds nodes that worked once.
 */
#include "config.h"
#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"
#include "json.h"
#include "nodes.h"
#include "podman/ssh.h"
#include "spec/nodes.h"
#include "spec/yamlnode.h"
#include "suggest.h"
#include "xalloc.h"

static const char usage[] =
    "Usage: cpb node add NAME URL [--capability CAP]... [--cpus N] [--memory SIZE]\n"
    "                     [--max-tasks N] [--identity FILE] [--no-check]\n"
    "       cpb node list [--json] [--timeout SECONDS] [NAME...]\n"
    "       cpb node rm NAME\n"
    "       cpb node check [--json] [--timeout SECONDS] NAME\n"
    "       cpb node import [--all] [--no-check] [--json] [NAME...]\n"
    "\n"
    "The nodes cpb runs tasks on: Podman services on this machine or, over ssh, on others,\n"
    "kept in $XDG_CONFIG_HOME/cpb/nodes.yaml (see docs/nodes.md).  The local service is\n"
    "the node 'local' without an entry.\n"
    "\n"
    "Commands:\n"
    "  add      add a node, after checking that it answers\n"
    "  list     every node: reachable or why not, Podman, capacity, load, cpb's tasks\n"
    "  rm       remove a node from nodes.yaml\n"
    "  check    the doctor's checks of a node's service, over its connection\n"
    "  import   offer the connections Podman knows (podman system connection add)\n"
    "\n"
    "Options:\n"
    "  --capability CAP   (add) a capability the node offers (gpu, matlab); repeatable\n"
    "  --cpus N           (add) use at most N of its cpus\n"
    "  --memory SIZE      (add) use at most SIZE of its memory (512M, 16G)\n"
    "  --max-tasks N      (add) run at most N tasks there at once\n"
    "  --identity FILE    (add) the ssh private key to log in with (ssh -i)\n"
    "  --no-check         (add, import) do not check that the node answers first\n"
    "  --all              (import) every connection that can be imported\n"
    "  --json             (list, check, import) print JSON for scripts\n"
    "  --timeout SECONDS  how long a node may take to answer (default 20)\n"
    "  -h, --help         show this help\n"
    "\n"
    "URLs: ssh://[user@]host[:port]/path/to/podman.sock (logging in with the user's own\n"
    "OpenSSH: ~/.ssh/config, agent and known_hosts apply; unknown host keys are refused)\n"
    "or unix:///path/to/podman.sock.\n"
    "\n"
    "Exit status: 0 ok, 1 failure (check: problems found), 2 bad input, 3 a node did not\n"
    "answer.\n";

enum
{
  OPT_CAPABILITY = 1 << 0,
  OPT_CPUS = 1 << 1,
  OPT_MEMORY = 1 << 2,
  OPT_MAX_TASKS = 1 << 3,
  OPT_IDENTITY = 1 << 4,
  OPT_NO_CHECK = 1 << 5,
  OPT_ALL = 1 << 6,
  OPT_JSON = 1 << 7,
  OPT_TIMEOUT = 1 << 8,
};

struct args
{
  unsigned given;
  char **capabilities; /* NULL-terminated */
  size_t n_capabilities;
  int cpus, max_tasks;
  uint64_t memory;
  const char *memory_text;
  char *identity;
  int timeout_ms;
  char **rest; /* operands after the command */
  int n_rest;
};

static void
args_clear (struct args *a)
{
  cpb_strv_free (a->capabilities);
  free (a->identity);
}

/* ------------------------------------------------------------------ arguments */

static int
parse_count (const char *opt, const char *s, int max, int *ret)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (s, &end, 10);
  if (errno || *end || end == s || v < 1 || v > max)
    return cpb_cli_usage_error ("node", "%s must be a whole number from 1 to %d, not '%s'", opt,
                                max, s);
  *ret = (int)v;
  return 0;
}

/* A relative --identity is made absolute: ssh runs from whatever directory cpb runs in. */
static char *
absolute (const char *path)
{
  char cwd[PATH_MAX];

  if (path[0] == '/' || getcwd (cwd, sizeof cwd) == NULL)
    return cpb_xstrdup (path);
  return cpb_xasprintf ("%s/%s", cwd, path);
}

static int
parse_one (int c, struct args *a)
{
  switch (c)
    {
    case 'c':
      a->capabilities = cpb_xrealloc (a->capabilities, (a->n_capabilities + 2) * sizeof (char *));
      a->capabilities[a->n_capabilities++] = cpb_xstrdup (optarg);
      a->capabilities[a->n_capabilities] = NULL;
      a->given |= OPT_CAPABILITY;
      return 0;
    case 'p':
      a->given |= OPT_CPUS;
      return parse_count ("--cpus", optarg, 65536, &a->cpus);
    case 'm':
      a->given |= OPT_MEMORY;
      a->memory_text = optarg;
      if (cpb_parse_size (optarg, &a->memory) < 0 || a->memory == 0)
        return cpb_cli_usage_error ("node", "--memory must be a size like 512M or 16G, not '%s'",
                                    optarg);
      return 0;
    case 't':
      a->given |= OPT_MAX_TASKS;
      return parse_count ("--max-tasks", optarg, 1000000, &a->max_tasks);
    case 'i':
      a->given |= OPT_IDENTITY;
      free (a->identity);
      a->identity = absolute (optarg);
      return 0;
    case 'T':
      a->given |= OPT_TIMEOUT;
      if (parse_count ("--timeout", optarg, 3600, &a->timeout_ms) < 0)
        return CPB_EXIT_USAGE;
      a->timeout_ms *= 1000;
      return 0;
    case 'n':
      a->given |= OPT_NO_CHECK;
      return 0;
    case 'a':
      a->given |= OPT_ALL;
      return 0;
    case 'j':
      a->given |= OPT_JSON;
      return 0;
    default:
      return cpb_cli_bad_option ("node");
    }
}

static int
parse_args (int argc, char **argv, struct args *a)
{
  static const struct option opts[] = {
    { "capability", required_argument, NULL, 'c' },
    { "cpus", required_argument, NULL, 'p' },
    { "memory", required_argument, NULL, 'm' },
    { "max-tasks", required_argument, NULL, 't' },
    { "identity", required_argument, NULL, 'i' },
    { "timeout", required_argument, NULL, 'T' },
    { "no-check", no_argument, NULL, 'n' },
    { "all", no_argument, NULL, 'a' },
    { "json", no_argument, NULL, 'j' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c, r;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    {
      if (c == 'h')
        {
          fputs (usage, stdout);
          return -1;
        }
      if ((r = parse_one (c, a)) != 0)
        return r;
    }
  a->rest = argv + optind;
  a->n_rest = argc - optind;
  return 0;
}

/* Refuse options that mean nothing to command CMD (they would be silently ignored). */
static int
check_options (const char *cmd, const struct args *a, unsigned allowed)
{
  static const char *const names[] = { "--capability", "--cpus",     "--memory",
                                       "--max-tasks",  "--identity", "--no-check",
                                       "--all",        "--json",     "--timeout" };

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if ((a->given & ~allowed) & (1u << i))
      return cpb_cli_usage_error ("node", "%s does not apply to 'cpb node %s'", names[i], cmd);
  return 0;
}

/* ------------------------------------------------------------------ printing */

/* Bytes in the units nodes.yaml takes (powers of 1024): "23.5G", "512M". */
static void
format_bytes (char *buf, size_t size, uint64_t bytes)
{
  static const char units[] = "KMGT";
  double v = (double)bytes;
  int u = -1;

  while (v >= 1024 && u < 3)
    v /= 1024, u++;
  if (u < 0)
    snprintf (buf, size, "%" PRIu64, bytes);
  else
    snprintf (buf, size, v >= 100 ? "%.0f%c" : "%.1f%c", v, units[u]);
}

static char *
join (char *const *v, const char *sep, const char *empty)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;

  for (size_t i = 0; v && v[i]; i++)
    cpb_buf_printf (&b, "%s%s", i ? sep : "", v[i]);
  return b.len ? cpb_buf_steal (&b, NULL) : cpb_xstrdup (empty);
}

static int
print_json_text (yajl_gen gen, const char *verb)
{
  cpb_error *err = NULL;
  _cleanup_free_ char *text = cpb_json_gen_finish (gen, NULL, &err);

  if (text == NULL)
    return cpb_cli_report (verb, err);
  puts (text);
  return CPB_EXIT_OK;
}

/* ------------------------------------------------------------------ the file */

static int
load_conf (cpb_nodes_conf **ret, cpb_error **err)
{
  _cleanup_free_ char *path = cpb_nodes_conf_path (err);

  return path ? cpb_nodes_conf_load (path, ret, err) : -1;
}

/* Apply EDIT (add or remove) to nodes.yaml and write it. */
static int
edit_file (const char *path, const struct cpb_node_conf *add, const char *remove, cpb_error **err)
{
  _cleanup_free_ char *text = NULL, *edited = NULL;

  if (cpb_nodes_text_read (path, &text, err) < 0)
    return -1;
  if (add && cpb_nodes_text_add (path, text, add, &edited, err) < 0)
    return -1;
  if (remove && cpb_nodes_text_remove (path, text, remove, &edited, err) < 0)
    return -1;
  return cpb_nodes_text_write (path, edited, err);
}

/* ------------------------------------------------------------------ reaching one node */

/* Connect to NODE (its entry C, or the local node without one) on this thread. */
static int
connect_node (const struct cpb_global *g, const struct cpb_node_conf *c, int timeout_ms,
              cpb_podman **ret, cpb_error **err)
{
  if (c && c->url)
    {
      struct cpb_podman_target t = { .url = c->url,
                                     .identity = c->identity,
                                     .timeout_ms = timeout_ms };
      return cpb_podman_connect_to (&t, ret, err);
    }
  return cpb_podman_connect (g->url, CPB_PODMAN_NO_EMBEDDED | CPB_PODMAN_NO_DOCTOR_HINT, ret, err);
}

/* One line about a node that answered, for add and import. */
static void
print_answered (const char *name, const struct cpb_node *n)
{
  char mem[32];

  format_bytes (mem, sizeof mem, n->memory);
  printf ("node %s answers: podman %s, %s, %d cpus, %s memory\n", name,
          n->podman_version ? n->podman_version : "?", n->rootless ? "rootless" : "rootful",
          n->cpus, mem);
}

/* ------------------------------------------------------------------ add */

static void
conf_from_args (struct cpb_node_conf *c, const char *name, const char *url, struct args *a)
{
  static char *none[] = { NULL };

  *c = (struct cpb_node_conf){
    .name = (char *)name,
    .url = (char *)url,
    .identity = a->identity,
    .capabilities = a->capabilities ? a->capabilities : none,
    .n_capabilities = a->n_capabilities,
    .cpus = a->cpus,
    .memory = a->memory,
    .memory_text = (char *)a->memory_text,
    .max_tasks = a->max_tasks,
    .enabled = true,
  };
}

/* The node behind URL as add checks it: connected, described, then let go. */
static int
check_new_node (const char *name, const struct cpb_node_conf *c, int timeout_ms, cpb_error **err)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *one = cpb_xzalloc (sizeof *one);
  struct cpb_nodes_options o = { .timeout_ms = timeout_ms };
  const char *only[] = { name, NULL };
  struct cpb_node_probe *probes = NULL;
  size_t n = 0;
  int r = 0;

  one->path = cpb_xstrdup ("cpb node add");
  one->nodes = (struct cpb_node_conf *)c;
  one->n = 1;
  o.only = only;
  r = cpb_nodes_probe (one, &o, &probes, &n, err);
  one->nodes = NULL;
  one->n = 0;
  if (r < 0)
    return -1;
  if (probes[0].node)
    print_answered (name, probes[0].node);
  else
    {
      *err = TAKE_PTR (probes[0].error);
      r = cpb_error_prefix (err, "node %s", name);
    }
  cpb_node_probes_free (probes, n);
  return r;
}

static int
node_add (const struct cpb_global *g, struct args *a, cpb_error **err)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *conf = NULL;
  struct cpb_url u = { 0 };
  struct cpb_node_conf c;
  const char *name, *url;

  if (a->n_rest != 2)
    return cpb_error_set (err, CPB_ERR_INPUT, "add takes a NAME and a URL (see cpb node --help)");
  name = a->rest[0];
  url = a->rest[1];
  if (cpb_node_name_check (name, err) < 0 || cpb_url_parse (url, &u, err) < 0)
    return -1;
  cpb_url_clear (&u);
  if (load_conf (&conf, err) < 0)
    return -1;
  if (cpb_nodes_conf_find (conf, name))
    return cpb_error_set (err, CPB_ERR_INPUT, "node '%s' is in %s already (cpb node rm %s first)",
                          name, conf->path, name);
  conf_from_args (&c, name, url, a);
  if (!(a->given & OPT_NO_CHECK) && check_new_node (name, &c, a->timeout_ms, err) < 0)
    {
      char *msg = cpb_xasprintf ("%s; not added (--no-check adds it anyway)", (*err)->msg);

      free ((*err)->msg);
      (*err)->msg = msg;
      return -1;
    }
  if (edit_file (conf->path, &c, NULL, err) < 0)
    return -1;
  printf ("added node %s to %s\n", name, conf->path);
  return CPB_EXIT_OK;
}

/* ------------------------------------------------------------------ rm */

static int
node_rm (struct args *a, cpb_error **err)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *conf = NULL;

  if (a->n_rest != 1)
    return cpb_error_set (err, CPB_ERR_INPUT, "rm takes one NAME");
  if (load_conf (&conf, err) < 0)
    return -1;
  if (cpb_nodes_conf_find (conf, a->rest[0]) == NULL && strcmp (a->rest[0], CPB_NODE_LOCAL) == 0)
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "the local node has no entry in %s to remove: it is a node without "
                          "one (an entry 'local: {enabled: false}' leaves it out)",
                          conf->path);
  if (cpb_nodes_conf_find (conf, a->rest[0]) == NULL)
    return cpb_nodes_conf_unknown (conf, a->rest[0], err);
  if (edit_file (conf->path, NULL, a->rest[0], err) < 0)
    return -1;
  printf ("removed node %s from %s\n", a->rest[0], conf->path);
  return 0;
}

/* ------------------------------------------------------------------ list */

static void
list_text_row (const struct cpb_node_probe *p)
{
  const struct cpb_node *n = p->node;
  _cleanup_free_ char *caps = join (p->capabilities, ",", "-");
  char mem[32] = "-", avail[32] = "-", load[32] = "-", tasks[32] = "-";

  if (!p->enabled)
    {
      printf ("%-12s %-8s %s\n", p->name, "disabled", "(enabled: false in nodes.yaml)");
      return;
    }
  if (n == NULL)
    {
      /* Without a service, runs start one of their own: the local node is still usable. */
      bool own = !p->configured && strcmp (p->name, CPB_NODE_LOCAL) == 0;

      printf ("%-12s %-8s %s%s\n", p->name, "down", p->error ? p->error->msg : "?",
              own ? " (meanwhile cpb run starts a private service for each run)" : "");
      return;
    }
  format_bytes (mem, sizeof mem, n->memory);
  if (p->has_load)
    {
      format_bytes (avail, sizeof avail, p->load.mem_available);
      snprintf (load, sizeof load, "%.2f", p->load.load1);
    }
  if (p->has_tasks)
    snprintf (tasks, sizeof tasks, "%zu/%zu", p->running_tasks, p->task_containers);
  printf ("%-12s %-8s %-8s %-8s %4d %7s %6s %7s %7s  %s\n", p->name, "up",
          n->podman_version ? n->podman_version : "?",
          n->has_info ? (n->rootless ? "yes" : "no") : "?", n->cpus, mem, load, avail, tasks, caps);
}

static void
list_text (const struct cpb_node_probe *v, size_t n)
{
  printf ("%-12s %-8s %-8s %-8s %4s %7s %6s %7s %7s  %s\n", "NAME", "STATUS", "PODMAN", "ROOTLESS",
          "CPUS", "MEMORY", "LOAD", "AVAIL", "TASKS", "CAPABILITIES");
  for (size_t i = 0; i < n; i++)
    list_text_row (&v[i]);
  for (size_t i = 0; i < n; i++)
    {
      if (v[i].node && v[i].load_error)
        printf ("node %s: load: %s\n", v[i].name, v[i].load_error);
      if (v[i].node && v[i].tasks_error)
        printf ("node %s: tasks: %s\n", v[i].name, v[i].tasks_error);
    }
}

static void
gen_double (yajl_gen gen, const char *key, double v)
{
  cpb_json_gen_key (gen, key);
  yajl_gen_double (gen, v);
}

static void
gen_node_facts (yajl_gen gen, const struct cpb_node *n)
{
  cpb_json_gen_key_string (gen, "api_version", cpb_podman_api_version (n->podman));
  cpb_json_gen_key_string (gen, "podman_version", n->podman_version);
  cpb_json_gen_key (gen, "rootless");
  if (n->has_info)
    yajl_gen_bool (gen, n->rootless);
  else
    yajl_gen_null (gen);
  cpb_json_gen_key_int (gen, "cgroup_version", n->cgroup_version);
  cpb_json_gen_key_string (gen, "oci_runtime", n->oci_runtime);
  cpb_json_gen_key_string (gen, "storage_driver", n->storage_driver);
  cpb_json_gen_key_string (gen, "graph_root", n->graph_root);
  cpb_json_gen_key_string (gen, "hostname", n->hostname);
  cpb_json_gen_key_string (gen, "arch", n->arch);
  cpb_json_gen_key_bool (gen, "local", n->local);
  cpb_json_gen_key_int (gen, "cpus", n->cpus);
  cpb_json_gen_key_int (gen, "memory", (int64_t)n->memory);
  cpb_json_gen_key_int (gen, "max_tasks", n->max_tasks);
}

static void
gen_figures (yajl_gen gen, const struct cpb_node_probe *p)
{
  cpb_json_gen_key (gen, "load");
  if (p->has_load)
    {
      yajl_gen_map_open (gen);
      gen_double (gen, "load1", p->load.load1);
      gen_double (gen, "load5", p->load.load5);
      gen_double (gen, "load15", p->load.load15);
      cpb_json_gen_key_int (gen, "mem_total", (int64_t)p->load.mem_total);
      cpb_json_gen_key_int (gen, "mem_available", (int64_t)p->load.mem_available);
      yajl_gen_map_close (gen);
    }
  else
    yajl_gen_null (gen);
  cpb_json_gen_key_string (gen, "load_error", p->load_error);
  cpb_json_gen_key (gen, "tasks");
  if (p->has_tasks)
    {
      yajl_gen_map_open (gen);
      cpb_json_gen_key_int (gen, "running", (int64_t)p->running_tasks);
      cpb_json_gen_key_int (gen, "containers", (int64_t)p->task_containers);
      yajl_gen_map_close (gen);
    }
  else
    yajl_gen_null (gen);
  cpb_json_gen_key_string (gen, "tasks_error", p->tasks_error);
}

static void
gen_probe (yajl_gen gen, const struct cpb_node_probe *p)
{
  yajl_gen_map_open (gen);
  cpb_json_gen_key_string (gen, "name", p->name);
  cpb_json_gen_key_string (gen, "url", p->url);
  cpb_json_gen_key_bool (gen, "configured", p->configured);
  cpb_json_gen_key_bool (gen, "enabled", p->enabled);
  cpb_json_gen_key_bool (gen, "reachable", p->node != NULL);
  cpb_json_gen_key_string (gen, "error", p->error ? p->error->msg : NULL);
  cpb_json_gen_key_bool (gen, "embedded", p->embedded);
  cpb_json_gen_key (gen, "capabilities");
  cpb_json_gen_strv (gen, (const char *const *)p->capabilities);
  if (p->node)
    {
      gen_node_facts (gen, p->node);
      gen_figures (gen, p);
    }
  yajl_gen_map_close (gen);
}

static int
list_json (const char *path, const struct cpb_node_probe *v, size_t n)
{
  _cleanup_yajl_gen_ yajl_gen gen = cpb_json_gen_new ();

  yajl_gen_map_open (gen);
  cpb_json_gen_key_string (gen, "file", path);
  cpb_json_gen_key (gen, "nodes");
  yajl_gen_array_open (gen);
  for (size_t i = 0; i < n; i++)
    gen_probe (gen, &v[i]);
  yajl_gen_array_close (gen);
  yajl_gen_map_close (gen);
  return print_json_text (gen, "node");
}

static int
node_list (const struct cpb_global *g, struct args *a, cpb_error **err)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *conf = NULL;
  _cleanup_free_ const char **only = NULL;
  struct cpb_nodes_options o = {
    .local_url = g->url,
    .local_flags = CPB_PODMAN_NO_EMBEDDED | CPB_PODMAN_NO_DOCTOR_HINT,
    .with_disabled = true,
    .timeout_ms = a->timeout_ms,
    .what = CPB_PROBE_INFO | CPB_PROBE_LOAD | CPB_PROBE_TASKS,
  };
  struct cpb_node_probe *v = NULL;
  size_t n = 0;
  int rc;

  if (load_conf (&conf, err) < 0)
    return -1;
  if (a->n_rest > 0)
    {
      only = cpb_xcalloc ((size_t)a->n_rest + 1, sizeof *only);
      for (int i = 0; i < a->n_rest; i++)
        only[i] = a->rest[i];
      o.only = only;
    }
  if (cpb_nodes_probe (conf, &o, &v, &n, err) < 0)
    return -1;
  if (a->given & OPT_JSON)
    rc = list_json (conf->path, v, n);
  else
    {
      list_text (v, n);
      rc = CPB_EXIT_OK;
    }
  cpb_node_probes_free (v, n);
  return rc;
}

/* ------------------------------------------------------------------ check */

static void
check_text (const char *name, const struct cpb_doctor *d, bool color)
{
  static const char *const colors[] = { "\033[32m", "\033[33m", "\033[31m", "\033[2m" };
  size_t problems = cpb_doctor_count (d, CPB_CHECK_PROBLEM);

  for (size_t i = 0; i < d->n; i++)
    {
      const struct cpb_check *c = &d->checks[i];

      printf ("%s%-8s%s %-9s %s\n", color ? colors[c->status] : "",
              cpb_check_status_name (c->status), color ? "\033[0m" : "", c->name,
              c->detail ? c->detail : "");
      if (c->advice)
        printf ("%-8s %-9s fix: %s\n", "", "", c->advice);
    }
  printf ("\nnode %s: %s\n", name,
          !d->reachable ? "not reachable"
          : problems    ? "problems found"
                        : "no problems found");
}

static int
check_json (const char *name, const struct cpb_doctor *d)
{
  _cleanup_yajl_gen_ yajl_gen gen = cpb_json_gen_new ();

  yajl_gen_map_open (gen);
  cpb_json_gen_key_string (gen, "node", name);
  cpb_json_gen_key_bool (gen, "ok", d->reachable && cpb_doctor_count (d, CPB_CHECK_PROBLEM) == 0);
  cpb_json_gen_key_bool (gen, "reachable", d->reachable);
  cpb_json_gen_key_string (gen, "url", d->url);
  cpb_json_gen_key (gen, "checks");
  yajl_gen_array_open (gen);
  for (size_t i = 0; i < d->n; i++)
    {
      yajl_gen_map_open (gen);
      cpb_json_gen_key_string (gen, "name", d->checks[i].name);
      cpb_json_gen_key_string (gen, "status", cpb_check_status_name (d->checks[i].status));
      cpb_json_gen_key_string (gen, "detail", d->checks[i].detail);
      cpb_json_gen_key_string (gen, "advice", d->checks[i].advice);
      yajl_gen_map_close (gen);
    }
  yajl_gen_array_close (gen);
  yajl_gen_map_close (gen);
  return print_json_text (gen, "node");
}

/* The check the doctor has no way to make: the node's own /proc, over the connection. */
static void
check_load (struct cpb_doctor *d, cpb_podman *p, const char *name)
{
  _cleanup_node_ struct cpb_node *n = cpb_xzalloc (sizeof *n);
  _cleanup_error_ cpb_error *e = NULL;
  struct cpb_node_load l;
  char avail[32], total[32];

  n->name = cpb_xstrdup (name);
  n->podman = p;
  n->local = !cpb_podman_is_remote (p) && strncmp (cpb_podman_url (p), "unix://", 7) == 0;
  if (cpb_node_read_load (n, &l, &e) < 0)
    cpb_doctor_add (d, "load", CPB_CHECK_PROBLEM,
                    cpb_xasprintf ("cannot read /proc/loadavg and /proc/meminfo: %s", e->msg),
                    cpb_xstrdup ("the login shell of the node's user must run 'cat'"));
  else
    {
      format_bytes (avail, sizeof avail, l.mem_available);
      format_bytes (total, sizeof total, l.mem_total);
      cpb_doctor_add (d, "load", CPB_CHECK_OK,
                      cpb_xasprintf ("load %.2f %.2f %.2f, %s of %s memory available%s", l.load1,
                                     l.load5, l.load15, avail, total,
                                     n->local ? "" : " (read over ssh)"),
                      NULL);
    }
  n->podman = NULL;
}

static int
node_check (const struct cpb_global *g, struct args *a, cpb_error **err)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *conf = NULL;
  _cleanup_doctor_ struct cpb_doctor d = CPB_DOCTOR_INIT;
  _cleanup_podman_ cpb_podman *p = NULL;
  _cleanup_error_ cpb_error *e = NULL;
  const struct cpb_node_conf *c;
  const char *name;
  int rc;

  if (a->n_rest != 1)
    return cpb_error_set (err, CPB_ERR_INPUT, "check takes one NAME");
  name = a->rest[0];
  if (load_conf (&conf, err) < 0)
    return -1;
  c = cpb_nodes_conf_find (conf, name);
  if (c == NULL && strcmp (name, CPB_NODE_LOCAL) != 0)
    return cpb_nodes_conf_unknown (conf, name, err);
  if (connect_node (g, c, a->timeout_ms, &p, &e) < 0)
    cpb_doctor_add (&d, "service", CPB_CHECK_PROBLEM, cpb_xstrdup (e->msg), NULL);
  else
    {
      cpb_doctor_connection (&d, p, cpb_podman_is_remote (p) ? name : NULL);
      check_load (&d, p, name);
    }
  if (a->given & OPT_JSON)
    {
      if ((rc = check_json (name, &d)) != CPB_EXIT_OK)
        return rc;
    }
  else
    check_text (name, &d, g->color);
  /* The checks said it all, as cpb doctor does: only the exit status is left. */
  if (!d.reachable)
    return CPB_EXIT_UNREACHABLE;
  return cpb_doctor_count (&d, CPB_CHECK_PROBLEM) ? CPB_EXIT_FAILURE : CPB_EXIT_OK;
}

/* ------------------------------------------------------------------ import */

/* Why connection C cannot become a node named as it is, or NULL. */
static char *
import_problem (const struct cpb_podman_connection *c, const cpb_nodes_conf *conf)
{
  _cleanup_error_ cpb_error *e = NULL;
  struct cpb_url u = { 0 };

  if (cpb_node_name_check (c->name, &e) < 0)
    return cpb_xstrdup (e->msg);
  if (cpb_nodes_conf_find (conf, c->name))
    return cpb_xasprintf ("already a node (cpb node rm %s to import it again)", c->name);
  if (c->url == NULL)
    return cpb_xstrdup ("no URI");
  if (strncmp (c->url, "ssh://", 6) == 0 && strchr (c->url + 6, '/') == NULL)
    return cpb_xasprintf ("'%s' has no socket path (Podman 4.3 drops paths without /run when "
                          "adding a connection): cpb node add %s ssh://.../path/to/podman.sock",
                          c->url, c->name);
  if (cpb_url_parse (c->url, &u, &e) < 0)
    return cpb_xstrdup (e->msg);
  cpb_url_clear (&u);
  return NULL;
}

static int
import_offer_json (struct cpb_podman_connection *v, size_t n, const cpb_nodes_conf *conf)
{
  _cleanup_yajl_gen_ yajl_gen gen = cpb_json_gen_new ();

  yajl_gen_array_open (gen);
  for (size_t i = 0; i < n; i++)
    {
      _cleanup_free_ char *problem = import_problem (&v[i], conf);

      yajl_gen_map_open (gen);
      cpb_json_gen_key_string (gen, "name", v[i].name);
      cpb_json_gen_key_string (gen, "url", v[i].url);
      cpb_json_gen_key_string (gen, "identity", v[i].identity);
      cpb_json_gen_key_string (gen, "source", v[i].source);
      cpb_json_gen_key_bool (gen, "default", v[i].is_default);
      cpb_json_gen_key_bool (gen, "importable", problem == NULL);
      cpb_json_gen_key_string (gen, "problem", problem);
      yajl_gen_map_close (gen);
    }
  yajl_gen_array_close (gen);
  return print_json_text (gen, "node");
}

static void
import_offer_text (struct cpb_podman_connection *v, size_t n, const cpb_nodes_conf *conf)
{
  if (n == 0)
    {
      puts ("Podman knows no connections (podman system connection list is empty)");
      return;
    }
  printf ("%-16s %-8s %s\n", "NAME", "", "URL");
  for (size_t i = 0; i < n; i++)
    {
      _cleanup_free_ char *problem = import_problem (&v[i], conf);

      printf ("%-16s %-8s %s%s%s\n", v[i].name, v[i].is_default ? "default" : "",
              v[i].url ? v[i].url : "?",
              problem ? "\n                          cannot import: " : "", problem ? problem : "");
    }
  puts ("\nimport with: cpb node import --all, or cpb node import NAME...");
}

/* The connections to import: those named (each must exist and be importable), or all that
   can be (--all; the others are said and skipped).  Returns the count, -1 on error. */
static ssize_t
import_pick (struct args *a, struct cpb_podman_connection *v, size_t n, const cpb_nodes_conf *conf,
             bool *pick, cpb_error **err)
{
  _cleanup_free_ const char **names = cpb_xcalloc (n + 1, sizeof *names);
  ssize_t count = 0;

  for (size_t i = 0; i < n; i++)
    names[i] = v[i].name;
  for (int r = 0; r < a->n_rest; r++)
    {
      size_t i;
      for (i = 0; i < n && strcmp (v[i].name, a->rest[r]) != 0; i++)
        ;
      if (i == n)
        {
          const char *hint = cpb_suggest (a->rest[r], names, n);
          return cpb_error_set (err, CPB_ERR_NOT_FOUND, "Podman has no connection '%s'%s%s%s",
                                a->rest[r], hint ? " (did you mean '" : "", hint ? hint : "",
                                hint ? "'?)" : "");
        }
      pick[i] = true;
    }
  for (size_t i = 0; i < n; i++)
    {
      _cleanup_free_ char *problem = import_problem (&v[i], conf);

      if (problem && pick[i])
        return cpb_error_set (err, CPB_ERR_INPUT, "connection %s: %s", v[i].name, problem);
      if (problem && (a->given & OPT_ALL))
        printf ("skipping %s: %s\n", v[i].name, problem);
      pick[i] = pick[i] || ((a->given & OPT_ALL) && problem == NULL);
      count += pick[i];
    }
  return count;
}

/* Check the picked connections in parallel; unpick those that do not answer. */
static size_t
import_check (struct cpb_podman_connection *v, size_t n, bool *pick, int timeout_ms)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *tmp = cpb_xzalloc (sizeof *tmp);
  _cleanup_free_ const char **only = cpb_xcalloc (n + 1, sizeof *only);
  struct cpb_nodes_options o = { .timeout_ms = timeout_ms };
  struct cpb_node_probe *probes = NULL;
  size_t np = 0, k = 0, down = 0;
  static char *none[] = { NULL };

  tmp->path = cpb_xstrdup ("podman's connections");
  tmp->nodes = cpb_xcalloc (n + 1, sizeof *tmp->nodes);
  for (size_t i = 0; i < n; i++)
    if (pick[i])
      {
        tmp->nodes[tmp->n++] = (struct cpb_node_conf){ .name = v[i].name,
                                                       .url = v[i].url,
                                                       .identity = v[i].identity,
                                                       .capabilities = none,
                                                       .enabled = true };
        only[k++] = v[i].name;
      }
  o.only = only;
  if (cpb_nodes_probe (tmp, &o, &probes, &np, NULL) < 0)
    np = 0;
  for (size_t j = 0; j < np; j++)
    for (size_t i = 0; i < n; i++)
      if (pick[i] && strcmp (v[i].name, probes[j].name) == 0)
        {
          if (probes[j].node)
            print_answered (v[i].name, probes[j].node);
          else
            {
              fprintf (stderr, "cpb node import: node %s: %s; not imported\n", v[i].name,
                       probes[j].error ? probes[j].error->msg : "no answer");
              pick[i] = false;
              down++;
            }
        }
  cpb_node_probes_free (probes, np);
  free (tmp->nodes);
  tmp->nodes = NULL;
  tmp->n = 0;
  return down;
}

static int
import_write (const cpb_nodes_conf *conf, struct cpb_podman_connection *v, size_t n,
              const bool *pick, cpb_error **err)
{
  static char *none[] = { NULL };

  for (size_t i = 0; i < n; i++)
    {
      struct cpb_node_conf c = { .name = v[i].name,
                                 .url = v[i].url,
                                 .identity = v[i].identity,
                                 .capabilities = none,
                                 .enabled = true };

      if (!pick[i])
        continue;
      if (edit_file (conf->path, &c, NULL, err) < 0)
        return cpb_error_prefix (err, "importing %s", v[i].name);
      printf ("imported %s as node %s\n", v[i].url, v[i].name);
    }
  return 0;
}

static int
node_import (struct args *a, cpb_error **err)
{
  _cleanup_nodes_conf_ cpb_nodes_conf *conf = NULL;
  struct cpb_podman_connection *v = NULL;
  _cleanup_free_ bool *pick = NULL;
  size_t n = 0, down = 0;
  ssize_t count;
  int r = -1;

  if (load_conf (&conf, err) < 0 || cpb_podman_connections (&v, &n, err) < 0)
    return -1;
  if (a->n_rest == 0 && !(a->given & OPT_ALL))
    {
      r = CPB_EXIT_OK;
      if (a->given & OPT_JSON)
        r = import_offer_json (v, n, conf);
      else
        import_offer_text (v, n, conf);
      goto out;
    }
  pick = cpb_xcalloc (n + 1, sizeof *pick);
  if ((count = import_pick (a, v, n, conf, pick, err)) < 0)
    goto out;
  if (count > 0 && !(a->given & OPT_NO_CHECK))
    down = import_check (v, n, pick, a->timeout_ms);
  if (import_write (conf, v, n, pick, err) < 0)
    goto out;
  r = CPB_EXIT_OK;
  if (count == 0)
    puts ("nothing to import");
  if (down)
    r = cpb_error_set (err, CPB_ERR_CONNECT, "%zu connection%s did not answer and %s not imported",
                       down, down == 1 ? "" : "s", down == 1 ? "was" : "were");
out:
  cpb_podman_connections_free (v, n);
  return r;
}

/* ------------------------------------------------------------------ the verb */

/* Each command returns -1 with *ERR set, or the exit status (its output said the rest). */

static int
dispatch (const struct cpb_global *g, const char *cmd, struct args *a, cpb_error **err)
{
  static const char *const cmds[] = { "add", "list", "rm", "check", "import", NULL };
  const char *hint;

  if (strcmp (cmd, "add") == 0)
    return check_options (cmd, a,
                          OPT_CAPABILITY | OPT_CPUS | OPT_MEMORY | OPT_MAX_TASKS | OPT_IDENTITY |
                              OPT_NO_CHECK | OPT_TIMEOUT)
               ? CPB_EXIT_USAGE
               : node_add (g, a, err);
  if (strcmp (cmd, "list") == 0 || strcmp (cmd, "ls") == 0)
    return check_options (cmd, a, OPT_JSON | OPT_TIMEOUT) ? CPB_EXIT_USAGE : node_list (g, a, err);
  if (strcmp (cmd, "rm") == 0)
    return check_options (cmd, a, 0) ? CPB_EXIT_USAGE : node_rm (a, err);
  if (strcmp (cmd, "check") == 0)
    return check_options (cmd, a, OPT_JSON | OPT_TIMEOUT) ? CPB_EXIT_USAGE : node_check (g, a, err);
  if (strcmp (cmd, "import") == 0)
    return check_options (cmd, a, OPT_ALL | OPT_NO_CHECK | OPT_JSON | OPT_TIMEOUT)
               ? CPB_EXIT_USAGE
               : node_import (a, err);
  hint = cpb_suggest (cmd, cmds, (size_t)-1);
  return cpb_error_set (err, CPB_ERR_INPUT,
                        "'%s' is not a node command%s%s%s (add, list, rm, check, import)", cmd,
                        hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
}

CPB_VERB (node)
{
  struct args a = { 0 };
  _cleanup_error_ cpb_error *err = NULL;
  const char *cmd;
  int rc = parse_args (argc, argv, &a);

  if (rc != 0)
    {
      args_clear (&a);
      return rc < 0 ? CPB_EXIT_OK : rc;
    }
  if (a.n_rest == 0)
    {
      args_clear (&a);
      return cpb_cli_usage_error ("node", "which command? add, list, rm, check or import");
    }
  cmd = a.rest[0];
  a.rest++;
  a.n_rest--;
  rc = dispatch (g, cmd, &a, &err);
  args_clear (&a);
  /* A command fails with an error to print, or ends with its exit status. */
  if (rc < 0)
    return cpb_cli_report ("node", cpb_error_take (&err));
  return rc;
}
