/* build/builder.h: `cpb build` — the images of pods.yaml built through Podman, like make.
 *
 * Images are built in dependency order (an image after the image of the same file it is
 * FROM), independent ones concurrently on connections of their own.  Each image gets a
 * content hash, the spec hash: its rendered Containerfile, the contents and modes of every
 * file its context holds (the helper binary included), its build arguments, capabilities
 * and the ID of its base image.  An image whose name already carries that hash in its
 * io.cpb.spec-hash label is up to date and not rebuilt, so a second `cpb build` of an
 * unchanged file asks Podman two questions per image and builds nothing.
 *
 * `from: recipe:NAME` bases are made by images/NAME/recipe.sh (a root filesystem tar)
 * and imported as localhost/cpb-base-NAME:latest, labelled io.cpb.recipe-hash with the
 * digest of the recipe directory, so they are made again only when the recipe changes.
 *
 * Progress is reported through one callback (the library never prints); the verb chooses
 * the terminal, plain or JSON form.
 */
#ifndef CPB_BUILDER_H
#define CPB_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "hash.h"
#include "podman/podman.h"
#include "spec/pods.h"

/* Labels cpb puts on every image it builds. */
#define CPB_LABEL_CAPABILITIES "io.cpb.capabilities"
#define CPB_LABEL_SPEC_HASH "io.cpb.spec-hash"
#define CPB_LABEL_VERSION "io.cpb.version"
#define CPB_LABEL_SOURCE "io.cpb.source"
#define CPB_LABEL_IMAGE "io.cpb.image"
#define CPB_LABEL_RECIPE_HASH "io.cpb.recipe-hash"

enum cpb_build_event_kind
{
  CPB_BUILD_START = 1, /* the image's build began (base and hash known) */
  CPB_BUILD_STEP,      /* Podman started STEP step/n_steps; text is the step's spec words */
  CPB_BUILD_OUTPUT,    /* one line of output of the current step */
  CPB_BUILD_DONE,      /* built: image_id */
  CPB_BUILD_SKIPPED,   /* up to date (text says why), or a dependency failed (error) */
  CPB_BUILD_FAILED,    /* error holds the message; tail the last lines of output */
  CPB_BUILD_PLAN,      /* --dry-run: text is the Containerfile; would_build says the rest */
  CPB_BUILD_RECIPE,    /* a recipe base is being made (text: the recipe's name); DONE follows */
};

struct cpb_build_event
{
  enum cpb_build_event_kind kind;
  const char *image; /* the spec's image name */
  const char *ref;   /* what it is tagged: localhost/NAME:TAG */
  unsigned step;     /* STEP, OUTPUT: Podman's step number; 0 before the first */
  unsigned n_steps;
  const char *text;
  const char *image_id;    /* DONE, SKIPPED (up to date) */
  const char *spec_hash;   /* START, DONE, SKIPPED, PLAN (NULL when a base is not built yet) */
  bool would_build;        /* PLAN */
  const cpb_error *error;  /* FAILED, and SKIPPED for a failed dependency */
  const char *const *tail; /* FAILED: the last output lines of the failing step, oldest first */
  size_t n_tail;
};

/* Called for every event, from whichever thread builds the image, one call at a time
   (the builder serialises them), so the receiver needs no locking of its own. */
typedef void (*cpb_build_event_fn) (void *userdata, const struct cpb_build_event *ev);

struct cpb_build_options
{
  const char *const *images; /* NULL-terminated names to build (with their bases); NULL: all */
  bool force;                /* build even when up to date (recipe bases included) */
  bool dry_run;              /* render and report, build nothing */
  unsigned jobs;             /* images built at once; 0 means 2 */
  const char *images_dir;    /* where recipes live (images/NAME/recipe.sh) */
  const char *helper_path;   /* cpb-helper for `helper: true` images; may be NULL otherwise */
  const char *cache_dir;     /* downloads of `url` files (by sha256); NULL: no url files */
  cpb_build_event_fn on_event;
  void *userdata;
};

/* What happened to each image, for the verb's summary and exit code. */
struct cpb_build_result
{
  size_t built, up_to_date, failed, skipped;
};

/* Build the images of SPEC selected by OPTS through P (P stays the main thread's; workers
   use clones).  Fails with the first image's failure (CPB_ERR_FAILED with the spec line of
   the failing step), or an input or connection error; *RET_RESULT (may be NULL) gets the
   counts either way.  Images that do not depend on a failed one are still built. */
int cpb_builder_run (cpb_podman *p, const cpb_pods_spec *spec, const struct cpb_build_options *opts,
                     struct cpb_build_result *ret_result, cpb_error **err);

/* The name an image of SPEC is tagged with: "localhost/NAME:TAG". */
char *cpb_builder_image_ref (const struct cpb_pod_image *img);

/* Make sure the base of recipe NAME (IMAGES_DIR/NAME/recipe.sh) exists and matches the
   recipe (or remake it when FORCE): runs the recipe into a temporary tar and imports it as
   localhost/cpb-base-NAME:latest with the instructions of IMAGES_DIR/NAME/changes.
   *RET_MADE (may be NULL) says whether it was made now. */
int cpb_builder_ensure_recipe (cpb_podman *p, const char *images_dir, const char *name, bool force,
                               bool *ret_made, cpb_error **err);

/* *RET: the base of recipe NAME exists and carries the recipe's current hash. */
int cpb_builder_recipe_current (cpb_podman *p, const char *images_dir, const char *name, bool *ret,
                                cpb_error **err);

/* The digest of a recipe directory (names and contents of its files), into HEX. */
int cpb_builder_recipe_hash (const char *images_dir, const char *name,
                             char hex[CPB_SHA256_HEX_LEN + 1], cpb_error **err);

/* "localhost/cpb-base-NAME:latest". */
char *cpb_builder_recipe_ref (const char *name);

/* Fetch URL into CACHE_DIR/sha256/SHA256 unless already there, checking its digest; the
   cached path in *RET_PATH.  A mismatch is CPB_ERR_INPUT naming both digests. */
int cpb_builder_fetch (const char *cache_dir, const char *url, const char *sha256, char **ret_path,
                       cpb_error **err);

#endif
