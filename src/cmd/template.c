/* template.c: `cpb template` prints a commented jobs.yaml to start a workload from. */
#include "config.h"
#include "cmd.h"
#include "spec/jobs.h"

#include <getopt.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

static const char usage[] = "Usage: cpb template [--minimal]\n"
                            "\n"
                            "Print a commented jobs.yaml to start a workload from: a matrix of\n"
                            "tasks, an initialize step and a reduce group.  Save it, edit it, and\n"
                            "run it with 'cpb run jobs.yaml'.\n"
                            "\n"
                            "  -m, --minimal  print the shortest useful file instead\n"
                            "  -h, --help     show this help\n";

CPB_VERB (template)
{
  static const struct option opts[] = { { "minimal", no_argument, NULL, 'm' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  bool minimal = false;
  int c;

  while ((c = getopt_long (argc, argv, "mh", opts, NULL)) != -1)
    switch (c)
      {
      case 'm':
        minimal = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("template");
      }
  if (optind < argc)
    return cpb_cli_usage_error ("template", "unexpected argument '%s'", argv[optind]);

  fputs (cpb_jobs_template (minimal), stdout);
  /* A full disk or a closed pipe must not look like success to a script. */
  if (fflush (stdout) != 0 || ferror (stdout))
    {
      cpb_error *err = NULL;

      cpb_error_errno (&err, errno, "cannot write the template");
      return cpb_cli_report ("template", err);
    }
  return CPB_EXIT_OK;
}
