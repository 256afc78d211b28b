/* client-check.c: drives the Podman REST client against a real service, one scenario per
 * verb, for tests/integration/client.bats.  Each scenario prints "key=value" lines that the
 * bats file checks against what the podman CLI sees; it exits 0 when every call behaved,
 * 1 with the error on stderr otherwise.
 *
 *   client-check connect                    discovery/ping: api, url, embedded
 *   client-check images TAR REF OCI_FILE    import, list, inspect, exists, tag, save, remove, load
 *   client-check build CONTEXT_TAR TAG      build with labels and build args, progress lines
 *   client-check run IMAGE RUNID INPUT_TAR OUT_TAR   the task life cycle, leaves the container
 *   client-check rm ID                      remove with volumes
 *   client-check pause IMAGE                pause/unpause (or Podman's refusal), kill, wait
 *   client-check errors IMAGE               Podman's messages, 404, unreachable service
 *   client-check cancel                     an idle events stream cancelled from another thread
 *   client-check bench IMAGE N              create+start+wait+remove cycles, median ms
 *
 * The URL comes from CPB_PODMAN_URL (unset: discovery, possibly the embedded service).
 */
#include "config.h"
#include "podman/podman.h"
#include "buf.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static cpb_podman *
connect_or_die (void)
{
  cpb_podman *p = NULL;
  cpb_error *err = NULL;

  if (cpb_podman_connect (getenv ("CPB_PODMAN_URL"), 0, &p, &err) < 0)
    {
      fprintf (stderr, "client-check: %s\n", err->msg);
      exit (err->kind == CPB_ERR_CONNECT ? 3 : 1);
    }
  return p;
}

static int
fail (cpb_error *err)
{
  fprintf (stderr, "client-check: %s\n", err ? err->msg : "failed");
  cpb_error_free (err);
  return 1;
}

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------ connect */

static int
check_connect (void)
{
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  _cleanup_podman_info_ struct cpb_podman_info *info = NULL;
  _cleanup_podman_version_ struct cpb_podman_version *v = NULL;
  cpb_error *err = NULL;

  if (cpb_podman_get_version (p, &v, &err) < 0 || cpb_podman_get_info (p, &info, &err) < 0)
    return fail (err);
  printf ("api=%s\nurl=%s\nembedded=%d\nversion=%s\n", cpb_podman_api_version (p),
          cpb_podman_url (p), cpb_podman_is_embedded (p), v->version);
  printf ("rootless=%d\ncgroup=%d\nruntime=%s\ncpus=%d\nmem_total=%llu\n", info->rootless,
          info->cgroup_version, info->oci_runtime, info->cpus, (unsigned long long)info->mem_total);
  fflush (stdout);
  return 0;
}

/* ------------------------------------------------------------------ images */

static int
images_listed (cpb_podman *p, const char *id, bool *ret, cpb_error **err)
{
  _cleanup_podman_image_list_ struct cpb_podman_image_list *l = NULL;

  if (cpb_podman_image_list (p, NULL, &l, err) < 0)
    return -1;
  *ret = false;
  for (size_t i = 0; i < l->n; i++)
    *ret |= strcmp (l->images[i].id, id) == 0;
  return 0;
}

static int
check_images (const char *tar, const char *ref, const char *oci_file)
{
  static const char *const changes[] = { "CMD [\"/bin/sh\"]", "LABEL io.cpb.test=images", NULL };
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  _cleanup_podman_image_ struct cpb_podman_image *img = NULL;
  _cleanup_strv_free_ char **loaded = NULL;
  _cleanup_free_ char *id = NULL;
  _cleanup_close_ int in = open (tar, O_RDONLY | O_CLOEXEC);
  _cleanup_close_ int out = open (oci_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  cpb_error *err = NULL;
  bool listed = false, exists = false, missing = true;

  if (in < 0 || out < 0)
    return fail (NULL);
  struct cpb_podman_body body = CPB_PODMAN_BODY_FD (in);
  if (cpb_podman_image_import (p, &body, ref, changes, &id, &err) < 0 ||
      images_listed (p, id, &listed, &err) < 0 ||
      cpb_podman_image_inspect (p, ref, &img, &err) < 0 ||
      cpb_podman_image_exists (p, ref, &exists, &err) < 0 ||
      cpb_podman_image_exists (p, "localhost/cpb-no-such-image:0", &missing, &err) < 0)
    return fail (err);
  printf (
      "import_id=%s\nlisted=%d\ninspect_id=%s\ntag0=%s\nlabel=%s\nexists=%d\nmissing_exists=%d\n",
      id, listed, img->id, img->repo_tags[0] ? img->repo_tags[0] : "",
      cpb_podman_kv_get (img->labels, img->n_labels, "io.cpb.test"), exists, missing);
  if (cpb_podman_image_tag (p, ref, "localhost/cpb-client-tagged", "v1", &err) < 0 ||
      cpb_podman_image_save (p, ref, CPB_IMAGE_OCI_ARCHIVE, out, &err) < 0 ||
      cpb_podman_image_remove (p, "localhost/cpb-client-tagged:v1", false, &err) < 0 ||
      cpb_podman_image_remove (p, ref, false, &err) < 0 ||
      cpb_podman_image_exists (p, ref, &exists, &err) < 0)
    return fail (err);
  printf ("exists_after_remove=%d\n", exists);
  _cleanup_close_ int again = open (oci_file, O_RDONLY | O_CLOEXEC);
  struct cpb_podman_body saved = CPB_PODMAN_BODY_FD (again);
  if (cpb_podman_image_load (p, &saved, &loaded, &err) < 0 ||
      cpb_podman_image_exists (p, ref, &exists, &err) < 0)
    return fail (err);
  printf ("loaded=%s\nexists_after_load=%d\n", loaded[0] ? loaded[0] : "", exists);
  return 0;
}

/* ------------------------------------------------------------------ build */

static int
count_output (void *userdata, const char *data, size_t len, cpb_error **err)
{
  int *n = userdata;

  (*n)++;
  fprintf (stderr, "build: %.*s", (int)len, data);
  return 0;
}

static int
check_build (const char *context, const char *tag)
{
  static const struct cpb_podman_kv labels[] = { { "io.cpb.spec-hash", "h-123" },
                                                 { "io.cpb.note", "a \"quoted\" note" } };
  static const struct cpb_podman_kv args[] = { { "GREETING", "hello from a build arg" } };
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  _cleanup_free_ char *id = NULL;
  _cleanup_close_ int fd = open (context, O_RDONLY | O_CLOEXEC);
  struct cpb_podman_build_options opts = { .tag = tag,
                                           .labels = labels,
                                           .n_labels = 2,
                                           .build_args = args,
                                           .n_build_args = 1,
                                           .on_output = count_output };
  cpb_error *err = NULL;
  int lines = 0;

  opts.userdata = &lines;
  struct cpb_podman_body body = CPB_PODMAN_BODY_FD (fd);
  if (cpb_podman_build (p, &opts, &body, &id, &err) < 0)
    {
      printf ("error_kind=%d\n", err->kind);
      return fail (err);
    }
  printf ("image_id=%s\nprogress_lines=%d\n", id, lines);
  return 0;
}

/* ------------------------------------------------------------------ run */

struct watcher
{
  cpb_podman *p;
  const char *label;
  int died_exit_code;
  char *died_id;
  cpb_error *err;
  const char *since;
};

static int
on_event (void *userdata, const struct cpb_podman_event *ev, cpb_error **err)
{
  struct watcher *w = userdata;

  if (strcmp (ev->action, "died") != 0)
    return 0;
  w->died_exit_code = ev->exit_code;
  w->died_id = cpb_xstrdup (ev->id);
  return CPB_PODMAN_STOP;
}

static void *
watch_events (void *arg)
{
  struct watcher *w = arg;
  const char *types[] = { "container", NULL }, *events[] = { "died", NULL },
             *labels[] = { w->label, NULL };
  struct cpb_podman_event_filter f = {
    .types = types, .events = events, .labels = labels, .since = w->since
  };

  if (cpb_podman_events (w->p, &f, on_event, w, &w->err) < 0 && w->err == NULL)
    cpb_error_set (&w->err, CPB_ERR_PODMAN, "events failed");
  return NULL;
}

static int
collect_logs (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
              cpb_error **err)
{
  cpb_buf *bufs = userdata;

  cpb_buf_append (&bufs[stream == CPB_LOG_STDOUT ? 0 : 1], data, len);
  return 0;
}

static int
write_to_fd (void *userdata, const char *data, size_t len, cpb_error **err)
{
  if (write (*(int *)userdata, data, len) != (ssize_t)len)
    return cpb_error_errno (err, errno, "cannot write the archive");
  return 0;
}

static ssize_t
read_file (void *userdata, void *buf, size_t len)
{
  FILE *f = userdata;
  size_t n = fread (buf, 1, len, f);

  return n == 0 && ferror (f) ? -1 : (ssize_t)n;
}

/* The same tar three times: from the file (sent with a Content-Length) into /work, through
   a pipe (sent chunked) into /tmp, and from a read callback (chunked) into /. */
static int
put_inputs (cpb_podman *p, const char *id, const char *input_tar, cpb_error **err)
{
  _cleanup_close_ int fd = open (input_tar, O_RDONLY | O_CLOEXEC);
  _cleanup_fclose_ FILE *f = fopen (input_tar, "re");
  _cleanup_free_ char *cmd = cpb_xasprintf ("cat '%s'", input_tar);
  struct cpb_podman_body body = CPB_PODMAN_BODY_FD (fd);
  struct cpb_podman_body cb = { .kind = CPB_BODY_READ, .read = read_file, .userdata = f };
  FILE *pipe;
  int r;

  if (fd < 0 || f == NULL)
    return cpb_error_errno (err, errno, "cannot open '%s'", input_tar);
  if (cpb_podman_archive_put (p, id, "/work", &body, err) < 0 ||
      cpb_podman_archive_put (p, id, "/", &cb, err) < 0)
    return -1;
  pipe = popen (cmd, "re");
  if (pipe == NULL)
    return cpb_error_errno (err, errno, "popen");
  body = CPB_PODMAN_BODY_FD (fileno (pipe));
  r = cpb_podman_archive_put (p, id, "/tmp", &body, err);
  pclose (pipe);
  return r;
}

static int
create_task (cpb_podman *p, const char *image, const char *run_id, char **ret_id, cpb_error **err)
{
  static const char *const argv[] = {
    "sh", "-c",
    "cat /work/input.txt; cat /tmp/input.txt; cat /input.txt; echo nofile=$(ulimit -n) "
    "nproc=$(ulimit -u);"
    " echo \"env=$GREETING\"; echo to-stderr >&2; mkdir -p /work/out;"
    " echo result > /work/out/result.txt; pwd; exit 3",
    NULL
  };
  const struct cpb_podman_kv env[] = { { "GREETING", "hi there" } };
  const struct cpb_podman_kv labels[] = { { "io.cpb.run", run_id }, { "io.cpb.task", "t-0001" } };
  _cleanup_free_ char *name = cpb_xasprintf ("cpb-client-%s", run_id);
  struct cpb_container_spec spec = { .name = name,
                                     .image = image,
                                     .command = argv,
                                     .env = env,
                                     .n_env = 1,
                                     .work_dir = "/work/sub",
                                     .create_working_dir = true,
                                     .labels = labels,
                                     .n_labels = 2,
                                     .netns = CPB_NETNS_NONE,
                                     .cap_drop_all = true,
                                     .no_new_privileges = true,
                                     .nofile = 512,
                                     .nproc = 1000,
                                     .memory_bytes = 64 << 20,
                                     .cpus = 0.5 };

  _cleanup_strv_free_ char **warnings = NULL;

  if (cpb_podman_container_create_ex (p, &spec, ret_id, &warnings, err) < 0)
    return -1;
  for (char **w = warnings; *w; w++)
    printf ("warning=%s\n", *w);
  return 0;
}

static int
after_exit (cpb_podman *p, const char *id, const char *run_label, const char *out_tar,
            cpb_error **err)
{
  _cleanup_podman_container_ struct cpb_podman_container *c = NULL;
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  cpb_buf logs[2] = { CPB_BUF_INIT, CPB_BUF_INIT };
  _cleanup_close_ int fd = open (out_tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int r = -1;

  if (cpb_podman_container_logs (p, id, CPB_LOGS_STDOUT | CPB_LOGS_STDERR, collect_logs, logs,
                                 err) < 0 ||
      cpb_podman_archive_get (p, id, "/work/out/.", write_to_fd, &fd, err) < 0 ||
      cpb_podman_container_inspect (p, id, &c, err) < 0 ||
      cpb_podman_container_list (p, run_label, &l, err) < 0)
    goto out;
  printf ("stdout<<EOF\n%sEOF\nstderr<<EOF\n%sEOF\n", logs[0].data ? logs[0].data : "",
          logs[1].data ? logs[1].data : "");
  printf ("status=%s\ninspect_exit=%d\nimage=%s\nlabel_task=%s\nfinished=%d\n", c->status,
          c->exit_code, c->image, cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.task"),
          c->finished_at >= c->started_at && c->started_at > 0);
  printf ("listed=%zu\nlisted_id=%s\n", l->n, l->n ? l->containers[0].id : "");
  r = 0;
out:
  cpb_buf_free (&logs[0]);
  cpb_buf_free (&logs[1]);
  return r;
}

static int
check_run (const char *image, const char *run_id, const char *input_tar, const char *out_tar)
{
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  _cleanup_free_ char *label = cpb_xasprintf ("io.cpb.run=%s", run_id), *id = NULL;
  struct watcher w = { .label = label, .died_exit_code = -100 };
  char since[32];
  cpb_error *err = NULL;
  pthread_t th;

  if (cpb_podman_clone (p, &w.p, &err) < 0)
    return fail (err);
  /* The stream cannot tell when it is open: since= replays what happened before. */
  snprintf (since, sizeof since, "%lld", (long long)time (NULL) - 1);
  w.since = since;
  pthread_create (&th, NULL, watch_events, &w);
  if (create_task (p, image, run_id, &id, &err) < 0 || put_inputs (p, id, input_tar, &err) < 0 ||
      cpb_podman_container_start (p, id, &err) < 0)
    {
      cpb_podman_cancel (w.p);
      pthread_join (th, NULL);
      cpb_podman_free (w.p);
      cpb_error_free (w.err);
      return fail (err);
    }
  pthread_join (th, NULL);
  cpb_podman_free (w.p);
  if (w.err)
    return fail (w.err);
  printf ("id=%s\nevent_id=%s\nevent_exit=%d\n", id, w.died_id ? w.died_id : "", w.died_exit_code);
  free (w.died_id);
  if (after_exit (p, id, label, out_tar, &err) < 0)
    return fail (err);
  return 0;
}

static int
check_rm (const char *id)
{
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  cpb_error *err = NULL;

  if (cpb_podman_container_remove (p, id, true, &err) < 0)
    return fail (err);
  printf ("removed=%s\n", id);
  return 0;
}

/* ------------------------------------------------------------------ pause, kill */

static int
check_pause (const char *image)
{
  static const char *const argv[] = { "sleep", "300", NULL };
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  _cleanup_podman_container_ struct cpb_podman_container *c = NULL, *c2 = NULL;
  _cleanup_free_ char *id = NULL;
  struct cpb_container_spec spec = { .image = image, .command = argv, .cap_drop_all = true };
  cpb_error *err = NULL;
  int code = -1;

  if (cpb_podman_container_create (p, &spec, &id, &err) < 0 ||
      cpb_podman_container_start (p, id, &err) < 0)
    return fail (err);
  if (cpb_podman_container_pause (p, id, &err) < 0)
    {
      /* Rootless on cgroups v1 cannot freeze: Podman's reason must reach the caller. */
      printf ("pause_error=%s\n", err->msg);
      cpb_error_free (TAKE_PTR (err));
    }
  else if (cpb_podman_container_inspect (p, id, &c, &err) < 0 ||
           cpb_podman_container_unpause (p, id, &err) < 0 ||
           cpb_podman_container_inspect (p, id, &c2, &err) < 0)
    return fail (err);
  else
    printf ("paused_status=%s\nunpaused_status=%s\n", c->status, c2->status);
  if (cpb_podman_container_kill (p, id, SIGKILL, &err) < 0 ||
      cpb_podman_container_wait (p, id, &code, &err) < 0)
    return fail (err);
  printf ("killed_exit=%d\n", code);
  if (cpb_podman_container_remove (p, id, false, &err) < 0)
    return fail (err);
  return 0;
}

/* ------------------------------------------------------------------ errors */

static void
show (const char *what, cpb_error *err)
{
  printf ("%s_kind=%d\n%s_status=%d\n%s_msg=%s\n", what, err ? (int)err->kind : 0, what,
          err ? err->http_status : 0, what, err ? err->msg : "");
  cpb_error_free (err);
}

static int
discard (void *userdata, const char *data, size_t len, cpb_error **err)
{
  return 0;
}

static int
check_errors (const char *image)
{
  static const char *const bad_cmd[] = { "/nonexistent", NULL };
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  _cleanup_podman_container_ struct cpb_podman_container *c = NULL;
  _cleanup_free_ char *id = NULL, *id2 = NULL;
  struct cpb_container_spec spec = { .image = image, .command = bad_cmd };
  struct cpb_container_spec noimg = { .image = "localhost/cpb-no-such-image:0",
                                      .command = bad_cmd };
  cpb_podman *nowhere = NULL;
  cpb_error *err = NULL;

  cpb_podman_container_inspect (p, "cpb-no-such-container", &c, &err);
  show ("inspect", TAKE_PTR (err));
  if (cpb_podman_container_create (p, &spec, &id, &err) < 0)
    return fail (err);
  cpb_podman_container_start (p, id, &err);
  show ("start", TAKE_PTR (err));
  cpb_podman_archive_get (p, id, "/nonexistent/.", discard, NULL, &err);
  show ("archive", TAKE_PTR (err));
  cpb_podman_container_remove (p, id, true, NULL);
  cpb_podman_container_create (p, &noimg, &id2, &err);
  show ("create", TAKE_PTR (err));
  cpb_podman_connect ("unix:///nonexistent/podman.sock", 0, &nowhere, &err);
  show ("connect", TAKE_PTR (err));
  cpb_podman_connect ("http://host/run/podman.sock", 0, &nowhere, &err);
  show ("url", TAKE_PTR (err));
  return 0;
}

/* ------------------------------------------------------------------ cancel */

static void *
idle_stream (void *arg)
{
  struct watcher *w = arg;
  const char *labels[] = { "io.cpb.run=never-happens", NULL };
  struct cpb_podman_event_filter f = { .labels = labels };

  cpb_podman_events (w->p, &f, on_event, w, &w->err);
  return NULL;
}

static int
check_cancel (void)
{
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  struct watcher w = { 0 };
  cpb_error *err = NULL;
  pthread_t th;
  double t0;

  if (cpb_podman_clone (p, &w.p, &err) < 0)
    return fail (err);
  pthread_create (&th, NULL, idle_stream, &w);
  usleep (500 * 1000);
  t0 = now_ms ();
  cpb_podman_cancel (w.p);
  pthread_join (th, NULL);
  printf ("cancel_ms=%.0f\n", now_ms () - t0);
  show ("cancel", w.err);
  cpb_podman_free (w.p);
  return 0;
}

/* ------------------------------------------------------------------ bench */

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* N cycles of create, start, wait, remove over one kept-alive connection; the median of
   each phase and of the whole (PODMAN_NOTES measured ~490 ms: 11 + 209 + 253 + 16). */
static int
check_bench (const char *image, int n)
{
  static const char *const argv[] = { "true", NULL };
  _cleanup_podman_ cpb_podman *p = connect_or_die ();
  _cleanup_free_ double *t = cpb_xcalloc ((size_t)n * 5, sizeof *t);
  struct cpb_container_spec spec = { .image = image, .command = argv, .cap_drop_all = true };
  cpb_error *err = NULL;

  for (int i = 0; i < n; i++)
    {
      _cleanup_free_ char *id = NULL;
      double t0 = now_ms (), t1, t2, t3;
      int code = -1;

      if (cpb_podman_container_create (p, &spec, &id, &err) < 0)
        return fail (err);
      t1 = now_ms ();
      if (cpb_podman_container_start (p, id, &err) < 0)
        return fail (err);
      t2 = now_ms ();
      if (cpb_podman_container_wait (p, id, &code, &err) < 0)
        return fail (err);
      t3 = now_ms ();
      if (cpb_podman_container_remove (p, id, true, &err) < 0 || code != 0)
        return fail (err);
      t[i] = now_ms () - t0;
      t[n + i] = t1 - t0, t[2 * n + i] = t2 - t1, t[3 * n + i] = t3 - t2,
            t[4 * n + i] = t0 + t[i] - t3;
    }
  printf ("cycles=%d\nmedian_ms=%.0f\n", n, median (t, n));
  printf ("create_ms=%.0f\nstart_ms=%.0f\nwait_ms=%.0f\nremove_ms=%.0f\n", median (t + n, n),
          median (t + 2 * n, n), median (t + 3 * n, n), median (t + 4 * n, n));
  return 0;
}

int
main (int argc, char **argv)
{
  const char *verb = argc > 1 ? argv[1] : "";

  setvbuf (stdout, NULL, _IOLBF, 0);
  if (strcmp (verb, "connect") == 0)
    return check_connect ();
  if (strcmp (verb, "images") == 0 && argc == 5)
    return check_images (argv[2], argv[3], argv[4]);
  if (strcmp (verb, "build") == 0 && argc == 4)
    return check_build (argv[2], argv[3]);
  if (strcmp (verb, "run") == 0 && argc == 6)
    return check_run (argv[2], argv[3], argv[4], argv[5]);
  if (strcmp (verb, "rm") == 0 && argc == 3)
    return check_rm (argv[2]);
  if (strcmp (verb, "pause") == 0 && argc == 3)
    return check_pause (argv[2]);
  if (strcmp (verb, "errors") == 0 && argc == 3)
    return check_errors (argv[2]);
  if (strcmp (verb, "cancel") == 0)
    return check_cancel ();
  if (strcmp (verb, "bench") == 0 && argc == 4)
    return check_bench (argv[2], atoi (argv[3]) > 0 ? atoi (argv[3]) : 1);
  fprintf (stderr,
           "usage: client-check connect|images|build|run|rm|pause|errors|cancel|bench ARGS\n");
  return 2;
}
