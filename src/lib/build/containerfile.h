/* build/containerfile.h: one image of pods.yaml rendered as a Containerfile, with a step map.
 *
 * A Containerfile comment never shows in the build's output, so a failure cannot be traced
 * back to the spec through a marker in the file.  What the output does show is Podman's
 * "STEP k/N: ..." line before each instruction: the renderer numbers every instruction it
 * emits and keeps, per step, the spec position it came from, so the builder maps the last
 * STEP line seen before an error back to `pods.yaml:23:9` and the spec's own text.
 * (Podman appends steps of its own after ours, e.g. the LABEL of the labels= parameter;
 * cpb_containerfile_step returns NULL for those.)
 *
 * Each `run` entry is its own RUN instruction, so that a failure names one spec line.
 * The build context the Containerfile expects is described alongside (ctx): the rendered
 * file first, then `files/I/BASENAME` for the image's I-th `files` entry, then the helper.
 */
#ifndef CPB_CONTAINERFILE_H
#define CPB_CONTAINERFILE_H

#include <stddef.h>
#include "buf.h"
#include "build/buildctx.h"
#include "diag.h"
#include "error.h"
#include "spec/pods.h"

/* What a step of the rendered file does, for progress lines and failure messages. */
enum cpb_cf_step_kind
{
  CPB_CF_FROM = 1,
  CPB_CF_ARG,
  CPB_CF_ENV,
  CPB_CF_PACKAGES,
  CPB_CF_COPY,
  CPB_CF_HELPER,
  CPB_CF_WORKDIR,
  CPB_CF_RUN,
  CPB_CF_USER,
  CPB_CF_ENTRYPOINT,
  CPB_CF_CMD,
  CPB_CF_LABEL,
};

struct cpb_cf_step
{
  enum cpb_cf_step_kind kind;
  cpb_pos pos;      /* where in the spec it came from (0:0 for the helper) */
  size_t run_index; /* CPB_CF_RUN: 1-based index into the image's `run` list */
  const char *what; /* the spec's own words: the run command, "apt install make gcc", ... */
};

typedef struct cpb_containerfile
{
  char *text; /* the Containerfile */
  size_t len;
  struct cpb_cf_step *steps; /* steps[k - 1] is Podman's "STEP k/N" */
  size_t n_steps;
  /* The build context to send: ctx[0] is the Containerfile itself (data = text). */
  struct cpb_buildctx_entry *ctx;
  size_t n_ctx;
  char **owned; /* strings that steps and ctx point into */
  size_t n_owned;
} cpb_containerfile;

/* What the renderer cannot know from the spec alone. */
struct cpb_containerfile_input
{
  const struct cpb_pod_image *image;
  const char *from; /* the base as Podman should resolve it: "localhost/cpb-base-busybox:latest" */
  const char *helper_path; /* the host's cpb-helper binary; required when image->helper */
  /* Host paths of the downloaded `url` files, indexed like image->files (NULL entries for
     `src` files); may be NULL when no file has a url. */
  const char *const *url_paths;
};

/* Render IN->image as a Containerfile with its step map and context.  Values that a
   Containerfile cannot carry (a newline in an ENV value, WORKDIR or USER) are CPB_ERR_INPUT
   naming the spec position, with the spec file name from SPEC_NAME. */
int cpb_containerfile_render (const struct cpb_containerfile_input *in, const char *spec_name,
                              cpb_containerfile **ret, cpb_error **err);

/* The step Podman calls "STEP K/N", or NULL for steps Podman added after ours. */
const struct cpb_cf_step *cpb_containerfile_step (const cpb_containerfile *cf, unsigned k);

/* Append S to B as a JSON string literal (quotes included), escaping what JSON requires:
   exec-form ENTRYPOINT/CMD/RUN and COPY use it. */
void cpb_containerfile_json_string (cpb_buf *b, const char *s);

void cpb_containerfile_free (cpb_containerfile *cf);
CPB_DEFINE_CLEANUP_FUNC (cpb_containerfile *, cpb_containerfile_free)
#define _cleanup_containerfile_ _cleanup_ (cpb_containerfile_freep)

#endif
