/* nodes.c: a node's capacity and load, commands on it, and reaching every node at once
 * (see nodes.h).
 */
#include "config.h"
#include "nodes.h"
#include "suggest.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* /proc/loadavg and /proc/meminfo together are under 2 kB; 64 kB is a broken node. */
#define LOAD_OUTPUT_MAX (64 * 1024)
#define LOAD_TIMEOUT_MS 10000

bool
cpb_meminfo_value (const char *text, const char *key, uint64_t *ret)
{
  size_t klen = strlen (key);
  const char *line = text;

  while (line && *line)
    {
      if (strncmp (line, key, klen) == 0 && line[klen] == ':')
        {
          /* Every figure of /proc/meminfo is in kB (KiB, despite the unit's name). */
          *ret = (uint64_t)strtoull (line + klen + 1, NULL, 10) * 1024;
          return true;
        }
      line = strchr (line, '\n');
      if (line)
        line++;
    }
  return false;
}

/* Read a small /proc file whole; /proc files report a size of 0, so read until EOF. */
static int
read_proc (const char *path, char *buf, size_t size, cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t len = 0;
  ssize_t n = 0;

  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open '%s'", path);
  while (len + 1 < size && (n = read (fd, buf + len, size - 1 - len)) > 0)
    len += (size_t)n;
  if (n < 0)
    return cpb_error_errno (err, errno, "cannot read '%s'", path);
  buf[len] = '\0';
  return 0;
}

/* The cpus this process may use (its affinity mask: a taskset or cgroup cpuset counts). */
static int
local_cpus (void)
{
  cpu_set_t set;

  if (sched_getaffinity (0, sizeof set, &set) == 0 && CPU_COUNT (&set) > 0)
    return CPU_COUNT (&set);
  return (int)sysconf (_SC_NPROCESSORS_ONLN);
}

static struct cpb_node *
node_new (const char *name, cpb_podman *p)
{
  struct cpb_node *n = cpb_xzalloc (sizeof *n);

  n->name = cpb_xstrdup (name);
  n->podman = p;
  n->capabilities = cpb_xcalloc (1, sizeof *n->capabilities);
  return n;
}

/* Capacity of this machine, from /proc. */
static int
local_capacity (struct cpb_node *n, cpb_error **err)
{
  char meminfo[8192];

  n->local = true;
  n->cpus = local_cpus ();
  if (read_proc ("/proc/meminfo", meminfo, sizeof meminfo, err) < 0 ||
      !cpb_meminfo_value (meminfo, "MemTotal", &n->memory))
    return cpb_error_prefix (err, "memory");
  return 0;
}

/* The service's description of itself; the capacity too unless the node is local. */
static int
fill_info (struct cpb_node *n, cpb_podman *p, cpb_error **err)
{
  _cleanup_podman_info_ struct cpb_podman_info *info = NULL;

  if (cpb_podman_get_info (p, &info, err) < 0)
    return -1;
  n->has_info = true;
  n->podman_version = info->version ? cpb_xstrdup (info->version) : NULL;
  n->rootless = info->rootless;
  n->cgroup_version = info->cgroup_version;
  n->oci_runtime = info->oci_runtime ? cpb_xstrdup (info->oci_runtime) : NULL;
  n->storage_driver = info->storage_driver ? cpb_xstrdup (info->storage_driver) : NULL;
  n->graph_root = info->graph_root ? cpb_xstrdup (info->graph_root) : NULL;
  n->hostname = info->hostname ? cpb_xstrdup (info->hostname) : NULL;
  n->arch = info->arch ? cpb_xstrdup (info->arch) : NULL;
  if (!n->local)
    {
      n->cpus = info->cpus > 0 ? info->cpus : 1;
      n->memory = info->mem_total;
    }
  return 0;
}

int
cpb_node_local (cpb_podman *p, struct cpb_node **ret, cpb_error **err)
{
  _cleanup_node_ struct cpb_node *n = node_new (CPB_NODE_LOCAL, p);

  if (local_capacity (n, err) < 0)
    return cpb_error_prefix (err, "node local");
  *ret = TAKE_PTR (n);
  return 0;
}

int
cpb_node_remote (const char *name, cpb_podman *p, struct cpb_node **ret, cpb_error **err)
{
  _cleanup_node_ struct cpb_node *n = node_new (name, p);

  if (fill_info (n, p, err) < 0)
    return cpb_error_prefix (err, "node %s", name);
  *ret = TAKE_PTR (n);
  return 0;
}

/* ------------------------------------------------------------------ load and commands */

int
cpb_node_parse_load (const char *text, struct cpb_node_load *ret, cpb_error **err)
{
  struct cpb_node_load l = { 0 };
  const char *meminfo = strchr (text, '\n');

  if (sscanf (text, "%lf %lf %lf", &l.load1, &l.load5, &l.load15) != 3 || meminfo == NULL ||
      !cpb_meminfo_value (meminfo + 1, "MemTotal", &l.mem_total))
    return cpb_error_set (err, CPB_ERR_FAILED, "not /proc/loadavg and /proc/meminfo: '%.60s'",
                          text);
  if (!cpb_meminfo_value (meminfo + 1, "MemAvailable", &l.mem_available))
    cpb_meminfo_value (meminfo + 1, "MemFree", &l.mem_available);
  *ret = l;
  return 0;
}

int
cpb_node_read_load (const struct cpb_node *node, struct cpb_node_load *ret, cpb_error **err)
{
  struct cpb_exec_result r = { 0 };
  char loadavg[256], meminfo[8192];
  _cleanup_free_ char *text = NULL;
  int rc;

  if (node->local)
    {
      if (read_proc ("/proc/loadavg", loadavg, sizeof loadavg, err) < 0 ||
          read_proc ("/proc/meminfo", meminfo, sizeof meminfo, err) < 0)
        return -1;
      text = cpb_xasprintf ("%s%s", loadavg, meminfo);
      return cpb_node_parse_load (text, ret, err);
    }
  if (cpb_podman_exec (node->podman, "cat /proc/loadavg /proc/meminfo", LOAD_OUTPUT_MAX,
                       LOAD_TIMEOUT_MS, &r, err) < 0)
    return -1;
  if (r.status != 0)
    rc = cpb_error_set (err, CPB_ERR_FAILED, "cat /proc/loadavg /proc/meminfo: exit %d: %s",
                        r.status, r.errout);
  else
    rc = cpb_node_parse_load (r.out, ret, err);
  cpb_exec_result_clear (&r);
  return rc;
}

int
cpb_node_load (const struct cpb_node *node, double *ret_load1, uint64_t *ret_mem_available,
               cpb_error **err)
{
  struct cpb_node_load l;

  if (cpb_node_read_load (node, &l, err) < 0)
    return cpb_error_prefix (err, "node %s: load", node->name);
  *ret_load1 = l.load1;
  *ret_mem_available = l.mem_available;
  return 0;
}

int
cpb_node_exec (const struct cpb_node *node, const char *command, size_t max_output, int timeout_ms,
               struct cpb_exec_result *ret, cpb_error **err)
{
  if (cpb_podman_exec (node->podman, command, max_output, timeout_ms, ret, err) < 0)
    return cpb_error_prefix (err, "node %s", node->name);
  return 0;
}

int
cpb_node_count_tasks (const struct cpb_node *node, size_t *ret_running, size_t *ret_total,
                      cpb_error **err)
{
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  size_t running = 0;

  if (cpb_podman_container_list (node->podman, "io.cpb.task", &l, err) < 0)
    return -1;
  for (size_t i = 0; i < l->n; i++)
    running += l->containers[i].status && strcmp (l->containers[i].status, "running") == 0;
  *ret_running = running;
  *ret_total = l->n;
  return 0;
}

void
cpb_node_free (struct cpb_node *node)
{
  if (node == NULL)
    return;
  cpb_podman_free (node->podman);
  cpb_strv_free (node->capabilities);
  free (node->name);
  free (node->podman_version);
  free (node->oci_runtime);
  free (node->storage_driver);
  free (node->graph_root);
  free (node->hostname);
  free (node->arch);
  free (node);
}

/* ------------------------------------------------------------------ probing in parallel */

/* One node being probed.  The thread only reads CONF and writes its own fields; the main
   thread owns P throughout (a thread never frees it), so it may cancel it at the deadline. */
struct probe
{
  struct cpb_node_probe *out;
  const struct cpb_node_conf *conf; /* NULL for the local node without an entry */
  const struct cpb_nodes_options *o;
  cpb_podman *p;
  struct cpb_node *node; /* filled by the thread, its podman attached after the join */
  cpb_error *error;
  bool ready;     /* already connected and checked (the local node, found synchronously) */
  bool connected; /* the connection phase ended well (later figures may still fail) */
  bool cancelled; /* the deadline came first */
  bool done;
  bool thread;
  pthread_t tid;
  struct shared *shared;
};

struct shared
{
  pthread_mutex_t lock;
  pthread_cond_t cond;
  size_t running;
};

static char **
strv_copy (char *const *v)
{
  size_t n = 0;
  char **c;

  while (v && v[n])
    n++;
  c = cpb_xcalloc (n + 1, sizeof *c);
  for (size_t i = 0; i < n; i++)
    c[i] = cpb_xstrdup (v[i]);
  return c;
}

/* Capacity and identity of the connected node, nodes.yaml's limits applied. */
static int
describe (struct probe *pr, cpb_error **err)
{
  const struct cpb_node_conf *c = pr->conf;
  const char *url = cpb_podman_url (pr->p);
  struct cpb_node *n = node_new (pr->out->name, NULL);

  pr->node = n;
  if (!cpb_podman_is_remote (pr->p) && strncmp (url, "unix://", 7) == 0 &&
      local_capacity (n, err) < 0)
    return -1;
  n->podman = pr->p; /* borrowed for the calls below, detached again by the caller */
  if ((!n->local || (pr->o->what & CPB_PROBE_INFO)) && fill_info (n, pr->p, err) < 0)
    return -1;
  if (c)
    {
      cpb_strv_free (n->capabilities);
      n->capabilities = strv_copy (c->capabilities);
      n->max_tasks = c->max_tasks;
      if (c->cpus > 0 && c->cpus < n->cpus)
        n->cpus = c->cpus;
      if (c->memory > 0 && c->memory < n->memory)
        n->memory = c->memory;
    }
  return 0;
}

/* What a node's figures are, each failing on its own: a node that answers the API but not
   `cat` is still a node. */
static void
figures (struct probe *pr)
{
  struct cpb_node_probe *out = pr->out;
  _cleanup_error_ cpb_error *e = NULL;

  if (pr->o->what & CPB_PROBE_LOAD)
    {
      if (cpb_node_read_load (pr->node, &out->load, &e) == 0)
        out->has_load = true;
      else
        out->load_error = cpb_xstrdup (e->msg);
      cpb_error_free (TAKE_PTR (e));
    }
  if (pr->o->what & CPB_PROBE_TASKS)
    {
      if (cpb_node_count_tasks (pr->node, &out->running_tasks, &out->task_containers, &e) == 0)
        out->has_tasks = true;
      else
        out->tasks_error = cpb_xstrdup (e->msg);
    }
}

static void
probe_run (struct probe *pr)
{
  if ((!pr->ready && cpb_podman_finish (pr->p, &pr->error) < 0) || describe (pr, &pr->error) < 0)
    {
      if (pr->node)
        pr->node->podman = NULL;
      return;
    }
  pr->connected = true;
  figures (pr);
  pr->node->podman = NULL;
}

static void *
probe_thread (void *arg)
{
  struct probe *pr = arg;

  probe_run (pr);
  pthread_mutex_lock (&pr->shared->lock);
  pr->done = true;
  pr->shared->running--;
  pthread_cond_signal (&pr->shared->cond);
  pthread_mutex_unlock (&pr->shared->lock);
  return NULL;
}

/* The nodes to probe, in order: the local node first when it has no entry (and is not
   disabled by one), then nodes.yaml's in file order. */
static size_t
plan (const cpb_nodes_conf *conf, const struct cpb_nodes_options *o, struct probe *pr,
      struct cpb_node_probe *out)
{
  const struct cpb_node_conf *local = cpb_nodes_conf_find (conf, CPB_NODE_LOCAL);
  size_t n = 0;

  for (ssize_t i = local ? 0 : -1; i < (ssize_t)(conf ? conf->n : 0); i++)
    {
      const struct cpb_node_conf *c = i < 0 ? NULL : &conf->nodes[i];
      const char *name = c ? c->name : CPB_NODE_LOCAL;
      bool wanted = o->only == NULL;

      for (const char *const *w = o->only; w && *w; w++)
        wanted |= strcmp (*w, name) == 0;
      if (!wanted || (c && !c->enabled && !o->with_disabled))
        continue;
      out[n].name = cpb_xstrdup (name);
      out[n].url = c && c->url ? cpb_xstrdup (c->url) : NULL;
      out[n].configured = c != NULL;
      out[n].enabled = c == NULL || c->enabled;
      out[n].capabilities = strv_copy (c ? c->capabilities : NULL);
      pr[n] = (struct probe){ .out = &out[n], .conf = c, .o = o };
      n++;
    }
  return n;
}

static int
check_only (const cpb_nodes_conf *conf, const char *const *only, cpb_error **err)
{
  for (const char *const *w = only; w && *w; w++)
    if (strcmp (*w, CPB_NODE_LOCAL) != 0 && cpb_nodes_conf_find (conf, *w) == NULL)
      return cpb_nodes_conf_unknown (conf, *w, err);
  return 0;
}

/* Start reaching node PR: a target with a URL starts its ssh master here, on the main
   thread; the local node without one is found (or started) here too, as every verb does. */
static void
begin (struct probe *pr)
{
  const struct cpb_node_conf *c = pr->conf;

  if (c && c->url)
    {
      struct cpb_podman_target t = { .url = c->url,
                                     .identity = c->identity,
                                     .timeout_ms = pr->o->timeout_ms };
      cpb_podman_begin (&t, &pr->p, &pr->error);
      return;
    }
  if (cpb_podman_connect (pr->o->local_url, pr->o->local_flags, &pr->p, &pr->error) < 0)
    return;
  pr->ready = true;
  pr->out->embedded = cpb_podman_is_embedded (pr->p);
  free (pr->out->url);
  pr->out->url = cpb_xstrdup (cpb_podman_url (pr->p));
}

static long
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for the threads until the deadline, then cancel those still at work. */
static void
wait_all (struct shared *sh, struct probe *pr, size_t n, long deadline)
{
  pthread_mutex_lock (&sh->lock);
  while (sh->running > 0 && now_ms () < deadline)
    {
      long left = deadline - now_ms ();
      struct timespec ts;

      clock_gettime (CLOCK_MONOTONIC, &ts);
      ts.tv_sec += left / 1000;
      ts.tv_nsec += (left % 1000) * 1000000L;
      if (ts.tv_nsec >= 1000000000L)
        ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      pthread_cond_timedwait (&sh->cond, &sh->lock, &ts);
    }
  for (size_t i = 0; i < n; i++)
    if (pr[i].thread && !pr[i].done)
      {
        pr[i].cancelled = true;
        cpb_podman_cancel (pr[i].p);
      }
  pthread_mutex_unlock (&sh->lock);
  for (size_t i = 0; i < n; i++)
    if (pr[i].thread)
      pthread_join (pr[i].tid, NULL);
}

static void
replace_str (char **s, const char *value)
{
  free (*s);
  *s = cpb_xstrdup (value);
}

/* After the join: hand the connection to the node, or say why there is none. */
static void
settle (struct probe *pr, int timeout_ms)
{
  struct cpb_node_probe *out = pr->out;
  _cleanup_free_ char *late = cpb_xasprintf ("no answer within %d s", (timeout_ms + 999) / 1000);

  if (pr->cancelled && pr->error && pr->error->kind == CPB_ERR_CANCELLED)
    cpb_error_set (&pr->error, CPB_ERR_CONNECT, "%s", late);
  if (pr->cancelled && out->load_error)
    replace_str (&out->load_error, late);
  if (pr->cancelled && out->tasks_error)
    replace_str (&out->tasks_error, late);
  if (pr->connected)
    {
      /* A figure the deadline cut off does not make the node unreachable. */
      cpb_podman_clear_cancel (pr->p);
      pr->node->podman = TAKE_PTR (pr->p);
      out->node = TAKE_PTR (pr->node);
    }
  else
    {
      out->error = TAKE_PTR (pr->error);
      cpb_node_free (TAKE_PTR (pr->node));
      cpb_podman_free (TAKE_PTR (pr->p));
    }
  cpb_error_free (pr->error);
}

int
cpb_nodes_probe (const cpb_nodes_conf *conf, const struct cpb_nodes_options *o,
                 struct cpb_node_probe **ret, size_t *ret_n, cpb_error **err)
{
  size_t cap = (conf ? conf->n : 0) + 1, n;
  struct cpb_node_probe *out;
  _cleanup_free_ struct probe *pr = NULL;
  struct shared sh = { .running = 0 };
  struct cpb_nodes_options opts = *o;
  pthread_condattr_t attr;
  long deadline;

  static const cpb_nodes_conf none = { .path = (char *)"nodes.yaml" };

  if (conf == NULL)
    conf = &none;
  if (opts.timeout_ms <= 0)
    opts.timeout_ms = CPB_NODES_TIMEOUT_MS;
  if (check_only (conf, o->only, err) < 0)
    return -1;
  out = cpb_xcalloc (cap, sizeof *out);
  pr = cpb_xcalloc (cap, sizeof *pr);
  n = plan (conf, &opts, pr, out);
  pthread_mutex_init (&sh.lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&sh.cond, &attr);
  pthread_condattr_destroy (&attr);
  deadline = now_ms () + opts.timeout_ms;
  /* Remote nodes first: their logins run while the local node is being found. */
  for (size_t pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < n; i++)
      {
        bool has_url = pr[i].conf && pr[i].conf->url;

        if (has_url != (pass == 0) || !out[i].enabled)
          continue;
        pr[i].shared = &sh;
        begin (&pr[i]);
        if (pr[i].p == NULL)
          continue;
        sh.running++;
        pr[i].thread = pthread_create (&pr[i].tid, NULL, probe_thread, &pr[i]) == 0;
        if (!pr[i].thread)
          {
            sh.running--;
            probe_run (&pr[i]);
          }
      }
  wait_all (&sh, pr, n, deadline);
  for (size_t i = 0; i < n; i++)
    if (out[i].enabled)
      settle (&pr[i], opts.timeout_ms);
  pthread_cond_destroy (&sh.cond);
  pthread_mutex_destroy (&sh.lock);
  *ret = out;
  *ret_n = n;
  return 0;
}

void
cpb_node_probes_free (struct cpb_node_probe *v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    {
      free (v[i].name);
      free (v[i].url);
      cpb_strv_free (v[i].capabilities);
      cpb_node_free (v[i].node);
      cpb_error_free (v[i].error);
      free (v[i].load_error);
      free (v[i].tasks_error);
    }
  free (v);
}

/* ------------------------------------------------------------------ the run's nodes */

int
cpb_nodes_connect_all (const cpb_nodes_conf *conf, const struct cpb_nodes_options *o,
                       struct cpb_node_set **ret, cpb_error **err)
{
  struct cpb_nodes_options defaults = { 0 };
  struct cpb_node_probe *probes = NULL;
  struct cpb_node_set *s;
  size_t n = 0;

  if (cpb_nodes_probe (conf, o ? o : &defaults, &probes, &n, err) < 0)
    return -1;
  s = cpb_xzalloc (sizeof *s);
  s->nodes = cpb_xcalloc (n + 1, sizeof *s->nodes);
  s->failed = cpb_xcalloc (n + 1, sizeof *s->failed);
  for (size_t i = 0; i < n; i++)
    if (probes[i].node)
      s->nodes[s->n++] = TAKE_PTR (probes[i].node);
    else if (probes[i].enabled)
      s->failed[s->n_failed++] =
          (struct cpb_node_failure){ cpb_xstrdup (probes[i].name), TAKE_PTR (probes[i].error) };
  cpb_node_probes_free (probes, n);
  *ret = s;
  return 0;
}

void
cpb_node_set_free (struct cpb_node_set *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n; i++)
    cpb_node_free (s->nodes[i]);
  for (size_t i = 0; i < s->n_failed; i++)
    {
      free (s->failed[i].name);
      cpb_error_free (s->failed[i].error);
    }
  free (s->nodes);
  free (s->failed);
  free (s);
}
