/* podman/events.c: GET /libpod/events?stream=true as typed events.
 *
 * One long-lived stream reports every container exit with its code (the "died" event),
 * which is far cheaper for the service than one wait request per container.
 */
#include "config.h"
#include "podman/private.h"
#include "json.h"
#include "xalloc.h"

struct events_state
{
  cpb_podman_event_fn fn;
  void *userdata;
};

static int
on_event_line (void *userdata, const char *line, size_t len, cpb_error **err)
{
  struct events_state *st = userdata;
  _cleanup_podman_event_ struct cpb_podman_event *ev = NULL;

  if (cpb_podman_parse_event (line, len, &ev, err) < 0)
    return -1;
  return st->fn (st->userdata, ev, err);
}

static void
gen_filter (yajl_gen g, const char *key, const char *const *values)
{
  if (values == NULL || values[0] == NULL)
    return;
  cpb_json_gen_key (g, key);
  cpb_json_gen_strv (g, values);
}

/* filters={"type":[...],"event":[...],"label":[...],"container":[...]} */
static char *
events_filters (const struct cpb_podman_event_filter *f, cpb_error **err)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

  yajl_gen_map_open (g);
  if (f)
    {
      gen_filter (g, "type", f->types);
      gen_filter (g, "event", f->events);
      gen_filter (g, "label", f->labels);
      gen_filter (g, "container", f->containers);
    }
  yajl_gen_map_close (g);
  return cpb_json_gen_finish (g, NULL, err);
}

int
cpb_podman_events (cpb_podman *p, const struct cpb_podman_event_filter *filter,
                   cpb_podman_event_fn fn, void *userdata, cpb_error **err)
{
  _cleanup_free_ char *filters = events_filters (filter, err);
  struct events_state st = { .fn = fn, .userdata = userdata };
  const char *query[10];
  size_t k = 0;

  if (filters == NULL)
    return -1;
  query[k++] = "stream", query[k++] = "true";
  query[k++] = "filters", query[k++] = filters;
  if (filter && filter->since)
    query[k++] = "since", query[k++] = filter->since;
  if (filter && filter->until)
    query[k++] = "until", query[k++] = filter->until;
  query[k] = NULL;

  struct cpb_podman_request req = { .path = "/libpod/events",
                                    .query = query,
                                    .on_line = on_event_line,
                                    .userdata = &st,
                                    .streaming = true };
  if (cpb_podman_request (p, &req, NULL, err) < 0)
    return cpb_error_prefix (err, "events");
  return 0;
}
