/* engine/bundle.h: what a task's container gets before it starts.
 *
 * A bundle is a description, not bytes: cpb-helper, the working directory, the outputs of
 * the steps the task depends on (initialize's into the working directory, each task of an
 * `inputs_from` group under WORKDIR/GROUP/TASK/), then the task's own inputs.  The loop
 * makes it in its own thread (it reads the state database for the upstream archives); an
 * engine turns it into what its transport takes, on a thread of its own: a tar stream for
 * Podman's archive API today, a directory for a local bind mount or a shared spool later.
 */
#ifndef CPB_ENGINE_BUNDLE_H
#define CPB_ENGINE_BUNDLE_H

#include <stddef.h>
#include "error.h"
#include "spec/jobs.h"

/* An earlier task's archive whose outputs go under PREFIX (relative to the container's /). */
struct cpb_bundle_upstream
{
  char *archive_path;
  char *prefix;
};

struct cpb_bundle
{
  char *helper_path; /* cpb-helper on the host */
  char *workdir;     /* the task's working directory, relative to / ("work") */
  const struct cpb_task_input *inputs; /* borrowed from the task */
  size_t n_inputs;
  struct cpb_bundle_upstream *upstream;
  size_t n_upstream;
};

/* A bundle for task T (its workdir and inputs borrowed: T must outlive it). */
struct cpb_bundle *cpb_bundle_new (const char *helper_path, const struct cpb_task *t);

/* Add the outputs kept in ARCHIVE_PATH under PREFIX (both copied). */
void cpb_bundle_add_upstream (struct cpb_bundle *b, const char *archive_path, const char *prefix);

void cpb_bundle_free (struct cpb_bundle *b);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_bundle *, cpb_bundle_free)
#define _cleanup_bundle_ _cleanup_ (cpb_bundle_freep)

/* Write B as one tar stream, to be unpacked at the container's "/", into FD.  Inputs are
   walked in name order, so the same files make the same stream; sockets, fifos and devices
   are left out. */
int cpb_bundle_write_tar (const struct cpb_bundle *b, int fd, cpb_error **err);

/* Call FN for every entry of directory PATH but . and .., in name order, up to the first
   failure: the one walk behind both task keys and input tars, so that neither depends on
   the file system's order. */
int cpb_dir_each (const char *path,
                  int (*fn) (void *arg, const char *entry, const char *sub, cpb_error **err),
                  void *arg, cpb_error **err);

/* The working directory of T as a path relative to / ("/work" -> "work"). */
const char *cpb_task_workdir (const struct cpb_task *t);

#endif
