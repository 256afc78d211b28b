/* spec/pods.h: pods.yaml, the images a lab builds, as a validated model.
 *
 * docs/spec-pods.md documents every field and specs/pods.schema.json is the same contract
 * for editors.  The loader reports every problem of a file at once as FILE:LINE:COL lines
 * (CPB_ERR_INPUT, exit 2) and nothing reaches Podman unless the whole file is valid.
 * Fields keep their source position where a later stage may have to point back at the
 * spec: a failed `run` step says which line it came from.
 *
 * A valid spec also has no dependency cycle among its images, and every `from` is
 * resolved: to another image of the same file (by index), to a local recipe (`recipe:NAME`,
 * whose directory images/NAME/ the build stage finds), or to an OCI reference.
 */
#ifndef CPB_SPEC_PODS_H
#define CPB_SPEC_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include "diag.h"
#include "error.h"
#include "spec/yamlnode.h"

enum cpb_pod_from_kind
{
  CPB_POD_FROM_OCI = 1, /* any OCI reference: "docker.io/library/debian:12", "localhost/x" */
  CPB_POD_FROM_IMAGE,   /* another image of this file: "worker-base" or "worker-base:2.1" */
  CPB_POD_FROM_RECIPE,  /* a local rootfs recipe: "recipe:busybox" -> images/busybox/ */
};

struct cpb_pod_from
{
  enum cpb_pod_from_kind kind;
  char *text;   /* as written */
  char *ref;    /* OCI: the reference; IMAGE: the image's name; RECIPE: the recipe name */
  size_t image; /* IMAGE: index into cpb_pods_spec.images */
  cpb_pos pos;
};

enum cpb_pkg_manager
{
  CPB_PKG_APT = 1, /* the default */
  CPB_PKG_DNF,
  CPB_PKG_APK,
};

/* One entry of `files`: exactly one of src (a local file or directory) and url. */
struct cpb_pod_file
{
  char *src;      /* as written, relative to the spec's directory; NULL with url */
  char *src_path; /* src joined to cpb_pods_spec.dir (existence is checked at load) */
  char *url;      /* NULL with src */
  char *sha256;   /* 64 lower-case hex digits; required with url, optional with src */
  char *dest;     /* absolute path in the image; a trailing '/' means "into this directory" */
  int mode;       /* permission bits (0..07777), -1 when not given (keep the source's) */
  cpb_pos pos;    /* of the entry */
};

/* One `run` step: a shell command line (sh -c). */
struct cpb_pod_step
{
  char *cmd;
  cpb_pos pos;
};

/* entrypoint and cmd: a string is the shell form, a list the exec form. */
struct cpb_pod_command
{
  bool set;
  bool exec_form; /* argv holds the list; otherwise argv[0] is the shell command line */
  char **argv;    /* NULL-terminated; NULL when !set */
  size_t argc;
  cpb_pos pos;
};

struct cpb_pod_image
{
  char *name;        /* [a-z0-9][a-z0-9._-]*, unique in the file */
  char *tag;         /* default "latest" */
  char *description; /* NULL when absent */
  struct cpb_pod_from from;
  char **capabilities; /* NULL-terminated, never NULL (empty list when absent) */
  size_t n_capabilities;
  enum cpb_pkg_manager pkg_manager;
  char **packages; /* NULL-terminated names to install, never NULL */
  size_t n_packages;
  cpb_pos packages_pos;
  cpb_strmap env;
  struct cpb_pod_file *files;
  size_t n_files;
  struct cpb_pod_step *run;
  size_t n_run;
  char *workdir; /* absolute; NULL when absent */
  char *user;    /* "name", "uid" or "uid:gid"; NULL when absent */
  struct cpb_pod_command entrypoint;
  struct cpb_pod_command cmd;
  cpb_strmap labels;     /* the user's own; cpb adds its io.cpb.* labels at build time */
  cpb_strmap build_args; /* ARG values passed to the build */
  bool helper;           /* carry cpb-helper at CPB_POD_HELPER_PATH */
  cpb_pos pos;           /* of the image's mapping */
  cpb_pos name_pos;
};

/* Where an image built with `helper: true` carries cpb-helper. */
#define CPB_POD_HELPER_PATH "/usr/local/libexec/cpb/cpb-helper"

typedef struct cpb_pods_spec
{
  char *path; /* as given to the loader (used in messages) */
  char *dir;  /* the spec's directory: `src` paths are relative to it */
  struct cpb_pod_image *images;
  size_t n_images;
} cpb_pods_spec;

/* Load and validate pods.yaml at PATH.  Every spec problem is reported at once in a
   CPB_ERR_INPUT error ("PATH:LINE:COL: ..." lines in file order); a file that cannot be
   read is CPB_ERR_SYSTEM.  *RET is set only on success. */
int cpb_pods_spec_load (const char *path, cpb_pods_spec **ret, cpb_error **err);

/* The same from memory: NAME for messages, DIR the directory `src` paths are relative to
   (local files are not checked for existence when DIR is NULL: the fuzzer uses that). */
int cpb_pods_spec_load_buffer (const char *name, const char *dir, const char *data, size_t len,
                               cpb_pods_spec **ret, cpb_error **err);

/* The image called NAME (or "NAME:TAG"), or NULL. */
const struct cpb_pod_image *cpb_pods_spec_find (const cpb_pods_spec *spec, const char *name);

/* The order to build images in: every image after the images of this file it builds FROM.
   NAMES (NULL-terminated, may be NULL for all) selects images; their dependencies are
   added.  *RET_ORDER gets N indices into spec->images (the caller frees it).  Unknown
   names are CPB_ERR_INPUT "unknown image 'x' (did you mean 'y'?)"; a cycle (impossible
   after a successful load, but checked) is CPB_ERR_INPUT naming the cycle: "a -> b -> a". */
int cpb_pods_spec_build_order (const cpb_pods_spec *spec, const char *const *names,
                               size_t **ret_order, size_t *ret_n, cpb_error **err);

/* "apt", "dnf", "apk". */
const char *cpb_pkg_manager_name (enum cpb_pkg_manager m);

void cpb_pods_spec_free (cpb_pods_spec *spec);
CPB_DEFINE_CLEANUP_FUNC (cpb_pods_spec *, cpb_pods_spec_free)
#define _cleanup_pods_spec_ _cleanup_ (cpb_pods_spec_freep)

#endif
