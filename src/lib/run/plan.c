/* run/plan.c: a workload's tasks, their keys and images, and what a run does with each.
 *
 * A task's key is what decides its result: the image ID, the command, the environment, the
 * parameters, the inputs' contents, the outputs kept, the limits that change behaviour and
 * the keys of the steps it takes outputs from.  A task DONE with the same key is not run
 * again.  Planning a run writes every decision in one transaction, and refuses (rolling it
 * back) what can never run, so that a refused run leaves the database as it found it.
 */
#include "config.h"
#include "run/internal.h"
#include "engine/podman.h"
#include "json.h"
#include "paths.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

double
run_now (void)
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
static int
hash_entry (void *arg, const char *entry, const char *sub, cpb_error **err)
{
  cpb_sha256 *h = arg;

  hash_string (h, "entry", entry);
  return hash_path (h, sub, err);
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
      return cpb_dir_each (path, hash_entry, h, err);
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
  size_t i;

  if (cpb_map_get (r->digest_of, path, &i))
    {
      memcpy (hex, r->digests[i], CPB_SHA256_HEX_LEN + 1);
      return 0;
    }
  h = cpb_sha256_new ();
  if (hash_path (h, path, err) < 0)
    return -1;
  cpb_sha256_finish (TAKE_PTR (h), hex);
  r->digests = cpb_xrealloc (r->digests, (r->n_digests + 1) * sizeof *r->digests);
  memcpy (r->digests[r->n_digests], hex, CPB_SHA256_HEX_LEN + 1);
  cpb_map_put (r->digest_of, path, r->n_digests++);
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
task_key (struct run *r, const struct cpb_task *t, const struct cpb_image *img,
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

/* The image NAME resolved on the engine, once per run. */
static struct cpb_image *
find_image (struct run *r, const char *name, cpb_error **err)
{
  struct cpb_image img = { 0 };

  if (name == NULL)
    {
      cpb_error_set (err, CPB_ERR_INPUT, "no image: set `image` in defaults or the group");
      return NULL;
    }
  for (size_t i = 0; i < r->n_images; i++)
    if (strcmp (r->images[i]->name, name) == 0)
      return r->images[i];
  if (r->engine->ops->image_resolve (r->engine, name, &img, err) < 0)
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
check_requires (struct run *r, const struct cpb_task *t, const struct cpb_image *img,
                cpb_error **err)
{
  struct cpb_engine_info info;

  r->engine->ops->info (r->engine, &info);
  for (size_t i = 0; i < t->settings->n_requires; i++)
    {
      const char *cap = t->settings->requires[i];

      if (!strv_contains (img->capabilities, cap) && !strv_contains (info.capabilities, cap))
        return cpb_error_set (err, CPB_ERR_INPUT,
                              "task '%s' requires '%s', which neither node %s nor image '%s' "
                              "offers (io.cpb.capabilities)",
                              t->name, cap, info.name, img->name);
    }
  return 0;
}

/* ------------------------------------------------------------------ planning */

struct cpb_task *
run_make_task (struct run *r, const struct rtask *rt)
{
  if (rt->plan_index == NO_PLAN_INDEX)
    return cpb_jobs_initialize_task (r->spec);
  return cpb_jobs_plan_task (r->plan, rt->plan_index);
}

ssize_t
run_task_by_name (struct run *r, const char *name)
{
  size_t i;

  if (r->spec->initialize && strcmp (name, CPB_INIT_GROUP) == 0)
    return 0;
  i = cpb_jobs_plan_find (r->plan, name);
  if (i == (size_t)-1)
    return -1;
  return (ssize_t)(i + (r->spec->initialize ? 1 : 0));
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
resolve_task (struct run *r, struct rtask *rt, const struct cpb_task *t,
              struct cpb_sched_task *ret_sched, cpb_error **err)
{
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

/* The action for RT against the database: insert or requeue (RECORD), or just look. */
static int
plan_in_state (struct run *r, struct rtask *rt, const struct cpb_task *t, bool record,
               cpb_error **err)
{
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
  if (run_take_over (r, rt))
    return 0;
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
        cpb_scheduler_add_dependency (r->sched, grp->name, CPB_INIT_GROUP);
      for (size_t k = 0; k < grp->n_after; k++)
        cpb_scheduler_add_dependency (r->sched, grp->name, r->spec->groups[grp->after[k]].name);
    }
}

void
run_init_tasks (struct run *r)
{
  size_t n = cpb_jobs_plan_count (r->plan), offset = r->spec->initialize ? 1 : 0;

  r->n_tasks = n + offset;
  r->tasks = cpb_xcalloc (r->n_tasks ? r->n_tasks : 1, sizeof *r->tasks);
  if (offset)
    r->tasks[0] =
        (struct rtask){ .plan_index = NO_PLAN_INDEX, .name = CPB_INIT_GROUP, .group = CPB_INIT_GROUP };
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
   decisions to the database in one transaction (100,000 tasks in seconds, not minutes),
   committed only once the scheduler agrees that every task can run: a refusal rolls it
   back, so that no task of a run refused at planning is left QUEUED. */
int
run_plan (struct run *r, bool record, cpb_error **err)
{
  struct cpb_engine_info info;
  struct cpb_sched_config cfg;

  r->engine->ops->info (r->engine, &info);
  cfg = (struct cpb_sched_config){ .max_jobs = r->o->max_jobs,
                                   .cpus = info.cpus,
                                   .memory = (int64_t)info.memory,
                                   .backoff_base = r->o->backoff_base };
  if (cpb_jobs_plan_new (r->spec, &r->plan, err) < 0)
    return -1;
  run_init_tasks (r);
  r->sched = cpb_scheduler_new (&cfg);
  for (size_t k = 0; k < r->spec->n_limits; k++)
    cpb_scheduler_add_counted (r->sched, r->spec->limits[k].name, (int)r->spec->limits[k].count);
  if ((record ? cpb_state_begin (r->st, err) : cpb_state_begin_read (r->st, err)) < 0)
    return -1;
  for (size_t i = 0; i < r->n_tasks; i++)
    {
      struct cpb_sched_task sched;
      struct rtask *rt = &r->tasks[i];
      _cleanup_task_ struct cpb_task *t = run_make_task (r, rt);

      if (resolve_task (r, rt, t, &sched, err) < 0 || plan_in_state (r, rt, t, record, err) < 0)
        goto fail;
      sched.state = rt->action == CPB_PLAN_SKIP   ? CPB_TASK_DONE
                    : rt->action == CPB_PLAN_HELD ? CPB_TASK_HELD
                                                  : CPB_TASK_QUEUED;
      cpb_scheduler_add_task (r->sched, &sched);
      if (rt->adopted_attempts > 0)
        cpb_scheduler_adopt (r->sched, i, rt->adopted_attempts);
      if (record)
        cpb_map_put_int (r->by_db_id, rt->db_id, i);
    }
  add_groups (r);
  if (cpb_scheduler_check (r->sched, err) < 0)
    goto fail;
  if (cpb_state_commit (r->st, err) < 0)
    goto fail;
  return 0;

fail:
  cpb_state_rollback (r->st, NULL);
  return -1;
}

void
run_free (struct run *r)
{
  for (size_t i = 0; i < r->n_tasks; i++)
    {
      free (r->tasks[i].handle);
      free (r->tasks[i].uses);
    }
  free (r->tasks);
  for (size_t i = 0; i < r->n_images; i++)
    {
      cpb_image_clear (r->images[i]);
      free (r->images[i]);
    }
  free (r->images);
  cpb_map_free (r->digest_of);
  cpb_map_free (r->by_db_id);
  free (r->digests);
  for (size_t i = 0; i < r->n_kept; i++)
    free (r->kept[i].handle);
  free (r->kept);
  free (r->live);
  cpb_buf_free (&r->failed_names);
  cpb_scheduler_free (r->sched);
  cpb_jobs_plan_free (r->plan);
  free (r->run_id);
  free (r->ns);
  free (r->batch);
}

int
run_init (struct run *r, cpb_state *st, struct cpb_node *node, const cpb_jobs_spec *spec,
          const struct cpb_run_options *o, cpb_error **err)
{
  memset (r, 0, sizeof *r);
  r->o = o;
  r->st = st;
  r->node = node;
  r->spec = spec;
  r->wake[0] = r->wake[1] = -1;
  r->digest_of = cpb_map_new ();
  r->by_db_id = cpb_map_new ();
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

int
run_make_engine (struct run *r, const struct cpb_engine_sink *sink, size_t workers, cpb_error **err)
{
  struct cpb_engine_config cfg = { .run_id = r->run_id,
                                   .ns = r->ns,
                                   .batch = r->batch,
                                   .workers = workers,
                                   .since = time (NULL) - 1,
                                   .inspect_only = sink == NULL };

  if (r->o->engine_new)
    return r->o->engine_new (r->o->engine_ctx, &cfg, sink, &r->engine, err);
  return cpb_engine_podman_new (r->node, &cfg, sink, &r->engine, err);
}

void
run_fill_result (struct run *r, struct cpb_run_result *ret)
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

  if (run_init (&r, st, node, spec, o, err) < 0 || run_make_engine (&r, NULL, 0, err) < 0 ||
      run_plan (&r, false, err) < 0)
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
  run_fill_result (&r, ret);
  rc = 0;
out:
  cpb_engine_free (TAKE_PTR (r.engine));
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
