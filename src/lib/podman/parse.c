/* podman/parse.c: the typed parse function of every Podman 4.3 response document cpb reads.
 *
 * Each takes the raw text, so the unit tests and fuzzers feed them captured documents
 * directly.  Podman adds fields between releases and leaves others null; missing fields
 * are left empty here, and only a document that cannot be what was asked for (not an
 * object, no ID) is an error.
 */
#include "config.h"
#include "podman/private.h"
#include "json.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds since the epoch of an RFC 3339 time as Podman writes it
   ("2026-11-22T04:48:19.001597061Z", or with a +hh:mm offset); 0 for Go's zero time
   ("0001-01-01T00:00:00Z", a container never started) and anything unparsable. */
static int64_t
parse_time (const char *s)
{
  struct tm tm = { 0 };
  const char *rest;
  int64_t t;

  if (s == NULL || (rest = strptime (s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL || tm.tm_year < 70)
    return 0;
  t = (int64_t)timegm (&tm);
  if (*rest == '.')
    rest += 1 + strspn (rest + 1, "0123456789");
  if ((*rest == '+' || *rest == '-') && strlen (rest) >= 6)
    {
      int64_t off = (int64_t)atoi (rest + 1) * 3600 + (int64_t)atoi (rest + 4) * 60;
      t += *rest == '+' ? -off : off;
    }
  return t;
}

/* "sha256:abc..." and "abc..." name the same image: cpb always keeps the bare hex. */
static char *
bare_id (const char *id)
{
  if (id == NULL)
    return NULL;
  if (strncmp (id, "sha256:", 7) == 0)
    id += 7;
  return cpb_xstrdup (id);
}

static char *
strdup_or_null (const char *s)
{
  return s ? cpb_xstrdup (s) : NULL;
}

/* A string map (labels, attributes) as an owned array of key/value pairs. */
static struct cpb_podman_kv *
parse_kv (yajl_val obj, size_t *ret_n)
{
  _cleanup_free_ char **keys = NULL, **values = NULL;
  size_t n = cpb_json_string_map (obj, &keys, &values);
  struct cpb_podman_kv *kv = cpb_xcalloc (n + 1, sizeof *kv);

  /* The strings move into KV; only the vectors themselves are freed. */
  for (size_t i = 0; i < n; i++)
    {
      kv[i].key = keys[i];
      kv[i].value = values[i];
    }
  *ret_n = n;
  return kv;
}

static int
parse_object (const char *text, size_t len, const char *what, yajl_val *ret, cpb_error **err)
{
  yajl_val tree;

  if (cpb_json_parse (text, len, &tree, err) < 0)
    return cpb_error_prefix (err, "podman: %s", what);
  if (!YAJL_IS_OBJECT (tree))
    {
      yajl_tree_free (tree);
      return cpb_error_set (err, CPB_ERR_PODMAN, "podman: %s: not a JSON object", what);
    }
  *ret = tree;
  return 0;
}

static int
parse_array (const char *text, size_t len, const char *what, yajl_val *ret, cpb_error **err)
{
  yajl_val tree;

  if (cpb_json_parse (text, len, &tree, err) < 0)
    return cpb_error_prefix (err, "podman: %s", what);
  /* An empty list comes as [] but a filter matching nothing has been seen as null. */
  if (!YAJL_IS_ARRAY (tree) && !YAJL_IS_NULL (tree))
    {
      yajl_tree_free (tree);
      return cpb_error_set (err, CPB_ERR_PODMAN, "podman: %s: not a JSON array", what);
    }
  *ret = tree;
  return 0;
}

/* ------------------------------------------------------------------ system */

void
cpb_podman_version_free (struct cpb_podman_version *v)
{
  if (v == NULL)
    return;
  free (v->version);
  free (v->api_version);
  free (v->go_version);
  free (v->os);
  free (v->arch);
  free (v->kernel);
  free (v);
}

int
cpb_podman_parse_version (const char *text, size_t len, struct cpb_podman_version **ret,
                          cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  struct cpb_podman_version *v;

  if (parse_object (text, len, "version", &tree, err) < 0)
    return -1;
  if (cpb_json_get_string (tree, "Version") == NULL)
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: version: no 'Version' in the answer");
  v = cpb_xzalloc (sizeof *v);
  v->version = cpb_json_dup_string (tree, "Version");
  v->api_version = cpb_json_dup_string (tree, "ApiVersion");
  v->go_version = cpb_json_dup_string (tree, "GoVersion");
  v->os = cpb_json_dup_string (tree, "Os");
  v->arch = cpb_json_dup_string (tree, "Arch");
  v->kernel = cpb_json_dup_string (tree, "KernelVersion");
  *ret = v;
  return 0;
}

void
cpb_podman_info_free (struct cpb_podman_info *i)
{
  if (i == NULL)
    return;
  free (i->hostname);
  free (i->os);
  free (i->arch);
  free (i->kernel);
  free (i->version);
  free (i->oci_runtime);
  free (i->storage_driver);
  free (i->graph_root);
  free (i);
}

static void
parse_info_host (yajl_val host, struct cpb_podman_info *i)
{
  const char *cgroup = cpb_json_get_string (host, "cgroupVersion");
  int64_t n;

  i->hostname = cpb_json_dup_string (host, "hostname");
  i->os = cpb_json_dup_string (host, "os");
  i->arch = cpb_json_dup_string (host, "arch");
  i->kernel = cpb_json_dup_string (host, "kernel");
  if (cpb_json_get_int64 (host, "cpus", &n))
    i->cpus = (int)n;
  if (cpb_json_get_int64 (host, "memTotal", &n) && n > 0)
    i->mem_total = (uint64_t)n;
  if (cpb_json_get_int64 (host, "memFree", &n) && n > 0)
    i->mem_free = (uint64_t)n;
  /* "v1" or "v2" */
  if (cgroup && cgroup[0] == 'v')
    i->cgroup_version = atoi (cgroup + 1);
  i->oci_runtime = cpb_json_dup_string (cpb_json_get (host, "ociRuntime"), "name");
  i->rootless = cpb_json_get_bool (cpb_json_get (host, "security"), "rootless", false);
}

int
cpb_podman_parse_info (const char *text, size_t len, struct cpb_podman_info **ret, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  struct cpb_podman_info *i;
  yajl_val host, store;

  if (parse_object (text, len, "info", &tree, err) < 0)
    return -1;
  host = cpb_json_get (tree, "host");
  if (host == NULL || !YAJL_IS_OBJECT (host))
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: info: no 'host' in the answer");
  i = cpb_xzalloc (sizeof *i);
  parse_info_host (host, i);
  store = cpb_json_get (tree, "store");
  i->storage_driver = cpb_json_dup_string (store, "graphDriverName");
  i->graph_root = cpb_json_dup_string (store, "graphRoot");
  i->version = cpb_json_dup_string (cpb_json_get (tree, "version"), "Version");
  *ret = i;
  return 0;
}

/* ------------------------------------------------------------------ images */

void
cpb_podman_image_free (struct cpb_podman_image *img)
{
  if (img == NULL)
    return;
  free (img->id);
  free (img->digest);
  cpb_strv_free (img->repo_tags);
  cpb_podman_kv_free (img->labels, img->n_labels);
  free (img);
}

void
cpb_podman_image_list_free (struct cpb_podman_image_list *l)
{
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->n; i++)
    {
      free (l->images[i].id);
      free (l->images[i].digest);
      cpb_strv_free (l->images[i].repo_tags);
      cpb_podman_kv_free (l->images[i].labels, l->images[i].n_labels);
    }
  free (l->images);
  free (l);
}

/* The fields list and inspect share; "Created" is seconds in the list and RFC 3339 in
   inspect (4.3). */
static int
fill_image (yajl_val obj, struct cpb_podman_image *img, cpb_error **err)
{
  yajl_val created = cpb_json_get (obj, "Created");
  const char *id = cpb_json_get_string (obj, "Id");

  if (id == NULL)
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: image without an 'Id'");
  img->id = bare_id (id);
  img->digest = cpb_json_dup_string (obj, "Digest");
  img->repo_tags = cpb_json_strv (cpb_json_get (obj, "RepoTags"));
  img->labels = parse_kv (cpb_json_get (obj, "Labels"), &img->n_labels);
  if (created && YAJL_IS_STRING (created))
    img->created = parse_time (created->u.string);
  else
    cpb_json_get_int64 (obj, "Created", &img->created);
  cpb_json_get_int64 (obj, "Size", &img->size);
  return 0;
}

int
cpb_podman_parse_image_inspect (const char *text, size_t len, struct cpb_podman_image **ret,
                                cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  _cleanup_podman_image_ struct cpb_podman_image *img = NULL;

  if (parse_object (text, len, "image inspect", &tree, err) < 0)
    return -1;
  img = cpb_xzalloc (sizeof *img);
  if (fill_image (tree, img, err) < 0)
    return -1;
  *ret = TAKE_PTR (img);
  return 0;
}

int
cpb_podman_parse_image_list (const char *text, size_t len, struct cpb_podman_image_list **ret,
                             cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  _cleanup_podman_image_list_ struct cpb_podman_image_list *l = NULL;
  size_t n;

  if (parse_array (text, len, "image list", &tree, err) < 0)
    return -1;
  n = YAJL_IS_ARRAY (tree) ? tree->u.array.len : 0;
  l = cpb_xzalloc (sizeof *l);
  l->images = cpb_xcalloc (n + 1, sizeof *l->images);
  for (size_t i = 0; i < n; i++)
    {
      if (fill_image (tree->u.array.values[i], &l->images[l->n], err) < 0)
        return -1;
      l->n++;
    }
  *ret = TAKE_PTR (l);
  return 0;
}

/* ------------------------------------------------------------------ containers */

static void
container_clear (struct cpb_podman_container *c)
{
  free (c->id);
  free (c->name);
  free (c->image);
  free (c->image_id);
  free (c->status);
  cpb_podman_kv_free (c->labels, c->n_labels);
}

void
cpb_podman_container_free (struct cpb_podman_container *c)
{
  if (c == NULL)
    return;
  container_clear (c);
  free (c);
}

void
cpb_podman_container_list_free (struct cpb_podman_container_list *l)
{
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->n; i++)
    container_clear (&l->containers[i]);
  free (l->containers);
  free (l);
}

static int
fill_container_inspect (yajl_val obj, struct cpb_podman_container *c, cpb_error **err)
{
  yajl_val state = cpb_json_get (obj, "State");
  int64_t n;

  if (cpb_json_get_string (obj, "Id") == NULL)
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: container inspect: no 'Id' in the answer");
  c->id = cpb_json_dup_string (obj, "Id");
  c->name = cpb_json_dup_string (obj, "Name");
  /* In inspect "Image" is the ID and "ImageName" the name it was created from. */
  c->image = cpb_json_dup_string (obj, "ImageName");
  c->image_id = bare_id (cpb_json_get_string (obj, "Image"));
  c->status = cpb_json_dup_string (state, "Status");
  if (cpb_json_get_int64 (state, "ExitCode", &n))
    c->exit_code = (int)n;
  c->oom_killed = cpb_json_get_bool (state, "OOMKilled", false);
  cpb_json_get_int64 (state, "Pid", &c->pid);
  c->started_at = parse_time (cpb_json_get_string (state, "StartedAt"));
  c->finished_at = parse_time (cpb_json_get_string (state, "FinishedAt"));
  c->labels = parse_kv (cpb_json_path (obj, "Config", "Labels", NULL), &c->n_labels);
  return 0;
}

int
cpb_podman_parse_container_inspect (const char *text, size_t len, struct cpb_podman_container **ret,
                                    cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  _cleanup_podman_container_ struct cpb_podman_container *c = NULL;

  if (parse_object (text, len, "container inspect", &tree, err) < 0)
    return -1;
  c = cpb_xzalloc (sizeof *c);
  if (fill_container_inspect (tree, c, err) < 0)
    return -1;
  *ret = TAKE_PTR (c);
  return 0;
}

/* One entry of the container list: "Names" is an array, times are seconds (Go's zero
   time, -62135596800, for a container never started). */
static int
fill_container_entry (yajl_val obj, struct cpb_podman_container *c, cpb_error **err)
{
  yajl_val names = cpb_json_get (obj, "Names");
  int64_t n;

  if (cpb_json_get_string (obj, "Id") == NULL)
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: container list: entry without an 'Id'");
  c->id = cpb_json_dup_string (obj, "Id");
  if (names && YAJL_IS_ARRAY (names) && names->u.array.len > 0 &&
      YAJL_IS_STRING (names->u.array.values[0]))
    c->name = cpb_xstrdup (names->u.array.values[0]->u.string);
  c->image = cpb_json_dup_string (obj, "Image");
  c->image_id = bare_id (cpb_json_get_string (obj, "ImageID"));
  c->status = cpb_json_dup_string (obj, "State");
  if (cpb_json_get_int64 (obj, "ExitCode", &n))
    c->exit_code = (int)n;
  if (cpb_json_get_int64 (obj, "StartedAt", &n) && n > 0)
    c->started_at = n;
  if (cpb_json_get_int64 (obj, "ExitedAt", &n) && n > 0)
    c->finished_at = n;
  cpb_json_get_int64 (obj, "Pid", &c->pid);
  c->labels = parse_kv (cpb_json_get (obj, "Labels"), &c->n_labels);
  return 0;
}

int
cpb_podman_parse_container_list (const char *text, size_t len,
                                 struct cpb_podman_container_list **ret, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  _cleanup_podman_container_list_ struct cpb_podman_container_list *l = NULL;
  size_t n;

  if (parse_array (text, len, "container list", &tree, err) < 0)
    return -1;
  n = YAJL_IS_ARRAY (tree) ? tree->u.array.len : 0;
  l = cpb_xzalloc (sizeof *l);
  l->containers = cpb_xcalloc (n + 1, sizeof *l->containers);
  for (size_t i = 0; i < n; i++)
    {
      if (fill_container_entry (tree->u.array.values[i], &l->containers[l->n], err) < 0)
        return -1;
      l->n++;
    }
  *ret = TAKE_PTR (l);
  return 0;
}

/* ------------------------------------------------------------------ events */

void
cpb_podman_event_free (struct cpb_podman_event *ev)
{
  if (ev == NULL)
    return;
  free (ev->type);
  free (ev->action);
  free (ev->id);
  free (ev->name);
  free (ev->image);
  cpb_podman_kv_free (ev->attributes, ev->n_attributes);
  free (ev);
}

int
cpb_podman_parse_event (const char *text, size_t len, struct cpb_podman_event **ret,
                        cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  _cleanup_podman_event_ struct cpb_podman_event *ev = NULL;
  yajl_val actor;
  const char *code;

  if (parse_object (text, len, "event", &tree, err) < 0)
    return -1;
  actor = cpb_json_get (tree, "Actor");
  ev = cpb_xzalloc (sizeof *ev);
  ev->type = cpb_json_dup_string (tree, "Type");
  ev->action = cpb_json_dup_string (tree, "Action");
  if (ev->action == NULL)
    ev->action = cpb_json_dup_string (tree, "status");
  ev->id = cpb_json_dup_string (actor, "ID");
  if (ev->id == NULL)
    ev->id = cpb_json_dup_string (tree, "id");
  if (ev->type == NULL || ev->action == NULL)
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: event without a type or an action");
  ev->attributes = parse_kv (cpb_json_get (actor, "Attributes"), &ev->n_attributes);
  ev->name = strdup_or_null (cpb_podman_kv_get (ev->attributes, ev->n_attributes, "name"));
  ev->image = strdup_or_null (cpb_podman_kv_get (ev->attributes, ev->n_attributes, "image"));
  /* 4.3 puts containerExitCode "0" on every container event: it means something only on
     "died". */
  code = cpb_podman_kv_get (ev->attributes, ev->n_attributes, "containerExitCode");
  ev->exit_code = -1;
  if (code && strcmp (ev->action, "died") == 0)
    ev->exit_code = atoi (code);
  cpb_json_get_int64 (tree, "time", &ev->time);
  cpb_json_get_int64 (tree, "timeNano", &ev->time_nano);
  *ret = TAKE_PTR (ev);
  return 0;
}

/* ------------------------------------------------------------------ small answers */

int
cpb_podman_parse_id (const char *text, size_t len, char **ret_id, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  const char *id;

  if (parse_object (text, len, "answer", &tree, err) < 0)
    return -1;
  id = cpb_json_get_string (tree, "Id");
  if (id == NULL || id[0] == '\0')
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: no 'Id' in the answer");
  *ret_id = bare_id (id);
  return 0;
}

int
cpb_podman_parse_create (const char *text, size_t len, char **ret_id, char ***ret_warnings,
                         cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  const char *id;

  if (parse_object (text, len, "create", &tree, err) < 0)
    return -1;
  id = cpb_json_get_string (tree, "Id");
  if (id == NULL || id[0] == '\0')
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: no 'Id' in the answer");
  *ret_id = bare_id (id);
  *ret_warnings = cpb_json_strv (cpb_json_get (tree, "Warnings"));
  return 0;
}

int
cpb_podman_parse_load (const char *text, size_t len, char ***ret_names, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;

  if (parse_object (text, len, "image load", &tree, err) < 0)
    return -1;
  if (cpb_json_get (tree, "Names") == NULL)
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: image load: no 'Names' in the answer");
  *ret_names = cpb_json_strv (cpb_json_get (tree, "Names"));
  return 0;
}

int
cpb_podman_parse_wait (const char *text, size_t len, int *ret_exit_code, cpb_error **err)
{
  _cleanup_free_ char *copy = cpb_xstrndup (text ? text : "", text ? len : 0);
  char *end;
  long code;

  errno = 0;
  code = strtol (copy, &end, 10);
  end += strspn (end, " \t\r\n");
  if (errno || end == copy || *end != '\0' || code < -1 || code > 255)
    return cpb_error_set (err, CPB_ERR_PODMAN, "podman: wait: unexpected answer '%.40s'", copy);
  *ret_exit_code = (int)code;
  return 0;
}

int
cpb_podman_parse_error (const char *text, size_t len, long status, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  _cleanup_free_ char *raw = cpb_xstrndup (text ? text : "", text ? len : 0);
  enum cpb_error_kind kind = status == 404 ? CPB_ERR_NOT_FOUND : CPB_ERR_PODMAN;
  const char *msg = NULL;

  if (cpb_json_parse (text, len, &tree, NULL) == 0)
    {
      msg = cpb_json_get_string (tree, "message");
      if (msg == NULL || msg[0] == '\0')
        msg = cpb_json_get_string (tree, "cause");
    }
  if (msg == NULL)
    {
      raw[strcspn (raw, "\n")] = '\0';
      msg = raw;
    }
  if (msg[0] == '\0')
    cpb_error_set (err, kind, "podman: HTTP status %ld", status);
  else
    cpb_error_set (err, kind, "podman: %s", msg);
  if (err)
    (*err)->http_status = (int)status;
  return -1;
}

int
cpb_podman_parse_build_line (const char *text, size_t len, char **ret_stream, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  const char *msg;

  *ret_stream = NULL;
  if (parse_object (text, len, "build", &tree, err) < 0)
    return -1;
  msg = cpb_json_get_string (tree, "error");
  if (msg == NULL)
    msg = cpb_json_get_string (cpb_json_get (tree, "errorDetail"), "message");
  if (msg == NULL && cpb_json_get (tree, "error") != NULL)
    msg = "build failed";
  if (msg)
    {
      size_t n = strlen (msg);

      while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
      return cpb_error_set (err, CPB_ERR_FAILED, "podman: %.*s", (int)n, msg);
    }
  *ret_stream = cpb_json_dup_string (tree, "stream");
  return 0;
}
