/* fetch.c: `cpb fetch BATCH -o DIR` extracts the archived outputs of a batch's tasks, safely:
   the archives may come from a store someone else can write, so every member is checked and
   extraction runs in the sandbox (store.h, cpb_store_extract). */
#include "config.h"
#include "cmd.h"
#include "json.h"
#include "paths.h"
#include "store/store.h"
#include "xalloc.h"

#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: cpb fetch BATCH -o DIR [--task GLOB] [--state STATE] [--include PATTERN]\n"
    "                 [--exclude PATTERN] [--namespace NS] [--archive DIR] [--force] [--json]\n"
    "\n"
    "Extract the archived outputs (and logs, under .cpb/) of the tasks of BATCH into\n"
    "DIR/TASK/.  Members with absolute paths, '..', links leading out of DIR or device nodes\n"
    "make the task's fetch fail, naming the member, and leave nothing of that task in DIR.\n"
    "\n"
    "  -o, --output DIR     where to put the tasks' directories (created if needed)\n"
    "  -t, --task GLOB      only tasks whose name matches GLOB (repeatable)\n"
    "  -s, --state STATE    only tasks that ended STATE: done, failed or cancelled\n"
    "  -i, --include PATTERN  only members matching PATTERN (repeatable; globs as in outputs)\n"
    "  -x, --exclude PATTERN  not members matching PATTERN (repeatable)\n"
    "  --namespace NS       the batch's namespace (default: your login name)\n"
    "  --archive DIR        the archive store (default: $CPB_ARCHIVE_DIR, the config file,\n"
    "                       or $XDG_DATA_HOME/cpb/archive)\n"
    "  -f, --force          replace DIR/TASK when it exists\n"
    "  --json               print what was fetched as JSON\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 every selected task fetched, 1 a task could not be fetched or no task\n"
    "matched, 2 bad usage.\n";

struct fetch_args
{
  const char *batch;
  const char *output;
  const char *ns;
  const char *archive;
  char **tasks;
  char **includes;
  char **excludes;
  int state; /* an enum cpb_task_state, or -1 for any */
  bool force;
  bool json;
};

static void
strv_push (char ***v, const char *s)
{
  size_t n = 0;

  while (*v && (*v)[n])
    n++;
  *v = cpb_xrealloc (*v, (n + 2) * sizeof **v);
  (*v)[n] = cpb_xstrdup (s);
  (*v)[n + 1] = NULL;
}

static int
parse_state (const char *name)
{
  for (int st = CPB_TASK_DONE; st <= CPB_TASK_CANCELLED; st++)
    if (strcmp (name, cpb_task_state_word (st)) == 0)
      return st;
  return -1;
}

static int
parse_args (int argc, char **argv, struct fetch_args *a)
{
  enum
  {
    OPT_NAMESPACE = 256,
    OPT_ARCHIVE,
    OPT_JSON
  };
  static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
                                        { "task", required_argument, NULL, 't' },
                                        { "state", required_argument, NULL, 's' },
                                        { "include", required_argument, NULL, 'i' },
                                        { "exclude", required_argument, NULL, 'x' },
                                        { "namespace", required_argument, NULL, OPT_NAMESPACE },
                                        { "archive", required_argument, NULL, OPT_ARCHIVE },
                                        { "force", no_argument, NULL, 'f' },
                                        { "json", no_argument, NULL, OPT_JSON },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  int c;

  /* 0, not 1: glibc then forgets main's '+' (stop at the first argument), so options may
     follow BATCH as users type them. */
  optind = 0;
  while ((c = getopt_long (argc, argv, "o:t:s:i:x:fh", opts, NULL)) != -1)
    switch (c)
      {
      case 'o':
        a->output = optarg;
        break;
      case 't':
        strv_push (&a->tasks, optarg);
        break;
      case 's':
        a->state = parse_state (optarg);
        if (a->state < 0)
          return cpb_cli_usage_error ("fetch", "unknown state '%s' (done, failed, cancelled)",
                                      optarg);
        break;
      case 'i':
        strv_push (&a->includes, optarg);
        break;
      case 'x':
        strv_push (&a->excludes, optarg);
        break;
      case OPT_NAMESPACE:
        a->ns = optarg;
        break;
      case OPT_ARCHIVE:
        a->archive = optarg;
        break;
      case 'f':
        a->force = true;
        break;
      case OPT_JSON:
        a->json = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return 1;
      default:
        return cpb_cli_bad_option ("fetch");
      }
  if (optind + 1 != argc)
    return cpb_cli_usage_error ("fetch", "expected one BATCH");
  if (a->output == NULL)
    return cpb_cli_usage_error ("fetch", "missing -o DIR");
  a->batch = argv[optind];
  return 0;
}

static bool
task_selected (const struct fetch_args *a, const struct cpb_task_manifest *m)
{
  if (a->state >= 0 && (int)m->state != a->state)
    return false;
  if (a->tasks == NULL)
    return true;
  for (char **t = a->tasks; *t; t++)
    if (fnmatch (*t, m->task, 0) == 0)
      return true;
  return false;
}

/* Fetch one task; prints its line (or JSON object) and reports its error, if any. */
static int
fetch_task (const struct fetch_args *a, const char *root, const char *ns,
            const struct cpb_task_manifest *m, yajl_gen g)
{
  _cleanup_free_ char *path = cpb_store_task_path (root, ns, a->batch, m->task, false);
  struct cpb_fetch_options o = { a->includes, a->excludes, a->force };
  cpb_error *err = NULL;
  size_t files = 0;
  int r = cpb_store_extract (path, a->output, m->task, &o, &files, &err);

  if (g)
    {
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "task", m->task);
      cpb_json_gen_key_string (g, "state", cpb_task_state_word (m->state));
      cpb_json_gen_key_int (g, "files", r < 0 ? 0 : (int64_t)files);
      cpb_json_gen_key_string (g, "error", r < 0 ? err->msg : NULL);
      yajl_gen_map_close (g);
    }
  else if (r == 0)
    printf ("%s\t%s\t%zu files\t%s/%s\n", m->task, cpb_task_state_word (m->state), files, a->output,
            m->task);
  if (r < 0)
    cpb_cli_report ("fetch", err);
  return r;
}

static int
fetch_batch (const struct fetch_args *a, cpb_error **err)
{
  _cleanup_free_ char *root = cpb_archive_dir (a->archive, err);
  _cleanup_free_ char *ns = a->ns ? cpb_xstrdup (a->ns) : cpb_default_namespace ();
  _cleanup_yajl_gen_ yajl_gen g = a->json ? cpb_json_gen_new () : NULL;
  struct cpb_task_manifest **tasks = NULL;
  size_t n = 0, matched = 0, failed = 0;

  if (root == NULL || cpb_check_name ("namespace", ns, err) < 0 ||
      cpb_check_name ("batch", a->batch, err) < 0 ||
      cpb_store_list_tasks (root, ns, a->batch, &tasks, &n, err) < 0)
    return -1;
  if (g)
    yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    if (task_selected (a, tasks[i]))
      {
        matched++;
        failed += fetch_task (a, root, ns, tasks[i], g) < 0;
      }
  cpb_task_manifests_free (tasks, n);
  if (g)
    {
      _cleanup_free_ char *doc = NULL;

      yajl_gen_array_close (g);
      doc = cpb_json_gen_finish (g, NULL, err);
      if (doc)
        puts (doc);
    }
  if (matched == 0)
    return cpb_error_set (err, CPB_ERR_NOT_FOUND, "no task of batch '%s' matches", a->batch);
  if (failed)
    return cpb_error_set (err, CPB_ERR_FAILED, "%zu of %zu tasks could not be fetched", failed,
                          matched);
  return 0;
}

CPB_VERB (fetch)
{
  struct fetch_args a = { .state = -1 };
  cpb_error *err = NULL;
  int r = parse_args (argc, argv, &a);

  if (r == 0 && fetch_batch (&a, &err) < 0)
    r = cpb_cli_report ("fetch", err);
  else if (r == 1)
    r = CPB_EXIT_OK;
  cpb_strv_free (a.tasks);
  cpb_strv_free (a.includes);
  cpb_strv_free (a.excludes);
  return r;
}
