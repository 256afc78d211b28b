/* build/builder.c: build orchestration — render, hash, skip or build, in dependency order.
 *
 * Everything that can fail on the user's input (rendering, hashing the context files,
 * downloads, recipes) happens first on the main thread, so a typo never leaves half the
 * images built.  Then up to `jobs` workers take images whose base is ready; each worker
 * has its own Podman connection (a cpb_podman is not shared between threads).
 */
#include "config.h"
#include "build/builder.h"
#include "build/buildctx.h"
#include "build/containerfile.h"
#include "hash.h"
#include "xalloc.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Output lines kept per image to show with a failed step. */
#define TAIL_LINES 20
/* A single output line longer than this is cut (a progress bar without newlines). */
#define MAX_LINE 4096

enum job_state
{
  JOB_PENDING = 0,
  JOB_RUNNING,
  JOB_DONE,   /* built or up to date: image_id is set */
  JOB_FAILED, /* failed, or skipped because its base failed */
};

struct job
{
  const struct cpb_pod_image *img;
  char *ref;      /* localhost/NAME:TAG */
  char *from_ref; /* what FROM names */
  ssize_t dep;    /* the job this one is FROM, or -1 */
  cpb_containerfile *cf;
  char ctx_hash[CPB_SHA256_HEX_LEN + 1];
  char **url_paths; /* indexed like img->files */
  enum job_state state;
  char *image_id;
};

struct builder
{
  cpb_podman *main;
  const cpb_pods_spec *spec;
  const struct cpb_build_options *opts;
  char *source; /* absolute path of the spec */
  struct job *jobs;
  size_t n_jobs;
  pthread_mutex_t lock; /* jobs' states, result, first_err */
  pthread_cond_t changed;
  pthread_mutex_t event_lock; /* one event at a time to the callback */
  struct cpb_build_result result;
  cpb_error *first_err;
};

static void
emit (struct builder *b, const struct cpb_build_event *ev)
{
  if (b->opts->on_event == NULL)
    return;
  pthread_mutex_lock (&b->event_lock);
  b->opts->on_event (b->opts->userdata, ev);
  pthread_mutex_unlock (&b->event_lock);
}

char *
cpb_builder_image_ref (const struct cpb_pod_image *img)
{
  return cpb_xasprintf ("localhost/%s:%s", img->name, img->tag ? img->tag : "latest");
}

static void
job_clear (struct job *j)
{
  free (j->ref);
  free (j->from_ref);
  cpb_containerfile_free (j->cf);
  if (j->url_paths)
    for (size_t i = 0; i < j->img->n_files; i++)
      free (j->url_paths[i]);
  free (j->url_paths);
  free (j->image_id);
}

/* --- preparation (main thread) ------------------------------------------------------- */

static ssize_t
job_of_image (struct builder *b, size_t spec_index)
{
  for (size_t i = 0; i < b->n_jobs; i++)
    if (b->jobs[i].img == &b->spec->images[spec_index])
      return (ssize_t)i;
  return -1;
}

static int
fetch_urls (struct builder *b, struct job *j, cpb_error **err)
{
  const struct cpb_pod_image *img = j->img;

  j->url_paths = cpb_xcalloc (img->n_files + 1, sizeof *j->url_paths);
  for (size_t i = 0; i < img->n_files; i++)
    {
      const struct cpb_pod_file *f = &img->files[i];

      if (f->url == NULL)
        continue;
      if (b->opts->cache_dir == NULL)
        return cpb_error_set (err, CPB_ERR_INPUT,
                              "%s:%u:%u: image '%s': no cache directory for url files",
                              b->spec->path, f->pos.line, f->pos.col, img->name);
      if (cpb_builder_fetch (b->opts->cache_dir, f->url, f->sha256, &j->url_paths[i], err) < 0)
        return cpb_error_prefix (err, "%s:%u:%u: image '%s'", b->spec->path, f->pos.line,
                                 f->pos.col, img->name);
    }
  return 0;
}

static int
prepare_job (struct builder *b, struct job *j, cpb_error **err)
{
  const struct cpb_pod_image *img = j->img;
  struct cpb_containerfile_input in = { .image = img, .helper_path = b->opts->helper_path };

  j->ref = cpb_builder_image_ref (img);
  j->dep = -1;
  switch (img->from.kind)
    {
    case CPB_POD_FROM_IMAGE:
      j->from_ref = cpb_builder_image_ref (&b->spec->images[img->from.image]);
      j->dep = job_of_image (b, img->from.image);
      break;
    case CPB_POD_FROM_RECIPE:
      j->from_ref = cpb_builder_recipe_ref (img->from.ref);
      break;
    case CPB_POD_FROM_OCI:
    default:
      j->from_ref = cpb_xstrdup (img->from.ref ? img->from.ref : img->from.text);
      break;
    }
  if (img->helper && (b->opts->helper_path == NULL || access (b->opts->helper_path, R_OK) < 0))
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "%s:%u:%u: image '%s': helper: true, but there is no cpb-helper at '%s' "
                          "(build it, or set CPB_HELPER)",
                          b->spec->path, img->pos.line, img->pos.col, img->name,
                          b->opts->helper_path ? b->opts->helper_path : "");
  if (fetch_urls (b, j, err) < 0)
    return -1;
  in.from = j->from_ref;
  in.url_paths = (const char *const *)j->url_paths;
  if (cpb_containerfile_render (&in, b->spec->path, &j->cf, err) < 0)
    return -1;
  /* ctx[0] is the Containerfile, hashed as text below. */
  if (cpb_buildctx_hash (j->cf->ctx + 1, j->cf->n_ctx - 1, j->ctx_hash, err) < 0)
    return cpb_error_prefix (err, "image '%s'", img->name);
  return 0;
}

/* Make J's recipe base unless it is current, saying so before (it may take a minute). */
static int
prepare_recipe (struct builder *b, struct job *j, cpb_error **err)
{
  const char *name = j->img->from.ref;
  struct cpb_build_event ev = {
    .kind = CPB_BUILD_RECIPE, .image = name, .ref = j->from_ref, .text = name
  };
  _cleanup_podman_image_ struct cpb_podman_image *made = NULL;
  bool current = false;

  if (!b->opts->force &&
      cpb_builder_recipe_current (b->main, b->opts->images_dir, name, &current, err) < 0)
    return -1;
  if (current)
    return 0;
  emit (b, &ev);
  if (cpb_builder_ensure_recipe (b->main, b->opts->images_dir, name, true, NULL, err) < 0 ||
      cpb_podman_image_inspect (b->main, j->from_ref, &made, err) < 0)
    return -1;
  ev.kind = CPB_BUILD_DONE;
  ev.image_id = made->id;
  emit (b, &ev);
  return 0;
}

/* Recipe bases, once each, before any worker starts (two images on one recipe must not
   make it twice at the same time). */
static int
prepare_recipes (struct builder *b, cpb_error **err)
{
  for (size_t i = 0; i < b->n_jobs; i++)
    {
      const struct cpb_pod_image *img = b->jobs[i].img;
      bool seen = false;

      if (img->from.kind != CPB_POD_FROM_RECIPE)
        continue;
      for (size_t k = 0; k < i; k++)
        if (b->jobs[k].img->from.kind == CPB_POD_FROM_RECIPE &&
            strcmp (b->jobs[k].img->from.ref, img->from.ref) == 0)
          seen = true;
      if (seen)
        continue;
      if (prepare_recipe (b, &b->jobs[i], err) < 0)
        return cpb_error_prefix (err, "%s:%u:%u: image '%s'", b->spec->path, img->from.pos.line,
                                 img->from.pos.col, img->name);
    }
  return 0;
}

static int
prepare (struct builder *b, cpb_error **err)
{
  _cleanup_free_ size_t *order = NULL;
  size_t n = 0;

  if (cpb_pods_spec_build_order (b->spec, b->opts->images, &order, &n, err) < 0)
    return -1;
  b->jobs = cpb_xcalloc (n ? n : 1, sizeof *b->jobs);
  for (size_t i = 0; i < n; i++)
    b->jobs[i].img = &b->spec->images[order[i]];
  b->n_jobs = n;
  for (size_t i = 0; i < n; i++)
    if (prepare_job (b, &b->jobs[i], err) < 0)
      return -1;
  return 0;
}

/* --- one image ---------------------------------------------------------------------- */

static void
spec_hash (struct builder *b, const struct job *j, const char *base_id,
           char hex[CPB_SHA256_HEX_LEN + 1])
{
  _cleanup_sha256_ cpb_sha256 *h = cpb_sha256_new ();
  const struct cpb_pod_image *img = j->img;

  /* Bump the tag when what cpb puts in an image changes without the Containerfile
     changing, so that every image is rebuilt once. */
  cpb_sha256_update (h, "cpb-spec-hash-1", 16);
  cpb_sha256_update (h, j->cf->text, j->cf->len + 1);
  cpb_sha256_update (h, j->ctx_hash, sizeof j->ctx_hash);
  cpb_sha256_update (h, base_id, strlen (base_id) + 1);
  for (size_t i = 0; i < img->n_capabilities; i++)
    cpb_sha256_update (h, img->capabilities[i], strlen (img->capabilities[i]) + 1);
  cpb_sha256_update (h, "", 1);
  for (size_t i = 0; i < img->build_args.n; i++)
    {
      cpb_sha256_update (h, img->build_args.items[i].key,
                         strlen (img->build_args.items[i].key) + 1);
      cpb_sha256_update (h, img->build_args.items[i].value,
                         strlen (img->build_args.items[i].value) + 1);
    }
  cpb_sha256_finish (TAKE_PTR (h), hex);
}

/* The ID of J's base, which must exist locally: cpb never pulls. */
static int
base_id (cpb_podman *p, const struct builder *b, const struct job *j, char **ret, cpb_error **err)
{
  _cleanup_podman_image_ struct cpb_podman_image *base = NULL;

  if (cpb_podman_image_inspect (p, j->from_ref, &base, err) < 0)
    {
      if ((*err)->kind == CPB_ERR_NOT_FOUND && j->img->from.kind == CPB_POD_FROM_OCI)
        {
          cpb_error_set (err, CPB_ERR_INPUT,
                         "base image '%s' is not in local storage (cpb never pulls: "
                         "podman load it, or use a recipe: from: recipe:busybox)",
                         j->from_ref);
        }
      return cpb_error_prefix (err, "%s:%u:%u: image '%s'", b->spec->path, j->img->from.pos.line,
                               j->img->from.pos.col, j->img->name);
    }
  *ret = cpb_xstrdup (base->id);
  return 0;
}

/* When the image already carries HASH, its ID in *RET_ID (else NULL). */
static int
up_to_date (cpb_podman *p, const struct job *j, const char *hash, char **ret_id, cpb_error **err)
{
  _cleanup_podman_image_ struct cpb_podman_image *have = NULL;
  _cleanup_error_ cpb_error *e = NULL;
  const char *label;

  *ret_id = NULL;
  if (cpb_podman_image_inspect (p, j->ref, &have, &e) < 0)
    {
      if (e->kind == CPB_ERR_NOT_FOUND)
        return 0;
      cpb_error_free (*err);
      *err = TAKE_PTR (e);
      return -1;
    }
  label = cpb_podman_kv_get (have->labels, have->n_labels, CPB_LABEL_SPEC_HASH);
  if (label && strcmp (label, hash) == 0)
    *ret_id = cpb_xstrdup (have->id);
  return 0;
}

/* State of one running build, fed by Podman's output. */
struct build_run
{
  struct builder *b;
  struct job *j;
  char line[MAX_LINE + 1];
  size_t line_len;
  unsigned step, n_steps;
  char *tail[TAIL_LINES];
  size_t tail_start, n_tail;
};

static void
tail_reset (struct build_run *r)
{
  for (size_t i = 0; i < r->n_tail; i++)
    free (r->tail[(r->tail_start + i) % TAIL_LINES]);
  r->tail_start = r->n_tail = 0;
}

static void
tail_push (struct build_run *r, const char *line)
{
  if (r->n_tail == TAIL_LINES)
    {
      free (r->tail[r->tail_start]);
      r->tail_start = (r->tail_start + 1) % TAIL_LINES;
      r->n_tail--;
    }
  r->tail[(r->tail_start + r->n_tail++) % TAIL_LINES] = cpb_xstrdup (line);
}

/* Podman's own bookkeeping lines, not the step's output. */
static bool
is_podman_line (const char *line)
{
  size_t len = strlen (line);

  return strncmp (line, "--> ", 4) == 0 || strncmp (line, "COMMIT ", 7) == 0 ||
         strncmp (line, "Successfully tagged ", 20) == 0 ||
         (len == 64 && strspn (line, "0123456789abcdef") == 64);
}

static void
handle_line (struct build_run *r, const char *line)
{
  struct cpb_build_event ev = { .image = r->j->img->name, .ref = r->j->ref };
  unsigned k, n;
  int off = 0;

  if (sscanf (line, "STEP %u/%u: %n", &k, &n, &off) == 2 && off > 0)
    {
      const struct cpb_cf_step *s = cpb_containerfile_step (r->j->cf, k);

      r->step = k;
      r->n_steps = n;
      tail_reset (r);
      ev.kind = CPB_BUILD_STEP;
      ev.text = s ? s->what : line + off;
    }
  else if (is_podman_line (line))
    return;
  else
    {
      tail_push (r, line);
      ev.kind = CPB_BUILD_OUTPUT;
      ev.text = line;
    }
  ev.step = r->step;
  ev.n_steps = r->n_steps;
  emit (r->b, &ev);
}

static int
on_output (void *userdata, const char *data, size_t len, cpb_error **err)
{
  struct build_run *r = userdata;

  for (size_t i = 0; i < len; i++)
    {
      if (data[i] == '\n')
        {
          r->line[r->line_len] = '\0';
          handle_line (r, r->line);
          r->line_len = 0;
        }
      else if (r->line_len < MAX_LINE)
        r->line[r->line_len++] = data[i] == '\r' ? ' ' : data[i];
    }
  return 0;
}

/* Turn Podman's "building at STEP ...: exit status 1" into the spec's words and line. */
static void
explain_failure (struct build_run *r, cpb_error **err)
{
  const struct cpb_cf_step *s = cpb_containerfile_step (r->j->cf, r->step);
  const char *status = strstr ((*err)->msg, "exit status ");
  const char *path = r->b->spec->path;
  const char *name = r->j->img->name;
  _cleanup_free_ char *first = NULL;

  if (s == NULL)
    {
      cpb_error_prefix (err, "image '%s'", name);
      return;
    }
  if (s->kind == CPB_CF_RUN && status)
    {
      first = cpb_xstrndup (s->what, strcspn (s->what, "\n"));
      cpb_error_set (err, CPB_ERR_FAILED,
                     "%s:%u:%u: image '%s': 'run' step %zu failed (exit %d): %s%s", path,
                     s->pos.line, s->pos.col, name, s->run_index, atoi (status + 12), first,
                     strchr (s->what, '\n') ? " ..." : "");
      return;
    }
  if (s->pos.line)
    cpb_error_prefix (err, "%s:%u:%u: image '%s': %s", path, s->pos.line, s->pos.col, name,
                      s->what);
  else
    cpb_error_prefix (err, "image '%s': %s", name, s->what);
}

static void
labels_for (struct builder *b, const struct job *j, const char *hash, char **caps,
            struct cpb_podman_kv kv[5])
{
  cpb_buf c = CPB_BUF_INIT;

  /* cpb_buf_steal of a buffer never appended to returns an unterminated allocation
     (buf.c as of this writing): start with an empty string. */
  cpb_buf_puts (&c, "");
  for (size_t i = 0; i < j->img->n_capabilities; i++)
    cpb_buf_printf (&c, "%s%s", i ? "," : "", j->img->capabilities[i]);
  *caps = cpb_buf_steal (&c, NULL);
  kv[0] = (struct cpb_podman_kv){ CPB_LABEL_CAPABILITIES, *caps };
  kv[1] = (struct cpb_podman_kv){ CPB_LABEL_SPEC_HASH, hash };
  kv[2] = (struct cpb_podman_kv){ CPB_LABEL_VERSION, PACKAGE_VERSION };
  kv[3] = (struct cpb_podman_kv){ CPB_LABEL_SOURCE, b->source };
  kv[4] = (struct cpb_podman_kv){ CPB_LABEL_IMAGE, j->img->name };
}

/* Send the context and follow the build; on failure, report the step and its output. */
static int
run_build (cpb_podman *p, struct builder *b, struct job *j, const char *hash, cpb_error **err)
{
  struct build_run r = { .b = b, .j = j };
  _cleanup_free_ char *caps = NULL, *id = NULL;
  _cleanup_free_ struct cpb_podman_kv *args = cpb_xcalloc (j->img->build_args.n + 1, sizeof *args);
  struct cpb_podman_kv labels[5];
  struct cpb_podman_build_options o = { .tag = j->ref, .on_output = on_output, .userdata = &r };
  cpb_buildctx_stream *stream = NULL;
  struct cpb_podman_body body;
  int fd = -1, ret;

  labels_for (b, j, hash, &caps, labels);
  for (size_t i = 0; i < j->img->build_args.n; i++)
    args[i] = (struct cpb_podman_kv){ j->img->build_args.items[i].key,
                                      j->img->build_args.items[i].value };
  o.labels = labels;
  o.n_labels = 5;
  o.build_args = args;
  o.n_build_args = j->img->build_args.n;
  o.no_cache = b->opts->force;
  if (cpb_buildctx_stream_start (j->cf->ctx, j->cf->n_ctx, &fd, &stream, err) < 0)
    return -1;
  body = CPB_PODMAN_BODY_FD (fd);
  ret = cpb_podman_build (p, &o, &body, &id, err);
  close (fd);
  if (r.line_len > 0)
    on_output (&r, "\n", 1, NULL);
  /* The context writer's own failure (an unreadable file) explains a build that failed
     for want of its body better than Podman's complaint about a short tar does. */
  if (cpb_buildctx_stream_finish (stream, ret < 0 ? NULL : err) < 0 && ret == 0)
    ret = -1;
  if (ret < 0 && *err && (*err)->kind == CPB_ERR_FAILED)
    explain_failure (&r, err);
  if (ret < 0)
    {
      struct cpb_build_event ev = { .kind = CPB_BUILD_FAILED,
                                    .image = j->img->name,
                                    .ref = j->ref,
                                    .step = r.step,
                                    .n_steps = r.n_steps,
                                    .error = *err };
      char *lines[TAIL_LINES];

      for (size_t i = 0; i < r.n_tail; i++)
        lines[i] = r.tail[(r.tail_start + i) % TAIL_LINES];
      ev.tail = (const char *const *)lines;
      ev.n_tail = r.n_tail;
      emit (b, &ev);
    }
  else
    j->image_id = TAKE_PTR (id);
  tail_reset (&r);
  return ret;
}

static int
build_one (cpb_podman *p, struct builder *b, struct job *j, cpb_error **err)
{
  _cleanup_free_ char *base = NULL, *have = NULL;
  char hash[CPB_SHA256_HEX_LEN + 1];
  struct cpb_build_event ev = { .image = j->img->name, .ref = j->ref, .spec_hash = hash };

  if (base_id (p, b, j, &base, err) < 0)
    return -1;
  spec_hash (b, j, base, hash);
  if (!b->opts->force && up_to_date (p, j, hash, &have, err) < 0)
    return cpb_error_prefix (err, "image '%s'", j->img->name);
  if (have)
    {
      ev.kind = CPB_BUILD_SKIPPED;
      ev.text = "up to date";
      ev.image_id = have;
      emit (b, &ev);
      j->image_id = TAKE_PTR (have);
      return 1;
    }
  ev.kind = CPB_BUILD_START;
  ev.n_steps = (unsigned)j->cf->n_steps;
  emit (b, &ev);
  if (run_build (p, b, j, hash, err) < 0)
    return -2; /* already reported as FAILED */
  ev.kind = CPB_BUILD_DONE;
  ev.image_id = j->image_id;
  emit (b, &ev);
  return 0;
}

/* --- the workers -------------------------------------------------------------------- */

/* The next job whose base is ready, or NULL; jobs whose base failed are settled here. */
static struct job *
next_job (struct builder *b, bool *ret_any_left)
{
  *ret_any_left = false;
  for (size_t i = 0; i < b->n_jobs; i++)
    {
      struct job *j = &b->jobs[i];
      enum job_state dep = j->dep >= 0 ? b->jobs[j->dep].state : JOB_DONE;

      if (j->state == JOB_RUNNING)
        *ret_any_left = true;
      if (j->state != JOB_PENDING)
        continue;
      if (dep == JOB_FAILED)
        {
          _cleanup_error_ cpb_error *e = NULL;
          struct cpb_build_event ev = { .kind = CPB_BUILD_SKIPPED,
                                        .image = j->img->name,
                                        .ref = j->ref };

          cpb_error_set (&e, CPB_ERR_FAILED, "image '%s': not built: its base '%s' failed",
                         j->img->name, b->jobs[j->dep].img->name);
          ev.error = e;
          ev.text = e->msg;
          j->state = JOB_FAILED;
          b->result.skipped++;
          emit (b, &ev);
          pthread_cond_broadcast (&b->changed);
          i = (size_t)-1; /* a settled job may settle others: look again */
          continue;
        }
      *ret_any_left = true;
      if (dep == JOB_DONE)
        return j;
    }
  return NULL;
}

static void
settle (struct builder *b, struct job *j, int r, cpb_error **err)
{
  pthread_mutex_lock (&b->lock);
  j->state = r < 0 ? JOB_FAILED : JOB_DONE;
  if (r == 0)
    b->result.built++;
  else if (r == 1)
    b->result.up_to_date++;
  else
    b->result.failed++;
  if (r == -1)
    {
      /* Not reported as an event yet (base missing, Podman unreachable): do it now. */
      struct cpb_build_event ev = {
        .kind = CPB_BUILD_FAILED, .image = j->img->name, .ref = j->ref, .error = *err
      };
      emit (b, &ev);
    }
  if (r < 0 && b->first_err == NULL)
    b->first_err = TAKE_PTR (*err);
  pthread_cond_broadcast (&b->changed);
  pthread_mutex_unlock (&b->lock);
}

static void *
worker (void *arg)
{
  struct builder *b = arg;
  _cleanup_podman_ cpb_podman *p = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  if (cpb_podman_clone (b->main, &p, &err) < 0)
    p = NULL;
  pthread_mutex_lock (&b->lock);
  for (;;)
    {
      bool any_left;
      struct job *j = next_job (b, &any_left);
      int r;

      if (j == NULL && !any_left)
        break;
      if (j == NULL)
        {
          pthread_cond_wait (&b->changed, &b->lock);
          continue;
        }
      j->state = JOB_RUNNING;
      pthread_mutex_unlock (&b->lock);
      r = p ? build_one (p, b, j, &err) : -1;
      settle (b, j, r, &err);
      cpb_error_free (TAKE_PTR (err));
      if (p == NULL)
        cpb_podman_clone (b->main, &p, &err);
      pthread_mutex_lock (&b->lock);
    }
  pthread_mutex_unlock (&b->lock);
  return NULL;
}

static void
run_workers (struct builder *b)
{
  unsigned n = b->opts->jobs ? b->opts->jobs : 2;
  pthread_t threads[16];

  if (n > 16)
    n = 16;
  if (n > b->n_jobs)
    n = (unsigned)b->n_jobs;
  for (unsigned i = 0; i < n; i++)
    if (pthread_create (&threads[i], NULL, worker, b) != 0)
      {
        n = i;
        break;
      }
  if (n == 0 && b->n_jobs > 0)
    worker (b); /* no thread could start: build on this one */
  for (unsigned i = 0; i < n; i++)
    pthread_join (threads[i], NULL);
}

/* --- dry run ------------------------------------------------------------------------ */

static int
plan_one (struct builder *b, struct job *j, cpb_error **err)
{
  struct cpb_build_event ev = { .kind = CPB_BUILD_PLAN,
                                .image = j->img->name,
                                .ref = j->ref,
                                .text = j->cf->text,
                                .would_build = true,
                                .n_steps = (unsigned)j->cf->n_steps };
  _cleanup_free_ char *base = NULL, *have = NULL;
  _cleanup_error_ cpb_error *e = NULL;
  char hash[CPB_SHA256_HEX_LEN + 1];
  bool base_changes = j->dep >= 0 && b->jobs[j->dep].state != JOB_DONE;

  /* A base that is missing or would itself be built makes the hash unknowable. */
  if (!base_changes && base_id (b->main, b, j, &base, &e) == 0)
    {
      spec_hash (b, j, base, hash);
      ev.spec_hash = hash;
      if (up_to_date (b->main, j, hash, &have, err) < 0)
        return -1;
      ev.would_build = b->opts->force || have == NULL;
    }
  j->state = ev.would_build ? JOB_PENDING : JOB_DONE;
  if (ev.would_build)
    b->result.built++;
  else
    b->result.up_to_date++;
  emit (b, &ev);
  return 0;
}

static int
plan_all (struct builder *b, cpb_error **err)
{
  for (size_t i = 0; i < b->n_jobs; i++)
    {
      struct job *j = &b->jobs[i];

      /* An outdated recipe base means everything on it would build. */
      if (j->img->from.kind == CPB_POD_FROM_RECIPE)
        {
          bool current = false;

          if (cpb_builder_recipe_current (b->main, b->opts->images_dir, j->img->from.ref, &current,
                                          err) < 0)
            return -1;
          if (!current || b->opts->force)
            {
              j->dep = -1;
              j->state = JOB_PENDING;
              b->result.built++;
              emit (b, &(struct cpb_build_event){ .kind = CPB_BUILD_PLAN,
                                                  .image = j->img->name,
                                                  .ref = j->ref,
                                                  .text = j->cf->text,
                                                  .would_build = true });
              continue;
            }
        }
      if (plan_one (b, j, err) < 0)
        return -1;
    }
  return 0;
}

/* --- entry point -------------------------------------------------------------------- */

int
cpb_builder_run (cpb_podman *p, const cpb_pods_spec *spec, const struct cpb_build_options *opts,
                 struct cpb_build_result *ret_result, cpb_error **err)
{
  struct builder b = { .main = p, .spec = spec, .opts = opts };
  char *abs = realpath (spec->path, NULL);
  int ret = 0;

  b.source = abs ? abs : cpb_xstrdup (spec->path);
  pthread_mutex_init (&b.lock, NULL);
  pthread_cond_init (&b.changed, NULL);
  pthread_mutex_init (&b.event_lock, NULL);
  if (prepare (&b, err) < 0)
    ret = -1;
  else if (opts->dry_run)
    ret = plan_all (&b, err);
  else if (prepare_recipes (&b, err) < 0)
    ret = -1;
  else
    {
      run_workers (&b);
      if (b.first_err)
        {
          cpb_error_free (*err);
          *err = TAKE_PTR (b.first_err);
          ret = -1;
        }
    }
  if (ret_result)
    *ret_result = b.result;
  for (size_t i = 0; i < b.n_jobs; i++)
    job_clear (&b.jobs[i]);
  free (b.jobs);
  free (b.source);
  cpb_error_free (b.first_err);
  pthread_mutex_destroy (&b.lock);
  pthread_cond_destroy (&b.changed);
  pthread_mutex_destroy (&b.event_lock);
  return ret;
}
