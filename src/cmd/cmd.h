/* cmd.h: what every verb of cpb shares.
 *
 * A verb lives in src/cmd/<verb>.c, exports `int cmd_<verb> (int argc, char **argv,
 * const struct cpb_global *g)`, parses its own options (argv[0] is the verb), calls
 * src/lib and prints.  It returns the process exit code; it never calls exit().
 */
#ifndef CPB_CMD_H
#define CPB_CMD_H

#include <stdbool.h>
#include "error.h"
#include "podman/podman.h"

/* Options given before the verb (or in the environment) that any verb may use. */
struct cpb_global
{
  const char *url;  /* --url or CPB_PODMAN_URL; NULL for discovery */
  int verbose;      /* -v, repeated */
  bool color;       /* stdout is a terminal and NO_COLOR is unset */
};

typedef int (*cpb_cmd_fn) (int argc, char **argv, const struct cpb_global *g);

struct cpb_cmd
{
  const char *name;
  cpb_cmd_fn fn;
  const char *summary; /* one line for `cpb --help` */
};

/* Print "cpb VERB: MESSAGE" on stderr and return the exit code for ERR (and free it). */
int cpb_cli_report (const char *verb, cpb_error *err);

/* Print "cpb VERB: MESSAGE" and a pointer to --help for bad usage; returns CPB_EXIT_USAGE. */
int cpb_cli_usage_error (const char *verb, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

/* For getopt's '?': getopt has already said which option and why (unknown, or missing its
   argument), so only the pointer to --help follows.  Returns CPB_EXIT_USAGE. */
int cpb_cli_bad_option (const char *verb);

/* True when stdout (FD 1) or stderr (FD 2) is a terminal that progress lines may redraw. */
bool cpb_cli_isatty (int fd);

/* Connect to Podman as the user asked (--url, CPB_PODMAN_URL) or by discovery, starting an
   embedded service when none runs; says so on stderr under -v.  Errors are CPB_ERR_CONNECT
   (exit 3) with where cpb looked. */
int cpb_cli_connect (const struct cpb_global *g, cpb_podman **ret, cpb_error **err);

#define CPB_VERB(name) int cmd_##name (int argc, char **argv, const struct cpb_global *g)

CPB_VERB (version);
CPB_VERB (build);
CPB_VERB (images);
CPB_VERB (export);
CPB_VERB (doctor);
CPB_VERB (run);
CPB_VERB (status);
CPB_VERB (logs);
CPB_VERB (cancel);
CPB_VERB (hold);
CPB_VERB (release);
CPB_VERB (fetch);
CPB_VERB (archive);
CPB_VERB (template);
CPB_VERB (serve);

CPB_VERB (node);

#endif
