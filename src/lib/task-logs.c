/* task-logs.c: a task's logs, live from Podman or from its archive (see task-logs.h). */
#include "config.h"
#include "task-logs.h"
#include "helper-host.h"
#include "store/store.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum cpb_task_logs_where
cpb_task_logs_where (const struct cpb_state_task *t)
{
  if (t->state == CPB_TASK_RUNNING && t->container_id)
    return CPB_TASK_LOGS_LIVE;
  if (t->archive_path)
    return CPB_TASK_LOGS_ARCHIVE;
  return CPB_TASK_LOGS_NONE;
}

struct live
{
  cpb_task_log_fn fn;
  void *userdata;
  cpb_report_cutter cutter;
  bool stopped; /* FN asked to stop: the rest is not wanted */
};

static int
live_stderr (void *userdata, const char *data, size_t len, cpb_error **err)
{
  struct live *l = userdata;
  int rc = l->fn (l->userdata, CPB_LOG_STDERR, data, len, err);

  if (rc == CPB_PODMAN_STOP)
    l->stopped = true;
  return rc;
}

static int
on_live (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
         cpb_error **err)
{
  struct live *l = userdata;

  if (stream == CPB_LOG_STDERR)
    return cpb_report_cutter_feed (&l->cutter, data, len, live_stderr, l, err);
  return l->fn (l->userdata, stream, data, len, err);
}

int
cpb_task_logs_live (cpb_podman *p, const char *container, bool follow, cpb_task_log_fn fn,
                    void *userdata, cpb_error **err)
{
  struct live l = { .fn = fn, .userdata = userdata, .cutter = CPB_REPORT_CUTTER_INIT };
  unsigned flags = CPB_LOGS_STDOUT | CPB_LOGS_STDERR | (follow ? CPB_LOGS_FOLLOW : 0);
  int rc = cpb_podman_container_logs (p, container, flags, on_live, &l, err);

  /* The end of what Podman sent is the end of the stream: what was held back as a possible
     report is the task's unless a whole report follows its marker. */
  if (rc == 0 && !l.stopped)
    rc = cpb_report_cutter_finish (&l.cutter, live_stderr, &l, NULL, err);
  cpb_report_cutter_clear (&l.cutter);
  return rc == CPB_PODMAN_STOP ? 0 : rc;
}

/* Hand the file at PATH to FN as STREAM; a missing file is an empty log. */
static int
send_file (const char *path, enum cpb_podman_log_stream stream, cpb_task_log_fn fn, void *userdata,
           cpb_error **err)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  char buf[65536];
  ssize_t n;

  if (fd < 0)
    return errno == ENOENT ? 0 : cpb_error_errno (err, errno, "cannot open '%s'", path);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      int rc = fn (userdata, stream, buf, (size_t)n, err);

      if (rc != 0)
        return rc;
    }
  if (n < 0)
    return cpb_error_errno (err, errno, "cannot read '%s'", path);
  return 0;
}

/* Remove what the extraction of the logs can have left in DIR: the includes allow only
   DIR/TASK/.cpb/stdout and DIR/TASK/.cpb/stderr. */
static void
remove_scratch (const char *dir, const char *task)
{
  _cleanup_free_ char *top = cpb_xasprintf ("%s/%s", dir, task);
  _cleanup_free_ char *cpb = cpb_xasprintf ("%s/.cpb", top);
  _cleanup_free_ char *out = cpb_xasprintf ("%s/stdout", cpb);
  _cleanup_free_ char *errp = cpb_xasprintf ("%s/stderr", cpb);

  unlink (out);
  unlink (errp);
  rmdir (cpb);
  rmdir (top);
  rmdir (dir);
}

static char *
scratch_dir (cpb_error **err)
{
  const char *tmp = getenv ("TMPDIR");
  char *dir = cpb_xasprintf ("%s/cpb-logs.XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");

  if (mkdtemp (dir) == NULL)
    {
      cpb_error_errno (err, errno, "cannot create a directory for the logs ('%s')", dir);
      free (dir);
      return NULL;
    }
  return dir;
}

int
cpb_task_logs_archived (const char *archive, const char *task, cpb_task_log_fn fn, void *userdata,
                        cpb_error **err)
{
  static char *const includes[] = { (char *)".cpb/stdout", (char *)".cpb/stderr", NULL };
  struct cpb_fetch_options opts = { .includes = includes };
  _cleanup_free_ char *dir = NULL, *out = NULL, *errp = NULL;
  int rc;

  if ((dir = scratch_dir (err)) == NULL)
    return -1;
  rc = cpb_store_extract (archive, dir, task, &opts, NULL, err);
  out = cpb_xasprintf ("%s/%s/.cpb/stdout", dir, task);
  errp = cpb_xasprintf ("%s/%s/.cpb/stderr", dir, task);
  if (rc == 0)
    rc = send_file (out, CPB_LOG_STDOUT, fn, userdata, err);
  if (rc == 0)
    rc = send_file (errp, CPB_LOG_STDERR, fn, userdata, err);
  remove_scratch (dir, task);
  return rc == CPB_PODMAN_STOP ? 0 : rc;
}

int
cpb_task_logs (cpb_podman *p, const struct cpb_state_task *t, bool follow, cpb_task_log_fn fn,
               void *userdata, cpb_error **err)
{
  switch (cpb_task_logs_where (t))
    {
    case CPB_TASK_LOGS_LIVE:
      if (p == NULL)
        return cpb_error_set (err, CPB_ERR_CONNECT, "task '%s' runs, and Podman is not reachable",
                              t->name);
      return cpb_task_logs_live (p, t->container_id, follow, fn, userdata, err);
    case CPB_TASK_LOGS_ARCHIVE:
      return cpb_task_logs_archived (t->archive_path, t->name, fn, userdata, err);
    case CPB_TASK_LOGS_NONE:
    default:
      return cpb_error_set (err, CPB_ERR_NOT_FOUND, "task '%s' has no logs yet (%s)", t->name,
                            cpb_task_state_name (t->state));
    }
}
