/* serve.c: `cpb serve [--listen ADDR]` — the farm's status page and its JSON API, until
   interrupted.  A process of its own: it reads the state database as a WAL reader and never
   holds up a run, and its end (or its crash) leaves every run alone. */
#include "config.h"
#include "cmd.h"
#include "paths.h"
#include "serve.h"
#include "state.h"
#include "xalloc.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_LISTEN "127.0.0.1:22581"

static const char usage[] =
    "Usage: cpb serve [--listen ADDR:PORT] [--allow-host NAME]...\n"
    "\n"
    "Serve the farm's status page and its JSON API: batches with their progress,\n"
    "rate and ETA, tasks, live logs, nodes; hold, release and cancel.  It prints\n"
    "the address to open, with a token that is asked for everything, and runs\n"
    "until interrupted.  See docs/serve.md.\n"
    "\n"
    "  --listen ADDR:PORT  where to listen (default " DEFAULT_LISTEN "; port 0 picks\n"
    "                      one); a non-loopback address needs --allow-host\n"
    "  --allow-host NAME   also answer to Host NAME (the name a remote browser uses)\n"
    "  -h, --help          show this help\n";

struct serve_args
{
  const char *listen;
  char **allow_hosts;
  size_t n_allow;
};

/* The database must exist for a read-only connection: create it (empty) once, here, as
   cpb status would, so a server started before the first run shows "no batches yet". */
static int
ensure_database (char **ret_path, cpb_error **err)
{
  _cleanup_free_ char *path = cpb_state_path (NULL, err);
  _cleanup_state_ cpb_state *st = NULL;

  if (path == NULL || cpb_state_open (path, &st, err) < 0)
    return -1;
  *ret_path = TAKE_PTR (path);
  return 0;
}

/* Podman is needed only for the logs of running tasks and for cancel without a run: a
   server that cannot reach it still serves the rest, and says so. */
static cpb_podman *
connect_podman (const struct cpb_global *g)
{
  _cleanup_error_ cpb_error *err = NULL;
  cpb_podman *p = NULL;

  if (cpb_cli_connect (g, &p, &err) < 0)
    {
      fprintf (stderr, "cpb serve: %s; logs of running tasks will not be shown\n", err->msg);
      return NULL;
    }
  return p;
}

/* Wait for SIGINT or SIGTERM (blocked before any thread starts, so only this one takes
   them). */
static int
wait_for_signal (const sigset_t *set)
{
  int sig = 0;

  while (sigwait (set, &sig) != 0)
    ;
  return sig;
}

static int
serve_main (const struct cpb_global *g, const struct serve_args *a, cpb_error **err)
{
  _cleanup_free_ char *path = NULL;
  _cleanup_podman_ cpb_podman *p = NULL;
  struct cpb_serve_options o = { .listen = a->listen, .allow_hosts = a->allow_hosts };
  cpb_server *s = NULL;
  sigset_t set;
  int sig;

  if (ensure_database (&path, err) < 0)
    return -1;
  p = connect_podman (g);
  /* After Podman: an embedded service started there must not inherit the blocked mask. */
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  o.state_path = path;
  o.podman = p;
  if (cpb_server_start (&o, &s, err) < 0)
    return -1;
  printf ("cpb serve: open %s\n", cpb_server_url (s));
  fflush (stdout);
  sig = wait_for_signal (&set);
  cpb_server_stop (s); /* before P: its clones must go first */
  return sig == SIGINT ? cpb_error_set (err, CPB_ERR_CANCELLED, "interrupted") : 0;
}

CPB_VERB (serve)
{
  static const struct option opts[] = { { "listen", required_argument, NULL, 'l' },
                                        { "allow-host", required_argument, NULL, 'H' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  _cleanup_error_ cpb_error *err = NULL;
  struct serve_args a = { .listen = DEFAULT_LISTEN };
  int c, rc = CPB_EXIT_OK;

  optind = 0;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'l':
        a.listen = optarg;
        break;
      case 'H':
        a.allow_hosts = cpb_xrealloc (a.allow_hosts, (a.n_allow + 2) * sizeof *a.allow_hosts);
        a.allow_hosts[a.n_allow++] = optarg;
        a.allow_hosts[a.n_allow] = NULL;
        break;
      case 'h':
        fputs (usage, stdout);
        free (a.allow_hosts);
        return CPB_EXIT_OK;
      default:
        free (a.allow_hosts);
        return cpb_cli_bad_option ("serve");
      }
  if (optind < argc)
    rc = cpb_cli_usage_error ("serve", "unexpected argument '%s'", argv[optind]);
  else if (serve_main (g, &a, &err) < 0)
    rc = cpb_cli_report ("serve", cpb_error_take (&err));
  free (a.allow_hosts);
  return rc;
}
