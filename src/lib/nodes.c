/* nodes.c: the local node's capacity and load (see nodes.h). */
#include "config.h"
#include "nodes.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
  ssize_t n;

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

int
cpb_node_local (cpb_podman *p, struct cpb_node **ret, cpb_error **err)
{
  _cleanup_node_ struct cpb_node *n = cpb_xzalloc (sizeof *n);
  char meminfo[8192];

  n->name = cpb_xstrdup ("local");
  n->local = true;
  n->capabilities = cpb_xcalloc (1, sizeof *n->capabilities);
  n->podman = p;
  n->cpus = local_cpus ();
  if (read_proc ("/proc/meminfo", meminfo, sizeof meminfo, err) < 0 ||
      !cpb_meminfo_value (meminfo, "MemTotal", &n->memory))
    return cpb_error_prefix (err, "node local: memory");
  *ret = TAKE_PTR (n);
  return 0;
}

int
cpb_node_remote (const char *name, cpb_podman *p, struct cpb_node **ret, cpb_error **err)
{
  _cleanup_node_ struct cpb_node *n = cpb_xzalloc (sizeof *n);
  _cleanup_podman_info_ struct cpb_podman_info *info = NULL;

  n->name = cpb_xstrdup (name);
  n->podman = p;
  n->capabilities = cpb_xcalloc (1, sizeof *n->capabilities);
  if (cpb_podman_get_info (p, &info, err) < 0)
    return cpb_error_prefix (err, "node %s", name);
  n->cpus = info->cpus > 0 ? info->cpus : 1;
  n->memory = info->mem_total;
  *ret = TAKE_PTR (n);
  return 0;
}

int
cpb_node_load (const struct cpb_node *node, double *ret_load1, uint64_t *ret_mem_available,
               cpb_error **err)
{
  char text[8192];
  uint64_t avail = 0;

  if (!node->local)
    return cpb_error_set (err, CPB_ERR_NOT_FOUND, "node %s: load of remote nodes is not known",
                          node->name);
  if (read_proc ("/proc/loadavg", text, sizeof text, err) < 0)
    return -1;
  *ret_load1 = strtod (text, NULL);
  if (read_proc ("/proc/meminfo", text, sizeof text, err) < 0)
    return -1;
  if (!cpb_meminfo_value (text, "MemAvailable", &avail))
    cpb_meminfo_value (text, "MemFree", &avail);
  *ret_mem_available = avail;
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
  free (node);
}
