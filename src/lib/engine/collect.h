/* engine/collect.h: a finished task's results into the archive store, the same way for
 * every engine.
 *
 * An engine says where the results are (a collection source: its logs, the helper's report
 * file, the working directory as a tar stream); this module reads the helper's report off
 * the end of stderr, works out what the task's end means (exit, signal, timeout, probable
 * OOM), and writes the archive and manifest through the store's writer, which re-checks
 * every name and re-hashes every byte: whatever an engine hands over is as untrusted as
 * the task that produced it.
 */
#ifndef CPB_ENGINE_COLLECT_H
#define CPB_ENGINE_COLLECT_H

#include <stdbool.h>
#include <time.h>

#include "buf.h"
#include "engine/engine.h"
#include "store/store.h"

/* The most of a log kept per task. */
#define CPB_LOG_MAX (64u << 20)

/* What became of one attempt, as the loop records it. */
struct cpb_outcome
{
  enum cpb_task_state state; /* DONE, FAILED or CANCELLED */
  int exit_code;             /* -1 when the task never ran */
  char *archive_path;        /* NULL when nothing was written */
  char *report;              /* the helper's report (JSON), NULL when none */
  char *message;             /* why it failed or was cancelled, for cpb status */
  char *stderr_tail;         /* a failed task's last line of stderr, for the user */
};

void cpb_outcome_free (struct cpb_outcome *o);
CPB_DEFINE_CLEANUP_FUNC (struct cpb_outcome *, cpb_outcome_free)
#define _cleanup_outcome_ _cleanup_ (cpb_outcome_freep)

/* Where an engine keeps a finished task's results. */
struct cpb_collect_source
{
  /* stdout and stderr, appended to OUT and ERR; *TRUNCATED when either was cut at
     CPB_LOG_MAX.  A failure is not fatal: the archive is written with what came. */
  int (*logs) (void *src, cpb_buf *out, cpb_buf *err, bool *truncated, cpb_error **error);
  /* The helper's report file, when stderr does not end with it; NULL when absent. */
  char *(*report_file) (void *src);
  /* The working directory WORKDIR (absolute) as a tar stream, fed to W;
     CPB_ERR_NOT_FOUND when there is none. */
  int (*outputs) (void *src, const char *workdir, cpb_store_writer *w, cpb_error **error);
  void *src;
};

/* Collect task C from SRC on node NODE: never fails, what could not be kept is said in the
   outcome's message (and a DONE task whose archive was not written is FAILED: outputs
   that were not kept are not a result). */
struct cpb_outcome *cpb_collect_run (const struct cpb_collect *c, const char *node,
                                     const struct cpb_collect_source *src);

/* The failure of a task that never ran (its launch failed): MESSAGE taken over. */
struct cpb_outcome *cpb_outcome_not_run (enum cpb_task_state state, char *message);

#endif
