/* fuzz-yaml-spec.c: the YAML node tree, its typed getters and the pods.yaml loader on
 * arbitrary input.
 *
 * Besides memory errors, it checks the loader's promises and abort()s when one is broken:
 * a failure is always a CPB_ERR_INPUT error with a message, a success is a model without
 * NULLs where the header promises values and whose build order covers every image.
 */
#include "config.h"
#include "spec/pods.h"
#include "spec/yamlnode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Specs are hand-written and small; longer inputs only slow the fuzzer down. */
#define FUZZ_MAX_INPUT 65536

static void
check (bool cond)
{
  if (!cond)
    abort ();
}

/* Every typed conversion on every node: none may crash, whatever it is given. */
static void
walk (cpb_diag *d, const cpb_yaml_node *n, unsigned depth)
{
  const cpb_yaml_pair *p;
  const cpb_yaml_node *item;
  const char *s;
  bool b;
  long long i;
  uint64_t u;
  char **v = NULL;
  cpb_strmap m = { NULL, 0 };

  check (depth <= CPB_YAML_MAX_DEPTH + 1 && cpb_yaml_describe (n) != NULL);
  /* Aliases share nodes: below a few levels, stop rather than re-walk shared subtrees. */
  if (depth > 8)
    return;
  cpb_yaml_as_str (d, n, "x", &s);
  cpb_yaml_as_bool (d, n, "x", &b);
  cpb_yaml_as_int (d, n, "x", -5, 5, &i);
  cpb_yaml_as_size (d, n, "x", &u);
  cpb_yaml_as_duration (d, n, "x", &u);
  if (cpb_yaml_as_strv (d, n, "x", &v, NULL) == 0)
    cpb_strv_free (v);
  if (cpb_yaml_as_strmap (d, n, "x", &m) == 0)
    cpb_strmap_clear (&m);
  CPB_YAML_FOREACH_ITEM (item, n)
  {
    walk (d, item, depth + 1);
  }
  CPB_YAML_FOREACH_PAIR (p, n)
  {
    check (p->key->kind == CPB_YAML_SCALAR);
    walk (d, p->value, depth + 1);
  }
}

static void
fuzz_tree (const uint8_t *data, size_t size)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = NULL;
  _cleanup_diag_ cpb_diag *d = cpb_diag_new ("fuzz.yaml");

  if (cpb_yaml_load_buffer ("fuzz.yaml", (const char *)data, size, &doc, &err) < 0)
    {
      check (err != NULL && err->msg[0] != '\0');
      return;
    }
  if (doc->root)
    walk (d, doc->root, 0);
  if (cpb_diag_to_error (d, &err) < 0)
    check (err->kind == CPB_ERR_INPUT && strncmp (err->msg, "fuzz.yaml", 9) == 0);
}

static void
check_model (const cpb_pods_spec *spec)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ size_t *order = NULL;
  size_t n = 0;

  check (spec->n_images > 0);
  for (size_t i = 0; i < spec->n_images; i++)
    {
      const struct cpb_pod_image *img = &spec->images[i];

      check (img->name && img->tag && img->from.text && img->from.ref);
      check (img->capabilities && img->packages);
      check (img->from.kind != CPB_POD_FROM_IMAGE || img->from.image < spec->n_images);
      check (cpb_pods_spec_find (spec, img->name) == img);
    }
  check (cpb_pods_spec_build_order (spec, NULL, &order, &n, &err) == 0);
  check (n == spec->n_images);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_pods_spec_ cpb_pods_spec *spec = NULL;

  if (size > FUZZ_MAX_INPUT)
    return 0;
  fuzz_tree (data, size);
  if (cpb_pods_spec_load_buffer ("fuzz.yaml", NULL, (const char *)data, size, &spec, &err) < 0)
    check (err != NULL && err->msg[0] != '\0' &&
           (err->kind == CPB_ERR_INPUT || err->kind == CPB_ERR_SYSTEM));
  else
    check_model (spec);
  return 0;
}
