/* podman/containers.c: the container life cycle (create, start, wait, kill, pause, stop,
 * remove, inspect, list) and the archive endpoints that move files in and out.
 */
#include "config.h"
#include "podman/private.h"
#include "json.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_NOFILE 1024
#define DEFAULT_NPROC 4096
#define CPU_PERIOD_US 100000

static void
gen_kv_map (yajl_gen g, const char *key, const struct cpb_podman_kv *kv, size_t n)
{
  cpb_json_gen_key (g, key);
  yajl_gen_map_open (g);
  for (size_t i = 0; i < n; i++)
    cpb_json_gen_key_string (g, kv[i].key, kv[i].value);
  yajl_gen_map_close (g);
}

static void
gen_rlimit (yajl_gen g, const char *type, uint64_t value)
{
  yajl_gen_map_open (g);
  /* 4.3 wants the short lower-case names: "nofile", not "RLIMIT_NOFILE". */
  cpb_json_gen_key_string (g, "type", type);
  cpb_json_gen_key_int (g, "hard", (int64_t)value);
  cpb_json_gen_key_int (g, "soft", (int64_t)value);
  yajl_gen_map_close (g);
}

static void
gen_security (yajl_gen g, const struct cpb_container_spec *s)
{
  static const char *const all[] = { "ALL", NULL };

  if (s->cap_drop_all)
    {
      cpb_json_gen_key (g, "cap_drop");
      cpb_json_gen_strv (g, all);
    }
  if (s->cap_add)
    {
      cpb_json_gen_key (g, "cap_add");
      cpb_json_gen_strv (g, s->cap_add);
    }
  if (s->no_new_privileges)
    cpb_json_gen_key_bool (g, "no_new_privileges", true);
  if (s->seccomp_profile_path)
    cpb_json_gen_key_string (g, "seccomp_profile_path", s->seccomp_profile_path);
}

/* r_limits always (the REST API ignores containers.conf default_ulimits, and Podman's
   1048576 cannot be set rootless here), memory and CPU only when limited. */
static void
gen_limits (yajl_gen g, const struct cpb_container_spec *s)
{
  cpb_json_gen_key (g, "r_limits");
  yajl_gen_array_open (g);
  gen_rlimit (g, "nofile", s->nofile ? s->nofile : DEFAULT_NOFILE);
  gen_rlimit (g, "nproc", s->nproc ? s->nproc : DEFAULT_NPROC);
  yajl_gen_array_close (g);
  if (s->memory_bytes == 0 && s->cpus <= 0)
    return;
  cpb_json_gen_key (g, "resource_limits");
  yajl_gen_map_open (g);
  if (s->memory_bytes)
    {
      cpb_json_gen_key (g, "memory");
      yajl_gen_map_open (g);
      cpb_json_gen_key_int (g, "limit", (int64_t)s->memory_bytes);
      yajl_gen_map_close (g);
    }
  if (s->cpus > 0)
    {
      cpb_json_gen_key (g, "cpu");
      yajl_gen_map_open (g);
      cpb_json_gen_key_int (g, "quota", (int64_t)(s->cpus * CPU_PERIOD_US + 0.5));
      cpb_json_gen_key_int (g, "period", CPU_PERIOD_US);
      yajl_gen_map_close (g);
    }
  yajl_gen_map_close (g);
}

static void
gen_process (yajl_gen g, const struct cpb_container_spec *s)
{
  if (s->command)
    {
      cpb_json_gen_key (g, "command");
      cpb_json_gen_strv (g, s->command);
    }
  if (s->entrypoint)
    {
      cpb_json_gen_key (g, "entrypoint");
      cpb_json_gen_strv (g, s->entrypoint);
    }
  if (s->n_env)
    gen_kv_map (g, "env", s->env, s->n_env);
  if (s->work_dir)
    cpb_json_gen_key_string (g, "work_dir", s->work_dir);
  if (s->create_working_dir)
    cpb_json_gen_key_bool (g, "create_working_dir", true);
  if (s->user)
    cpb_json_gen_key_string (g, "user", s->user);
  if (s->hostname)
    cpb_json_gen_key_string (g, "hostname", s->hostname);
  if (s->stop_timeout > 0)
    cpb_json_gen_key_int (g, "stop_timeout", s->stop_timeout);
}

/* The SpecGenerator document of SPEC. */
static char *
spec_json (const struct cpb_container_spec *s, cpb_error **err)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();

  yajl_gen_map_open (g);
  if (s->name)
    cpb_json_gen_key_string (g, "name", s->name);
  cpb_json_gen_key_string (g, "image", s->image);
  gen_process (g, s);
  if (s->n_labels)
    gen_kv_map (g, "labels", s->labels, s->n_labels);
  cpb_json_gen_key (g, "netns");
  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "nsmode", s->netns == CPB_NETNS_SLIRP ? "slirp4netns" : "none");
  yajl_gen_map_close (g);
  gen_security (g, s);
  gen_limits (g, s);
  /* Never auto-remove: the exit code and the outputs must outlive the process. */
  cpb_json_gen_key_bool (g, "remove", false);
  yajl_gen_map_close (g);
  return cpb_json_gen_finish (g, NULL, err);
}

int
cpb_podman_container_create_ex (cpb_podman *p, const struct cpb_container_spec *spec, char **ret_id,
                                char ***ret_warnings, cpb_error **err)
{
  _cleanup_buf_ cpb_buf answer = CPB_BUF_INIT;
  _cleanup_free_ char *json = NULL;
  const char *what = spec->name ? spec->name : spec->image;

  if (spec->image == NULL)
    return cpb_error_set (err, CPB_ERR_INPUT, "creating container: no image given");
  json = spec_json (spec, err);
  if (json == NULL)
    return cpb_error_prefix (err, "creating container '%s'", what);
  struct cpb_podman_body body = CPB_PODMAN_BODY_MEMORY (json, strlen (json));
  struct cpb_podman_request req = {
    .method = "POST", .path = "/libpod/containers/create", .body = &body, .response = &answer
  };
  if (cpb_podman_request (p, &req, NULL, err) < 0 ||
      cpb_podman_parse_create (answer.data, answer.len, ret_id, ret_warnings, err) < 0)
    return cpb_error_prefix (err, "creating container '%s'", what);
  return 0;
}

int
cpb_podman_container_create (cpb_podman *p, const struct cpb_container_spec *spec, char **ret_id,
                             cpb_error **err)
{
  _cleanup_strv_free_ char **warnings = NULL;

  return cpb_podman_container_create_ex (p, spec, ret_id, &warnings, err);
}

/* POST /libpod/containers/ID/ACTION with QUERY, for the calls that answer nothing useful. */
static int
container_action (cpb_podman *p, const char *id, const char *action, const char *const *query,
                  bool streaming, cpb_buf *answer, cpb_error **err)
{
  _cleanup_free_ char *n = cpb_podman_escape (id);
  _cleanup_free_ char *path = cpb_xasprintf ("/libpod/containers/%s/%s", n, action);
  struct cpb_podman_request req = {
    .method = "POST", .path = path, .query = query, .response = answer, .streaming = streaming
  };

  if (cpb_podman_request (p, &req, NULL, err) < 0)
    return cpb_error_prefix (err, "cannot %s container '%s'", action, id);
  return 0;
}

int
cpb_podman_container_start (cpb_podman *p, const char *id, cpb_error **err)
{
  return container_action (p, id, "start", NULL, false, NULL, err);
}

int
cpb_podman_container_wait (cpb_podman *p, const char *id, int *ret_exit_code, cpb_error **err)
{
  static const char *const query[] = { "condition", "stopped", "condition", "exited", NULL };
  _cleanup_buf_ cpb_buf answer = CPB_BUF_INIT;

  if (container_action (p, id, "wait", query, true, &answer, err) < 0)
    return -1;
  if (cpb_podman_parse_wait (answer.data, answer.len, ret_exit_code, err) < 0)
    return cpb_error_prefix (err, "cannot wait for container '%s'", id);
  return 0;
}

int
cpb_podman_container_kill (cpb_podman *p, const char *id, int signo, cpb_error **err)
{
  char sig[16];
  const char *query[] = { "signal", sig, NULL };

  snprintf (sig, sizeof sig, "%d", signo);
  return container_action (p, id, "kill", query, false, NULL, err);
}

int
cpb_podman_container_pause (cpb_podman *p, const char *id, cpb_error **err)
{
  return container_action (p, id, "pause", NULL, false, NULL, err);
}

int
cpb_podman_container_unpause (cpb_podman *p, const char *id, cpb_error **err)
{
  return container_action (p, id, "unpause", NULL, false, NULL, err);
}

int
cpb_podman_container_stop (cpb_podman *p, const char *id, int timeout, cpb_error **err)
{
  char t[16];
  const char *query[] = { "timeout", t, NULL };

  snprintf (t, sizeof t, "%d", timeout);
  /* stop waits up to TIMEOUT seconds for the process: not a short call. */
  return container_action (p, id, "stop", timeout >= 0 ? query : NULL, true, NULL, err);
}

/* The remove answer is a list of reports [{"Id", "Err", "RawInput"}]; an "Err" there is a
   failure even with status 200. */
static int
check_rm_reports (const cpb_buf *answer, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;

  if (answer->len == 0 || cpb_json_parse (answer->data, answer->len, &tree, NULL) < 0 ||
      !YAJL_IS_ARRAY (tree))
    return 0;
  for (size_t i = 0; i < tree->u.array.len; i++)
    {
      const char *e = cpb_json_get_string (tree->u.array.values[i], "Err");

      if (e && e[0])
        return cpb_error_set (err, CPB_ERR_PODMAN, "podman: %s", e);
    }
  return 0;
}

int
cpb_podman_container_remove (cpb_podman *p, const char *id, bool force, cpb_error **err)
{
  _cleanup_buf_ cpb_buf answer = CPB_BUF_INIT;
  _cleanup_free_ char *n = cpb_podman_escape (id);
  /* volumes=, not Docker's v= which libpod ignores: anonymous volumes would pile up. */
  const char *query[] = { "force", force ? "true" : "false", "volumes", "true", NULL };

  if (cpb_podman_call (p, "DELETE", query, &answer, err, "/libpod/containers/%s", n) < 0 ||
      check_rm_reports (&answer, err) < 0)
    return cpb_error_prefix (err, "removing container '%s'", id);
  return 0;
}

int
cpb_podman_container_inspect (cpb_podman *p, const char *id, struct cpb_podman_container **ret,
                              cpb_error **err)
{
  _cleanup_buf_ cpb_buf answer = CPB_BUF_INIT;
  _cleanup_free_ char *n = cpb_podman_escape (id);

  if (cpb_podman_call (p, "GET", NULL, &answer, err, "/libpod/containers/%s/json", n) < 0)
    return cpb_error_prefix (err, "container '%s'", id);
  return cpb_podman_parse_container_inspect (answer.data, answer.len, ret, err);
}

int
cpb_podman_container_list (cpb_podman *p, const char *label_filter,
                           struct cpb_podman_container_list **ret, cpb_error **err)
{
  _cleanup_buf_ cpb_buf answer = CPB_BUF_INIT;
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_free_ char *filters = NULL;
  const char *labels[] = { label_filter, NULL };
  const char *query[] = { "all", "true", "filters", NULL, NULL };

  yajl_gen_map_open (g);
  if (label_filter)
    {
      cpb_json_gen_key (g, "label");
      cpb_json_gen_strv (g, labels);
    }
  yajl_gen_map_close (g);
  filters = cpb_json_gen_finish (g, NULL, err);
  if (filters == NULL)
    return -1;
  query[3] = filters;
  if (cpb_podman_call (p, "GET", query, &answer, err, "/libpod/containers/json") < 0)
    return cpb_error_prefix (err, "listing containers");
  return cpb_podman_parse_container_list (answer.data, answer.len, ret, err);
}

int
cpb_podman_archive_put (cpb_podman *p, const char *id, const char *path,
                        const struct cpb_podman_body *body, cpb_error **err)
{
  _cleanup_free_ char *n = cpb_podman_escape (id);
  _cleanup_free_ char *url_path = cpb_xasprintf ("/libpod/containers/%s/archive", n);
  const char *query[] = { "path", path, NULL };
  struct cpb_podman_request req = {
    .method = "PUT", .path = url_path, .query = query, .body = body, .streaming = true
  };

  if (cpb_podman_request (p, &req, NULL, err) < 0)
    return cpb_error_prefix (err, "copying into container '%s' at '%s'", id, path);
  return 0;
}

int
cpb_podman_archive_get (cpb_podman *p, const char *id, const char *path, cpb_podman_data_fn on_data,
                        void *userdata, cpb_error **err)
{
  _cleanup_free_ char *n = cpb_podman_escape (id);
  _cleanup_free_ char *url_path = cpb_xasprintf ("/libpod/containers/%s/archive", n);
  const char *query[] = { "path", path, NULL };
  struct cpb_podman_request req = {
    .path = url_path, .query = query, .on_data = on_data, .userdata = userdata, .streaming = true
  };

  if (cpb_podman_request (p, &req, NULL, err) < 0)
    return cpb_error_prefix (err, "copying '%s' out of container '%s'", path, id);
  return 0;
}
