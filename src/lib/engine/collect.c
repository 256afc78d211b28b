/* engine/collect.c: results into the store (see collect.h). */
#include "config.h"
#include "engine/collect.h"
#include "helper/protocol.h"
#include "helper-host.h"
#include "json.h"
#include "xalloc.h"

#include <string.h>

void
cpb_outcome_free (struct cpb_outcome *o)
{
  if (o == NULL)
    return;
  free (o->archive_path);
  free (o->report);
  free (o->message);
  free (o->stderr_tail);
  free (o);
}

struct cpb_outcome *
cpb_outcome_not_run (enum cpb_task_state state, char *message)
{
  struct cpb_outcome *o = cpb_xzalloc (sizeof *o);

  o->state = state;
  o->exit_code = -1;
  o->message = message;
  return o;
}

/* The helper's report from the end of the task's stderr (--report-stderr), cut off there
   by the one rule of helper-host.h so the kept log is what the task wrote; NULL when it is
   not there (a helper that died, a log cut short), and the caller reads the report file. */
static char *
report_from_stderr (cpb_buf *log, bool truncated)
{
  const char *report;
  size_t kept, len;
  char *copy;

  if (log->data == NULL ||
      !cpb_helper_report_cut (log->data, log->len, truncated, &kept, &report, &len))
    return NULL;
  copy = cpb_xstrndup (report, len);
  log->len = kept;
  log->data[kept] = '\0';
  return copy;
}

/* The last non-blank line of LOG, at most 200 bytes, control characters made '?': printed
   beside a task's failure so the user sees why without asking cpb logs; NULL if none. */
static char *
last_line (const cpb_buf *log)
{
  size_t end = log->len, start;
  char *line;

  while (end > 0 && (log->data[end - 1] == '\n' || log->data[end - 1] == '\r' ||
                     log->data[end - 1] == ' ' || log->data[end - 1] == '\t'))
    end--;
  if (end == 0)
    return NULL;
  start = end;
  while (start > 0 && log->data[start - 1] != '\n')
    start--;
  if (end - start > 200)
    end = start + 200;
  line = cpb_xstrndup (log->data + start, end - start);
  for (char *c = line; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = '?';
  return line;
}

/* What the helper measured, as the manifest carries it. */
static void
report_to_manifest (const struct cpb_helper_report *rep, struct cpb_task_manifest *m)
{
  m->has_helper = true;
  m->wall_seconds = rep->wall_seconds;
  m->user_seconds = rep->user_seconds;
  m->sys_seconds = rep->system_seconds;
  m->max_rss_kib = rep->max_rss_kib;
  m->signal = rep->signal;
  m->timed_out = rep->timed_out;
}

/* Why an exit is a failure, in words for cpb status and the progress lines; REP is NULL
   when the helper left no report. */
static char *
failure_message (const struct cpb_task_manifest *m, const struct cpb_helper_report *rep,
                 uint64_t memory, uint64_t timeout)
{
  if (m->timed_out || (m->exit_code == CPB_HELPER_EXIT_TIMEOUT && rep == NULL && timeout))
    return cpb_xasprintf ("timed out after %llus", (unsigned long long)timeout);
  if (m->exit_code == CPB_HELPER_EXIT_FAILED && rep && rep->helper_error)
    return cpb_xasprintf ("cpb-helper failed: %s", rep->helper_error);
  if (m->exit_code == CPB_HELPER_EXIT_NOT_FOUND)
    return cpb_xstrdup ("command not found (exit 127)");
  /* Podman 4.3's OOMKilled stays false after a real OOM kill: infer it. */
  if (m->exit_code == 137 && memory)
    return cpb_xasprintf ("killed (exit 137), probably out of memory (limit %llu MiB)",
                          (unsigned long long)(memory >> 20));
  if (m->signal)
    return cpb_xasprintf ("killed by signal %d (exit %d)", m->signal, m->exit_code);
  return cpb_xasprintf ("exit %d", m->exit_code);
}

/* Write the task's archive: declared outputs, logs, report, manifest. */
static int
write_archive (const struct cpb_collect *c, const struct cpb_collect_source *src,
               struct cpb_task_manifest *m, const cpb_buf *out, const cpb_buf *errlog,
               const char *report, char **ret_path, cpb_error **err)
{
  _cleanup_store_writer_ cpb_store_writer *w = NULL;
  _cleanup_error_ cpb_error *get_err = NULL;
  const char *workdir = c->t->settings->workdir ? c->t->settings->workdir : "/work";

  w = cpb_store_writer_new (c->archive_root, m, c->t->outputs, err);
  if (w == NULL)
    return -1;
  if (src->outputs (src->src, workdir, w, &get_err) < 0 && get_err->kind != CPB_ERR_NOT_FOUND)
    {
      *err = TAKE_PTR (get_err);
      return cpb_error_prefix (err, "reading outputs");
    }
  if (cpb_store_writer_add_log (w, "stdout", out->data ? out->data : "", out->len, err) < 0 ||
      cpb_store_writer_add_log (w, "stderr", errlog->data ? errlog->data : "", errlog->len, err) < 0 ||
      (report && cpb_store_writer_add_log (w, "result.json", report, strlen (report), err) < 0))
    return -1;
  return cpb_store_writer_commit (w, ret_path, err);
}

struct cpb_outcome *
cpb_collect_run (const struct cpb_collect *c, const char *node, const struct cpb_collect_source *src)
{
  const struct cpb_task *t = c->t;
  struct cpb_outcome *o = cpb_xzalloc (sizeof *o);
  _cleanup_buf_ cpb_buf out = CPB_BUF_INIT;
  _cleanup_buf_ cpb_buf errlog = CPB_BUF_INIT;
  bool truncated = false, have_report;
  struct cpb_helper_report rep = { 0 };
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_strv_free_ char **command = cpb_helper_task_command (t);
  _cleanup_free_ struct cpb_kv *params = cpb_xcalloc (t->n_params + 1, sizeof *params);
  struct cpb_task_manifest m = {
    .namespace = (char *)c->ns,
    .batch = (char *)c->batch,
    .task = t->name,
    .index = (long)t->index,
    .params = params,
    .n_params = t->n_params,
    .command = command,
    .image_id = (char *)c->image_id,
    .image_digest = (char *)c->image_digest,
    .node = (char *)node,
    .state = c->state,
    .exit_code = c->exit_code,
    .attempt = c->attempt,
    .started = c->started,
    .finished = time (NULL),
  };

  o->state = c->state;
  o->exit_code = c->exit_code;
  o->message = c->message ? cpb_xstrdup (c->message) : NULL;
  for (size_t i = 0; i < t->n_params; i++)
    params[i] = (struct cpb_kv){ (char *)t->params[i].name, t->params[i].value };
  if (src->logs (src->src, &out, &errlog, &truncated, &err) < 0)
    cpb_error_free (cpb_error_take (&err));
  /* A log cut at the size limit may have lost the helper's report and kept a forged marker
     the task wrote earlier: then only the report file counts. */
  o->report = report_from_stderr (&errlog, truncated);
  if (o->report == NULL)
    o->report = src->report_file (src->src);
  have_report = o->report &&
                cpb_helper_report_parse (o->report, strlen (o->report), &rep, NULL) == 0;
  if (have_report)
    report_to_manifest (&rep, &m);
  if (o->state == CPB_TASK_FAILED && o->message == NULL)
    o->message = failure_message (&m, have_report ? &rep : NULL, t->settings->memory,
                                  t->settings->timeout);
  cpb_helper_report_clear (&rep);
  if (o->state == CPB_TASK_FAILED)
    o->stderr_tail = last_line (&errlog);
  if (write_archive (c, src, &m, &out, &errlog, o->report, &o->archive_path, &err) < 0)
    {
      char *msg = cpb_xasprintf ("%s%sarchive not written: %s", o->message ? o->message : "",
                                 o->message ? "; " : "", err->msg);
      free (o->message);
      o->message = msg;
      if (o->state == CPB_TASK_DONE)
        o->state = CPB_TASK_FAILED; /* outputs that were not kept are not a result */
    }
  return o;
}
