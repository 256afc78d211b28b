/* podman/images.c: system calls (version, info) and images (list, inspect, exists, tag,
 * remove, import, save, load).
 */
#include "config.h"
#include "podman/private.h"
#include "json.h"
#include "xalloc.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int
cpb_podman_get_version (cpb_podman *p, struct cpb_podman_version **ret, cpb_error **err)
{
  _cleanup_buf_ cpb_buf body = CPB_BUF_INIT;

  if (cpb_podman_call (p, "GET", NULL, &body, err, "/libpod/version") < 0)
    return -1;
  return cpb_podman_parse_version (body.data, body.len, ret, err);
}

int
cpb_podman_get_info (cpb_podman *p, struct cpb_podman_info **ret, cpb_error **err)
{
  _cleanup_buf_ cpb_buf body = CPB_BUF_INIT;

  if (cpb_podman_call (p, "GET", NULL, &body, err, "/libpod/info") < 0)
    return -1;
  return cpb_podman_parse_info (body.data, body.len, ret, err);
}

/* filters={"label":["KEY=VALUE"]} as libpod wants it, or NULL without a filter. */
static char *
label_filters (const char *label_filter, cpb_error **err)
{
  _cleanup_yajl_gen_ yajl_gen g = NULL;
  const char *labels[2] = { label_filter, NULL };

  if (label_filter == NULL)
    return NULL;
  g = cpb_json_gen_new ();
  yajl_gen_map_open (g);
  cpb_json_gen_key (g, "label");
  cpb_json_gen_strv (g, labels);
  yajl_gen_map_close (g);
  return cpb_json_gen_finish (g, NULL, err);
}

int
cpb_podman_image_list (cpb_podman *p, const char *label_filter, struct cpb_podman_image_list **ret,
                       cpb_error **err)
{
  _cleanup_buf_ cpb_buf body = CPB_BUF_INIT;
  _cleanup_free_ char *filters = label_filters (label_filter, err);
  const char *query[] = { "filters", filters, NULL };

  if (label_filter && filters == NULL)
    return -1;
  if (cpb_podman_call (p, "GET", filters ? query : NULL, &body, err, "/libpod/images/json") < 0)
    return cpb_error_prefix (err, "listing images");
  return cpb_podman_parse_image_list (body.data, body.len, ret, err);
}

int
cpb_podman_image_inspect (cpb_podman *p, const char *name, struct cpb_podman_image **ret,
                          cpb_error **err)
{
  _cleanup_buf_ cpb_buf body = CPB_BUF_INIT;
  _cleanup_free_ char *n = cpb_podman_escape (name);

  if (cpb_podman_call (p, "GET", NULL, &body, err, "/libpod/images/%s/json", n) < 0)
    return cpb_error_prefix (err, "image '%s'", name);
  return cpb_podman_parse_image_inspect (body.data, body.len, ret, err);
}

int
cpb_podman_image_exists (cpb_podman *p, const char *name, bool *ret, cpb_error **err)
{
  _cleanup_free_ char *n = cpb_podman_escape (name);
  _cleanup_error_ cpb_error *e = NULL;

  if (cpb_podman_call (p, "GET", NULL, NULL, &e, "/libpod/images/%s/exists", n) == 0)
    {
      *ret = true;
      return 0;
    }
  if (e->kind == CPB_ERR_NOT_FOUND)
    {
      *ret = false;
      return 0;
    }
  *err = TAKE_PTR (e);
  return cpb_error_prefix (err, "image '%s'", name);
}

int
cpb_podman_image_tag (cpb_podman *p, const char *name, const char *repo, const char *tag,
                      cpb_error **err)
{
  _cleanup_free_ char *n = cpb_podman_escape (name);
  const char *query[] = { "repo", repo, "tag", tag ? tag : "latest", NULL };

  if (cpb_podman_call (p, "POST", query, NULL, err, "/libpod/images/%s/tag", n) < 0)
    return cpb_error_prefix (err, "tagging image '%s' as '%s:%s'", name, repo,
                             tag ? tag : "latest");
  return 0;
}

/* The remove report ({"Deleted", "Untagged", "Errors", "ExitCode"}) may carry errors with
   a 200 status. */
static int
check_remove_report (const cpb_buf *body, cpb_error **err)
{
  _cleanup_yajl_val_ yajl_val tree = NULL;
  yajl_val errors;

  if (body->len == 0 || cpb_json_parse (body->data, body->len, &tree, NULL) < 0)
    return 0;
  errors = cpb_json_get (tree, "Errors");
  if (errors && YAJL_IS_ARRAY (errors) && errors->u.array.len > 0)
    {
      yajl_val first = errors->u.array.values[0];

      return cpb_error_set (err, CPB_ERR_PODMAN, "podman: %s",
                            YAJL_IS_STRING (first) ? first->u.string : "image removal failed");
    }
  return 0;
}

int
cpb_podman_image_remove (cpb_podman *p, const char *name, bool force, cpb_error **err)
{
  _cleanup_buf_ cpb_buf body = CPB_BUF_INIT;
  _cleanup_free_ char *n = cpb_podman_escape (name);
  const char *query[] = { "force", force ? "true" : "false", NULL };

  if (cpb_podman_call (p, "DELETE", query, &body, err, "/libpod/images/%s", n) < 0 ||
      check_remove_report (&body, err) < 0)
    return cpb_error_prefix (err, "removing image '%s'", name);
  return 0;
}

int
cpb_podman_image_import (cpb_podman *p, const struct cpb_podman_body *body, const char *reference,
                         const char *const *changes, char **ret_id, cpb_error **err)
{
  _cleanup_buf_ cpb_buf answer = CPB_BUF_INIT;
  _cleanup_free_ const char **query = NULL;
  size_t n = 0, k = 0;
  char *id = NULL;

  for (const char *const *c = changes; c && *c; c++)
    n++;
  query = cpb_xcalloc (2 * n + 3, sizeof *query);
  query[k++] = "reference";
  query[k++] = reference;
  for (size_t i = 0; i < n; i++)
    {
      query[k++] = "changes";
      query[k++] = changes[i];
    }
  struct cpb_podman_request req = { .method = "POST",
                                    .path = "/libpod/images/import",
                                    .query = query,
                                    .body = body,
                                    .response = &answer,
                                    .streaming = true };
  if (cpb_podman_request (p, &req, NULL, err) < 0 ||
      cpb_podman_parse_id (answer.data, answer.len, &id, err) < 0)
    return cpb_error_prefix (err, "importing image '%s'", reference);
  if (ret_id)
    *ret_id = id;
  else
    free (id);
  return 0;
}

/* Write all of DATA to the fd in USERDATA (short writes and EINTR included). */
static int
write_fd (void *userdata, const char *data, size_t len, cpb_error **err)
{
  int fd = *(int *)userdata;

  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return cpb_error_errno (err, errno, "cannot write the image archive");
      data += n;
      len -= (size_t)n;
    }
  return 0;
}

int
cpb_podman_image_save (cpb_podman *p, const char *name, enum cpb_podman_archive_format format,
                       int fd, cpb_error **err)
{
  _cleanup_free_ char *n = cpb_podman_escape (name);
  _cleanup_free_ char *path = cpb_xasprintf ("/libpod/images/%s/get", n);
  const char *query[] = { "format",
                          format == CPB_IMAGE_DOCKER_ARCHIVE ? "docker-archive" : "oci-archive",
                          NULL };
  struct cpb_podman_request req = {
    .path = path, .query = query, .on_data = write_fd, .userdata = &fd, .streaming = true
  };

  if (cpb_podman_request (p, &req, NULL, err) < 0)
    return cpb_error_prefix (err, "saving image '%s'", name);
  return 0;
}

int
cpb_podman_image_load (cpb_podman *p, const struct cpb_podman_body *body, char ***ret_names,
                       cpb_error **err)
{
  _cleanup_buf_ cpb_buf answer = CPB_BUF_INIT;
  struct cpb_podman_request req = { .method = "POST",
                                    .path = "/libpod/images/load",
                                    .body = body,
                                    .response = &answer,
                                    .streaming = true };
  char **names = NULL;

  if (cpb_podman_request (p, &req, NULL, err) < 0 ||
      cpb_podman_parse_load (answer.data, answer.len, &names, err) < 0)
    return cpb_error_prefix (err, "loading image archive");
  if (ret_names)
    *ret_names = names;
  else
    cpb_strv_free (names);
  return 0;
}
