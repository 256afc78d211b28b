/* fuzz-containerfile.c: every image of an arbitrary pods.yaml, rendered as a Containerfile.
 *
 * The builder maps Podman's "STEP k/N" back to the spec by counting instructions, so the
 * renderer promises one instruction per line and one step per instruction, whatever text
 * the spec holds (a newline in a label, a quote in a path).  This target abort()s when a
 * rendered file breaks that promise, or when a refusal is not a CPB_ERR_INPUT error.
 */
#include "config.h"
#include "build/containerfile.h"
#include "spec/pods.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536

static void
check (bool cond)
{
  if (!cond)
    abort ();
}

static bool
is_instruction (const char *line, size_t len)
{
  static const char *const words[] = { "FROM ", "ARG ",     "ENV ",  "RUN ",
                                       "COPY ", "WORKDIR ", "USER ", "ENTRYPOINT ",
                                       "CMD ",  "LABEL ",   NULL };

  for (size_t i = 0; words[i]; i++)
    if (len >= strlen (words[i]) && strncmp (line, words[i], strlen (words[i])) == 0)
      return true;
  return false;
}

/* One instruction per non-comment line, as many as steps, nothing else. */
static void
check_rendered (const cpb_containerfile *cf)
{
  size_t instructions = 0;

  check (cf->text != NULL && cf->len == strlen (cf->text));
  check (cf->n_ctx >= 1 && cf->ctx[0].data == cf->text &&
         strcmp (cf->ctx[0].name, "Containerfile") == 0);
  check (cf->len > 0 && cf->text[cf->len - 1] == '\n');
  for (const char *line = cf->text; *line;)
    {
      const char *end = strchr (line, '\n');
      size_t len = (size_t)(end - line);

      check (end != NULL);
      if (line[0] != '#')
        {
          check (is_instruction (line, len));
          check (len == 0 || line[len - 1] != '\\');
          instructions++;
        }
      line = end + 1;
    }
  check (instructions == cf->n_steps);
  for (size_t k = 1; k <= cf->n_steps; k++)
    check (cpb_containerfile_step (cf, (unsigned)k) != NULL);
  check (cpb_containerfile_step (cf, (unsigned)cf->n_steps + 1) == NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;

  if (size > FUZZ_MAX_INPUT)
    return 0;
  if (cpb_pods_spec_load_buffer ("fuzz.yaml", NULL, (const char *)data, size, &spec, &err) < 0)
    return 0;
  for (size_t i = 0; i < spec->n_images; i++)
    {
      const struct cpb_pod_image *img = &spec->images[i];
      struct cpb_containerfile_input in = { .image = img,
                                            .from = img->from.text,
                                            .helper_path = "/fuzz/cpb-helper" };
      _cleanup_containerfile_ cpb_containerfile *cf = NULL;
      _cleanup_error_ cpb_error *e = NULL;

      if (cpb_containerfile_render (&in, spec->path, &cf, &e) < 0)
        check (e != NULL && e->kind == CPB_ERR_INPUT && e->msg[0] != '\0' && cf == NULL);
      else
        check_rendered (cf);
    }
  return 0;
}
