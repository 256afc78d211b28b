/* run/executor.c: planning a workload and running its tasks as containers (see run.h).
 *
 * One thread runs the loop (scheduling, launching, collecting); a second one only reads the
 * events stream and queues exits.  Both wake the loop through one self-pipe, which the
 * SIGINT/SIGTERM handler writes to as well, so the loop sleeps in a single poll().
 */
#include "config.h"
#include "run/run.h"
#include "buf.h"
#include "hash.h"
#include "helper-host.h"
#include "json.h"
#include "paths.h"
#include "podman/podman.h"
#include "run/scheduler.h"
#include "store/store.h"
#include "xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INIT_GROUP "initialize"
#define NO_PLAN_INDEX ((size_t)-1)
/* How often the loop lists the run's containers in case an event was lost. */
#define BACKSTOP_SECONDS 10.0
/* The helper enforces timeouts; cpb steps in this long after the helper should have. */
#define TIMEOUT_SLACK 15.0
/* The most of a log or report kept in memory per task. */
#define MAX_LOG_BYTES (64u << 20)

/* An image a task names, resolved once per run. */
struct image
{
  char *name;
  char *ref; /* what inspect answered to: the name, or localhost/NAME:latest */
  char *id;
  char *digest;        /* its manifest digest (sha256:...) for the manifest; NULL: none */
  char **capabilities; /* from the io.cpb.capabilities label */
};

/* One task of the run: the plan's index and what the run loop tracks about it. */
struct rtask
{
  size_t plan_index; /* NO_PLAN_INDEX for initialize */
  const char *name;
  const char *group;
  int64_t db_id;
  char key[CPB_SHA256_HEX_LEN + 1];
  enum cpb_plan_action action;
  struct image *image;
  uint64_t timeout;
  char *container_id;
  double started; /* monotonic seconds */
  time_t started_wall;
  int stop_phase; /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */
  double stop_at; /* when the first signal was sent */
  bool cancel_requested;
  int busy;             /* a worker is launching (1) or collecting (2) it */
  int adopted_attempts; /* > 0: running in a container a killed cpb left */
  struct cpb_sched_use *uses;
  size_t n_uses;
};

struct died
{
  char *id;
  int exit_code;
};

struct kept
{
  char *id;
  time_t started;
};

struct run
{
  const struct cpb_run_options *o;
  cpb_state *st;
  struct cpb_node *node;
  const cpb_jobs_spec *spec;
  cpb_jobs_plan *plan;
  cpb_scheduler *sched;
  cpb_progress *progress;
  char *run_id;
  char *ns;
  char *batch;
  struct rtask *tasks;
  size_t n_tasks;
  struct image **images; /* each allocated alone: tasks keep pointers to them */
  size_t n_images;
  struct cpb_state_task *hashes; /* input hash cache: name = path, key = digest */
  size_t n_hashes, cap_hashes;
  bool stopping; /* Ctrl-C or --fail-fast: nothing more starts */
  size_t n_failed_names;
  cpb_buf failed_names;
  cpb_buf warned; /* Podman's create warnings already shown, one a line */
  /* the workers: launches and collections, each on its own connection */
  pthread_t *workers;
  cpb_podman **worker_conns;
  size_t n_workers;
  struct job *todo, *todo_tail, *done;
  pthread_cond_t todo_cond;
  bool workers_quit;
  struct died *pending; /* exits of containers whose launch is still being reported */
  struct kept *kept;    /* running containers a killed cpb left, to adopt */
  size_t n_kept;
  size_t n_pending;
  /* the events thread */
  cpb_podman *events_conn;
  pthread_t events_thread;
  bool events_started;
  pthread_mutex_t lock;
  struct died *died;
  size_t n_died;
  char *events_error;
  bool events_ended;
  time_t since;
  int wake[2];
};

static volatile sig_atomic_t interrupted;
static int signal_wake_fd = -1;

static double
now_monotonic (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
cpb_run_result_clear (struct cpb_run_result *r)
{
  free (r->run_id);
  free (r->namespace);
  free (r->batch);
  memset (r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ keys */

static void
hash_string (cpb_sha256 *h, const char *tag, const char *s)
{
  cpb_sha256_update (h, tag, strlen (tag) + 1);
  if (s)
    cpb_sha256_update (h, s, strlen (s) + 1);
  else
    cpb_sha256_update (h, "", 1);
}

static int hash_path (cpb_sha256 *h, const char *path, cpb_error **err);

/* A directory's digest covers its entries' names, types and contents, in name order, so
   that a renamed or added file changes the key like an edited one. */
/* Call FN for every entry of directory PATH but . and .., in name order (so task keys and
   input tars do not depend on the file system's order), up to the first failure. */
static int
for_each_entry (const char *path,
                int (*fn) (void *arg, const char *entry, const char *sub, cpb_error **err),
                void *arg, cpb_error **err)
{
  struct dirent **names = NULL;
  int n = scandir (path, &names, NULL, alphasort);
  int rc = 0;

  if (n < 0)
    return cpb_error_errno (err, errno, "cannot read directory '%s'", path);
  for (int i = 0; i < n; i++)
    {
      const char *e = names[i]->d_name;

      if (rc == 0 && strcmp (e, ".") != 0 && strcmp (e, "..") != 0)
        {
          _cleanup_free_ char *sub = cpb_xasprintf ("%s/%s", path, e);

          rc = fn (arg, e, sub, err);
        }
      free (names[i]);
    }
  free (names);
  return rc;
}

static int
hash_entry (void *arg, const char *entry, const char *sub, cpb_error **err)
{
  cpb_sha256 *h = arg;

  hash_string (h, "entry", entry);
  return hash_path (h, sub, err);
}

static int
hash_dir (cpb_sha256 *h, const char *path, cpb_error **err)
{
  return for_each_entry (path, hash_entry, h, err);
}

static int
hash_path (cpb_sha256 *h, const char *path, cpb_error **err)
{
  struct stat sb;
  char hex[CPB_SHA256_HEX_LEN + 1];

  if (stat (path, &sb) < 0)
    return cpb_error_errno (err, errno, "input '%s'", path);
  if (S_ISDIR (sb.st_mode))
    {
      hash_string (h, "dir", NULL);
      return hash_dir (h, path, err);
    }
  if (cpb_sha256_file (path, hex, err) < 0)
    return -1;
  hash_string (h, (sb.st_mode & 0111) ? "exe" : "file", hex);
  return 0;
}

/* The digest of an input, computed once per run however many tasks share it. */
static int
input_digest (struct run *r, const char *path, char hex[CPB_SHA256_HEX_LEN + 1], cpb_error **err)
{
  _cleanup_sha256_ cpb_sha256 *h = NULL;

  for (size_t i = r->n_hashes; i-- > 0;)
    if (strcmp (r->hashes[i].name, path) == 0)
      {
        memcpy (hex, r->hashes[i].key, CPB_SHA256_HEX_LEN + 1);
        return 0;
      }
  h = cpb_sha256_new ();
  if (hash_path (h, path, err) < 0)
    return -1;
  cpb_sha256_finish (TAKE_PTR (h), hex);
  if (r->n_hashes == r->cap_hashes)
    {
      r->cap_hashes = r->cap_hashes ? r->cap_hashes * 2 : 16;
      r->hashes = cpb_xrealloc (r->hashes, r->cap_hashes * sizeof *r->hashes);
    }
  r->hashes[r->n_hashes++] =
      (struct cpb_state_task){ .name = cpb_xstrdup (path), .key = cpb_xstrdup (hex) };
  return 0;
}

/* The digest of everything the tasks of the groups a group takes outputs from were keyed
   on: a rerun upstream reruns downstream. */
static void
hash_upstream (struct run *r, cpb_sha256 *h, const struct cpb_task *t)
{
  if (t->group == NULL)
    return;
  if (r->spec->initialize)
    hash_string (h, "init", r->tasks[0].key);
  for (size_t k = 0; k < t->group->n_inputs_from; k++)
    {
      size_t first, count, offset = r->spec->initialize ? 1 : 0;

      cpb_jobs_plan_group_range (r->plan, t->group->inputs_from[k], &first, &count);
      for (size_t i = first; i < first + count; i++)
        hash_string (h, "from", r->tasks[offset + i].key);
    }
}

/* The task's key: what decides its result (image ID, command, environment, parameters,
   inputs' contents, outputs kept, limits and capabilities that change behaviour, upstream
   keys). */
static int
task_key (struct run *r, const struct cpb_task *t, const struct image *img,
          char key[CPB_SHA256_HEX_LEN + 1], cpb_error **err)
{
  _cleanup_sha256_ cpb_sha256 *h = cpb_sha256_new ();
  char hex[CPB_SHA256_HEX_LEN + 1];
  _cleanup_free_ char *limits = cpb_xasprintf (
      "%llu %d %s %d", (unsigned long long)t->settings->timeout, t->settings->seccomp,
      t->settings->workdir ? t->settings->workdir : "", t->settings->network);

  hash_string (h, "image", img ? img->id : "");
  hash_string (h, "command", t->command);
  for (char **a = t->argv; a && *a; a++)
    hash_string (h, "argv", *a);
  for (char **e = t->env; e && *e; e++)
    hash_string (h, "env", *e);
  for (size_t i = 0; i < t->n_params; i++)
    {
      hash_string (h, "param", t->params[i].name);
      hash_string (h, "value", t->params[i].value);
    }
  for (size_t i = 0; i < t->n_inputs; i++)
    {
      if (input_digest (r, t->inputs[i].path, hex, err) < 0)
        return cpb_error_prefix (err, "task '%s'", t->name);
      hash_string (h, "input", t->inputs[i].dest);
      hash_string (h, "digest", hex);
    }
  for (char **o = t->outputs; o && *o; o++)
    hash_string (h, "output", *o);
  for (size_t i = 0; i < t->settings->n_deny; i++)
    hash_string (h, "deny", t->settings->deny[i]);
  for (size_t i = 0; i < t->settings->n_cap_add; i++)
    hash_string (h, "cap_add", t->settings->cap_add[i]);
  hash_string (h, "limits", limits);
  hash_upstream (r, h, t);
  cpb_sha256_finish (TAKE_PTR (h), key);
  return 0;
}

/* ------------------------------------------------------------------ images */

static char **
split_capabilities (const char *label)
{
  char **v = cpb_xcalloc (1, sizeof *v);
  size_t n = 0;
  _cleanup_free_ char *copy = cpb_xstrdup (label ? label : "");
  char *save = NULL;

  for (char *tok = strtok_r (copy, ", ", &save); tok; tok = strtok_r (NULL, ", ", &save))
    {
      v = cpb_xrealloc (v, (n + 2) * sizeof *v);
      v[n++] = cpb_xstrdup (tok);
      v[n] = NULL;
    }
  return v;
}

/* Inspect NAME on the node, also as localhost/NAME:latest (how cpb build tags a pods.yaml
   image), so that `image: solver` finds what `cpb build` made.  An image the node does not
   have is bad input (exit 2) whatever its spelling: cpb never pulls, so the user must build
   or load it; any other failure is Podman's, already naming the image. */
static int
inspect_image (struct run *r, const char *name, struct image *img, cpb_error **err)
{
  _cleanup_podman_image_ struct cpb_podman_image *pi = NULL;
  _cleanup_free_ char *local = NULL;
  _cleanup_error_ cpb_error *e = NULL;

  if (cpb_podman_image_inspect (r->node->podman, name, &pi, &e) < 0 &&
      e->kind == CPB_ERR_NOT_FOUND && !strchr (name, '/') && !strchr (name, ':'))
    {
      cpb_error_free (TAKE_PTR (e));
      local = cpb_xasprintf ("localhost/%s:latest", name);
      (void)cpb_podman_image_inspect (r->node->podman, local, &pi, &e);
    }
  if (e != NULL && e->kind == CPB_ERR_NOT_FOUND)
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "image '%s' is not on node %s (cpb never pulls: build it with cpb "
                          "build, or load it into Podman)",
                          name, r->node->name);
  if (e != NULL)
    {
      *err = TAKE_PTR (e);
      return -1;
    }
  img->name = cpb_xstrdup (name);
  img->ref = cpb_xstrdup (local ? local : name);
  img->id = cpb_xstrdup (pi->id);
  img->digest = pi->digest ? cpb_xstrdup (pi->digest) : NULL;
  img->capabilities =
      split_capabilities (cpb_podman_kv_get (pi->labels, pi->n_labels, "io.cpb.capabilities"));
  return 0;
}

static struct image *
find_image (struct run *r, const char *name, cpb_error **err)
{
  struct image img = { 0 };

  if (name == NULL)
    {
      cpb_error_set (err, CPB_ERR_INPUT, "no image: set `image` in defaults or the group");
      return NULL;
    }
  for (size_t i = 0; i < r->n_images; i++)
    if (strcmp (r->images[i]->name, name) == 0)
      return r->images[i];
  if (inspect_image (r, name, &img, err) < 0)
    return NULL;
  r->images = cpb_xrealloc (r->images, (r->n_images + 1) * sizeof *r->images);
  r->images[r->n_images] = cpb_xmalloc (sizeof img);
  *r->images[r->n_images] = img;
  return r->images[r->n_images++];
}

static bool
strv_contains (char *const *v, const char *s)
{
  for (; v && *v; v++)
    if (strcmp (*v, s) == 0)
      return true;
  return false;
}

/* A task runs only where the node or its image offers every capability it requires. */
static int
check_requires (struct run *r, const struct cpb_task *t, const struct image *img, cpb_error **err)
{
  for (size_t i = 0; i < t->settings->n_requires; i++)
    {
      const char *cap = t->settings->requires[i];

      if (!strv_contains (img->capabilities, cap) && !strv_contains (r->node->capabilities, cap))
        return cpb_error_set (err, CPB_ERR_INPUT,
                              "task '%s' requires '%s', which neither node %s nor image '%s' "
                              "offers (io.cpb.capabilities)",
                              t->name, cap, r->node->name, img->name);
    }
  return 0;
}

/* ------------------------------------------------------------------ planning */

static struct cpb_task *
make_task (struct run *r, const struct rtask *rt)
{
  if (rt->plan_index == NO_PLAN_INDEX)
    return cpb_jobs_initialize_task (r->spec);
  return cpb_jobs_plan_task (r->plan, rt->plan_index);
}

static char *
params_json (const struct cpb_task *t)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

  yajl_gen_map_open (g);
  for (size_t i = 0; i < t->n_params; i++)
    cpb_json_gen_key_string (g, t->params[i].name, t->params[i].value);
  yajl_gen_map_close (g);
  return cpb_json_gen_finish (g, NULL, NULL);
}

/* Resolve task RT: its image, requirements, key and scheduling needs. */
static int
resolve_task (struct run *r, struct rtask *rt, struct cpb_sched_task *ret_sched, cpb_error **err)
{
  _cleanup_task_ struct cpb_task *t = make_task (r, rt);
  const struct cpb_jobs_settings *s = t->settings;

  rt->image = find_image (r, s->image, err);
  if (rt->image == NULL)
    return cpb_error_prefix (err, "task '%s'", t->name);
  if (check_requires (r, t, rt->image, err) < 0 || task_key (r, t, rt->image, rt->key, err) < 0)
    return -1;
  rt->timeout = s->timeout;
  rt->n_uses = s->n_counted;
  rt->uses = s->n_counted ? cpb_xcalloc (s->n_counted, sizeof *rt->uses) : NULL;
  for (size_t k = 0; k < s->n_counted; k++)
    rt->uses[k] = (struct cpb_sched_use){ s->counted[k].name, (int)s->counted[k].count };
  *ret_sched = (struct cpb_sched_task){ .group = rt->group,
                                        .name = rt->name,
                                        .priority = s->priority,
                                        .cpus = s->cpus,
                                        .memory = (int64_t)s->memory,
                                        .retries = s->retries,
                                        .uses = rt->uses,
                                        .n_uses = rt->n_uses,
                                        .state = CPB_TASK_QUEUED };
  return 0;
}

static void remove_container (cpb_podman *p, const char *id);

/* If a kept container runs task RT with the key the task has now, adopt it: RT keeps running
   in it (the database row stays RUNNING).  A stale one (the spec or inputs changed) goes. */
static bool
take_over (struct run *r, struct rtask *rt)
{
  struct cpb_state_task old = { 0 };
  bool adopted = false;

  if (r->n_kept == 0 || cpb_state_task_get (r->st, r->ns, r->batch, rt->name, &old, NULL) < 0)
    return false;
  for (size_t k = 0; k < r->n_kept; k++)
    if (r->kept[k].id && old.container_id && strcmp (r->kept[k].id, old.container_id) == 0)
      {
        if (old.key && strcmp (old.key, rt->key) == 0)
          {
            time_t started = r->kept[k].started;

            rt->container_id = TAKE_PTR (r->kept[k].id);
            rt->started_wall = started;
            rt->started = now_monotonic () - (double)(time (NULL) - started);
            rt->db_id = old.id;
            rt->action = CPB_PLAN_RUN;
            rt->adopted_attempts = old.attempts > 0 ? old.attempts : 1;
            adopted = true;
          }
        break;
      }
  cpb_state_task_clear (&old);
  return adopted;
}

/* The action for RT against the database: insert or requeue (RECORD), or just look. */
static int
plan_in_state (struct run *r, struct rtask *rt, bool record, cpb_error **err)
{
  _cleanup_task_ struct cpb_task *t = NULL;
  _cleanup_free_ char *params = NULL;
  struct cpb_state_task old = { 0 };
  _cleanup_error_ cpb_error *lookup = NULL;
  struct cpb_state_task st;

  if (!record)
    {
      rt->action = CPB_PLAN_RUN;
      if (cpb_state_task_get (r->st, r->ns, r->batch, rt->name, &old, &lookup) == 0)
        {
          if (old.state == CPB_TASK_HELD)
            rt->action = CPB_PLAN_HELD;
          else if (old.state == CPB_TASK_DONE && !r->o->force && old.key &&
                   strcmp (old.key, rt->key) == 0)
            rt->action = CPB_PLAN_SKIP;
          cpb_state_task_clear (&old);
        }
      return 0;
    }
  if (take_over (r, rt))
    return 0;
  t = make_task (r, rt);
  params = params_json (t);
  st = (struct cpb_state_task){ .namespace = r->ns,
                                .batch = r->batch,
                                .name = t->name,
                                .group = (char *)rt->group,
                                .index = (int)t->index,
                                .params_json = params,
                                .key = rt->key,
                                .priority = t->settings->priority };
  if (cpb_state_task_plan (r->st, &st, r->o->force, &rt->action, err) < 0)
    return -1;
  rt->db_id = st.id;
  return 0;
}

static void
add_groups (struct run *r)
{
  for (size_t g = 0; g < r->spec->n_groups; g++)
    {
      const struct cpb_jobs_group *grp = &r->spec->groups[g];

      if (r->spec->initialize)
        cpb_scheduler_add_dependency (r->sched, grp->name, INIT_GROUP);
      for (size_t k = 0; k < grp->n_after; k++)
        cpb_scheduler_add_dependency (r->sched, grp->name, r->spec->groups[grp->after[k]].name);
    }
}

static void
init_tasks (struct run *r)
{
  size_t n = cpb_jobs_plan_count (r->plan), offset = r->spec->initialize ? 1 : 0;

  r->n_tasks = n + offset;
  r->tasks = cpb_xcalloc (r->n_tasks ? r->n_tasks : 1, sizeof *r->tasks);
  if (offset)
    r->tasks[0] =
        (struct rtask){ .plan_index = NO_PLAN_INDEX, .name = INIT_GROUP, .group = INIT_GROUP };
  for (size_t g = 0; g < r->spec->n_groups; g++)
    {
      size_t first, count;

      cpb_jobs_plan_group_range (r->plan, g, &first, &count);
      for (size_t i = first; i < first + count; i++)
        r->tasks[offset + i] = (struct rtask){ .plan_index = i,
                                               .name = cpb_jobs_plan_task_name (r->plan, i),
                                               .group = r->spec->groups[g].name };
    }
}

/* Resolve every task, check that all can run, and decide what to run; RECORD writes the
   decisions to the database (in one transaction: 100,000 tasks in seconds, not minutes). */
static int
plan_tasks (struct run *r, bool record, cpb_error **err)
{
  struct cpb_sched_config cfg = { .max_jobs = r->o->max_jobs,
                                  .cpus = r->node->cpus,
                                  .memory = (int64_t)r->node->memory,
                                  .backoff_base = r->o->backoff_base };

  if (cpb_jobs_plan_new (r->spec, &r->plan, err) < 0)
    return -1;
  init_tasks (r);
  r->sched = cpb_scheduler_new (&cfg);
  for (size_t k = 0; k < r->spec->n_limits; k++)
    cpb_scheduler_add_counted (r->sched, r->spec->limits[k].name, (int)r->spec->limits[k].count);
  if (record && cpb_state_begin (r->st, err) < 0)
    return -1;
  for (size_t i = 0; i < r->n_tasks; i++)
    {
      struct cpb_sched_task sched;
      struct rtask *rt = &r->tasks[i];

      if (resolve_task (r, rt, &sched, err) < 0 || plan_in_state (r, rt, record, err) < 0)
        goto fail;
      sched.state = rt->action == CPB_PLAN_SKIP   ? CPB_TASK_DONE
                    : rt->action == CPB_PLAN_HELD ? CPB_TASK_HELD
                                                  : CPB_TASK_QUEUED;
      cpb_scheduler_add_task (r->sched, &sched);
      if (rt->adopted_attempts > 0)
        cpb_scheduler_adopt (r->sched, i, rt->adopted_attempts);
    }
  if (record && cpb_state_commit (r->st, err) < 0)
    goto fail;
  add_groups (r);
  return cpb_scheduler_check (r->sched, err);

fail:
  if (record)
    cpb_state_commit (r->st, NULL);
  return -1;
}

static void
run_free (struct run *r)
{
  for (size_t i = 0; i < r->n_tasks; i++)
    {
      free (r->tasks[i].container_id);
      free (r->tasks[i].uses);
    }
  free (r->tasks);
  for (size_t i = 0; i < r->n_images; i++)
    {
      free (r->images[i]->name);
      free (r->images[i]->ref);
      free (r->images[i]->id);
      free (r->images[i]->digest);
      cpb_strv_free (r->images[i]->capabilities);
      free (r->images[i]);
    }
  free (r->images);
  cpb_state_task_free_array (r->hashes, r->n_hashes);
  for (size_t i = 0; i < r->n_died; i++)
    free (r->died[i].id);
  free (r->died);
  for (size_t i = 0; i < r->n_pending; i++)
    free (r->pending[i].id);
  free (r->pending);
  for (size_t i = 0; i < r->n_kept; i++)
    free (r->kept[i].id);
  free (r->kept);
  free (r->events_error);
  cpb_buf_free (&r->failed_names);
  cpb_buf_free (&r->warned);
  cpb_scheduler_free (r->sched);
  cpb_jobs_plan_free (r->plan);
  free (r->run_id);
  free (r->ns);
  free (r->batch);
}

static int
run_init (struct run *r, cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
          const struct cpb_run_options *o, cpb_error **err)
{
  memset (r, 0, sizeof *r);
  r->o = o;
  r->st = st;
  r->node = node;
  r->spec = spec;
  r->wake[0] = r->wake[1] = -1;
  if (o->namespace)
    r->ns = cpb_xstrdup (o->namespace);
  else if (spec->namespace.s)
    r->ns = cpb_xstrdup (spec->namespace.s);
  else
    r->ns = cpb_default_namespace ();
  r->batch = cpb_xstrdup (o->batch ? o->batch : spec->batch.s ? spec->batch.s : "default");
  if (cpb_check_name ("namespace", r->ns, err) < 0 || cpb_check_name ("batch", r->batch, err) < 0)
    return -1;
  return 0;
}

static void
fill_result (struct run *r, struct cpb_run_result *ret)
{
  ret->run_id = r->run_id ? cpb_xstrdup (r->run_id) : NULL;
  ret->namespace = cpb_xstrdup (r->ns);
  ret->batch = cpb_xstrdup (r->batch);
  if (r->sched)
    cpb_scheduler_counts (r->sched, ret->counts);
}

int
cpb_run_plan (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
              const struct cpb_run_options *o, struct cpb_plan_entry **ret_entries, size_t *ret_n,
              struct cpb_run_result *ret, cpb_error **err)
{
  struct run r;
  struct cpb_plan_entry *v;
  int rc = -1;

  if (run_init (&r, st, node, spec, o, err) < 0 || plan_tasks (&r, false, err) < 0)
    goto out;
  v = cpb_xcalloc (r.n_tasks ? r.n_tasks : 1, sizeof *v);
  for (size_t i = 0; i < r.n_tasks; i++)
    {
      v[i].name = cpb_xstrdup (r.tasks[i].name); /* the plan is freed below */
      v[i].group = r.tasks[i].group;
      v[i].action = r.tasks[i].action;
      memcpy (v[i].key, r.tasks[i].key, sizeof v[i].key);
    }
  *ret_entries = v;
  *ret_n = r.n_tasks;
  fill_result (&r, ret);
  rc = 0;
out:
  run_free (&r);
  return rc;
}

void
cpb_plan_entries_free (struct cpb_plan_entry *v, size_t n)
{
  if (v == NULL)
    return;
  for (size_t i = 0; i < n; i++)
    free (v[i].name);
  free (v);
}

/* ------------------------------------------------------------------ the input tar */

CPB_DEFINE_CLEANUP_FUNC (struct archive *, archive_write_free)
#define _cleanup_archive_write_ _cleanup_ (archive_write_freep)
CPB_DEFINE_CLEANUP_FUNC (struct archive *, archive_read_free)
#define _cleanup_archive_read_ _cleanup_ (archive_read_freep)
CPB_DEFINE_CLEANUP_FUNC (struct archive_entry *, archive_entry_free)
#define _cleanup_archive_entry_ _cleanup_ (archive_entry_freep)

/* The tar uploaded to "/" before start: the helper, the working directory, the inputs. */
struct intar
{
  struct archive *a;
  char **dirs; /* directories already written, so parents are written once */
  size_t n_dirs;
};

static int
tar_error (struct intar *in, cpb_error **err, const char *what)
{
  return cpb_error_set (err, CPB_ERR_SYSTEM, "input tar: %s: %s", what,
                        archive_error_string (in->a) ? archive_error_string (in->a) : "error");
}

static int
tar_header (struct intar *in, const char *name, mode_t type, mode_t perm, int64_t size,
            cpb_error **err)
{
  _cleanup_archive_entry_ struct archive_entry *e = archive_entry_new ();

  archive_entry_set_pathname (e, name);
  archive_entry_set_filetype (e, type);
  archive_entry_set_perm (e, perm);
  archive_entry_set_size (e, size);
  archive_entry_set_mtime (e, time (NULL), 0);
  if (archive_write_header (in->a, e) != ARCHIVE_OK)
    return tar_error (in, err, name);
  return 0;
}

/* Write directory NAME (and its missing parents) once. */
static int
tar_dir (struct intar *in, const char *name, mode_t perm, cpb_error **err)
{
  _cleanup_free_ char *parent = cpb_xstrdup (name);
  char *slash = strrchr (parent, '/');

  for (size_t i = 0; i < in->n_dirs; i++)
    if (strcmp (in->dirs[i], name) == 0)
      return 0;
  if (slash)
    {
      *slash = '\0';
      if (tar_dir (in, parent, 0755, err) < 0)
        return -1;
    }
  in->dirs = cpb_xrealloc (in->dirs, (in->n_dirs + 1) * sizeof *in->dirs);
  in->dirs[in->n_dirs++] = cpb_xstrdup (name);
  return tar_header (in, name, AE_IFDIR, perm, 0, err);
}

static int
tar_parent (struct intar *in, const char *name, cpb_error **err)
{
  _cleanup_free_ char *parent = cpb_xstrdup (name);
  char *slash = strrchr (parent, '/');

  if (slash == NULL)
    return 0;
  *slash = '\0';
  return tar_dir (in, parent, 0755, err);
}

static int
tar_copy_fd (struct intar *in, int fd, const char *name, cpb_error **err)
{
  char buf[65536];
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) > 0)
    if (archive_write_data (in->a, buf, (size_t)n) != n)
      return tar_error (in, err, name);
  if (n < 0)
    return cpb_error_errno (err, errno, "cannot read input for '%s'", name);
  return 0;
}

static int tar_tree (struct intar *in, const char *path, const char *name, cpb_error **err);

struct tar_walk
{
  struct intar *in;
  const char *name;
};

static int
tar_entry (void *arg, const char *entry, const char *sub, cpb_error **err)
{
  const struct tar_walk *w = arg;
  _cleanup_free_ char *subname = cpb_xasprintf ("%s/%s", w->name, entry);

  return tar_tree (w->in, sub, subname, err);
}

static int
tar_dir_contents (struct intar *in, const char *path, const char *name, cpb_error **err)
{
  struct tar_walk w = { in, name };

  return for_each_entry (path, tar_entry, &w, err);
}

/* Add host PATH (a file, or a directory with everything below it) as NAME. */
static int
tar_tree (struct intar *in, const char *path, const char *name, cpb_error **err)
{
  _cleanup_close_ int fd = -1;
  struct stat sb;

  if (stat (path, &sb) < 0)
    return cpb_error_errno (err, errno, "input '%s'", path);
  if (S_ISDIR (sb.st_mode))
    {
      if (tar_parent (in, name, err) < 0 || tar_dir (in, name, sb.st_mode & 0777, err) < 0)
        return -1;
      return tar_dir_contents (in, path, name, err);
    }
  if (!S_ISREG (sb.st_mode))
    return 0; /* sockets, fifos and devices are not data */
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot open input '%s'", path);
  if (tar_parent (in, name, err) < 0 ||
      tar_header (in, name, AE_IFREG, sb.st_mode & 0777, sb.st_size, err) < 0)
    return -1;
  return tar_copy_fd (in, fd, name, err);
}

/* Copy the outputs kept in an earlier task's archive (not its .cpb/ logs) under PREFIX. */
static int
tar_from_archive (struct intar *in, const char *archive_path, const char *prefix, cpb_error **err)
{
  _cleanup_archive_read_ struct archive *a = archive_read_new ();
  struct archive_entry *e;
  int rc;

  archive_read_support_format_tar (a);
  archive_read_support_filter_all (a);
  if (archive_read_open_filename (a, archive_path, 65536) != ARCHIVE_OK)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot read '%s': %s", archive_path,
                          archive_error_string (a));
  while ((rc = archive_read_next_header (a, &e)) == ARCHIVE_OK)
    {
      _cleanup_free_ char *clean = cpb_store_clean_member (archive_entry_pathname (e));
      _cleanup_free_ char *name = NULL;
      const void *buf;
      size_t len;
      la_int64_t off;

      if (clean == NULL || strncmp (clean, ".cpb", 4) == 0 ||
          archive_entry_filetype (e) != AE_IFREG)
        continue;
      name = cpb_xasprintf ("%s/%s", prefix, clean);
      if (tar_parent (in, name, err) < 0 ||
          tar_header (in, name, AE_IFREG, archive_entry_perm (e), archive_entry_size (e), err) < 0)
        return -1;
      while ((rc = archive_read_data_block (a, &buf, &len, &off)) == ARCHIVE_OK)
        if (archive_write_data (in->a, buf, len) != (la_ssize_t)len)
          return tar_error (in, err, name);
      if (rc != ARCHIVE_EOF)
        return cpb_error_set (err, CPB_ERR_SYSTEM, "reading '%s': %s", archive_path,
                              archive_error_string (a));
    }
  if (rc != ARCHIVE_EOF)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "reading '%s': %s", archive_path,
                          archive_error_string (a));
  return 0;
}

static int
open_tmpfile (cpb_error **err)
{
  const char *dir = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
  int fd = open (dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  _cleanup_free_ char *templ = NULL;

  if (fd >= 0)
    return fd;
  templ = cpb_xasprintf ("%s/cpb-input.XXXXXX", dir);
  fd = mkostemp (templ, O_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot create a temporary file in '%s'", dir);
  unlink (templ);
  return fd;
}

/* An earlier task's archive whose outputs go into a task's upload, under PREFIX. */
struct upstream
{
  char *path;
  char *prefix;
};

static void
upstream_free (struct upstream *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      free (v[i].path);
      free (v[i].prefix);
    }
  free (v);
}

/* The outputs of the task called NAME of this batch, as the store holds them. */
static char *
archive_of (struct run *r, const char *name)
{
  struct cpb_state_task t = { 0 };
  char *path = NULL;

  if (cpb_state_task_get (r->st, r->ns, r->batch, name, &t, NULL) == 0 && t.archive_path)
    path = TAKE_PTR (t.archive_path);
  cpb_state_task_clear (&t);
  return path;
}

static void
upstream_push (struct upstream **v, size_t *n, char *path, char *prefix)
{
  if (path == NULL)
    {
      free (prefix);
      return;
    }
  *v = cpb_xrealloc (*v, (*n + 1) * sizeof **v);
  (*v)[(*n)++] = (struct upstream){ path, prefix };
}

/* What a task gets from the steps before it: initialize's outputs in the working directory,
   and each task of an inputs_from group under WORKDIR/GROUP/TASK/.  Read from the database,
   so made in the loop's thread, before the upload is handed to a worker. */
static struct upstream *
upstream_of (struct run *r, const struct cpb_task *t, size_t *ret_n)
{
  const char *workdir = t->settings->workdir ? t->settings->workdir : "/work";
  const char *wd = workdir + strspn (workdir, "/");
  struct upstream *v = NULL;
  size_t n = 0;

  if (t->group != NULL && r->spec->initialize)
    upstream_push (&v, &n, archive_of (r, INIT_GROUP), cpb_xstrdup (wd));
  for (size_t k = 0; t->group && k < t->group->n_inputs_from; k++)
    {
      size_t first, count;
      const char *gname = r->spec->groups[t->group->inputs_from[k]].name;

      cpb_jobs_plan_group_range (r->plan, t->group->inputs_from[k], &first, &count);
      for (size_t i = first; i < first + count; i++)
        {
          const char *tname = cpb_jobs_plan_task_name (r->plan, i);

          upstream_push (&v, &n, archive_of (r, tname),
                         cpb_xasprintf ("%s/%s/%s", wd, gname, tname));
        }
    }
  *ret_n = n;
  return v;
}

static int
tar_helper (const char *helper_path, struct intar *in, cpb_error **err)
{
  _cleanup_close_ int fd = open (helper_path, O_RDONLY | O_CLOEXEC);
  struct stat sb;

  if (fd < 0 || fstat (fd, &sb) < 0)
    return cpb_error_errno (err, errno, "cannot open cpb-helper '%s'", helper_path);
  /* Sticky and world-writable: the report must be writable whatever user the task runs as. */
  if (tar_dir (in, &CPB_HELPER_DIR[1], 01777, err) < 0 ||
      tar_header (in, &CPB_HELPER_PATH[1], AE_IFREG, 0755, sb.st_size, err) < 0)
    return -1;
  return tar_copy_fd (in, fd, &CPB_HELPER_PATH[1], err);
}

/* Write the whole upload for task T into a temporary file; *RET_FD is positioned at 0. */
static int
build_input_tar (const char *helper_path, const struct cpb_task *t, const struct upstream *up,
                 size_t n_up, int *ret_fd, cpb_error **err)
{
  _cleanup_close_ int fd = open_tmpfile (err);
  _cleanup_archive_write_ struct archive *a = archive_write_new ();
  struct intar in = { .a = a };
  const char *workdir = t->settings->workdir ? t->settings->workdir : "/work";
  _cleanup_free_ char *wd = cpb_xstrdup (workdir + strspn (workdir, "/"));
  int rc = -1;

  if (fd < 0)
    return -1;
  archive_write_set_format_pax_restricted (a);
  if (archive_write_open_fd (a, fd) != ARCHIVE_OK)
    {
      tar_error (&in, err, "open");
      goto out;
    }
  if (tar_helper (helper_path, &in, err) < 0 || tar_dir (&in, wd, 0755, err) < 0)
    goto out;
  for (size_t i = 0; i < n_up; i++)
    if (tar_from_archive (&in, up[i].path, up[i].prefix, err) < 0)
      goto out;
  for (size_t i = 0; i < t->n_inputs; i++)
    {
      _cleanup_free_ char *name = cpb_xasprintf ("%s/%s", wd, t->inputs[i].dest);

      if (tar_tree (&in, t->inputs[i].path, name, err) < 0)
        goto out;
    }
  if (archive_write_close (a) != ARCHIVE_OK || lseek (fd, 0, SEEK_SET) < 0)
    {
      tar_error (&in, err, "close");
      goto out;
    }
  *ret_fd = TAKE_FD (fd);
  rc = 0;
out:
  for (size_t i = 0; i < in.n_dirs; i++)
    free (in.dirs[i]);
  free (in.dirs);
  return rc;
}

/* ------------------------------------------------------------------ launching */

static void
strv_push (char ***v, size_t *n, char *s)
{
  *v = cpb_xrealloc (*v, (*n + 2) * sizeof **v);
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

/* The arguments after the helper's own path: its options, then the task's command. */
static char **
helper_command (struct run *r, const struct cpb_task *t)
{
  const struct cpb_jobs_settings *s = t->settings;
  char **v = cpb_xcalloc (1, sizeof *v);
  size_t n = 0;

  if (s->timeout)
    {
      strv_push (&v, &n, cpb_xstrdup ("--timeout"));
      strv_push (&v, &n, cpb_xasprintf ("%llu", (unsigned long long)s->timeout));
      strv_push (&v, &n, cpb_xstrdup ("--grace"));
      strv_push (&v, &n, cpb_xasprintf ("%g", r->o->grace > 0 ? r->o->grace : 5.0));
    }
  strv_push (&v, &n, cpb_xstrdup ("--seccomp"));
  strv_push (&v, &n, cpb_xstrdup (cpb_profile_kind_name (s->seccomp)));
  for (size_t i = 0; i < s->n_deny; i++)
    {
      strv_push (&v, &n, cpb_xstrdup ("--deny"));
      strv_push (&v, &n, cpb_xstrdup (s->deny[i]));
    }
  if (s->network != CPB_NETWORK_NONE)
    strv_push (&v, &n, cpb_xstrdup ("--allow-network"));
  strv_push (&v, &n, cpb_xstrdup ("--report"));
  strv_push (&v, &n, cpb_xstrdup (CPB_HELPER_REPORT_PATH));
  strv_push (&v, &n, cpb_xstrdup ("--report-stderr"));
  strv_push (&v, &n, cpb_xstrdup ("--"));
  if (t->argv)
    for (char **a = t->argv; *a; a++)
      strv_push (&v, &n, cpb_xstrdup (*a));
  else
    {
      strv_push (&v, &n, cpb_xstrdup ("/bin/sh"));
      strv_push (&v, &n, cpb_xstrdup ("-c"));
      strv_push (&v, &n, cpb_xstrdup (t->command ? t->command : "true"));
    }
  return v;
}

/* "NAME=VALUE" strings as key/value pairs pointing into them (split in place). */
static struct cpb_podman_kv *
env_pairs (char **env, size_t *ret_n, char ***ret_copy)
{
  size_t n = 0;
  char **copy;
  struct cpb_podman_kv *kv;

  for (char **e = env; e && *e; e++)
    n++;
  copy = cpb_xcalloc (n + 1, sizeof *copy);
  kv = cpb_xcalloc (n ? n : 1, sizeof *kv);
  for (size_t i = 0; i < n; i++)
    {
      char *eq;

      copy[i] = cpb_xstrdup (env[i]);
      eq = strchr (copy[i], '=');
      if (eq)
        *eq++ = '\0';
      kv[i] = (struct cpb_podman_kv){ copy[i], eq ? eq : "" };
    }
  *ret_n = n;
  *ret_copy = copy;
  return kv;
}

/* Create the container of attempt ATTEMPT of T (not started) on P; its id in *RET_ID,
   Podman's warnings in *RET_WARNINGS.  Called from the workers: reads only what does not
   change while the run goes. */
static int
create_container (struct run *r, cpb_podman *p, const struct rtask *rt, const struct cpb_task *t,
                  int attempt, char **ret_id, char ***ret_warnings, cpb_error **err)
{
  _cleanup_strv_free_ char **cmd = helper_command (r, t);
  _cleanup_strv_free_ char **env_copy = NULL;
  _cleanup_free_ struct cpb_podman_kv *env = NULL;
  _cleanup_free_ char *name = cpb_xasprintf ("cpb-%s-%s-%d", r->run_id, t->name, attempt);
  _cleanup_free_ char *attempt_s = cpb_xasprintf ("%d", attempt);
  static const char *const entrypoint[] = { CPB_HELPER_PATH, NULL };
  const struct cpb_podman_kv labels[] = {
    { "io.cpb.run", r->run_id }, { "io.cpb.namespace", r->ns },   { "io.cpb.batch", r->batch },
    { "io.cpb.task", t->name },  { "io.cpb.attempt", attempt_s }, { "io.cpb.key", rt->key },
  };
  struct cpb_container_spec spec = {
    .name = name,
    .image = rt->image->id,
    .command = (const char *const *)cmd,
    .entrypoint = entrypoint,
    .work_dir = t->settings->workdir ? t->settings->workdir : "/work",
    .create_working_dir = true,
    .labels = labels,
    .n_labels = sizeof labels / sizeof labels[0],
    .netns = t->settings->network == CPB_NETWORK_NONE ? CPB_NETNS_NONE : CPB_NETNS_SLIRP,
    .cap_drop_all = true,
    .cap_add = t->settings->n_cap_add ? t->settings->cap_add : NULL,
    .no_new_privileges = true,
    .memory_bytes = t->settings->memory,
    .cpus = t->settings->cpus,
    .stop_timeout = 10,
  };

  env = env_pairs (t->env, &spec.n_env, &env_copy);
  spec.env = env;
  return cpb_podman_container_create_ex (p, &spec, ret_id, ret_warnings, err);
}

static void
remove_container (cpb_podman *p, const char *id)
{
  _cleanup_error_ cpb_error *ignored = NULL;

  cpb_podman_container_remove (p, id, true, &ignored);
}

/* Upload the helper, upstream outputs and inputs into created container ID, and start it. */
static int
upload_and_start (struct run *r, cpb_podman *p, const char *id, const struct cpb_task *t,
                  const struct upstream *up, size_t n_up, cpb_error **err)
{
  _cleanup_close_ int fd = -1;
  struct cpb_podman_body body;

  if (build_input_tar (r->o->helper_path, t, up, n_up, &fd, err) < 0)
    return -1;
  body = CPB_PODMAN_BODY_FD (fd);
  if (cpb_podman_archive_put (p, id, "/", &body, err) < 0)
    return cpb_error_prefix (err, "uploading inputs");
  if (cpb_podman_container_start (p, id, err) < 0)
    return cpb_error_prefix (err, "starting");
  return 0;
}

/* ------------------------------------------------------------------ collecting */

struct logs
{
  cpb_buf out, err;
  bool truncated;
};

static int
on_log (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
        cpb_error **err)
{
  struct logs *l = userdata;
  cpb_buf *b = stream == CPB_LOG_STDERR ? &l->err : &l->out;

  if (b->len + len > MAX_LOG_BYTES)
    {
      l->truncated = true;
      return 0;
    }
  cpb_buf_append (b, data, len);
  return 0;
}

static int
on_tar_bytes (void *userdata, const char *data, size_t len, cpb_error **err)
{
  cpb_buf *b = userdata;

  if (b->len + len > CPB_HELPER_REPORT_MAX)
    return cpb_error_set (err, CPB_ERR_FAILED, "the helper's report is larger than %u bytes",
                          CPB_HELPER_REPORT_MAX);
  cpb_buf_append (b, data, len);
  return 0;
}

/* The helper's report from the end of the task's stderr (--report-stderr), cut off there so
   the kept log is what the task wrote; NULL when it is not there (a helper that died, a log
   cut short), and the caller reads the report file instead. */
static char *
report_from_stderr (cpb_buf *log)
{
  static const char marker[] = "\n" CPB_HELPER_REPORT_MARKER;
  const size_t mlen = sizeof marker - 1;
  const char *found = NULL, *at = log->data;
  size_t start, len;

  if (log->data == NULL)
    return NULL;
  while ((at = memmem (at, log->len - (size_t)(at - log->data), marker, mlen)) != NULL)
    found = at++;
  if (found == NULL)
    return NULL;
  start = (size_t)(found - log->data) + mlen;
  len = log->len - start;
  if (len == 0 || len > CPB_HELPER_REPORT_MAX)
    return NULL;
  log->len = (size_t)(found - log->data);
  log->data[log->len] = '\0';
  return cpb_xstrndup (log->data + log->len + mlen, len);
}

/* The last non-blank line of LOG, at most 200 bytes, control characters made '?': printed
   beside a task's failure so the user sees why without asking cpb logs; NULL if none. */
static char *
last_line (const cpb_buf *log)
{
  size_t end = log->len, start;
  char *line;

  while (end > 0 && (log->data[end - 1] == '\n' || log->data[end - 1] == '\r' ||
                     log->data[end - 1] == ' ' || log->data[end - 1] == '\t'))
    end--;
  if (end == 0)
    return NULL;
  start = end;
  while (start > 0 && log->data[start - 1] != '\n')
    start--;
  if (end - start > 200)
    end = start + 200;
  line = cpb_xstrndup (log->data + start, end - start);
  for (char *c = line; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = '?';
  return line;
}

/* The helper's report, read out of the exited container (a tar of one file).  The tar comes
   from inside the container: it is parsed in the sandbox child, never here. */
static char *
read_report (cpb_podman *p, const char *id)
{
  _cleanup_buf_ cpb_buf tar = CPB_BUF_INIT;
  _cleanup_error_ cpb_error *ignored = NULL;
  char *report = NULL;
  size_t len = 0;

  if (cpb_podman_archive_get (p, id, CPB_HELPER_REPORT_PATH, on_tar_bytes, &tar, &ignored) < 0 || tar.len == 0)
    return NULL;
  if (cpb_store_read_single (tar.data, tar.len, CPB_HELPER_REPORT_MAX, &report, &len, &ignored) < 0)
    return NULL;
  if (len == 0)
    {
      free (report);
      return NULL;
    }
  return report;
}

/* What the helper measured, as the manifest carries it. */
static void
report_to_manifest (const char *report, struct cpb_task_manifest *m)
{
  _cleanup_yajl_val_ yajl_val v = NULL;
  int64_t i;

  if (report == NULL || cpb_json_parse (report, strlen (report), &v, NULL) < 0)
    return;
  m->has_helper = true;
  cpb_json_get_double (v, "wall_seconds", &m->wall_seconds);
  cpb_json_get_double (v, "user_seconds", &m->user_seconds);
  cpb_json_get_double (v, "system_seconds", &m->sys_seconds);
  if (cpb_json_get_int64 (v, "max_rss_kb", &i))
    m->max_rss_kib = i;
  if (cpb_json_get_int64 (v, "signal", &i))
    m->signal = (int)i;
  m->timed_out = cpb_json_get_bool (v, "timed_out", false);
}

/* Why an exit is a failure, in words for cpb status and the progress lines. */
static char *
failure_message (const struct cpb_task_manifest *m, const char *report, uint64_t memory,
                 uint64_t timeout)
{
  _cleanup_yajl_val_ yajl_val v = NULL;
  const char *helper_error = NULL;

  if (report && cpb_json_parse (report, strlen (report), &v, NULL) == 0)
    helper_error = cpb_json_get_string (v, "helper_error");
  if (m->timed_out || (m->exit_code == 124 && report == NULL && timeout))
    return cpb_xasprintf ("timed out after %llus", (unsigned long long)timeout);
  if (m->exit_code == 125 && helper_error)
    return cpb_xasprintf ("cpb-helper failed: %s", helper_error);
  if (m->exit_code == 127)
    return cpb_xstrdup ("command not found (exit 127)");
  /* Podman 4.3's OOMKilled stays false after a real OOM kill: infer it. */
  if (m->exit_code == 137 && memory)
    return cpb_xasprintf ("killed (exit 137), probably out of memory (limit %llu MiB)",
                          (unsigned long long)(memory >> 20));
  if (m->signal)
    return cpb_xasprintf ("killed by signal %d (exit %d)", m->signal, m->exit_code);
  return cpb_xasprintf ("exit %d", m->exit_code);
}

static int
on_output_bytes (void *userdata, const char *data, size_t len, cpb_error **err)
{
  return cpb_store_writer_feed (userdata, data, len, err);
}

/* Write the task's archive: declared outputs, logs, report, manifest. */
static int
write_archive (struct run *r, cpb_podman *p, const struct cpb_task *t, const char *id,
               struct cpb_task_manifest *m, struct logs *logs, const char *report, char **ret_path,
               cpb_error **err)
{
  _cleanup_store_writer_ cpb_store_writer *w = NULL;
  _cleanup_free_ char *path = NULL;
  _cleanup_error_ cpb_error *get_err = NULL;
  const char *workdir = t->settings->workdir ? t->settings->workdir : "/work";

  w = cpb_store_writer_new (r->o->archive_root, m, t->outputs, err);
  if (w == NULL)
    return -1;
  path = cpb_xasprintf ("%s/.", workdir);
  if (cpb_podman_archive_get (p, id, path, on_output_bytes, w, &get_err) < 0 &&
      get_err->kind != CPB_ERR_NOT_FOUND)
    {
      *err = TAKE_PTR (get_err);
      return cpb_error_prefix (err, "reading outputs");
    }
  if (cpb_store_writer_add_log (w, "stdout", logs->out.data ? logs->out.data : "", logs->out.len,
                                err) < 0 ||
      cpb_store_writer_add_log (w, "stderr", logs->err.data ? logs->err.data : "", logs->err.len,
                                err) < 0 ||
      (report && cpb_store_writer_add_log (w, "result.json", report, strlen (report), err) < 0))
    return -1;
  return cpb_store_writer_commit (w, ret_path, err);
}

/* The command as the manifest records it. */
static char **
manifest_command (const struct cpb_task *t)
{
  char **v = cpb_xcalloc (1, sizeof *v);
  size_t n = 0;

  if (t->argv)
    for (char **a = t->argv; *a; a++)
      strv_push (&v, &n, cpb_xstrdup (*a));
  else
    {
      strv_push (&v, &n, cpb_xstrdup ("/bin/sh"));
      strv_push (&v, &n, cpb_xstrdup ("-c"));
      strv_push (&v, &n, cpb_xstrdup (t->command ? t->command : "true"));
    }
  return v;
}

struct outcome
{
  enum cpb_task_state store_state;
  int exit_code;
  int attempt;
  time_t started;
  const char *image_id;
  const char *image_digest;
  char *archive_path;
  char *report;
  char *message;
  char *stderr_tail; /* a failed task's last line of stderr, for the user to see why */
};

/* Collect container ID of task T on P: logs, report, outputs into the store.  Never fails:
   what could not be kept is said in O->message.  Called from the workers. */
static void
collect_container (struct run *r, cpb_podman *p, const struct cpb_task *t, const char *id,
                   struct outcome *o)
{
  struct logs logs = { CPB_BUF_INIT, CPB_BUF_INIT, false };
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_strv_free_ char **command = manifest_command (t);
  _cleanup_free_ struct cpb_kv *params = cpb_xcalloc (t->n_params + 1, sizeof *params);
  struct cpb_task_manifest m = {
    .namespace = r->ns,
    .batch = r->batch,
    .task = t->name,
    .index = (long)t->index,
    .params = params,
    .n_params = t->n_params,
    .command = command,
    .image_id = (char *)o->image_id,
    .image_digest = (char *)o->image_digest,
    .node = r->node->name,
    .state = o->store_state,
    .exit_code = o->exit_code,
    .attempt = o->attempt,
    .started = o->started,
    .finished = time (NULL),
  };

  for (size_t i = 0; i < t->n_params; i++)
    params[i] = (struct cpb_kv){ (char *)t->params[i].name, t->params[i].value };
  if (cpb_podman_container_logs (p, id, CPB_LOGS_STDOUT | CPB_LOGS_STDERR, on_log, &logs, &err) < 0)
    cpb_error_free (cpb_error_take (&err));
  /* A log cut at the size limit may have lost the helper's report and kept a forged marker
     the task wrote earlier: then only the report file counts. */
  if (!logs.truncated)
    o->report = report_from_stderr (&logs.err);
  if (o->report == NULL)
    o->report = read_report (p, id);
  report_to_manifest (o->report, &m);
  if (o->store_state == CPB_TASK_FAILED && o->message == NULL)
    o->message = failure_message (&m, o->report, t->settings->memory, t->settings->timeout);
  if (o->store_state == CPB_TASK_FAILED)
    o->stderr_tail = last_line (&logs.err);
  if (write_archive (r, p, t, id, &m, &logs, o->report, &o->archive_path, &err) < 0)
    {
      char *msg = cpb_xasprintf ("%s%sarchive not written: %s", o->message ? o->message : "",
                                 o->message ? "; " : "", err->msg);
      free (o->message);
      o->message = msg;
      if (o->store_state == CPB_TASK_DONE)
        o->store_state = CPB_TASK_FAILED; /* outputs that were not kept are not a result */
    }
  cpb_buf_free (&logs.out);
  cpb_buf_free (&logs.err);
}

static void
outcome_clear (struct outcome *o)
{
  free (o->archive_path);
  free (o->report);
  free (o->message);
  free (o->stderr_tail);
}

/* ------------------------------------------------------------------ task outcomes */

static void
note_failed (struct run *r, const char *name)
{
  if (r->n_failed_names < 5)
    cpb_buf_printf (&r->failed_names, "%s'%s'", r->n_failed_names ? ", " : "", name);
  else if (r->n_failed_names == 5)
    cpb_buf_puts (&r->failed_names, ", ...");
  r->n_failed_names++;
}

static void request_stop (struct run *r, struct rtask *rt, bool kill_now);
static void begin_stopping (struct run *r, const char *why);

/* Bring the scheduler in line with the database after a transition the database refused
   (another cpb held or cancelled the task meanwhile). */
static void
adopt_db_state (struct run *r, size_t i)
{
  struct cpb_state_task t = { 0 };

  if (cpb_state_task_get (r->st, r->ns, r->batch, r->tasks[i].name, &t, NULL) < 0)
    return;
  if (cpb_scheduler_state (r->sched, i) == CPB_TASK_RUNNING)
    cpb_scheduler_finish (r->sched, i, CPB_SCHED_CANCELLED, now_monotonic ());
  cpb_scheduler_set_state (r->sched, i,
                           t.state == CPB_TASK_RUNNING ? CPB_TASK_CANCELLED : t.state);
  cpb_state_task_clear (&t);
}

/* Record what became of attempt of task I (exit EXIT_CODE, or the failure MESSAGE of a
   launch), in the scheduler, the database and on the progress display. */
static void
record_outcome (struct run *r, size_t i, struct outcome *o, enum cpb_sched_outcome so)
{
  struct rtask *rt = &r->tasks[i];
  enum cpb_task_state next = cpb_scheduler_finish (r->sched, i, so, now_monotonic ());
  _cleanup_error_ cpb_error *err = NULL;
  int rc = cpb_state_task_finish (r->st, rt->db_id, next, o->exit_code, o->archive_path, o->report,
                                  o->message, &err);

  if (rc == 0)
    adopt_db_state (r, i);
  else if (rc < 0 && r->progress)
    cpb_progress_event (r->progress, "%s: %s", rt->name, err->msg);
  if (next == CPB_TASK_QUEUED && r->progress)
    cpb_progress_event (r->progress, "%s failed (%s), retrying (attempt %d)", rt->name,
                        o->message ? o->message : "?", cpb_scheduler_attempts (r->sched, i) + 1);
  if (next == CPB_TASK_FAILED)
    {
      if (r->progress)
        cpb_progress_event (r->progress, "%s failed: %s%s%s", rt->name,
                            o->message ? o->message : "?", o->stderr_tail ? "; stderr: " : "",
                            o->stderr_tail ? o->stderr_tail : "");
      note_failed (r, rt->name);
      if (r->o->fail_fast)
        begin_stopping (r, "--fail-fast");
    }
}

/* ------------------------------------------------------------------ the workers */

enum job_kind
{
  JOB_LAUNCH = 1,
  JOB_COLLECT = 2,
};

/* Work handed to a worker: everything it needs is in the job (made in the loop's thread,
   which alone touches the database and the scheduler); the result comes back in it. */
struct job
{
  enum job_kind kind;
  size_t task;
  struct cpb_task *t;
  int attempt;
  struct upstream *up;
  size_t n_up;
  char *container_id; /* launch: the result; collect: the container */
  struct outcome o;   /* collect: the result */
  cpb_error *err;     /* launch: why it failed */
  char **warnings;    /* launch: Podman's warnings on create */
  struct job *next;
};

static void
job_free (struct job *j)
{
  cpb_task_free (j->t);
  upstream_free (j->up, j->n_up);
  free (j->container_id);
  outcome_clear (&j->o);
  cpb_error_free (j->err);
  cpb_strv_free (j->warnings);
  free (j);
}

static void wake_loop (int fd);

static void
do_launch (struct run *r, cpb_podman *p, struct job *j)
{
  const struct rtask *rt = &r->tasks[j->task];

  if (create_container (r, p, rt, j->t, j->attempt, &j->container_id, &j->warnings, &j->err) < 0)
    {
      cpb_error_prefix (&j->err, "task '%s': creating container", j->t->name);
      return;
    }
  if (upload_and_start (r, p, j->container_id, j->t, j->up, j->n_up, &j->err) < 0)
    {
      remove_container (p, j->container_id);
      free (TAKE_PTR (j->container_id));
      cpb_error_prefix (&j->err, "task '%s'", j->t->name);
    }
}

static void
do_collect (struct run *r, cpb_podman *p, struct job *j)
{
  collect_container (r, p, j->t, j->container_id, &j->o);
  remove_container (p, j->container_id);
}

struct worker_arg
{
  struct run *r;
  size_t n;
};

static void *
worker_main (void *arg)
{
  struct run *r = ((struct worker_arg *)arg)->r;
  cpb_podman *p = r->worker_conns[((struct worker_arg *)arg)->n];

  free (arg);
  for (;;)
    {
      struct job *j;

      pthread_mutex_lock (&r->lock);
      while (r->todo == NULL && !r->workers_quit)
        pthread_cond_wait (&r->todo_cond, &r->lock);
      j = r->todo;
      if (j == NULL)
        {
          pthread_mutex_unlock (&r->lock);
          return NULL;
        }
      r->todo = j->next;
      if (r->todo == NULL)
        r->todo_tail = NULL;
      pthread_mutex_unlock (&r->lock);
      if (j->kind == JOB_LAUNCH)
        do_launch (r, p, j);
      else
        do_collect (r, p, j);
      pthread_mutex_lock (&r->lock);
      j->next = r->done;
      r->done = j;
      pthread_mutex_unlock (&r->lock);
      wake_loop (r->wake[1]);
    }
}

/* Twice as many workers as tasks may run at once, so that collecting the tasks that ended
   never holds up launching the next ones (the service serialises much of the work anyway:
   a few connections are enough to keep it busy). */
static int
start_workers (struct run *r, cpb_error **err)
{
  size_t n = 2 * (r->o->max_jobs > 0 ? (size_t)r->o->max_jobs : (size_t)r->node->cpus);

  n = n > 8 ? 8 : n;
  r->workers = cpb_xcalloc (n, sizeof *r->workers);
  r->worker_conns = cpb_xcalloc (n, sizeof *r->worker_conns);
  for (size_t i = 0; i < n; i++)
    {
      struct worker_arg *a = cpb_xzalloc (sizeof *a);
      int e;

      if (cpb_podman_clone (r->node->podman, &r->worker_conns[i], err) < 0)
        {
          free (a);
          return cpb_error_prefix (err, "worker connection");
        }
      *a = (struct worker_arg){ r, i };
      e = pthread_create (&r->workers[i], NULL, worker_main, a);
      if (e != 0)
        {
          free (a);
          cpb_podman_free (TAKE_PTR (r->worker_conns[i]));
          return cpb_error_errno (err, e, "cannot start a worker thread");
        }
      r->n_workers++;
    }
  return 0;
}

/* Let the workers finish the job in hand, then free them and whatever was left undone. */
static void
stop_workers (struct run *r)
{
  pthread_mutex_lock (&r->lock);
  r->workers_quit = true;
  pthread_cond_broadcast (&r->todo_cond);
  pthread_mutex_unlock (&r->lock);
  for (size_t i = 0; i < r->n_workers; i++)
    pthread_join (r->workers[i], NULL);
  for (size_t i = 0; i < r->n_workers; i++)
    cpb_podman_free (r->worker_conns[i]);
  free (r->workers);
  free (r->worker_conns);
  r->workers = NULL;
  r->worker_conns = NULL;
  r->n_workers = 0;
  for (struct job *j = r->todo, *next; j; j = next)
    {
      next = j->next;
      job_free (j);
    }
  for (struct job *j = r->done, *next; j; j = next)
    {
      next = j->next;
      job_free (j);
    }
  r->todo = r->todo_tail = r->done = NULL;
}

static void
submit (struct run *r, struct job *j)
{
  r->tasks[j->task].busy = j->kind;
  pthread_mutex_lock (&r->lock);
  if (r->todo_tail)
    r->todo_tail->next = j;
  else
    r->todo = j;
  r->todo_tail = j;
  pthread_cond_signal (&r->todo_cond);
  pthread_mutex_unlock (&r->lock);
}

/* Container of task I exited with EXIT_CODE: a worker collects it and removes it. */
static void
begin_collect (struct run *r, size_t i, int exit_code)
{
  struct rtask *rt = &r->tasks[i];
  struct job *j = cpb_xzalloc (sizeof *j);
  bool cancelled = rt->cancel_requested;

  j->kind = JOB_COLLECT;
  j->task = i;
  j->t = make_task (r, rt);
  j->container_id = cpb_xstrdup (rt->container_id);
  j->o = (struct outcome){ .exit_code = exit_code,
                           .attempt = cpb_scheduler_attempts (r->sched, i),
                           .started = rt->started_wall,
                           .image_id = rt->image->id,
                           .image_digest = rt->image->digest };
  j->o.store_state = cancelled        ? CPB_TASK_CANCELLED
                     : exit_code == 0 ? CPB_TASK_DONE
                                      : CPB_TASK_FAILED;
  if (cancelled)
    j->o.message = cpb_xstrdup (interrupted ? "interrupted" : "cancelled");
  /* The container no longer uses the node: the next task may start while this one's
     outputs are collected. */
  cpb_scheduler_release (r->sched, i);
  submit (r, j);
}

static void
finish_collect (struct run *r, struct job *j)
{
  struct rtask *rt = &r->tasks[j->task];
  enum cpb_sched_outcome so = rt->cancel_requested                ? CPB_SCHED_CANCELLED
                              : j->o.store_state == CPB_TASK_DONE ? CPB_SCHED_OK
                                                                  : CPB_SCHED_FAILED;

  free (TAKE_PTR (rt->container_id));
  record_outcome (r, j->task, &j->o, so);
}

/* Show each of Podman's create WARNINGS once per run: on rootless cgroups v1 Podman 4.3
   creates the container but ignores its memory and cpu limits, and a user who asked for
   limits must learn they are not enforced. */
static void
say_warnings (struct run *r, char **warnings)
{
  for (char **w = warnings; w && *w; w++)
    {
      _cleanup_free_ char *line = cpb_xasprintf ("%s\n", *w);

      if (r->warned.data && strstr (r->warned.data, line))
        continue;
      cpb_buf_puts (&r->warned, line);
      if (r->progress)
        cpb_progress_event (r->progress, "podman: %s", *w);
    }
}

/* The launch of task J->task came back: running, or failed (the container gone again). */
static int
finish_launch (struct run *r, struct job *j, cpb_error **err)
{
  struct rtask *rt = &r->tasks[j->task];
  struct outcome o = { .exit_code = -1 };
  _cleanup_error_ cpb_error *serr = NULL;

  say_warnings (r, j->warnings);
  if (j->err == NULL &&
      cpb_state_task_set_container (r->st, rt->db_id, j->container_id, &serr) == 0)
    {
      rt->container_id = TAKE_PTR (j->container_id);
      rt->started = now_monotonic ();
      rt->started_wall = time (NULL);
      rt->stop_phase = 0;
      if (rt->cancel_requested)
        request_stop (r, rt, false);
      return 0;
    }
  if (j->container_id)
    remove_container (r->node->podman, j->container_id);
  o.message = cpb_xstrdup (j->err ? j->err->msg : serr->msg);
  if (j->err && j->err->kind == CPB_ERR_CONNECT)
    {
      record_outcome (r, j->task, &o, CPB_SCHED_CANCELLED);
      outcome_clear (&o);
      *err = TAKE_PTR (j->err);
      return -1;
    }
  record_outcome (r, j->task, &o, rt->cancel_requested ? CPB_SCHED_CANCELLED : CPB_SCHED_FAILED);
  outcome_clear (&o);
  return 0;
}

/* Everything the workers finished since the last round. */
static int
process_done (struct run *r, cpb_error **err)
{
  struct job *done;
  int rc = 0;

  pthread_mutex_lock (&r->lock);
  done = r->done;
  r->done = NULL;
  pthread_mutex_unlock (&r->lock);
  while (done)
    {
      struct job *j = done;

      done = j->next;
      r->tasks[j->task].busy = 0;
      if (j->kind == JOB_COLLECT)
        finish_collect (r, j);
      else if (rc == 0 && finish_launch (r, j, err) < 0)
        rc = -1;
      job_free (j);
    }
  return rc;
}

/* ------------------------------------------------------------------ the events thread */

static void
wake_loop (int fd)
{
  char c = 1;
  ssize_t n = write (fd, &c, 1); /* a full pipe already wakes the loop */

  (void)n;
}

static void
push_died (struct run *r, const char *id, int exit_code)
{
  pthread_mutex_lock (&r->lock);
  r->died = cpb_xrealloc (r->died, (r->n_died + 1) * sizeof *r->died);
  r->died[r->n_died++] = (struct died){ cpb_xstrdup (id), exit_code };
  pthread_mutex_unlock (&r->lock);
  wake_loop (r->wake[1]);
}

static int
on_event (void *userdata, const struct cpb_podman_event *ev, cpb_error **err)
{
  if (ev->id && ev->action && strcmp (ev->action, "died") == 0)
    push_died (userdata, ev->id, ev->exit_code);
  return 0;
}

static void *
events_main (void *arg)
{
  struct run *r = arg;
  /* By batch, not by run: containers adopted from a killed run carry its run id.  Only one
     cpb runs a batch at a time, and exits of unknown containers are ignored. */
  _cleanup_free_ char *label = cpb_xasprintf ("io.cpb.batch=%s", r->batch);
  /* Events since the run began: an exit between start and the stream's first byte is
     replayed instead of lost. */
  _cleanup_free_ char *since = cpb_xasprintf ("%lld", (long long)r->since);
  const char *types[] = { "container", NULL }, *events[] = { "died", NULL };
  const char *labels[] = { label, NULL };
  struct cpb_podman_event_filter f = {
    .types = types, .events = events, .labels = labels, .since = since
  };
  _cleanup_error_ cpb_error *err = NULL;

  cpb_podman_events (r->events_conn, &f, on_event, r, &err);
  pthread_mutex_lock (&r->lock);
  r->events_ended = true;
  if (err && err->kind != CPB_ERR_CANCELLED)
    r->events_error = cpb_xstrdup (err->msg);
  pthread_mutex_unlock (&r->lock);
  wake_loop (r->wake[1]);
  return NULL;
}

static int
start_events (struct run *r, cpb_error **err)
{
  int e;

  if (cpb_podman_clone (r->node->podman, &r->events_conn, err) < 0)
    return cpb_error_prefix (err, "events stream");
  e = pthread_create (&r->events_thread, NULL, events_main, r);
  if (e != 0)
    return cpb_error_errno (err, e, "cannot start the events thread");
  r->events_started = true;
  return 0;
}

static void
stop_events (struct run *r)
{
  if (r->events_started)
    {
      cpb_podman_cancel (r->events_conn);
      pthread_join (r->events_thread, NULL);
      r->events_started = false;
    }
  cpb_podman_free (TAKE_PTR (r->events_conn));
}

/* The task whose running container is ID (not already being collected). */
static ssize_t
find_running (struct run *r, const char *id)
{
  for (size_t i = 0; i < r->n_tasks; i++)
    if (r->tasks[i].container_id && r->tasks[i].busy == 0 &&
        strcmp (r->tasks[i].container_id, id) == 0)
      return (ssize_t)i;
  return -1;
}

static bool
any_launching (struct run *r)
{
  for (size_t i = 0; i < r->n_tasks; i++)
    if (r->tasks[i].busy == JOB_LAUNCH)
      return true;
  return false;
}

/* An exit can be reported before the loop hears that the launch succeeded: such events wait
   in PENDING until no launch is outstanding. */
static void
handle_died (struct run *r, struct died *d, bool *keep)
{
  ssize_t i = find_running (r, d->id);

  *keep = false;
  if (i >= 0)
    begin_collect (r, (size_t)i, d->exit_code);
  else if (any_launching (r))
    *keep = true;
}

static void
process_died (struct run *r)
{
  struct died *v;
  size_t n, kept = 0;

  pthread_mutex_lock (&r->lock);
  v = r->died;
  n = r->n_died;
  r->died = NULL;
  r->n_died = 0;
  pthread_mutex_unlock (&r->lock);
  v = cpb_xrealloc (v, (n + r->n_pending + 1) * sizeof *v);
  if (r->n_pending)
    memcpy (v + n, r->pending, r->n_pending * sizeof *v);
  n += r->n_pending;
  free (r->pending);
  r->pending = NULL;
  r->n_pending = 0;
  for (size_t k = 0; k < n; k++)
    {
      bool keep;

      handle_died (r, &v[k], &keep);
      if (keep)
        v[kept++] = v[k];
      else
        free (v[k].id);
    }
  r->pending = kept ? v : NULL;
  r->n_pending = kept;
  if (!kept)
    free (v);
}

/* The containers on NODE labelled with BATCH, in any state: adoption, the exit backstop and
   every clean-up start from this list.  Podman filters by one label; callers that care check
   the namespace with in_namespace(). */
static int
list_batch_containers (struct cpb_node *node, const char *batch,
                       struct cpb_podman_container_list **ret, cpb_error **err)
{
  _cleanup_free_ char *label = cpb_xasprintf ("io.cpb.batch=%s", batch);

  return cpb_podman_container_list (node->podman, label, ret, err);
}

static bool
in_namespace (const struct cpb_podman_container *c, const char *namespace)
{
  const char *ns = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.namespace");

  return ns && strcmp (ns, namespace) == 0;
}

/* The backstop for a lost event: the run's containers (its own and adopted ones, all
   labelled with the batch) that have exited. */
static void
backstop (struct run *r)
{
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  if (list_batch_containers (r->node, r->batch, &l, &err) < 0)
    return;
  for (size_t k = 0; k < l->n; k++)
    {
      const struct cpb_podman_container *c = &l->containers[k];
      ssize_t i = find_running (r, c->id);

      if (i >= 0 && c->status &&
          (strcmp (c->status, "exited") == 0 || strcmp (c->status, "stopped") == 0))
        begin_collect (r, (size_t)i, c->exit_code);
    }
}

/* ------------------------------------------------------------------ stopping */

/* SIGTERM to the helper (it forwards it to the task), SIGKILL a grace period later
   (check_stops), or SIGKILL at once. */
static void
request_stop (struct run *r, struct rtask *rt, bool kill_now)
{
  _cleanup_error_ cpb_error *ignored = NULL;

  if (rt->container_id == NULL || rt->stop_phase >= (kill_now ? 2 : 1))
    return;
  cpb_podman_container_kill (r->node->podman, rt->container_id, kill_now ? SIGKILL : SIGTERM,
                             &ignored);
  if (rt->stop_phase == 0)
    rt->stop_at = now_monotonic ();
  rt->stop_phase = kill_now ? 2 : 1;
}

static void
begin_stopping (struct run *r, const char *why)
{
  size_t counts[CPB_TASK_N];

  cpb_scheduler_counts (r->sched, counts);
  cpb_scheduler_cancel_queued (r->sched);
  if (counts[CPB_TASK_QUEUED] > 0)
    {
      size_t changed = 0;
      _cleanup_error_ cpb_error *err = NULL;

      cpb_state_tasks_move (r->st, r->ns, r->batch, NULL, 1u << CPB_TASK_QUEUED,
                            CPB_TASK_CANCELLED, why, &changed, &err);
    }
  for (size_t i = 0; i < r->n_tasks; i++)
    if ((r->tasks[i].container_id || r->tasks[i].busy == JOB_LAUNCH) &&
        !r->tasks[i].cancel_requested)
      {
        r->tasks[i].cancel_requested = true;
        request_stop (r, &r->tasks[i], false);
      }
  r->stopping = true;
}

/* Timeouts the helper should have enforced, and stops that need escalating. */
static void
check_stops (struct run *r, double now)
{
  double grace = r->o->grace > 0 ? r->o->grace : 5;

  for (size_t i = 0; i < r->n_tasks; i++)
    {
      struct rtask *rt = &r->tasks[i];

      if (rt->container_id == NULL)
        continue;
      if (rt->stop_phase == 1 && now - rt->stop_at > grace + 5)
        request_stop (r, rt, true);
      else if (rt->stop_phase == 0 && rt->timeout &&
               now - rt->started > (double)rt->timeout + grace + TIMEOUT_SLACK)
        {
          if (r->progress)
            cpb_progress_event (r->progress, "%s: still running %.0fs after its timeout, killing",
                                rt->name, now - rt->started - (double)rt->timeout);
          request_stop (r, rt, true);
        }
    }
}

/* ------------------------------------------------------------------ other cpb processes */

static ssize_t
task_by_db_id (struct run *r, int64_t id)
{
  for (size_t i = 0; i < r->n_tasks; i++)
    if (r->tasks[i].db_id == id)
      return (ssize_t)i;
  return -1;
}

/* Apply holds, releases and cancels that cpb hold/release/cancel wrote to the database. */
static void
sync_from_db (struct run *r)
{
  struct cpb_state_task *v = NULL;
  size_t n = 0;

  if (cpb_state_tasks_list (r->st, r->ns, r->batch, &v, &n, NULL) < 0)
    return;
  for (size_t k = 0; k < n; k++)
    {
      ssize_t i = task_by_db_id (r, v[k].id);
      enum cpb_task_state cur;

      if (i < 0)
        continue;
      cur = cpb_scheduler_state (r->sched, (size_t)i);
      if (cur == CPB_TASK_RUNNING && v[k].state == CPB_TASK_CANCELLED)
        {
          r->tasks[i].cancel_requested = true;
          request_stop (r, &r->tasks[i], false);
        }
      else if ((cur == CPB_TASK_QUEUED || cur == CPB_TASK_HELD) &&
               (v[k].state == CPB_TASK_QUEUED || v[k].state == CPB_TASK_HELD ||
                v[k].state == CPB_TASK_CANCELLED))
        cpb_scheduler_set_state (r->sched, (size_t)i, v[k].state);
    }
  cpb_state_task_free_array (v, n);
}

static void
cancel_blocked (struct run *r)
{
  size_t i;
  const char *group;

  while (cpb_scheduler_take_blocked (r->sched, &i, &group) == 1)
    {
      _cleanup_free_ char *msg = cpb_xasprintf ("not run: group '%s' failed", group);

      cpb_state_task_set (r->st, r->tasks[i].db_id, CPB_TASK_CANCELLED, msg, NULL);
    }
}

/* Hand what the scheduler lets start now to the workers, each marked RUNNING first (unless
   another cpb held or cancelled it meanwhile). */
static int
start_ready (struct run *r, double now, double *ret_wake, cpb_error **err)
{
  size_t i;

  while (!r->stopping && cpb_scheduler_next (r->sched, now, &i, ret_wake) == 1)
    {
      struct rtask *rt = &r->tasks[i];
      int attempt = cpb_scheduler_attempts (r->sched, i);
      struct job *j;
      int rc =
          cpb_state_task_start (r->st, rt->db_id, r->run_id, attempt, r->node->name, NULL, err);

      if (rc < 0)
        return -1;
      if (rc == 0)
        {
          adopt_db_state (r, i);
          continue;
        }
      j = cpb_xzalloc (sizeof *j);
      j->kind = JOB_LAUNCH;
      j->task = i;
      j->attempt = attempt;
      j->t = make_task (r, rt);
      j->up = upstream_of (r, j->t, &j->n_up);
      rt->cancel_requested = false;
      submit (r, j);
    }
  return 0;
}

/* ------------------------------------------------------------------ a killed run's leftovers */

static ssize_t
task_by_name (struct run *r, const char *name)
{
  size_t i;

  if (r->spec->initialize && strcmp (name, INIT_GROUP) == 0)
    return 0;
  i = cpb_jobs_plan_find (r->plan, name);
  if (i == (size_t)-1)
    return -1;
  return (ssize_t)(i + (r->spec->initialize ? 1 : 0));
}

/* An exited container whose task the database still shows RUNNING in it: its result is
   as good as if the killed cpb had collected it. */
static bool
adopt_container (struct run *r, const struct cpb_podman_container *c)
{
  const char *name = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.task");
  struct cpb_state_task st = { 0 };
  ssize_t i;
  bool adopted = false;

  if (name == NULL || (i = task_by_name (r, name)) < 0 ||
      cpb_state_task_get (r->st, r->ns, r->batch, name, &st, NULL) < 0)
    return false;
  if (st.state == CPB_TASK_RUNNING && st.container_id && strcmp (st.container_id, c->id) == 0 &&
      c->status && (strcmp (c->status, "exited") == 0 || strcmp (c->status, "stopped") == 0))
    {
      _cleanup_task_ struct cpb_task *t = make_task (r, &r->tasks[i]);
      _cleanup_podman_image_ struct cpb_podman_image *pi = NULL;
      struct outcome o;
      enum cpb_task_state next;

      /* Images are resolved after adoption: ask for this one's digest (rare, one call). */
      if (c->image_id && cpb_podman_image_inspect (r->node->podman, c->image_id, &pi, NULL) < 0)
        pi = NULL;
      o = (struct outcome){ .exit_code = c->exit_code,
                            .attempt = st.attempts,
                            .started = c->started_at,
                            .image_id = c->image_id,
                            .image_digest = pi ? pi->digest : NULL,
                            .store_state = c->exit_code == 0 ? CPB_TASK_DONE : CPB_TASK_FAILED };

      collect_container (r, r->node->podman, t, c->id, &o);
      next = o.store_state;
      adopted = cpb_state_task_finish (r->st, st.id, next, o.exit_code, o.archive_path, o.report,
                                       o.message, NULL) > 0;
      outcome_clear (&o);
    }
  cpb_state_task_clear (&st);
  return adopted;
}

/* A running container whose task the database shows RUNNING in it: the new run takes it
   over (planning checks that the task's key is unchanged) instead of starting it again. */
static bool
keep_running (struct run *r, const struct cpb_podman_container *c)
{
  const char *name = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.task");
  struct cpb_state_task st = { 0 };
  bool keep = false;

  if (name == NULL || c->status == NULL || strcmp (c->status, "running") != 0 ||
      cpb_state_task_get (r->st, r->ns, r->batch, name, &st, NULL) < 0)
    return false;
  if (st.state == CPB_TASK_RUNNING && st.container_id && strcmp (st.container_id, c->id) == 0)
    {
      r->kept = cpb_xrealloc (r->kept, (r->n_kept + 1) * sizeof *r->kept);
      r->kept[r->n_kept++] = (struct kept){ cpb_xstrdup (c->id), (time_t)c->started_at };
      keep = true;
    }
  cpb_state_task_clear (&st);
  return keep;
}

/* Refuse to run a batch another live cpb is running; collect or remove what a killed one
   left (anything labelled with this batch: no run of ours has started yet). */
static int
adopt_leftovers (struct run *r, struct cpb_run_result *ret, cpb_error **err)
{
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  int64_t pid = 0;

  if (cpb_state_run_live (r->st, r->ns, r->batch, &pid, err) < 0)
    return -1;
  if (pid)
    return cpb_error_set (err, CPB_ERR_INPUT, "batch '%s' is being run by cpb (pid %lld)", r->batch,
                          (long long)pid);
  if (list_batch_containers (r->node, r->batch, &l, err) < 0)
    return cpb_error_prefix (err, "listing containers of batch '%s'", r->batch);
  for (size_t k = 0; k < l->n; k++)
    {
      const struct cpb_podman_container *c = &l->containers[k];

      if (!in_namespace (c, r->ns))
        continue;
      if (keep_running (r, c))
        continue; /* counted once planning knows whether its key still holds */
      if (adopt_container (r, c))
        ret->adopted++;
      else
        ret->removed++;
      remove_container (r->node->podman, c->id);
    }
  return 0;
}

/* Remove every container of this run that is still there, whatever happened: those of the
   batch in this namespace (adopted ones carry the killed run's id; no other cpb runs the
   batch meanwhile). */
static void
remove_run_containers (struct run *r)
{
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  if (list_batch_containers (r->node, r->batch, &l, &err) < 0)
    return;
  for (size_t k = 0; k < l->n; k++)
    {
      const struct cpb_podman_container *c = &l->containers[k];

      if (in_namespace (c, r->ns))
        remove_container (r->node->podman, c->id);
    }
}

/* Kept containers no task took over (its key changed, or it left the spec) go, and are
   counted as removed; the ones taken over as adopted. */
static void
drop_unadopted (struct run *r, struct cpb_run_result *ret)
{
  for (size_t k = 0; k < r->n_kept; k++)
    if (r->kept[k].id)
      {
        remove_container (r->node->podman, r->kept[k].id);
        ret->removed++;
      }
    else
      ret->adopted++;
}

/* ------------------------------------------------------------------ the loop */

static void
on_signal (int sig)
{
  interrupted = 1;
  if (signal_wake_fd >= 0)
    wake_loop (signal_wake_fd);
}

static size_t
n_running (struct run *r)
{
  size_t n = 0;

  for (size_t i = 0; i < r->n_tasks; i++)
    n += r->tasks[i].container_id != NULL || r->tasks[i].busy != 0;
  return n;
}

static void
wait_for_wake (struct run *r, double now, double wake_at)
{
  struct pollfd pfd = { .fd = r->wake[0], .events = POLLIN };
  double timeout = 1.0;
  char drain[64];

  if (wake_at > now && wake_at - now < timeout)
    timeout = wake_at - now;
  if (poll (&pfd, 1, (int)(timeout * 1000) + 1) > 0)
    while (read (r->wake[0], drain, sizeof drain) > 0)
      ;
}

static void
show_progress (struct run *r, double now)
{
  size_t counts[CPB_TASK_N];

  if (r->progress == NULL)
    return;
  cpb_scheduler_counts (r->sched, counts);
  /* Tasks whose container exited and whose outputs are being collected no longer run. */
  for (size_t i = 0; i < r->n_tasks; i++)
    if (r->tasks[i].busy == JOB_COLLECT && counts[CPB_TASK_RUNNING] > 0)
      counts[CPB_TASK_RUNNING]--;
  cpb_progress_update (r->progress, counts, now);
}

static int
loop (struct run *r, cpb_error **err)
{
  double last_backstop = now_monotonic (), stop_began = 0;

  for (;;)
    {
      double now = now_monotonic (), wake_at = -1;
      bool events_ended;

      if (interrupted && !r->stopping)
        begin_stopping (r, "interrupted");
      if (r->stopping && stop_began == 0)
        stop_began = now;
      if (cpb_state_changed (r->st))
        sync_from_db (r);
      if (process_done (r, err) < 0)
        return -1;
      process_died (r);
      cancel_blocked (r);
      if (start_ready (r, now, &wake_at, err) < 0)
        return -1;
      check_stops (r, now);
      pthread_mutex_lock (&r->lock);
      events_ended = r->events_ended;
      pthread_mutex_unlock (&r->lock);
      if (now - last_backstop > (events_ended ? 2.0 : BACKSTOP_SECONDS))
        {
          backstop (r);
          last_backstop = now;
        }
      show_progress (r, now);
      if (n_running (r) == 0 && (cpb_scheduler_done (r->sched) || r->stopping))
        return 0;
      if (stop_began && now - stop_began > 120)
        return 0; /* containers that ignore SIGKILL: remove_run_containers forces them */
      wait_for_wake (r, now, wake_at);
    }
}

static int
setup_wake (struct run *r, struct sigaction *old_int, struct sigaction *old_term, cpb_error **err)
{
  struct sigaction sa = { .sa_handler = on_signal };

  if (pipe2 (r->wake, O_CLOEXEC | O_NONBLOCK) < 0)
    return cpb_error_errno (err, errno, "cannot create a pipe");
  interrupted = 0;
  signal_wake_fd = r->wake[1];
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, old_int);
  sigaction (SIGTERM, &sa, old_term);
  return 0;
}

static void
teardown_wake (struct run *r, const struct sigaction *old_int, const struct sigaction *old_term)
{
  sigaction (SIGINT, old_int, NULL);
  sigaction (SIGTERM, old_term, NULL);
  signal_wake_fd = -1;
  if (r->wake[0] >= 0)
    close (r->wake[0]);
  if (r->wake[1] >= 0)
    close (r->wake[1]);
}

/* The error a finished run ends with, if any. */
static int
run_verdict (struct run *r, struct cpb_run_result *ret, cpb_error **err)
{
  if (interrupted)
    {
      ret->interrupted = true;
      return cpb_error_set (err, CPB_ERR_CANCELLED, "interrupted: %zu done, %zu cancelled",
                            ret->counts[CPB_TASK_DONE], ret->counts[CPB_TASK_CANCELLED]);
    }
  if (ret->counts[CPB_TASK_FAILED] > 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%zu of %zu tasks failed: %s",
                          ret->counts[CPB_TASK_FAILED], r->n_tasks,
                          r->failed_names.data ? r->failed_names.data : "");
  if (ret->counts[CPB_TASK_CANCELLED] > 0)
    return cpb_error_set (err, CPB_ERR_FAILED, "%zu tasks cancelled",
                          ret->counts[CPB_TASK_CANCELLED]);
  return 0;
}

static int
run_body (struct run *r, struct cpb_run_result *ret, cpb_error **err)
{
  int rc;

  if (cpb_jobs_plan_new (r->spec, &r->plan, err) < 0)
    return -1;
  init_tasks (r);
  if (adopt_leftovers (r, ret, err) < 0)
    return -1;
  cpb_jobs_plan_free (TAKE_PTR (r->plan));
  free (TAKE_PTR (r->tasks));
  if (plan_tasks (r, true, err) < 0)
    {
      remove_run_containers (r); /* what was kept for adoption must not outlive a refusal */
      return -1;
    }
  drop_unadopted (r, ret);
  if (cpb_state_run_begin (r->st, r->ns, r->batch, NULL, &r->run_id, err) < 0)
    return -1;
  r->since = time (NULL) - 1;
  if (start_events (r, err) < 0 || start_workers (r, err) < 0)
    {
      stop_workers (r);
      stop_events (r);
      return -1;
    }
  rc = loop (r, err);
  stop_workers (r);
  stop_events (r);
  if (rc < 0)
    begin_stopping (r, "failed");
  remove_run_containers (r);
  return rc;
}

int
cpb_run (cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
         const struct cpb_run_options *o, cpb_progress *progress, struct cpb_run_result *ret,
         cpb_error **err)
{
  struct run r;
  struct sigaction old_int, old_term;
  int rc = -1;

  memset (ret, 0, sizeof *ret);
  if (run_init (&r, st, node, spec, o, err) < 0)
    goto out;
  r.progress = progress;
  pthread_mutex_init (&r.lock, NULL);
  pthread_cond_init (&r.todo_cond, NULL);
  if (setup_wake (&r, &old_int, &old_term, err) < 0)
    goto out_lock;
  rc = run_body (&r, ret, err);
  teardown_wake (&r, &old_int, &old_term);
  fill_result (&r, ret);
  if (r.run_id)
    cpb_state_run_end (st, r.run_id,
                       rc < 0        ? "failed"
                       : interrupted ? "interrupted"
                                     : "done",
                       NULL);
  if (rc == 0)
    rc = run_verdict (&r, ret, err);
out_lock:
  pthread_cond_destroy (&r.todo_cond);
  pthread_mutex_destroy (&r.lock);
out:
  run_free (&r);
  return rc;
}

int
cpb_run_remove_containers (struct cpb_node *node, const char *namespace, const char *batch,
                           const char *task, size_t *ret_n, cpb_error **err)
{
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  size_t n = 0;

  if (list_batch_containers (node, batch, &l, err) < 0)
    return -1;
  for (size_t k = 0; k < l->n; k++)
    {
      const struct cpb_podman_container *c = &l->containers[k];
      const char *t = cpb_podman_kv_get (c->labels, c->n_labels, "io.cpb.task");

      if (!in_namespace (c, namespace) || (task && (t == NULL || strcmp (t, task) != 0)))
        continue;
      if (cpb_podman_container_remove (node->podman, c->id, true, err) < 0)
        return cpb_error_prefix (err, "removing container of task '%s'", t ? t : "?");
      n++;
    }
  *ret_n = n;
  return 0;
}
