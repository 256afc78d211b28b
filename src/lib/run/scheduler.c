/* run/scheduler.c: readiness, order, fit and retries of tasks (see scheduler.h). */
#include "config.h"
#include "run/scheduler.h"
#include "xalloc.h"

#include <string.h>

struct group
{
  const char *name;
  size_t *after; /* indices of the groups this one waits for */
  size_t n_after;
  size_t n_tasks, n_done, n_failed;
};

struct counted
{
  char *name;
  int count, used;
};

struct task
{
  struct cpb_sched_task t;
  size_t group;
  double not_before; /* a retry waits for its backoff */
  bool released;     /* its resources were given back before it finished */
};

struct cpb_scheduler
{
  struct cpb_sched_config cfg;
  struct task *tasks;
  size_t n_tasks, cap_tasks;
  struct group *groups;
  size_t n_groups;
  struct counted *counted;
  size_t n_counted;
  size_t *order; /* task indices by priority, then insertion */
  bool order_dirty;
  size_t cursor; /* every task of order[] before it is neither QUEUED nor HELD */
  int running;
  double cpus_used;
  int64_t memory_used;
};

cpb_scheduler *
cpb_scheduler_new (const struct cpb_sched_config *cfg)
{
  cpb_scheduler *s = cpb_xzalloc (sizeof *s);

  s->cfg = *cfg;
  if (s->cfg.backoff_base <= 0)
    s->cfg.backoff_base = 1;
  if (s->cfg.backoff_max <= 0)
    s->cfg.backoff_max = 300;
  return s;
}

void
cpb_scheduler_free (cpb_scheduler *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n_groups; i++)
    free (s->groups[i].after);
  for (size_t i = 0; i < s->n_counted; i++)
    free (s->counted[i].name);
  free (s->groups);
  free (s->counted);
  free (s->tasks);
  free (s->order);
  free (s);
}

void
cpb_scheduler_add_counted (cpb_scheduler *s, const char *name, int count)
{
  s->counted = cpb_xrealloc (s->counted, (s->n_counted + 1) * sizeof *s->counted);
  s->counted[s->n_counted++] = (struct counted){ cpb_xstrdup (name), count, 0 };
}

static struct counted *
find_counted (cpb_scheduler *s, const char *name)
{
  for (size_t i = 0; i < s->n_counted; i++)
    if (strcmp (s->counted[i].name, name) == 0)
      return &s->counted[i];
  return NULL;
}

static size_t
group_index (cpb_scheduler *s, const char *name)
{
  if (name == NULL)
    name = "";
  for (size_t i = 0; i < s->n_groups; i++)
    if (strcmp (s->groups[i].name, name) == 0)
      return i;
  s->groups = cpb_xrealloc (s->groups, (s->n_groups + 1) * sizeof *s->groups);
  s->groups[s->n_groups] = (struct group){ .name = name };
  return s->n_groups++;
}

/* Keep the per-group tallies that readiness depends on in step with a state change. */
static void
set_state (cpb_scheduler *s, struct task *t, enum cpb_task_state st)
{
  struct group *g = &s->groups[t->group];

  if (t->t.state == CPB_TASK_DONE)
    g->n_done--;
  else if (t->t.state == CPB_TASK_FAILED || t->t.state == CPB_TASK_CANCELLED)
    g->n_failed--;
  t->t.state = st;
  if (st == CPB_TASK_DONE)
    g->n_done++;
  else if (st == CPB_TASK_FAILED || st == CPB_TASK_CANCELLED)
    g->n_failed++;
  if (st == CPB_TASK_QUEUED || st == CPB_TASK_HELD)
    s->cursor = 0;
}

size_t
cpb_scheduler_add_task (cpb_scheduler *s, const struct cpb_sched_task *t)
{
  struct task *nt;
  enum cpb_task_state st = t->state;

  if (s->n_tasks == s->cap_tasks)
    {
      s->cap_tasks = s->cap_tasks ? s->cap_tasks * 2 : 64;
      s->tasks = cpb_xrealloc (s->tasks, s->cap_tasks * sizeof *s->tasks);
    }
  nt = &s->tasks[s->n_tasks];
  *nt = (struct task){ .t = *t, .group = group_index (s, t->group) };
  nt->t.state = CPB_TASK_QUEUED;
  s->groups[nt->group].n_tasks++;
  set_state (s, nt, st == CPB_TASK_RUNNING ? CPB_TASK_QUEUED : st);
  s->order_dirty = true;
  return s->n_tasks++;
}

void
cpb_scheduler_add_dependency (cpb_scheduler *s, const char *group, const char *after)
{
  size_t a = group_index (s, after);
  struct group *g = &s->groups[group_index (s, group)];

  g->after = cpb_xrealloc (g->after, (g->n_after + 1) * sizeof *g->after);
  g->after[g->n_after++] = a;
}

/* Depth-first search for a cycle through group I; MARK is 0 new, 1 on the path, 2 done. */
static const char *
find_cycle (cpb_scheduler *s, size_t i, unsigned char *mark)
{
  const char *found = NULL;

  if (mark[i] == 1)
    return s->groups[i].name;
  if (mark[i] == 2)
    return NULL;
  mark[i] = 1;
  for (size_t k = 0; k < s->groups[i].n_after && !found; k++)
    found = find_cycle (s, s->groups[i].after[k], mark);
  mark[i] = 2;
  return found;
}

static int
check_groups (cpb_scheduler *s, cpb_error **err)
{
  _cleanup_free_ unsigned char *mark = cpb_xcalloc (s->n_groups ? s->n_groups : 1, 1);

  for (size_t i = 0; i < s->n_groups; i++)
    {
      const char *cycle;

      if (s->groups[i].n_tasks == 0)
        return cpb_error_set (err, CPB_ERR_INPUT, "group '%s' is waited for but has no tasks",
                              s->groups[i].name);
      cycle = find_cycle (s, i, mark);
      if (cycle)
        return cpb_error_set (err, CPB_ERR_INPUT, "group '%s' depends on itself", cycle);
    }
  return 0;
}

static int
check_fit (cpb_scheduler *s, size_t i, cpb_error **err)
{
  const struct cpb_sched_task *t = &s->tasks[i].t;

  if (s->cfg.cpus > 0 && t->cpus > s->cfg.cpus)
    return cpb_error_set (err, CPB_ERR_INPUT, "needs %g cpus, the largest node has %g", t->cpus,
                          s->cfg.cpus);
  if (s->cfg.memory > 0 && t->memory > s->cfg.memory)
    return cpb_error_set (err, CPB_ERR_INPUT,
                          "needs %lld MiB of memory, the largest node has %lld MiB",
                          (long long)(t->memory >> 20), (long long)(s->cfg.memory >> 20));
  for (size_t k = 0; k < t->n_uses; k++)
    {
      struct counted *c = find_counted (s, t->uses[k].name);

      if (c == NULL)
        return cpb_error_set (err, CPB_ERR_INPUT, "uses undeclared resource '%s'", t->uses[k].name);
      if (t->uses[k].amount > c->count)
        return cpb_error_set (err, CPB_ERR_INPUT, "needs %d of resource '%s', there are %d",
                              t->uses[k].amount, c->name, c->count);
    }
  return 0;
}

int
cpb_scheduler_check (cpb_scheduler *s, cpb_error **err)
{
  if (check_groups (s, err) < 0)
    return -1;
  for (size_t i = 0; i < s->n_tasks; i++)
    if (check_fit (s, i, err) < 0)
      return s->tasks[i].t.name ? cpb_error_prefix (err, "task '%s'", s->tasks[i].t.name)
                                : cpb_error_prefix (err, "task %zu (group '%s')", i,
                                                    s->groups[s->tasks[i].group].name);
  return 0;
}

static cpb_scheduler *sort_ctx;

static int
by_priority (const void *a, const void *b)
{
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  int px = sort_ctx->tasks[x].t.priority, py = sort_ctx->tasks[y].t.priority;

  if (px != py)
    return px > py ? -1 : 1;
  return x < y ? -1 : (x > y);
}

static void
sort_order (cpb_scheduler *s)
{
  s->order = cpb_xrealloc (s->order, (s->n_tasks ? s->n_tasks : 1) * sizeof *s->order);
  for (size_t i = 0; i < s->n_tasks; i++)
    s->order[i] = i;
  sort_ctx = s;
  qsort (s->order, s->n_tasks, sizeof *s->order, by_priority);
  sort_ctx = NULL;
  s->order_dirty = false;
  s->cursor = 0;
}

/* 1 if every group G waits for is DONE, 0 if not yet, -1 if one of them failed. */
static int
group_ready (cpb_scheduler *s, size_t g, size_t *ret_failed)
{
  int ready = 1;

  for (size_t k = 0; k < s->groups[g].n_after; k++)
    {
      struct group *a = &s->groups[s->groups[g].after[k]];

      if (a->n_failed > 0)
        {
          *ret_failed = s->groups[g].after[k];
          return -1;
        }
      if (a->n_done < a->n_tasks)
        ready = 0;
    }
  return ready;
}

static bool
fits (cpb_scheduler *s, const struct cpb_sched_task *t)
{
  double cpus = t->cpus > 0 ? t->cpus : 1;

  if (s->cfg.max_jobs > 0 && s->running >= s->cfg.max_jobs)
    return false;
  /* Something always runs on an idle node, so a task larger than the node cannot wait
     forever (cpb_scheduler_check refuses those anyway). */
  if (s->running > 0 && s->cfg.cpus > 0 && s->cpus_used + cpus > s->cfg.cpus + 1e-9)
    return false;
  if (s->running > 0 && s->cfg.memory > 0 && s->memory_used + t->memory > s->cfg.memory)
    return false;
  for (size_t k = 0; k < t->n_uses; k++)
    {
      struct counted *c = find_counted (s, t->uses[k].name);

      if (c && c->used + t->uses[k].amount > c->count)
        return false;
    }
  return true;
}

static void
reserve (cpb_scheduler *s, struct cpb_sched_task *t, int sign)
{
  s->running += sign;
  s->cpus_used += sign * (t->cpus > 0 ? t->cpus : 1);
  s->memory_used += sign * t->memory;
  for (size_t k = 0; k < t->n_uses; k++)
    {
      struct counted *c = find_counted (s, t->uses[k].name);

      if (c)
        c->used += sign * t->uses[k].amount;
    }
}

int
cpb_scheduler_next (cpb_scheduler *s, double now, size_t *ret_task, double *ret_wake)
{
  bool prefix = true;
  double wake = -1;

  if (s->order_dirty)
    sort_order (s);
  for (size_t p = s->cursor; p < s->n_tasks; p++)
    {
      struct task *t = &s->tasks[s->order[p]];
      size_t failed;

      if (t->t.state != CPB_TASK_QUEUED)
        {
          if (prefix && t->t.state != CPB_TASK_HELD)
            s->cursor = p + 1;
          continue;
        }
      prefix = false;
      if (t->not_before > now)
        {
          wake = wake < 0 || t->not_before < wake ? t->not_before : wake;
          continue;
        }
      if (group_ready (s, t->group, &failed) != 1 || !fits (s, &t->t))
        continue;
      reserve (s, &t->t, +1);
      t->released = false;
      t->t.attempts++;
      set_state (s, t, CPB_TASK_RUNNING);
      *ret_task = s->order[p];
      return 1;
    }
  *ret_wake = wake;
  return 0;
}

enum cpb_task_state
cpb_scheduler_finish (cpb_scheduler *s, size_t i, enum cpb_sched_outcome outcome, double now)
{
  struct task *t = &s->tasks[i];

  if (t->t.state != CPB_TASK_RUNNING)
    return t->t.state;
  if (!t->released)
    reserve (s, &t->t, -1);
  if (outcome == CPB_SCHED_OK)
    set_state (s, t, CPB_TASK_DONE);
  else if (outcome == CPB_SCHED_CANCELLED)
    set_state (s, t, CPB_TASK_CANCELLED);
  else if (t->t.attempts > t->t.retries)
    set_state (s, t, CPB_TASK_FAILED);
  else
    {
      double delay = s->cfg.backoff_base;

      for (int k = 1; k < t->t.attempts && delay < s->cfg.backoff_max; k++)
        delay *= 2;
      t->not_before = now + (delay < s->cfg.backoff_max ? delay : s->cfg.backoff_max);
      set_state (s, t, CPB_TASK_QUEUED);
    }
  return t->t.state;
}

void
cpb_scheduler_adopt (cpb_scheduler *s, size_t i, int attempts)
{
  struct task *t = &s->tasks[i];

  if (t->t.state == CPB_TASK_RUNNING)
    return;
  reserve (s, &t->t, +1);
  t->released = false;
  t->t.attempts = attempts;
  set_state (s, t, CPB_TASK_RUNNING);
}

void
cpb_scheduler_release (cpb_scheduler *s, size_t i)
{
  struct task *t = &s->tasks[i];

  if (t->t.state != CPB_TASK_RUNNING || t->released)
    return;
  reserve (s, &t->t, -1);
  t->released = true;
}

void
cpb_scheduler_set_state (cpb_scheduler *s, size_t i, enum cpb_task_state state)
{
  struct task *t = &s->tasks[i];

  if (t->t.state == CPB_TASK_RUNNING || t->t.state == state)
    return;
  set_state (s, t, state);
}

int
cpb_scheduler_take_blocked (cpb_scheduler *s, size_t *ret_task, const char **ret_group)
{
  for (size_t i = 0; i < s->n_tasks; i++)
    {
      struct task *t = &s->tasks[i];
      size_t failed;

      if ((t->t.state == CPB_TASK_QUEUED || t->t.state == CPB_TASK_HELD) &&
          group_ready (s, t->group, &failed) < 0)
        {
          set_state (s, t, CPB_TASK_CANCELLED);
          *ret_task = i;
          *ret_group = s->groups[failed].name;
          return 1;
        }
    }
  return 0;
}

void
cpb_scheduler_cancel_queued (cpb_scheduler *s)
{
  for (size_t i = 0; i < s->n_tasks; i++)
    if (s->tasks[i].t.state == CPB_TASK_QUEUED)
      set_state (s, &s->tasks[i], CPB_TASK_CANCELLED);
}

bool
cpb_scheduler_done (cpb_scheduler *s)
{
  size_t counts[CPB_TASK_N];

  cpb_scheduler_counts (s, counts);
  return counts[CPB_TASK_QUEUED] == 0 && counts[CPB_TASK_RUNNING] == 0;
}

enum cpb_task_state
cpb_scheduler_state (cpb_scheduler *s, size_t i)
{
  return s->tasks[i].t.state;
}

int
cpb_scheduler_attempts (cpb_scheduler *s, size_t i)
{
  return s->tasks[i].t.attempts;
}

void
cpb_scheduler_counts (cpb_scheduler *s, size_t counts[CPB_TASK_N])
{
  memset (counts, 0, CPB_TASK_N * sizeof counts[0]);
  for (size_t i = 0; i < s->n_tasks; i++)
    counts[s->tasks[i].t.state]++;
}
