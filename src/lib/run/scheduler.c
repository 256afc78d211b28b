/* run/scheduler.c: readiness, order, fit and retries of tasks (see scheduler.h).
 *
 * Every event costs O(1) or O(log n) amortised in the number of tasks, so that a run of
 * 100,000 tasks spends its time in Podman, not here:
 *
 *   - tasks are kept in lanes, one per (group, resources): the tasks of a lane are all ready
 *     or none (readiness is per group) and all fit or none (fit depends only on the
 *     resources), so next() looks at one candidate per lane, the lane's first by priority,
 *     then order of addition.  A lane is its tasks sorted once, read by a cursor that only
 *     moves forward, plus a heap for the tasks that come back behind the cursor (a retry,
 *     a release);
 *   - a retry waiting for its backoff sits in one heap by the time it may start;
 *   - a group's readiness is cached until some group becomes entirely DONE, or no longer,
 *     or gets its first failure;
 *   - each group lists its QUEUED and HELD tasks, which take_blocked() pops;
 *   - the per-state counts are counters.
 *
 * cpb_scheduler_work() counts the elements each operation visits, so that the tests can
 * check the cost of a large run without timing anything.
 */
#include "config.h"
#include "run/scheduler.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

/* Where a QUEUED task waits to be picked; any other task is NOWHERE. */
enum where
{
  NOWHERE,
  IN_LANE,    /* in its lane's sorted tasks, at or after the cursor */
  IN_AGAIN,   /* in its lane's heap of tasks that came back behind the cursor */
  IN_BACKOFF, /* in the scheduler's heap of retries waiting for their backoff */
};

/* A binary heap of task indices; each task is in at most one heap, at tasks[i].heap_pos. */
struct heap
{
  size_t *v;
  size_t n, cap;
  bool by_time; /* ordered by not_before; otherwise by priority, then index */
};

struct group
{
  const char *name;
  size_t *after; /* indices of the groups this one waits for */
  size_t n_after;
  size_t n_tasks, n_done, n_failed;
  uint64_t ready_gen; /* ready and failed_after are valid while this equals s->gen */
  int ready;          /* 1 ready, 0 not yet, -1 a group it waits for failed */
  size_t failed_after;
  size_t wait_head, wait_tail; /* its QUEUED and HELD tasks, a doubly linked list */
  size_t lane_hint;            /* the lane its last added task went to */
};

struct lane
{
  size_t group;
  size_t shape; /* a task whose resources all the lane's tasks have */
  size_t *sorted;
  size_t n_sorted, cap_sorted;
  size_t cursor; /* no task of sorted[] before it is IN_LANE */
  struct heap again;
  size_t n_waiting; /* its tasks IN_LANE or IN_AGAIN */
};

struct counted
{
  char *name;
  int count, used;
};

struct task
{
  struct cpb_sched_task t;
  size_t group, lane;
  size_t rank; /* position in its lane's sorted[], or NONE if added after the first next() */
  enum where where;
  size_t heap_pos;
  size_t wait_prev, wait_next;
  double not_before; /* a retry waits for its backoff */
  bool retried;      /* not_before is set */
  bool released;     /* its resources were given back before it finished */
};

struct cpb_scheduler
{
  struct cpb_sched_config cfg;
  struct task *tasks;
  size_t n_tasks, cap_tasks;
  struct group *groups;
  size_t n_groups, last_group;
  struct lane *lanes;
  size_t n_lanes;
  struct counted *counted;
  size_t n_counted;
  struct heap backoff;
  bool sorted;  /* the lanes were sorted: tasks added from now on go to their lane's heap */
  uint64_t gen; /* changes whenever a group's readiness may have changed */
  uint64_t blocked_gen;
  size_t blocked_cursor; /* no group before it has a waiting task and a failed dependency */
  size_t counts[CPB_TASK_N];
  int running;
  double cpus_used;
  int64_t memory_used;
  uint64_t work;
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
  s->backoff.by_time = true;
  s->gen = 1;
  return s;
}

void
cpb_scheduler_free (cpb_scheduler *s)
{
  if (s == NULL)
    return;
  for (size_t i = 0; i < s->n_groups; i++)
    free (s->groups[i].after);
  for (size_t i = 0; i < s->n_lanes; i++)
    {
      free (s->lanes[i].sorted);
      free (s->lanes[i].again.v);
    }
  for (size_t i = 0; i < s->n_counted; i++)
    free (s->counted[i].name);
  free (s->groups);
  free (s->lanes);
  free (s->counted);
  free (s->tasks);
  free (s->backoff.v);
  free (s);
}

uint64_t
cpb_scheduler_work (cpb_scheduler *s)
{
  return s->work;
}

/* ------------------------------------------------------------------------------ heaps */

/* True if task X comes before task Y in heap H. */
static bool
heap_before (cpb_scheduler *s, const struct heap *h, size_t x, size_t y)
{
  const struct task *a = &s->tasks[x], *b = &s->tasks[y];

  s->work++;
  if (h->by_time && a->not_before != b->not_before)
    return a->not_before < b->not_before;
  if (!h->by_time && a->t.priority != b->t.priority)
    return a->t.priority > b->t.priority;
  return x < y;
}

static void
heap_set (cpb_scheduler *s, struct heap *h, size_t pos, size_t i)
{
  h->v[pos] = i;
  s->tasks[i].heap_pos = pos;
}

static void
heap_sift_up (cpb_scheduler *s, struct heap *h, size_t pos)
{
  size_t i = h->v[pos];

  while (pos > 0 && heap_before (s, h, i, h->v[(pos - 1) / 2]))
    {
      heap_set (s, h, pos, h->v[(pos - 1) / 2]);
      pos = (pos - 1) / 2;
    }
  heap_set (s, h, pos, i);
}

static void
heap_sift_down (cpb_scheduler *s, struct heap *h, size_t pos)
{
  size_t i = h->v[pos];

  for (;;)
    {
      size_t c = 2 * pos + 1;

      if (c >= h->n)
        break;
      if (c + 1 < h->n && heap_before (s, h, h->v[c + 1], h->v[c]))
        c++;
      if (!heap_before (s, h, h->v[c], i))
        break;
      heap_set (s, h, pos, h->v[c]);
      pos = c;
    }
  heap_set (s, h, pos, i);
}

static void
heap_push (cpb_scheduler *s, struct heap *h, size_t i)
{
  if (h->n == h->cap)
    {
      h->cap = h->cap ? h->cap * 2 : 16;
      h->v = cpb_xrealloc (h->v, h->cap * sizeof *h->v);
    }
  heap_set (s, h, h->n++, i);
  heap_sift_up (s, h, h->n - 1);
}

static void
heap_remove (cpb_scheduler *s, struct heap *h, size_t i)
{
  size_t pos = s->tasks[i].heap_pos, last = h->v[--h->n];

  if (pos == h->n)
    return;
  heap_set (s, h, pos, last);
  heap_sift_up (s, h, pos);
  heap_sift_down (s, h, s->tasks[last].heap_pos);
}

static size_t
heap_top (const struct heap *h)
{
  return h->n ? h->v[0] : NONE;
}

/* ------------------------------------------------------------------ groups and lanes */

static size_t
group_index (cpb_scheduler *s, const char *name)
{
  if (name == NULL)
    name = "";
  s->work++;
  if (s->last_group < s->n_groups && strcmp (s->groups[s->last_group].name, name) == 0)
    return s->last_group;
  for (size_t i = 0; i < s->n_groups; i++, s->work++)
    if (strcmp (s->groups[i].name, name) == 0)
      return s->last_group = i;
  s->groups = cpb_xrealloc (s->groups, (s->n_groups + 1) * sizeof *s->groups);
  s->groups[s->n_groups] =
      (struct group){ .name = name, .wait_head = NONE, .wait_tail = NONE, .lane_hint = NONE };
  s->gen++;
  return s->last_group = s->n_groups++;
}

static bool
same_resources (const struct cpb_sched_task *a, const struct cpb_sched_task *b)
{
  if (a->cpus != b->cpus || a->memory != b->memory || a->n_uses != b->n_uses)
    return false;
  for (size_t k = 0; k < a->n_uses; k++)
    if (a->uses[k].amount != b->uses[k].amount || strcmp (a->uses[k].name, b->uses[k].name) != 0)
      return false;
  return true;
}

static bool
lane_takes (cpb_scheduler *s, size_t l, size_t group, const struct cpb_sched_task *t)
{
  s->work++;
  return s->lanes[l].group == group && same_resources (&s->tasks[s->lanes[l].shape].t, t);
}

/* The lane of new task I: its group's last lane if the resources match, as they do for
   every task of a matrix; else any lane that matches, or a new one. */
static size_t
lane_of (cpb_scheduler *s, size_t i)
{
  struct task *t = &s->tasks[i];
  struct group *g = &s->groups[t->group];
  size_t l = g->lane_hint;

  if (l == NONE || !lane_takes (s, l, t->group, &t->t))
    {
      for (l = 0; l < s->n_lanes && !lane_takes (s, l, t->group, &t->t); l++)
        ;
      if (l == s->n_lanes)
        {
          s->lanes = cpb_xrealloc (s->lanes, (s->n_lanes + 1) * sizeof *s->lanes);
          s->lanes[s->n_lanes++] = (struct lane){ .group = t->group, .shape = i };
        }
      s->groups[t->group].lane_hint = l;
    }
  return l;
}

static void
lane_append (cpb_scheduler *s, struct lane *l, size_t i)
{
  if (l->n_sorted == l->cap_sorted)
    {
      l->cap_sorted = l->cap_sorted ? l->cap_sorted * 2 : 16;
      l->sorted = cpb_xrealloc (l->sorted, l->cap_sorted * sizeof *l->sorted);
    }
  s->tasks[i].rank = l->n_sorted;
  l->sorted[l->n_sorted++] = i;
}

static int
by_priority (const void *a, const void *b, void *ctx)
{
  cpb_scheduler *s = ctx;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  int px = s->tasks[x].t.priority, py = s->tasks[y].t.priority;

  s->work++;
  if (px != py)
    return px > py ? -1 : 1;
  return x < y ? -1 : (x > y);
}

/* Sort each lane by priority, then order of addition, once, before the first pick.  A lane
   of one priority is already in order: checking that costs one pass. */
static void
sort_lanes (cpb_scheduler *s)
{
  for (size_t k = 0; k < s->n_lanes; k++)
    {
      struct lane *l = &s->lanes[k];
      size_t p = 1;

      while (p < l->n_sorted && by_priority (&l->sorted[p - 1], &l->sorted[p], s) < 0)
        p++;
      if (p >= l->n_sorted)
        continue;
      qsort_r (l->sorted, l->n_sorted, sizeof *l->sorted, by_priority, s);
      for (size_t r = 0; r < l->n_sorted; r++, s->work++)
        s->tasks[l->sorted[r]].rank = r;
    }
  s->sorted = true;
}

/* The lane's first task by priority, then order, or NONE. */
static size_t
lane_first (cpb_scheduler *s, struct lane *l)
{
  size_t again = heap_top (&l->again);

  while (l->cursor < l->n_sorted && s->tasks[l->sorted[l->cursor]].where != IN_LANE)
    {
      l->cursor++;
      s->work++;
    }
  if (l->cursor == l->n_sorted)
    return again;
  if (again == NONE || heap_before (s, &l->again, l->sorted[l->cursor], again))
    return l->sorted[l->cursor];
  return again;
}

/* Task I may be picked now: back into its lane. */
static void
lane_enter (cpb_scheduler *s, size_t i)
{
  struct task *t = &s->tasks[i];
  struct lane *l = &s->lanes[t->lane];

  l->n_waiting++;
  if (!s->sorted || (t->rank != NONE && t->rank >= l->cursor))
    t->where = IN_LANE;
  else
    {
      t->where = IN_AGAIN;
      heap_push (s, &l->again, i);
    }
}

/* Task I became QUEUED: it waits for its backoff if it ever failed (a released task that
   was waiting for one still waits), otherwise it may be picked at once. */
static void
queue_enter (cpb_scheduler *s, size_t i)
{
  if (s->tasks[i].retried)
    {
      s->tasks[i].where = IN_BACKOFF;
      heap_push (s, &s->backoff, i);
    }
  else
    lane_enter (s, i);
}

static void
queue_leave (cpb_scheduler *s, size_t i)
{
  struct task *t = &s->tasks[i];

  if (t->where == IN_BACKOFF)
    heap_remove (s, &s->backoff, i);
  else if (t->where == IN_AGAIN)
    heap_remove (s, &s->lanes[t->lane].again, i);
  if (t->where == IN_LANE || t->where == IN_AGAIN)
    s->lanes[t->lane].n_waiting--;
  t->where = NOWHERE; /* one IN_LANE is left in sorted[], for lane_first to step over */
}

/* Retries whose backoff has ended by NOW go back to their lanes. */
static void
backoff_end (cpb_scheduler *s, double now)
{
  size_t i;

  while ((i = heap_top (&s->backoff)) != NONE && s->tasks[i].not_before <= now)
    {
      heap_remove (s, &s->backoff, i);
      lane_enter (s, i);
    }
}

/* ------------------------------------------------------------------ states and groups */

static void
wait_push (cpb_scheduler *s, size_t i)
{
  struct group *g = &s->groups[s->tasks[i].group];

  s->tasks[i].wait_prev = g->wait_tail;
  s->tasks[i].wait_next = NONE;
  if (g->wait_tail == NONE)
    g->wait_head = i;
  else
    s->tasks[g->wait_tail].wait_next = i;
  g->wait_tail = i;
  s->blocked_cursor = 0; /* its group may be blocked */
}

static void
wait_remove (cpb_scheduler *s, size_t i)
{
  struct task *t = &s->tasks[i];
  struct group *g = &s->groups[t->group];

  if (t->wait_prev == NONE)
    g->wait_head = t->wait_next;
  else
    s->tasks[t->wait_prev].wait_next = t->wait_next;
  if (t->wait_next == NONE)
    g->wait_tail = t->wait_prev;
  else
    s->tasks[t->wait_next].wait_prev = t->wait_prev;
}

static bool
waits (enum cpb_task_state st)
{
  return st == CPB_TASK_QUEUED || st == CPB_TASK_HELD;
}

static bool
failed (enum cpb_task_state st)
{
  return st == CPB_TASK_FAILED || st == CPB_TASK_CANCELLED;
}

/* What the groups waiting for G see of it: entirely DONE (bit 0), a failure (bit 1). */
static unsigned
group_flags (const struct group *g)
{
  return (g->n_done == g->n_tasks ? 1u : 0u) | (g->n_failed > 0 ? 2u : 0u);
}

static void
state_leave (cpb_scheduler *s, size_t i)
{
  struct task *t = &s->tasks[i];
  struct group *g = &s->groups[t->group];

  s->counts[t->t.state]--;
  if (t->t.state == CPB_TASK_DONE)
    g->n_done--;
  else if (failed (t->t.state))
    g->n_failed--;
  if (t->t.state == CPB_TASK_QUEUED)
    queue_leave (s, i);
  if (waits (t->t.state))
    wait_remove (s, i);
}

static void
state_enter (cpb_scheduler *s, size_t i, enum cpb_task_state st)
{
  struct task *t = &s->tasks[i];
  struct group *g = &s->groups[t->group];

  t->t.state = st;
  s->counts[st]++;
  if (st == CPB_TASK_DONE)
    g->n_done++;
  else if (failed (st))
    g->n_failed++;
  if (waits (st))
    wait_push (s, i);
  if (st == CPB_TASK_QUEUED)
    queue_enter (s, i);
}

/* Move task I to state ST, keeping the counters, the queues and the groups' readiness in
   step. */
static void
set_state (cpb_scheduler *s, size_t i, enum cpb_task_state st)
{
  struct group *g = &s->groups[s->tasks[i].group];
  unsigned before = group_flags (g);

  s->work++;
  state_leave (s, i);
  state_enter (s, i, st);
  if (group_flags (g) != before)
    s->gen++;
}

/* 1 if every group G waits for is DONE, 0 if not yet, -1 if one of them failed (its index
   in *RET_FAILED). */
static int
group_ready (cpb_scheduler *s, size_t g, size_t *ret_failed)
{
  struct group *gr = &s->groups[g];

  if (gr->ready_gen != s->gen)
    {
      gr->ready = 1;
      for (size_t k = 0; k < gr->n_after && gr->ready >= 0; k++, s->work++)
        {
          struct group *a = &s->groups[gr->after[k]];

          if (a->n_failed > 0)
            {
              gr->ready = -1;
              gr->failed_after = gr->after[k];
            }
          else if (a->n_done < a->n_tasks)
            gr->ready = 0;
        }
      gr->ready_gen = s->gen;
    }
  if (gr->ready < 0 && ret_failed)
    *ret_failed = gr->failed_after;
  return gr->ready;
}

/* ----------------------------------------------------------------------------- set-up */

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

size_t
cpb_scheduler_add_task (cpb_scheduler *s, const struct cpb_sched_task *t)
{
  size_t i = s->n_tasks;
  struct task *nt;
  struct group *g;

  if (s->n_tasks == s->cap_tasks)
    {
      s->cap_tasks = s->cap_tasks ? s->cap_tasks * 2 : 64;
      s->tasks = cpb_xrealloc (s->tasks, s->cap_tasks * sizeof *s->tasks);
    }
  s->n_tasks++;
  nt = &s->tasks[i];
  *nt = (struct task){ .t = *t, .group = group_index (s, t->group), .rank = NONE };
  nt->lane = lane_of (s, i);
  if (!s->sorted)
    lane_append (s, &s->lanes[nt->lane], i);
  g = &s->groups[nt->group];
  g->n_tasks++;
  s->gen++;
  state_enter (s, i, t->state == CPB_TASK_RUNNING ? CPB_TASK_QUEUED : t->state);
  return i;
}

void
cpb_scheduler_add_dependency (cpb_scheduler *s, const char *group, const char *after)
{
  size_t a = group_index (s, after), gi = group_index (s, group);
  struct group *g = &s->groups[gi]; /* after group_index, which may move the groups */

  g->after = cpb_xrealloc (g->after, (g->n_after + 1) * sizeof *g->after);
  g->after[g->n_after++] = a;
  s->gen++;
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
check_fit (cpb_scheduler *s, const struct cpb_sched_task *t, cpb_error **err)
{
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
  /* The tasks of a lane have the same resources: checking the first checks them all, and
     it is the first such task in order, as a check of every task would report. */
  for (size_t l = 0; l < s->n_lanes; l++)
    {
      size_t i = s->lanes[l].shape;

      s->work++;
      if (check_fit (s, &s->tasks[i].t, err) < 0)
        return s->tasks[i].t.name ? cpb_error_prefix (err, "task '%s'", s->tasks[i].t.name)
                                  : cpb_error_prefix (err, "task %zu (group '%s')", i,
                                                      s->groups[s->tasks[i].group].name);
    }
  return 0;
}

/* ------------------------------------------------------------------------------ events */

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

/* The task to start now: the first, by priority then order, of the lanes whose group is
   ready and whose resources fit; NONE if there is none. */
static size_t
pick (cpb_scheduler *s)
{
  size_t best = NONE;

  if (s->cfg.max_jobs > 0 && s->running >= s->cfg.max_jobs)
    return NONE;
  for (size_t k = 0; k < s->n_lanes; k++)
    {
      struct lane *l = &s->lanes[k];
      size_t first;

      s->work++;
      if (l->n_waiting == 0 || group_ready (s, l->group, NULL) != 1 ||
          !fits (s, &s->tasks[l->shape].t))
        continue;
      first = lane_first (s, l);
      if (best == NONE || by_priority (&first, &best, s) < 0)
        best = first;
    }
  return best;
}

int
cpb_scheduler_next (cpb_scheduler *s, double now, size_t *ret_task, double *ret_wake)
{
  size_t i;
  struct task *t;

  if (!s->sorted)
    sort_lanes (s);
  backoff_end (s, now);
  i = pick (s);
  if (i == NONE)
    {
      i = heap_top (&s->backoff);
      *ret_wake = i == NONE ? -1 : s->tasks[i].not_before;
      return 0;
    }
  t = &s->tasks[i];
  reserve (s, &t->t, +1);
  t->released = false;
  t->t.attempts++;
  set_state (s, i, CPB_TASK_RUNNING);
  *ret_task = i;
  return 1;
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
    set_state (s, i, CPB_TASK_DONE);
  else if (outcome == CPB_SCHED_CANCELLED)
    set_state (s, i, CPB_TASK_CANCELLED);
  else if (t->t.attempts > t->t.retries)
    set_state (s, i, CPB_TASK_FAILED);
  else
    {
      double delay = s->cfg.backoff_base;

      for (int k = 1; k < t->t.attempts && delay < s->cfg.backoff_max; k++)
        delay *= 2;
      t->not_before = now + (delay < s->cfg.backoff_max ? delay : s->cfg.backoff_max);
      t->retried = true;
      set_state (s, i, CPB_TASK_QUEUED);
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
  set_state (s, i, CPB_TASK_RUNNING);
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
  set_state (s, i, state);
}

int
cpb_scheduler_take_blocked (cpb_scheduler *s, size_t *ret_task, const char **ret_group)
{
  if (s->blocked_gen != s->gen)
    {
      s->blocked_gen = s->gen;
      s->blocked_cursor = 0;
    }
  for (; s->blocked_cursor < s->n_groups; s->blocked_cursor++)
    {
      struct group *g = &s->groups[s->blocked_cursor];
      size_t i = g->wait_head, failed_after;

      s->work++;
      if (i == NONE || group_ready (s, s->blocked_cursor, &failed_after) >= 0)
        continue;
      set_state (s, i, CPB_TASK_CANCELLED);
      *ret_task = i;
      *ret_group = s->groups[failed_after].name;
      return 1;
    }
  return 0;
}

void
cpb_scheduler_cancel_queued (cpb_scheduler *s)
{
  for (size_t k = 0; k < s->n_groups; k++)
    {
      size_t i = s->groups[k].wait_head;

      while (i != NONE)
        {
          size_t next = s->tasks[i].wait_next;

          s->work++;
          if (s->tasks[i].t.state == CPB_TASK_QUEUED)
            set_state (s, i, CPB_TASK_CANCELLED);
          i = next;
        }
    }
}

bool
cpb_scheduler_done (cpb_scheduler *s)
{
  return s->counts[CPB_TASK_QUEUED] == 0 && s->counts[CPB_TASK_RUNNING] == 0;
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
  memcpy (counts, s->counts, CPB_TASK_N * sizeof counts[0]);
}
