/* map.h: hash maps from a string or a 64-bit integer to an index.
 *
 * The run loop looks tasks up by database id and by name, and inputs by path, once per
 * event or per task; with 100,000 tasks a linear search there is quadratic.  These maps
 * are the O(1) answer: open addressing, keys copied (strings) or stored (integers), the
 * value a size_t.  No removal: the loop's maps only grow during a run.
 */
#ifndef CPB_MAP_H
#define CPB_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cleanup.h"

typedef struct cpb_map cpb_map;

cpb_map *cpb_map_new (void);
void cpb_map_free (cpb_map *m);
CPB_DEFINE_CLEANUP_FUNC (cpb_map *, cpb_map_free)
#define _cleanup_map_ _cleanup_ (cpb_map_freep)

/* Set the value of string KEY (copied) / integer KEY to VALUE, replacing any. */
void cpb_map_put (cpb_map *m, const char *key, size_t value);
void cpb_map_put_int (cpb_map *m, int64_t key, size_t value);

/* The value of KEY in *RET; false (RET untouched) when absent.  A map holds string keys
   or integer keys, not both. */
bool cpb_map_get (const cpb_map *m, const char *key, size_t *ret);
bool cpb_map_get_int (const cpb_map *m, int64_t key, size_t *ret);

size_t cpb_map_size (const cpb_map *m);

#endif
