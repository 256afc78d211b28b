/* archive.c: `cpb archive list|prune|verify` looks after the archive store: what it holds, how
   much of it to keep, and whether the tarballs still match their manifests. */
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
#include <time.h>

static const char usage[] =
    "Usage: cpb archive list [--namespace NS] [--archive DIR] [--json]\n"
    "       cpb archive prune [--namespace NS] [--batch GLOB] (--older-than DURATION |\n"
    "                         --keep-last N) [--dry-run] [--archive DIR] [--json]\n"
    "       cpb archive verify BATCH [--task GLOB] [--namespace NS] [--archive DIR]\n"
    "\n"
    "list shows the batches of the archive store with their task counts and sizes.  prune\n"
    "removes whole batches: those whose newest task finished more than DURATION ago (30d, 12h,\n"
    "90m, 45s, 2w), or all but the N newest of each namespace.  verify checks every task\n"
    "archive of BATCH against the manifest inside it (sizes and sha256 of every member).\n"
    "\n"
    "  --namespace NS       only this namespace (verify: default your login name)\n"
    "  --batch GLOB         prune: only batches whose name matches GLOB\n"
    "  --older-than DURATION  prune: batches finished longer ago than DURATION\n"
    "  --keep-last N        prune: keep the N newest batches of each namespace\n"
    "  -n, --dry-run        prune: say what would be removed, remove nothing\n"
    "  -t, --task GLOB      verify: only tasks whose name matches GLOB\n"
    "  --archive DIR        the archive store (default: $CPB_ARCHIVE_DIR, the config file,\n"
    "                       or $XDG_DATA_HOME/cpb/archive)\n"
    "  --json               print the result as JSON\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 success, 1 failure (verify: an archive does not match), 2 bad usage.\n";

struct archive_args
{
  const char *action;
  const char *batch;
  const char *ns;
  const char *archive;
  const char *task;
  struct cpb_prune_rule rule;
  bool json;
};

enum
{
  OPT_NAMESPACE = 256,
  OPT_ARCHIVE,
  OPT_BATCH,
  OPT_OLDER,
  OPT_KEEP,
  OPT_JSON
};

static int
parse_option (int c, struct archive_args *a, cpb_error **err)
{
  char *end;

  switch (c)
    {
    case OPT_NAMESPACE:
      a->ns = optarg;
      return 0;
    case OPT_ARCHIVE:
      a->archive = optarg;
      return 0;
    case OPT_BATCH:
      a->rule.batch_glob = optarg;
      return 0;
    case OPT_OLDER:
      return cpb_parse_duration (optarg, &a->rule.older_than, err);
    case OPT_KEEP:
      a->rule.keep_last = strtol (optarg, &end, 10);
      if (end == optarg || *end || a->rule.keep_last < 0)
        return cpb_error_set (err, CPB_ERR_INPUT, "--keep-last needs a number >= 0");
      return 0;
    case 'n':
      a->rule.dry_run = true;
      return 0;
    case 't':
      a->task = optarg;
      return 0;
    case OPT_JSON:
      a->json = true;
      return 0;
    default:
      return cpb_error_set (err, CPB_ERR_INPUT, "unknown option");
    }
}

/* 0 to go on, 1 after --help, else the exit code of bad usage. */
static int
parse_args (int argc, char **argv, struct archive_args *a)
{
  static const struct option opts[] = { { "namespace", required_argument, NULL, OPT_NAMESPACE },
                                        { "archive", required_argument, NULL, OPT_ARCHIVE },
                                        { "batch", required_argument, NULL, OPT_BATCH },
                                        { "older-than", required_argument, NULL, OPT_OLDER },
                                        { "keep-last", required_argument, NULL, OPT_KEEP },
                                        { "dry-run", no_argument, NULL, 'n' },
                                        { "task", required_argument, NULL, 't' },
                                        { "json", no_argument, NULL, OPT_JSON },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  _cleanup_error_ cpb_error *err = NULL;
  int c;

  a->rule.keep_last = -1;
  /* 0, not 1: glibc then forgets main's '+' (stop at the first argument), so options may
     follow BATCH as users type them. */
  optind = 0;
  while ((c = getopt_long (argc, argv, "nt:h", opts, NULL)) != -1)
    {
      if (c == 'h')
        {
          fputs (usage, stdout);
          return 1;
        }
      if (c == '?')
        return cpb_cli_bad_option ("archive");
      if (parse_option (c, a, &err) < 0)
        return cpb_cli_usage_error ("archive", "%s", err->msg);
    }
  if (optind >= argc)
    return cpb_cli_usage_error ("archive", "expected list, prune or verify");
  a->action = argv[optind++];
  if (strcmp (a->action, "verify") == 0 && optind < argc)
    a->batch = argv[optind++];
  if (optind < argc)
    return cpb_cli_usage_error ("archive", "unexpected argument '%s'", argv[optind]);
  return 0;
}

static void
print_batches (const struct cpb_store_batch *b, size_t n, bool json, const char *verb)
{
  _cleanup_yajl_gen_ yajl_gen g = json ? cpb_json_gen_new () : NULL;
  _cleanup_free_ char *doc = NULL;
  char when[32];

  if (!json)
    {
      for (size_t i = 0; i < n; i++)
        {
          struct tm tm;
          strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&b[i].newest, &tm));
          printf ("%s%s/%s\t%zu tasks (%zu done, %zu failed, %zu cancelled)\t%llu bytes\t%s\n",
                  verb, b[i].namespace, b[i].batch, b[i].tasks, b[i].done, b[i].failed,
                  b[i].cancelled, (unsigned long long)b[i].bytes, when);
        }
      return;
    }
  yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    {
      struct tm tm;
      strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&b[i].newest, &tm));
      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "namespace", b[i].namespace);
      cpb_json_gen_key_string (g, "batch", b[i].batch);
      cpb_json_gen_key_int (g, "tasks", (int64_t)b[i].tasks);
      cpb_json_gen_key_int (g, "done", (int64_t)b[i].done);
      cpb_json_gen_key_int (g, "failed", (int64_t)b[i].failed);
      cpb_json_gen_key_int (g, "cancelled", (int64_t)b[i].cancelled);
      cpb_json_gen_key_int (g, "bytes", (int64_t)b[i].bytes);
      cpb_json_gen_key_string (g, "newest", when);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
  doc = cpb_json_gen_finish (g, NULL, NULL);
  if (doc)
    puts (doc);
}

static int
do_list (const struct archive_args *a, const char *root, cpb_error **err)
{
  struct cpb_store_batch *b = NULL;
  size_t n = 0;

  if (cpb_store_list_batches (root, a->ns, &b, &n, err) < 0)
    return -1;
  print_batches (b, n, a->json, "");
  cpb_store_batches_free (b, n);
  return 0;
}

static int
do_prune (struct archive_args *a, const char *root, cpb_error **err)
{
  struct cpb_store_batch *b = NULL;
  size_t n = 0;

  if ((a->rule.older_than > 0) == (a->rule.keep_last >= 0))
    return cpb_error_set (err, CPB_ERR_INPUT, "give one of --older-than and --keep-last");
  a->rule.ns = a->ns;
  if (cpb_store_prune (root, &a->rule, time (NULL), &b, &n, err) < 0)
    return -1;
  print_batches (b, n, a->json, a->rule.dry_run ? "would remove " : "removed ");
  cpb_store_batches_free (b, n);
  return 0;
}

static int
do_verify (const struct archive_args *a, const char *root, cpb_error **err)
{
  _cleanup_free_ char *ns = a->ns ? cpb_xstrdup (a->ns) : cpb_default_namespace ();
  struct cpb_task_manifest **tasks = NULL;
  size_t n = 0, bad = 0, checked = 0;

  if (a->batch == NULL)
    return cpb_error_set (err, CPB_ERR_INPUT, "verify needs a BATCH");
  if (cpb_check_name ("namespace", ns, err) < 0 || cpb_check_name ("batch", a->batch, err) < 0 ||
      cpb_store_list_tasks (root, ns, a->batch, &tasks, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      _cleanup_free_ char *path = NULL;
      cpb_error *e = NULL;

      if (a->task && fnmatch (a->task, tasks[i]->task, 0) != 0)
        continue;
      checked++;
      path = cpb_store_task_path (root, ns, a->batch, tasks[i]->task, false);
      if (cpb_store_verify (path, &e) < 0)
        {
          bad++;
          cpb_cli_report ("archive", e);
        }
      else
        printf ("%s\tok\n", tasks[i]->task);
    }
  cpb_task_manifests_free (tasks, n);
  if (bad)
    return cpb_error_set (err, CPB_ERR_FAILED, "%zu of %zu archives do not match", bad, checked);
  return 0;
}

CPB_VERB (archive)
{
  struct archive_args a = { 0 };
  _cleanup_free_ char *root = NULL;
  cpb_error *err = NULL;
  int r = parse_args (argc, argv, &a);

  if (r != 0)
    return r == 1 ? CPB_EXIT_OK : r;
  root = cpb_archive_dir (a.archive, &err);
  if (root == NULL)
    return cpb_cli_report ("archive", err);
  if (strcmp (a.action, "list") == 0)
    r = do_list (&a, root, &err);
  else if (strcmp (a.action, "prune") == 0)
    r = do_prune (&a, root, &err);
  else if (strcmp (a.action, "verify") == 0)
    r = do_verify (&a, root, &err);
  else
    return cpb_cli_usage_error ("archive", "unknown action '%s'", a.action);
  return r < 0 ? cpb_cli_report ("archive", err) : CPB_EXIT_OK;
}
