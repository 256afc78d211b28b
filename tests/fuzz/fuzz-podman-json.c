/* fuzz-podman-json.c: every parse function of Podman's answers, and the log frame decoder,
 * on arbitrary input (a broken or hostile service must not crash cpb).
 *
 * Besides memory errors, it checks the parsers' promises and abort()s when one is broken:
 * each returns 0 with its result set or -1 with an error message, never both or neither.
 */
#include "config.h"
#include "podman/podman.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (256 * 1024)

static void
check (bool cond)
{
  if (!cond)
    abort ();
}

/* R is the return of a parser that fills its result (HAS_RESULT) on success and ERR on
   failure. */
static void
check_result (int r, bool has_result, cpb_error **err)
{
  check ((r == 0 && has_result && *err == NULL) || (r < 0 && *err != NULL && (*err)->msg != NULL));
  cpb_error_free (*err);
  *err = NULL;
}

static int
count_bytes (void *userdata, enum cpb_podman_log_stream stream, const char *data, size_t len,
             cpb_error **err)
{
  check (stream == CPB_LOG_STDOUT || stream == CPB_LOG_STDERR);
  *(size_t *)userdata += len;
  return 0;
}

static void
fuzz_documents (const char *text, size_t len)
{
  cpb_error *err = NULL;
  struct cpb_podman_version *v = NULL;
  struct cpb_podman_info *info = NULL;
  struct cpb_podman_image_list *il = NULL;
  struct cpb_podman_image *img = NULL;
  struct cpb_podman_container *c = NULL;
  struct cpb_podman_container_list *cl = NULL;
  struct cpb_podman_event *ev = NULL;
  char *id = NULL, *stream = NULL, **names = NULL, **warnings = NULL;
  int code = 0, r;

  r = cpb_podman_parse_version (text, len, &v, &err);
  check_result (r, v != NULL, &err);
  r = cpb_podman_parse_info (text, len, &info, &err);
  check_result (r, info != NULL, &err);
  r = cpb_podman_parse_image_list (text, len, &il, &err);
  check_result (r, il != NULL, &err);
  r = cpb_podman_parse_image_inspect (text, len, &img, &err);
  check_result (r, img != NULL, &err);
  r = cpb_podman_parse_container_inspect (text, len, &c, &err);
  check_result (r, c != NULL, &err);
  r = cpb_podman_parse_container_list (text, len, &cl, &err);
  check_result (r, cl != NULL, &err);
  r = cpb_podman_parse_event (text, len, &ev, &err);
  check_result (r, ev != NULL, &err);
  r = cpb_podman_parse_id (text, len, &id, &err);
  check_result (r, id != NULL, &err);
  free (id);
  id = NULL;
  r = cpb_podman_parse_create (text, len, &id, &warnings, &err);
  check_result (r, id != NULL && warnings != NULL, &err);
  r = cpb_podman_parse_load (text, len, &names, &err);
  check_result (r, names != NULL, &err);
  r = cpb_podman_parse_wait (text, len, &code, &err);
  check_result (r, true, &err);
  if (cpb_podman_parse_build_line (text, len, &stream, &err) < 0)
    check (err != NULL && stream == NULL);
  check (cpb_podman_parse_error (text, len, 500, &err) < 0 && err && err->http_status == 500);
  cpb_error_free (err);
  cpb_podman_version_free (v);
  cpb_podman_info_free (info);
  cpb_podman_image_list_free (il);
  cpb_podman_image_free (img);
  cpb_podman_container_free (c);
  cpb_podman_container_list_free (cl);
  cpb_podman_event_free (ev);
  free (id);
  free (stream);
  cpb_strv_free (names);
  cpb_strv_free (warnings);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct cpb_logframe d = CPB_LOGFRAME_INIT;
  cpb_error *err = NULL;
  size_t payload = 0;

  if (size > FUZZ_MAX_INPUT)
    return 0;
  fuzz_documents ((const char *)data, size);
  /* The decoder never hands over more than it was given, minus 8 header bytes a frame. */
  if (cpb_logframe_feed (&d, data, size, count_bytes, &payload, &err) < 0)
    check (err != NULL);
  check (payload <= size);
  cpb_error_free (err);
  return 0;
}
