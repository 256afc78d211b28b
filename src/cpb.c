/* cpb.c: main and the table of verbs.
 *
 * Options before the verb are global (see struct cpb_global); everything from the verb on
 * is handed to the verb's cmd_<verb>() with argv[0] set to the verb's name.
 */
#include "config.h"
#include "cmd/cmd.h"

#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One row per verb, in the order `cpb --help` lists them. */
static const struct cpb_cmd commands[] = {
  { "build", cmd_build, "build the images of a pods.yaml, skipping those up to date" },
  { "images", cmd_images, "list the images cpb built" },
  { "export", cmd_export, "save an image as an OCI or docker archive" },
  { "template", cmd_template, "print a commented jobs.yaml to start a workload from" },
  { "run", cmd_run, "run the tasks of a jobs.yaml as containers, resuming what is not done" },
  { "status", cmd_status, "show the batches, or the tasks of a batch, and their states" },
  { "logs", cmd_logs, "print the output of a task, running or finished" },
  { "cancel", cmd_cancel, "cancel the unfinished tasks of a batch" },
  { "hold", cmd_hold, "keep queued tasks of a batch from starting" },
  { "release", cmd_release, "let held tasks of a batch start again" },
  { "fetch", cmd_fetch, "extract the archived outputs of a batch's tasks, safely" },
  { "archive", cmd_archive, "list, prune and verify the archive store" },
  { "serve", cmd_serve, "serve the farm's status page and its JSON API" },

  { "node", cmd_node, "add, list, check and remove the machines tasks run on (nodes.yaml)" },
  { "version", cmd_version, "print the version of cpb" },
  { "doctor", cmd_doctor, "check this machine and say what to fix" },
};

static void
print_help (FILE *out)
{
  fputs ("Usage: cpb [--url URL] [-v] VERB [OPTIONS] [ARGS]\n"
         "\n"
         "cpb turns spare computers into a compute farm for embarrassingly parallel work,\n"
         "using rootless Podman containers.\n"
         "\n"
         "Verbs:\n",
         out);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs ("\n"
         "Global options:\n"
         "  --url URL    the Podman service (unix:///path/podman.sock, ssh://user@host/path);\n"
         "               default: $CPB_PODMAN_URL,\n"
         "               $CONTAINER_HOST, the user's socket, the system socket, or a service\n"
         "               cpb starts for the duration of the command\n"
         "  -v, --verbose  say more (repeat for more)\n"
         "  -h, --help   show this help; 'cpb VERB --help' shows a verb's\n"
         "  --version    print the version\n"
         "\n"
         "Exit codes: 0 success, 1 failure, 2 bad input or usage, 3 Podman unreachable,\n"
         "130 interrupted.  See cpb(1).\n",
         out);
}

static const struct cpb_cmd *
find_command (const char *name)
{
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = { { "url", required_argument, NULL, 'u' },
                                        { "verbose", no_argument, NULL, 'v' },
                                        { "help", no_argument, NULL, 'h' },
                                        { "version", no_argument, NULL, 'V' },
                                        { NULL, 0, NULL, 0 } };
  struct cpb_global g = { 0 };
  const struct cpb_cmd *cmd;
  static char prog[64];
  int c;

  setlocale (LC_ALL, "");
  /* A write to a closed pipe (cpb status | head) is an error to report, not a reason to die. */
  signal (SIGPIPE, SIG_IGN);

  g.url = getenv ("CPB_PODMAN_URL");
  g.color = isatty (1) && getenv ("NO_COLOR") == NULL;

  /* '+': stop at the verb, its options are its own. */
  while ((c = getopt_long (argc, argv, "+hv", opts, NULL)) != -1)
    switch (c)
      {
      case 'u':
        g.url = optarg;
        break;
      case 'v':
        g.verbose++;
        break;
      case 'h':
        print_help (stdout);
        return CPB_EXIT_OK;
      case 'V':
        printf ("cpb %s\n", PACKAGE_VERSION);
        return CPB_EXIT_OK;
      default:
        fputs ("Try 'cpb --help' for more information.\n", stderr);
        return CPB_EXIT_USAGE;
      }

  if (optind >= argc)
    {
      print_help (stderr);
      return CPB_EXIT_USAGE;
    }
  /* `cpb help VERB` is `cpb VERB --help`. */
  if (strcmp (argv[optind], "help") == 0)
    {
      const struct cpb_cmd *verb = optind + 1 < argc ? find_command (argv[optind + 1]) : NULL;
      char *help_argv[3] = { NULL, (char *) "--help", NULL };

      if (verb == NULL)
        {
          print_help (stdout);
          return CPB_EXIT_OK;
        }
      help_argv[0] = (char *) verb->name;
      optind = 0;
      return verb->fn (2, help_argv, &g);
    }

  cmd = find_command (argv[optind]);
  if (cmd == NULL)
    {
      fprintf (stderr, "cpb: '%s' is not a cpb verb. See 'cpb --help'.\n", argv[optind]);
      return CPB_EXIT_USAGE;
    }

  argc -= optind;
  argv += optind;
  /* getopt names a bad option of the verb after argv[0]: "cpb VERB", as the verb's other
     messages read.  No verb reads argv[0]. */
  snprintf (prog, sizeof prog, "cpb %s", cmd->name);
  argv[0] = prog;
  /* 0, not 1: glibc reinitialises getopt fully only for 0, and would otherwise keep the
     '+' (stop at the first operand) of the scan above for the verb's own options. */
  optind = 0;
  return cmd->fn (argc, argv, &g);
}
