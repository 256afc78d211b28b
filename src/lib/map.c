/* map.c: open-addressing hash maps (see map.h). */
#include "config.h"
#include "map.h"
#include "xalloc.h"

#include <string.h>

struct slot
{
  char *key; /* string maps; NULL: empty */
  int64_t ikey;
  bool used;
  size_t value;
};

struct cpb_map
{
  struct slot *slots;
  size_t cap; /* a power of two */
  size_t n;
};

/* FNV-1a for strings, a 64-bit mix for integers. */
static uint64_t
hash_str (const char *s)
{
  uint64_t h = 1469598103934665603ull;

  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static uint64_t
hash_int (int64_t k)
{
  uint64_t x = (uint64_t)k;

  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

cpb_map *
cpb_map_new (void)
{
  cpb_map *m = cpb_xzalloc (sizeof *m);

  m->cap = 16;
  m->slots = cpb_xcalloc (m->cap, sizeof *m->slots);
  return m;
}

void
cpb_map_free (cpb_map *m)
{
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->cap; i++)
    free (m->slots[i].key);
  free (m->slots);
  free (m);
}

size_t
cpb_map_size (const cpb_map *m)
{
  return m->n;
}

/* The slot of KEY (string when S is not NULL), or the empty slot where it would go. */
static struct slot *
find (const cpb_map *m, const char *s, int64_t k)
{
  size_t i = (size_t)(s ? hash_str (s) : hash_int (k)) & (m->cap - 1);

  for (;; i = (i + 1) & (m->cap - 1))
    {
      struct slot *sl = &m->slots[i];

      if (!sl->used || (s ? strcmp (sl->key, s) == 0 : sl->ikey == k))
        return sl;
    }
}

static void
grow (cpb_map *m)
{
  struct slot *old = m->slots;
  size_t old_cap = m->cap;

  m->cap *= 2;
  m->slots = cpb_xcalloc (m->cap, sizeof *m->slots);
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].used)
      *find (m, old[i].key, old[i].ikey) = old[i];
  free (old);
}

static void
put (cpb_map *m, const char *s, int64_t k, size_t value)
{
  struct slot *sl;

  if ((m->n + 1) * 4 > m->cap * 3)
    grow (m);
  sl = find (m, s, k);
  if (!sl->used)
    {
      *sl = (struct slot){ .key = s ? cpb_xstrdup (s) : NULL, .ikey = k, .used = true };
      m->n++;
    }
  sl->value = value;
}

void
cpb_map_put (cpb_map *m, const char *key, size_t value)
{
  put (m, key, 0, value);
}

void
cpb_map_put_int (cpb_map *m, int64_t key, size_t value)
{
  put (m, NULL, key, value);
}

bool
cpb_map_get (const cpb_map *m, const char *key, size_t *ret)
{
  const struct slot *sl = find (m, key, 0);

  if (!sl->used)
    return false;
  *ret = sl->value;
  return true;
}

bool
cpb_map_get_int (const cpb_map *m, int64_t key, size_t *ret)
{
  const struct slot *sl = find (m, NULL, key);

  if (!sl->used)
    return false;
  *ret = sl->value;
  return true;
}
