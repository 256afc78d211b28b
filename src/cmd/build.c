/* build.c: `cpb build pods.yaml [IMAGE...]` — build a spec's images, like make.
 *
 * Three ways to show progress, one per reader: on a terminal one status line per image
 * being built, redrawn in place; otherwise plain lines a log keeps; with --json one object
 * per event for scripts.  A failed step always shows its last lines of output.
 */
#include "config.h"
#include "cmd.h"
#include "build/builder.h"
#include "buf.h"
#include "json.h"
#include "spec/pods.h"
#include "xalloc.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "Usage: cpb build [OPTIONS] PODS.YAML [IMAGE...]\n"
    "\n"
    "Build the images described in PODS.YAML (all, or the IMAGEs named and the images\n"
    "they are built from) through Podman.  An image whose spec, files and base image are\n"
    "unchanged since it was built is not built again.\n"
    "\n"
    "  -f, --force        build even images that are up to date (and recipe bases)\n"
    "  -n, --dry-run      print each Containerfile and whether it would build\n"
    "  -j, --jobs N       build up to N independent images at once (default 2)\n"
    "  -v, --verbose      show every line of build output, not only a failed step's\n"
    "  --json             print one JSON object per event (start, step, output, done,\n"
    "                     skipped, failed, plan, recipe, error) on stdout\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit codes: 0 built or up to date, 1 a build failed, 2 bad spec or usage,\n"
    "3 Podman unreachable, 130 interrupted.\n";

enum mode
{
  MODE_PLAIN,
  MODE_TTY,
  MODE_JSON,
};

/* One image's line on a terminal. */
struct live
{
  char *image;
  char *line;
};

struct view
{
  enum mode mode;
  int verbose;
  bool dry_run;
  struct live *live;
  size_t n_live;
  size_t drawn; /* lines of the live block currently on the terminal */
  struct timespec started;
};

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  interrupted = 1;
  cpb_podman_interrupt ();
}

static double
elapsed (const struct view *v)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - v->started.tv_sec) + (now.tv_nsec - v->started.tv_nsec) / 1e9;
}

/* --- terminal: a block of live lines under the lines that are final ------------------- */

static void
tty_erase (struct view *v)
{
  for (; v->drawn > 0; v->drawn--)
    fputs ("\033[1A\033[2K", stderr);
}

static void
tty_draw (struct view *v)
{
  struct winsize ws = { 0 };
  int cols = 80;

  /* Cut to the width: a wrapped line would break the cursor arithmetic of tty_erase. */
  if (ioctl (2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
    cols = ws.ws_col;
  for (size_t i = 0; i < v->n_live; i++)
    fprintf (stderr, "%.*s\n", cols - 1, v->live[i].line);
  v->drawn = v->n_live;
  fflush (stderr);
}

static struct live *
tty_find (struct view *v, const char *image)
{
  for (size_t i = 0; i < v->n_live; i++)
    if (strcmp (v->live[i].image, image) == 0)
      return &v->live[i];
  return NULL;
}

static void
tty_set (struct view *v, const char *image, char *line)
{
  struct live *l = tty_find (v, image);

  if (l == NULL)
    {
      v->live = cpb_xrealloc (v->live, (v->n_live + 1) * sizeof *v->live);
      l = &v->live[v->n_live++];
      l->image = cpb_xstrdup (image);
      l->line = NULL;
    }
  free (l->line);
  l->line = line;
}

static void
tty_drop (struct view *v, const char *image)
{
  struct live *l = tty_find (v, image);

  if (l == NULL)
    return;
  free (l->image);
  free (l->line);
  memmove (l, l + 1, (size_t)(v->live + v->n_live - (l + 1)) * sizeof *l);
  v->n_live--;
}

/* --- events --------------------------------------------------------------------------- */

/* A copy of S with every byte that is not part of valid UTF-8 replaced by '?': build
   output is whatever the step printed, and the JSON generator refuses invalid text. */
static char *
utf8_clean (const char *s)
{
  char *copy = cpb_xstrdup (s ? s : "");
  unsigned char *p = (unsigned char *)copy;

  while (*p)
    {
      int n = *p < 0x80             ? 0
              : (*p & 0xe0) == 0xc0 ? 1
              : (*p & 0xf0) == 0xe0 ? 2
              : (*p & 0xf8) == 0xf0 ? 3
                                    : -1;
      int k;

      for (k = 1; n > 0 && k <= n; k++)
        if ((p[k] & 0xc0) != 0x80)
          break;
      if (n < 0 || k <= n || (n == 1 && *p < 0xc2))
        {
          *p++ = '?';
          continue;
        }
      p += n + 1;
    }
  return copy;
}

static void
gen_clean (yajl_gen g, const char *key, const char *value)
{
  _cleanup_free_ char *clean = utf8_clean (value);

  if (key)
    cpb_json_gen_key (g, key);
  cpb_json_gen_string (g, clean);
}

static void
print_json (const struct cpb_build_event *ev)
{
  static const char *const names[] = {
    [CPB_BUILD_START] = "start", [CPB_BUILD_STEP] = "step",       [CPB_BUILD_OUTPUT] = "output",
    [CPB_BUILD_DONE] = "done",   [CPB_BUILD_SKIPPED] = "skipped", [CPB_BUILD_FAILED] = "failed",
    [CPB_BUILD_PLAN] = "plan",   [CPB_BUILD_RECIPE] = "recipe"
  };
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_free_ char *doc = NULL;

  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "event", names[ev->kind]);
  cpb_json_gen_key_string (g, "image", ev->image);
  cpb_json_gen_key_string (g, "ref", ev->ref);
  if (ev->kind == CPB_BUILD_STEP || ev->kind == CPB_BUILD_OUTPUT || ev->kind == CPB_BUILD_FAILED)
    {
      cpb_json_gen_key_int (g, "step", ev->step);
      cpb_json_gen_key_int (g, "steps", ev->n_steps);
    }
  if (ev->text && ev->kind != CPB_BUILD_PLAN)
    gen_clean (g, ev->kind == CPB_BUILD_OUTPUT ? "line" : "text", ev->text);
  if (ev->kind == CPB_BUILD_PLAN)
    {
      gen_clean (g, "containerfile", ev->text);
      cpb_json_gen_key_bool (g, "would_build", ev->would_build);
    }
  if (ev->image_id)
    cpb_json_gen_key_string (g, "id", ev->image_id);
  if (ev->spec_hash)
    cpb_json_gen_key_string (g, "spec_hash", ev->spec_hash);
  if (ev->error)
    gen_clean (g, "error", ev->error->msg);
  if (ev->kind == CPB_BUILD_FAILED)
    {
      cpb_json_gen_key (g, "output");
      yajl_gen_array_open (g);
      for (size_t i = 0; i < ev->n_tail; i++)
        gen_clean (g, NULL, ev->tail[i]);
      yajl_gen_array_close (g);
    }
  yajl_gen_map_close (g);
  doc = cpb_json_gen_finish (g, NULL, NULL);
  if (doc)
    puts (doc);
  fflush (stdout);
}

static void
print_failure (const struct cpb_build_event *ev)
{
  if (ev->n_tail > 0)
    fprintf (stderr, "%s: output of the failed step:\n", ev->image);
  for (size_t i = 0; i < ev->n_tail; i++)
    fprintf (stderr, "  | %s\n", ev->tail[i]);
  fprintf (stderr, "cpb build: %s\n", ev->error->msg);
}

/* The line an event leaves for good (plain mode prints it, tty mode above the live block). */
static char *
final_line (struct view *v, const struct cpb_build_event *ev)
{
  switch (ev->kind)
    {
    case CPB_BUILD_DONE:
      return cpb_xasprintf ("%s: built %.12s (%.1f s)", ev->ref, ev->image_id, elapsed (v));
    case CPB_BUILD_SKIPPED:
      return ev->error ? cpb_xasprintf ("%s: skipped: %s", ev->ref, ev->error->msg)
                       : cpb_xasprintf ("%s: up to date (%.12s)", ev->ref, ev->image_id);
    case CPB_BUILD_RECIPE:
      return cpb_xasprintf ("%s: making it with images/%s/recipe.sh", ev->ref, ev->text);
    case CPB_BUILD_START:
    case CPB_BUILD_STEP:
    case CPB_BUILD_OUTPUT:
    case CPB_BUILD_FAILED:
    case CPB_BUILD_PLAN:
    default:
      return NULL;
    }
}

static void
on_event (void *userdata, const struct cpb_build_event *ev)
{
  struct view *v = userdata;
  _cleanup_free_ char *line = NULL;

  if (v->mode == MODE_JSON)
    {
      print_json (ev);
      return;
    }
  if (ev->kind == CPB_BUILD_PLAN)
    {
      printf ("# %s: %s\n%s\n", ev->ref, ev->would_build ? "would build" : "up to date", ev->text);
      return;
    }
  if (v->mode == MODE_TTY)
    tty_erase (v);
  line = final_line (v, ev);
  if (line)
    fprintf (stderr, "%s\n", line);
  else if (ev->kind == CPB_BUILD_FAILED)
    print_failure (ev);
  else if (ev->kind == CPB_BUILD_STEP && v->mode == MODE_PLAIN)
    fprintf (stderr, "%s: STEP %u/%u: %.*s%s\n", ev->ref, ev->step, ev->n_steps,
             (int)strcspn (ev->text, "\n"), ev->text, strchr (ev->text, '\n') ? " ..." : "");
  else if (ev->kind == CPB_BUILD_START && v->mode == MODE_PLAIN)
    fprintf (stderr, "%s: building\n", ev->ref);
  else if (ev->kind == CPB_BUILD_OUTPUT && v->verbose)
    fprintf (stderr, "%s: | %s\n", ev->ref, ev->text);
  if (v->mode == MODE_TTY)
    {
      if (ev->kind == CPB_BUILD_START)
        tty_set (v, ev->image, cpb_xasprintf ("%s: starting", ev->ref));
      else if (ev->kind == CPB_BUILD_STEP)
        tty_set (v, ev->image,
                 cpb_xasprintf ("%s: step %u/%u: %.*s", ev->ref, ev->step, ev->n_steps,
                                (int)strcspn (ev->text, "\n"), ev->text));
      else if (ev->kind == CPB_BUILD_DONE || ev->kind == CPB_BUILD_FAILED ||
               ev->kind == CPB_BUILD_SKIPPED)
        tty_drop (v, ev->image);
      tty_draw (v);
    }
  fflush (stderr);
}

/* --- where things are ----------------------------------------------------------------- */

/* True when this cpb runs from its build directory (tests, development), where recipes
   and the helper are found in the source and build trees rather than installed. */
static bool
running_from_build_tree (void)
{
  char exe[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  size_t root = strlen (CPB_BUILD_ROOT);

  if (n <= 0)
    return false;
  exe[n] = '\0';
  return strncmp (exe, CPB_BUILD_ROOT, root) == 0 && exe[root] == '/';
}

static char *
images_dir (bool in_tree)
{
  const char *env = getenv ("CPB_IMAGES_DIR");

  if (env && *env)
    return cpb_xstrdup (env);
  return cpb_xstrdup (in_tree ? CPB_SOURCE_ROOT "/images" : CPB_DATADIR "/images");
}

static char *
helper_path (bool in_tree)
{
  const char *env = getenv ("CPB_HELPER");

  if (env && *env)
    return cpb_xstrdup (env);
  return cpb_xstrdup (in_tree ? CPB_BUILD_ROOT "/src/helper/cpb-helper"
                              : CPB_LIBEXECDIR "/cpb-helper");
}

static char *
cache_dir (void)
{
  const char *xdg = getenv ("XDG_CACHE_HOME");
  const char *home = getenv ("HOME");

  if (xdg && *xdg == '/')
    return cpb_xasprintf ("%s/cpb/downloads", xdg);
  return home ? cpb_xasprintf ("%s/.cache/cpb/downloads", home) : NULL;
}

/* --- the verb ------------------------------------------------------------------------- */

struct args
{
  struct cpb_build_options o;
  bool json;
  int verbose;
};

static int
parse_args (int argc, char **argv, struct args *a)
{
  static const struct option opts[] = { { "force", no_argument, NULL, 'f' },
                                        { "dry-run", no_argument, NULL, 'n' },
                                        { "jobs", required_argument, NULL, 'j' },
                                        { "verbose", no_argument, NULL, 'v' },
                                        { "json", no_argument, NULL, 'J' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  char *end;
  long n;
  int c;

  /* 0, not 1: glibc then forgets the '+' (stop at the first operand) of main's option
     string, so options may follow operands: cpb export IMAGE -o FILE. */
  optind = 0;
  while ((c = getopt_long (argc, argv, "fnj:vh", opts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        a->o.force = true;
        break;
      case 'n':
        a->o.dry_run = true;
        break;
      case 'j':
        n = strtol (optarg, &end, 10);
        if (*end || n < 1 || n > 16)
          return cpb_cli_usage_error ("build", "--jobs must be a number from 1 to 16");
        a->o.jobs = (unsigned)n;
        break;
      case 'v':
        a->verbose++;
        break;
      case 'J':
        a->json = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return -1;
      default:
        return cpb_cli_bad_option ("build");
      }
  if (optind >= argc)
    return cpb_cli_usage_error ("build", "no spec file given");
  return 0;
}

static void
summary (const struct view *v, const struct args *a, const struct cpb_build_result *r)
{
  /* Nothing was looked at (a spec or connection error): the error says it all. */
  if (a->json || r->built + r->up_to_date + r->failed + r->skipped == 0)
    return;
  if (a->o.dry_run)
    fprintf (stderr, "%zu would build, %zu up to date\n", r->built, r->up_to_date);
  else
    fprintf (stderr, "%zu built, %zu up to date, %zu failed, %zu skipped (%.1f s)\n", r->built,
             r->up_to_date, r->failed, r->skipped, elapsed (v));
}

/* Report ERR, the error that ends the command (a bad spec, no Podman, an unknown image),
   on stderr, and with --json also as an "error" event on stdout: a script reading only
   stdout learns why there was nothing else.  Returns the exit code. */
static int
report (const struct args *a, cpb_error *err)
{
  if (a->json && err)
    {
      _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
      _cleanup_free_ char *doc = NULL;

      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "event", "error");
      gen_clean (g, "error", err->msg);
      cpb_json_gen_key_int (g, "exit", cpb_error_exit_code (err));
      yajl_gen_map_close (g);
      doc = cpb_json_gen_finish (g, NULL, NULL);
      if (doc)
        puts (doc);
      fflush (stdout);
    }
  return cpb_cli_report ("build", err);
}

CPB_VERB (build)
{
  struct args a = { .o = { .jobs = 2 } };
  struct view v = { .mode = MODE_PLAIN };
  _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;
  _cleanup_podman_ cpb_podman *p = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *images = NULL, *helper = NULL, *cache = NULL;
  struct cpb_build_result result = { 0 };
  struct sigaction sa = { .sa_handler = on_sigint };
  bool in_tree = running_from_build_tree ();
  int r;

  r = parse_args (argc, argv, &a);
  if (r != 0)
    return r < 0 ? CPB_EXIT_OK : r;
  clock_gettime (CLOCK_MONOTONIC, &v.started);
  v.mode = a.json ? MODE_JSON : cpb_cli_isatty (2) ? MODE_TTY : MODE_PLAIN;
  v.verbose = a.verbose + g->verbose;
  v.dry_run = a.o.dry_run;
  if (cpb_pods_spec_load (argv[optind], &spec, &err) < 0)
    return report (&a, TAKE_PTR (err));
  a.o.images = optind + 1 < argc ? (const char *const *)argv + optind + 1 : NULL;
  a.o.images_dir = images = images_dir (in_tree);
  a.o.helper_path = helper = helper_path (in_tree);
  a.o.cache_dir = cache = cache_dir ();
  a.o.on_event = on_event;
  a.o.userdata = &v;
  if (cpb_cli_connect (g, &p, &err) < 0)
    return report (&a, TAKE_PTR (err));
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  r = cpb_builder_run (p, spec, &a.o, &result, &err);
  if (v.mode == MODE_TTY)
    tty_erase (&v);
  for (size_t i = 0; i < v.n_live; i++)
    free (v.live[i].image), free (v.live[i].line);
  free (v.live);
  summary (&v, &a, &result);
  if (r == 0)
    return CPB_EXIT_OK;
  /* Failed images were reported as they failed; anything else (no such image, Podman
     gone) is reported here. */
  if (result.failed + result.skipped > 0)
    return interrupted ? CPB_EXIT_INTERRUPTED : cpb_error_exit_code (err);
  return report (&a, TAKE_PTR (err));
}
