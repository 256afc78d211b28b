/* podman/build.c: POST /libpod/build with a streamed context and a decoded progress stream.
 *
 * Podman answers 200 at once and reports everything, failure included, as JSON lines:
 * {"stream": text} for output, {"error", "errorDetail"} for failure; on success the last
 * stream line is the 64-hex image ID.
 */
#include "config.h"
#include "podman/private.h"
#include "json.h"
#include "xalloc.h"

#include <string.h>

struct build_state
{
  const struct cpb_podman_build_options *opts;
  char *last_line; /* the last non-empty stream line: the image ID on success */
  bool failed;
};

static bool
is_image_id (const char *s)
{
  return strlen (s) == 64 && strspn (s, "0123456789abcdef") == 64;
}

/* Remember the last non-empty line of TEXT. */
static void
keep_last_line (struct build_state *st, const char *text)
{
  size_t len = strlen (text);
  const char *start;

  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    len--;
  if (len == 0)
    return;
  start = text + len;
  while (start > text && start[-1] != '\n')
    start--;
  free (st->last_line);
  st->last_line = cpb_xstrndup (start, (size_t)(text + len - start));
}

static int
on_build_line (void *userdata, const char *line, size_t len, cpb_error **err)
{
  struct build_state *st = userdata;
  _cleanup_free_ char *text = NULL;

  if (cpb_podman_parse_build_line (line, len, &text, err) < 0)
    {
      st->failed = true;
      return -1;
    }
  if (text == NULL)
    return 0;
  keep_last_line (st, text);
  if (st->opts->on_output)
    return st->opts->on_output (st->opts->userdata, text, strlen (text), err);
  return 0;
}

/* labels= and buildargs= are JSON objects in the query string. */
static char *
kv_json (const struct cpb_podman_kv *kv, size_t n, cpb_error **err)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

  yajl_gen_map_open (g);
  for (size_t i = 0; i < n; i++)
    cpb_json_gen_key_string (g, kv[i].key, kv[i].value);
  yajl_gen_map_close (g);
  return cpb_json_gen_finish (g, NULL, err);
}

int
cpb_podman_build (cpb_podman *p, const struct cpb_podman_build_options *opts,
                  const struct cpb_podman_body *context, char **ret_image_id, cpb_error **err)
{
  _cleanup_free_ char *labels = kv_json (opts->labels, opts->n_labels, err);
  _cleanup_free_ char *args = labels ? kv_json (opts->build_args, opts->n_build_args, err) : NULL;
  struct build_state st = { .opts = opts };
  const char *query[20];
  size_t k = 0;
  int r;

  if (args == NULL)
    return -1;
  if (opts->tag)
    query[k++] = "t", query[k++] = opts->tag;
  /* libpod defaults to layers=false: without it every build starts from scratch. */
  query[k++] = "layers", query[k++] = "true";
  query[k++] = "pullpolicy", query[k++] = "never";
  /* Without forcerm a failed or interrupted step leaves its working container (and its
     layer) in storage, one more for every attempt at a broken spec. */
  query[k++] = "forcerm", query[k++] = "true";
  query[k++] = "labels", query[k++] = labels;
  query[k++] = "buildargs", query[k++] = args;
  query[k++] = "dockerfile", query[k++] = opts->dockerfile ? opts->dockerfile : "Containerfile";
  if (opts->no_cache)
    query[k++] = "nocache", query[k++] = "true";
  query[k] = NULL;

  struct cpb_podman_request req = { .method = "POST",
                                    .path = "/libpod/build",
                                    .query = query,
                                    .body = context,
                                    .on_line = on_build_line,
                                    .userdata = &st,
                                    .streaming = true };
  r = cpb_podman_request (p, &req, NULL, err);
  if (r == 0 && (st.last_line == NULL || !is_image_id (st.last_line)))
    r = cpb_error_set (err, CPB_ERR_FAILED,
                       "podman: build ended without an image ID (last output: '%s')",
                       st.last_line ? st.last_line : "");
  if (r == 0 && ret_image_id)
    *ret_image_id = TAKE_PTR (st.last_line);
  free (st.last_line);
  if (r < 0)
    return cpb_error_prefix (err, "building '%s'", opts->tag ? opts->tag : "image");
  return 0;
}
