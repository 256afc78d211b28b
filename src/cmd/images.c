/* images.c: `cpb images` — the images cpb built, with their capabilities and age.
 *
 * cpb's images are those carrying the io.cpb.image label (set by cpb build); recipe bases
 * carry io.cpb.recipe-hash instead and are listed with --all.
 */
#include "config.h"
#include "cmd.h"
#include "build/builder.h"
#include "json.h"
#include "podman/podman.h"
#include "xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "Usage: cpb images [OPTIONS]\n"
    "\n"
    "List the images cpb built, with their capabilities and age.\n"
    "\n"
    "  -a, --all     also list the recipe base images (localhost/cpb-base-*)\n"
    "  --json        print a JSON array of objects for scripts\n"
    "  -h, --help    show this help\n";

/* "3 minutes ago", as podman images says it. */
static void
format_age (char *buf, size_t size, int64_t created)
{
  int64_t s = (int64_t)time (NULL) - created;

  if (s < 60)
    snprintf (buf, size, "%s", "just now");
  else if (s < 3600)
    snprintf (buf, size, "%lld minute%s ago", (long long)(s / 60), s / 60 == 1 ? "" : "s");
  else if (s < 86400)
    snprintf (buf, size, "%lld hour%s ago", (long long)(s / 3600), s / 3600 == 1 ? "" : "s");
  else
    snprintf (buf, size, "%lld day%s ago", (long long)(s / 86400), s / 86400 == 1 ? "" : "s");
}

static void
format_size (char *buf, size_t size, int64_t bytes)
{
  if (bytes >= 1000 * 1000 * 1000)
    snprintf (buf, size, "%.1f GB", (double)bytes / 1e9);
  else if (bytes >= 1000 * 1000)
    snprintf (buf, size, "%.1f MB", (double)bytes / 1e6);
  else
    snprintf (buf, size, "%.1f kB", (double)bytes / 1e3);
}

static const char *
image_name (const struct cpb_podman_image *img)
{
  return img->repo_tags[0] ? img->repo_tags[0] : "<none>";
}

static void
print_json_list (struct cpb_podman_image *const *imgs, size_t n)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_free_ char *doc = NULL;

  yajl_gen_array_open (g);
  for (size_t i = 0; i < n; i++)
    {
      const struct cpb_podman_image *img = imgs[i];
      const char *caps = cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_CAPABILITIES);

      yajl_gen_map_open (g);
      cpb_json_gen_key_string (g, "name", image_name (img));
      cpb_json_gen_key_string (g, "id", img->id);
      cpb_json_gen_key_string (g, "image",
                               cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_IMAGE));
      cpb_json_gen_key (g, "capabilities");
      yajl_gen_array_open (g);
      for (const char *c = caps; c && *c;)
        {
          size_t len = strcspn (c, ",");
          _cleanup_free_ char *one = cpb_xstrndup (c, len);

          cpb_json_gen_string (g, one);
          c += len + (c[len] == ',');
        }
      yajl_gen_array_close (g);
      cpb_json_gen_key_string (g, "spec_hash",
                               cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_SPEC_HASH));
      cpb_json_gen_key_string (
          g, "recipe_hash", cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_RECIPE_HASH));
      cpb_json_gen_key_string (g, "source",
                               cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_SOURCE));
      cpb_json_gen_key_string (g, "version",
                               cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_VERSION));
      cpb_json_gen_key_int (g, "created", img->created);
      cpb_json_gen_key_int (g, "size", img->size);
      yajl_gen_map_close (g);
    }
  yajl_gen_array_close (g);
  doc = cpb_json_gen_finish (g, NULL, NULL);
  if (doc)
    puts (doc);
}

static void
print_table (struct cpb_podman_image *const *imgs, size_t n)
{
  int width = 5;

  for (size_t i = 0; i < n; i++)
    if ((int)strlen (image_name (imgs[i])) > width)
      width = (int)strlen (image_name (imgs[i]));
  printf ("%-*s  %-12s  %-14s  %-9s  %s\n", width, "IMAGE", "ID", "CREATED", "SIZE",
          "CAPABILITIES");
  for (size_t i = 0; i < n; i++)
    {
      const struct cpb_podman_image *img = imgs[i];
      const char *caps = cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_CAPABILITIES);
      char age[32], size[32];

      format_age (age, sizeof age, img->created);
      format_size (size, sizeof size, img->size);
      if (cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_RECIPE_HASH) &&
          !cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_IMAGE))
        caps = "(recipe base)";
      printf ("%-*s  %.12s  %-14s  %-9s  %s\n", width, image_name (img), img->id, age, size,
              caps && *caps ? caps : "-");
    }
}

static int
by_name (const void *a, const void *b)
{
  return strcmp (image_name (*(struct cpb_podman_image *const *)a),
                 image_name (*(struct cpb_podman_image *const *)b));
}

/* Append the images of L to the array *V (pointers into L, which stays the owner).
   With BASES, only true recipe bases: images built on one inherit its label. */
static void
collect (struct cpb_podman_image ***v, size_t *n, struct cpb_podman_image_list *l, bool bases)
{
  *v = cpb_xrealloc (*v, (*n + l->n + 1) * sizeof **v);
  for (size_t i = 0; i < l->n; i++)
    {
      const struct cpb_podman_image *img = &l->images[i];

      /* Untagged: an older build of a name that has since been rebuilt. */
      if (img->repo_tags[0] == NULL)
        continue;
      if (!bases || !cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_IMAGE))
        (*v)[(*n)++] = &l->images[i];
    }
}

CPB_VERB (images)
{
  static const struct option opts[] = { { "all", no_argument, NULL, 'a' },
                                        { "json", no_argument, NULL, 'j' },
                                        { "help", no_argument, NULL, 'h' },
                                        { NULL, 0, NULL, 0 } };
  _cleanup_podman_ cpb_podman *p = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_podman_image_list_ struct cpb_podman_image_list *built = NULL, *bases = NULL;
  _cleanup_free_ struct cpb_podman_image **v = NULL;
  bool json = false, all = false;
  size_t n = 0;
  int c;

  /* 0, not 1: glibc then forgets the '+' (stop at the first operand) of main's option
     string, so options may follow operands: cpb export IMAGE -o FILE. */
  optind = 0;
  while ((c = getopt_long (argc, argv, "ah", opts, NULL)) != -1)
    switch (c)
      {
      case 'a':
        all = true;
        break;
      case 'j':
        json = true;
        break;
      case 'h':
        fputs (usage, stdout);
        return CPB_EXIT_OK;
      default:
        return cpb_cli_bad_option ("images");
      }
  if (optind < argc)
    return cpb_cli_usage_error ("images", "unexpected argument '%s'", argv[optind]);
  if (cpb_cli_connect (g, &p, &err) < 0 ||
      cpb_podman_image_list (p, CPB_LABEL_IMAGE, &built, &err) < 0 ||
      (all && cpb_podman_image_list (p, CPB_LABEL_RECIPE_HASH, &bases, &err) < 0))
    return cpb_cli_report ("images", TAKE_PTR (err));
  collect (&v, &n, built, false);
  if (bases)
    collect (&v, &n, bases, true);
  qsort (v, n, sizeof *v, by_name);
  if (json)
    print_json_list (v, n);
  else
    print_table (v, n);
  return CPB_EXIT_OK;
}
