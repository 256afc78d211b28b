/* Unit tests for the YAML node tree, the typed getters, diagnostics and suggestions. */
#include "config.h"
#include "tap.h"
#include "diag.h"
#include "suggest.h"
#include "xalloc.h"
#include "spec/yamlnode.h"

#include <stdint.h>
#include <string.h>

static cpb_yaml_doc *
load (const char *text, cpb_error **err)
{
  cpb_yaml_doc *doc = NULL;

  if (cpb_yaml_load_buffer ("t.yaml", text, strlen (text), &doc, err) < 0)
    return NULL;
  return doc;
}

/* The message of loading TEXT, which must fail ("" when it loads). */
static char *
load_error (const char *text)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = load (text, &err);

  if (doc)
    return cpb_xstrdup ("");
  return cpb_xstrdup (err->msg);
}

static void
test_positions (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_yaml_doc_ cpb_yaml_doc *doc =
      load ("# comment\nimages:\n  - name: solver\n    run: [a, \"b\"]\n", &err);
  const cpb_yaml_node *imgs, *img, *run;

  ok (doc != NULL, "a small document loads");
  imgs = cpb_yaml_lookup (doc->root, "images");
  ok (imgs && imgs->kind == CPB_YAML_SEQUENCE && imgs->n_items == 1, "images is a list of one");
  img = imgs->items[0];
  is_int (img->pos.line, 3, "item line");
  is_int (img->pos.col, 5, "item column");
  is_int (cpb_yaml_lookup_pair (img, "name")->key->pos.col, 5, "key column");
  is_int (cpb_yaml_lookup (img, "name")->pos.col, 11, "value column");
  run = cpb_yaml_lookup (img, "run");
  is_int (run->items[1]->pos.line, 4, "flow item line");
  is_int (run->items[1]->pos.col, 14, "flow item column");
  ok (run->items[0]->plain && !run->items[1]->plain, "plain and quoted scalars are told apart");
  ok (cpb_yaml_lookup (img, "nope") == NULL && cpb_yaml_lookup (NULL, "x") == NULL,
      "lookup of a missing key or in NULL gives NULL");
}

static void
test_structure_errors (void)
{
  _cleanup_free_ char *dup = load_error ("a: 1\nb: 2\na: 3\n");
  _cleanup_free_ char *syntax = load_error ("a: [1, 2\nb: 3\n");
  _cleanup_free_ char *alias = load_error ("a: *nowhere\n");
  _cleanup_free_ char *two = load_error ("a: 1\n---\nb: 2\n");
  _cleanup_free_ char *complex = load_error ("? [a, b]\n: 1\n");
  _cleanup_free_ char *self = load_error ("a: &x [1, *x]\n");
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_yaml_doc_ cpb_yaml_doc *empty = load ("# nothing\n", &err);

  is_str (dup, "t.yaml:3:1: duplicate key 'a' (first at line 1)", "duplicate keys are refused");
  ok (strncmp (syntax, "t.yaml:2:", 9) == 0 && strstr (syntax, "syntax error"),
      "syntax error has a position: %s", syntax);
  is_str (alias, "t.yaml:1:4: alias '*nowhere' names no anchor defined before it", "unknown alias");
  ok (strstr (two, "t.yaml:2:1: a second YAML document") == two, "a second document is refused: %s",
      two);
  ok (strstr (complex, "mapping keys must be plain strings, not a list") != NULL,
      "complex keys are refused: %s", complex);
  ok (strstr (self, "names no anchor") != NULL, "an alias inside its own anchor is refused");
  ok (empty != NULL && empty->root == NULL, "an empty document has no root");
}

static void
test_aliases_and_merge (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = load ("base: &b {x: 1, y: 2}\n"
                                               "list: &l [p, q]\n"
                                               "one: {<<: *b, y: 3}\n"
                                               "two: *l\n",
                                               &err);
  const cpb_yaml_node *one;

  ok (doc != NULL, "anchors, aliases and merge keys load");
  one = cpb_yaml_lookup (doc->root, "one");
  is_int (one->n_pairs, 2, "merge adds only missing keys");
  is_str (cpb_yaml_lookup (one, "x")->text, "1", "merged key");
  is_str (cpb_yaml_lookup (one, "y")->text, "3", "explicit key wins over the merged one");
  ok (cpb_yaml_lookup (doc->root, "two") == cpb_yaml_lookup (doc->root, "list"),
      "an alias is the anchored node itself");
}

static void
test_limits (void)
{
  _cleanup_free_ char *laughs = NULL;
  _cleanup_free_ char *deep_msg = NULL;
  char deep[400];
  char *p = laughs;

  /* Nine levels of ten aliases each: 10^9 nodes once expanded, a few hundred bytes. */
  laughs = cpb_xstrdup ("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
  for (char c = 'b'; c <= 'j'; c++)
    {
      char *prev = laughs;
      laughs =
          cpb_xasprintf ("%s%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", prev, c,
                         c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
      free (prev);
    }
  p = load_error (laughs);
  ok (strstr (p, "document too large") != NULL, "alias expansion is bounded: %s", p);
  free (p);

  memset (deep, '[', 200);
  deep[200] = '\0';
  deep_msg = load_error (deep);
  ok (strstr (deep_msg, "nested too deeply") != NULL, "nesting is bounded: %s", deep_msg);
}

static void
test_check_keys (void)
{
  static const cpb_yaml_key keys[] = {
    { "name", CPB_YAML_REQUIRED }, { "packages", 0 }, { "from", CPB_YAML_REQUIRED }, { NULL, 0 }
  };
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = load ("name: solver\npakages: []\nbogus: 1\n", &err);
  _cleanup_diag_ cpb_diag *d = cpb_diag_new ("pods.yaml");

  ok (cpb_yaml_check_keys (d, doc->root, keys, "image 'solver'") < 0, "bad keys are found");
  is_int (cpb_diag_count (d), 3, "three problems");
  ok (cpb_diag_to_error (d, &err) < 0, "diagnostics become an error");
  is_str (err->msg,
          "pods.yaml:1:1: image 'solver': missing required key 'from'\n"
          "pods.yaml:2:1: image 'solver': unknown key 'pakages' (did you mean 'packages'?)\n"
          "pods.yaml:3:1: image 'solver': unknown key 'bogus'",
          "every problem, in file order, with suggestions");
  is_int (cpb_error_exit_code (err), CPB_EXIT_USAGE, "spec errors exit 2");

  {
    _cleanup_yaml_doc_ cpb_yaml_doc *nul = load ("name: a\n\"from\\0x\": b\n", &err);
    _cleanup_diag_ cpb_diag *d2 = cpb_diag_new ("t.yaml");

    ok (cpb_yaml_check_keys (d2, nul->root, keys, NULL) < 0,
        "a key with a NUL is not the key before it");
    is_int (cpb_diag_count (d2), 2, "unknown, and 'from' still missing");
  }
}

static void
test_scalars (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_yaml_doc_ cpb_yaml_doc *doc = load ("s: 0755\nb: yes\nq: \"true\"\ni: 42\nh: 0x10\n"
                                               "big: 99999999999999999999\nsz: 1.5G\nkb: 64KiB\n"
                                               "bad: 4X\ndur: 1h30m\nsec: 90\nn: ~\nlist: [a, 1]\n"
                                               "env: {A: 1, B: yes, C: }\nmap: {k: v}\n",
                                               &err);
  _cleanup_diag_ cpb_diag *d = cpb_diag_new ("t.yaml");
  const char *s = NULL;
  bool b = false;
  long long i = 0;
  uint64_t u = 0;
  _cleanup_strv_free_ char **v = NULL;
  cpb_strmap m = { NULL, 0 };
  size_t n = 0;

  is_int (cpb_yaml_get_str (d, doc->root, "s", NULL, &s), 1, "a number reads as a string");
  is_str (s, "0755", "with its source text");
  is_int (cpb_yaml_get_bool (d, doc->root, "b", NULL, &b), 1, "yes is a boolean");
  ok (b, "and true");
  is_int (cpb_yaml_get_bool (d, doc->root, "q", NULL, &b), 1, "a quoted boolean is accepted");
  is_int (cpb_yaml_get_int (d, doc->root, "i", NULL, 0, 100, &i), 1, "integer in range");
  is_int (i, 42, "integer value");
  is_int (cpb_yaml_get_int (d, doc->root, "h", NULL, 0, 100, &i), 1, "hex integer");
  is_int (i, 16, "hex value");
  is_int (cpb_yaml_get_int (d, doc->root, "i", NULL, 0, 10, &i), -1, "out of range is refused");
  is_int (cpb_yaml_get_int (d, doc->root, "big", NULL, 0, 10, &i), -1, "overflow is refused");
  is_int (cpb_yaml_get_size (d, doc->root, "sz", NULL, &u), 1, "size with a fraction");
  is_int (u, 1610612736, "1.5G in bytes");
  is_int (cpb_yaml_get_size (d, doc->root, "kb", NULL, &u), 1, "size with KiB");
  is_int (u, 65536, "64KiB in bytes");
  is_int (cpb_yaml_get_size (d, doc->root, "bad", NULL, &u), -1, "unknown size suffix");
  is_int (cpb_yaml_get_duration (d, doc->root, "dur", NULL, &u), 1, "duration sum");
  is_int (u, 5400, "1h30m in seconds");
  is_int (cpb_yaml_get_duration (d, doc->root, "sec", NULL, &u), 1, "bare seconds");
  is_int (u, 90, "90 seconds");
  is_int (cpb_yaml_get_duration (d, doc->root, "bad", NULL, &u), -1, "bad duration");
  is_int (cpb_yaml_get_str (d, doc->root, "n", NULL, &s), 0, "null is absent");
  is_int (cpb_yaml_get_str (d, doc->root, "missing", NULL, &s), 0, "missing is absent");
  is_int (cpb_yaml_get_strv (d, doc->root, "list", NULL, &v, &n), 1, "list of strings");
  ok (n == 2 && strcmp (v[1], "1") == 0 && v[2] == NULL, "list values");
  is_int (cpb_yaml_get_strmap (d, doc->root, "env", "image 'x'", &m), 1, "string map");
  ok (m.n == 3 && strcmp (cpb_strmap_get (&m, "B"), "yes") == 0 &&
          strcmp (cpb_strmap_get (&m, "C"), "") == 0,
      "map values keep their text, null is empty");
  is_int (m.items[1].pos.line, 14, "map entries keep their line");
  cpb_strmap_clear (&m);
  is_int (cpb_yaml_get_str (d, doc->root, "map", "image 'x'", &s), -1, "a mapping is not a string");
  is_int (cpb_yaml_get_strv (d, doc->root, "s", NULL, &v, &n), -1, "a scalar is not a list");

  ok (cpb_diag_to_error (d, &err) < 0, "mismatches were recorded");
  ok (strstr (err->msg, "t.yaml:15:6: image 'x': 'map' must be a string, not a mapping") != NULL,
      "mismatch message names the field and the kind");
  ok (strstr (err->msg, "t.yaml:9:6: 'bad' must be a size like 512M or 4G, not '4X'") != NULL,
      "size message");
  ok (strstr (err->msg, "'i' must be between 0 and 10, not 42") != NULL, "range message");
  ok (strstr (err->msg, "t.yaml:1:4: 's' must be a list of strings, not a number") != NULL,
      "list message");
}

static void
test_diag_limit (void)
{
  _cleanup_diag_ cpb_diag *d = cpb_diag_new ("big.yaml");
  _cleanup_error_ cpb_error *err = NULL;
  size_t lines = 1;

  is_int (cpb_diag_to_error (d, &err), 0, "no diagnostics, no error");
  ok (err == NULL, "and *err untouched");
  for (unsigned i = 150; i > 0; i--)
    cpb_diag_add (d, i, 1, "problem %u", i);
  cpb_diag_add (d, 7, 1, "problem 7");
  ok (cpb_diag_to_error (d, &err) < 0, "many diagnostics");
  for (const char *p = err->msg; (p = strchr (p, '\n')); p++)
    lines++;
  is_int (lines, CPB_DIAG_MAX + 1, "cut after the limit, with a line saying so");
  ok (strncmp (err->msg, "big.yaml:1:1: problem 1\nbig.yaml:2:1: problem 2\n", 48) == 0,
      "sorted by line");
  ok (strstr (err->msg, "problem 7\nbig.yaml:8:1:") != NULL, "a repeated line is said once");
  is_int (cpb_diag_count (d), 151, "reporting keeps the collector as it was");
}

static void
test_suggest (void)
{
  static const char *const words[] = { "packages", "capabilities", "env", "from", NULL };

  is_int (cpb_edit_distance ("kitten", "sitting"), 3, "edit distance");
  is_int (cpb_edit_distance ("form", "from"), 1, "a transposition is one edit");
  is_str (cpb_suggest ("pakages", words, (size_t)-1), "packages", "missing letter");
  is_str (cpb_suggest ("capabilites", words, (size_t)-1), "capabilities", "long word");
  is_str (cpb_suggest ("ENV", words, (size_t)-1), "env", "another case");
  ok (cpb_suggest ("zzzzzz", words, (size_t)-1) == NULL, "nothing close");
  ok (cpb_suggest ("ev", words, 2) == NULL, "only the first N candidates");
}

int
main (void)
{
  test_positions ();
  test_structure_errors ();
  test_aliases_and_merge ();
  test_limits ();
  test_check_keys ();
  test_scalars ();
  test_diag_limit ();
  test_suggest ();
  return done_testing ();
}
