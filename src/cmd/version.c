/* version.c: `cpb version` prints cpb's version and, with --json, a document for scripts. */
#include "config.h"
#include "cmd.h"

#include <getopt.h>
#include <stdio.h>

static const char usage[] = "Usage: cpb version [--json]\n"
                            "\n"
                            "Print the version of cpb.\n"
                            "\n"
                            "  --json    print {\"version\": ...} for scripts\n"
                            "  -h, --help  show this help\n";

CPB_VERB (version)
{
  static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
                                         { "help", no_argument, NULL, 'h' },
                                         { NULL, 0, NULL, 0 } };
  bool json = false;
  int c;

  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'j':
        json = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("version");
      }

  if (json)
    printf ("{\"version\": \"%s\"}\n", PACKAGE_VERSION);
  else
    printf ("cpb %s\n", PACKAGE_VERSION);
  return CPB_EXIT_OK;
}
