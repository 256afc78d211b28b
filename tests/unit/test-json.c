/* Unit tests for the yajl helpers: typed lookups, bounds, the generator. */
#include "config.h"
#include "tap.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>

static void
test_lookups (void)
{
  static const char doc[] =
      "{\"a\": {\"b\": {\"c\": 42}}, \"s\": \"text\", \"n\": null, \"code\": \"137\","
      " \"bad\": \"13x\", \"t\": true, \"f\": false, \"d\": 1.5,"
      " \"v\": [\"x\", 1, \"y\"], \"m\": {\"k1\": \"v1\", \"k2\": 2, \"k3\": \"v3\"}}";
  _cleanup_yajl_val_ yajl_val tree = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_strv_free_ char **v = NULL, **keys = NULL, **values = NULL;
  int64_t i = -1;
  double d = 0;

  ok (cpb_json_parse (doc, strlen (doc), &tree, &err) == 0, "a document parses");
  ok (cpb_json_get_int64 (cpb_json_path (tree, "a", "b", NULL), "c", &i) && i == 42,
      "nested path and integer");
  ok (cpb_json_path (tree, "a", "zz", "c", NULL) == NULL, "a missing step gives NULL");
  is_str (cpb_json_get_string (tree, "s"), "text", "string lookup");
  ok (cpb_json_get_string (tree, "n") == NULL, "null is not a string");
  ok (cpb_json_get_string (tree, "c") == NULL, "missing key is NULL");
  ok (cpb_json_get_int64 (tree, "code", &i) && i == 137,
      "numeric string counts as an integer (exit codes)");
  ok (!cpb_json_get_int64 (tree, "bad", &i) && i == 137,
      "a non-numeric string does not, and RET is untouched");
  ok (cpb_json_get_bool (tree, "t", false) && !cpb_json_get_bool (tree, "f", true), "booleans");
  ok (cpb_json_get_bool (tree, "s", true), "a non-boolean gives the default");
  ok (cpb_json_get_double (tree, "d", &d) && d == 1.5, "double");
  ok (!cpb_json_get_int64 (tree, "d", &i), "a double is not an integer");
  v = cpb_json_strv (cpb_json_get (tree, "v"));
  ok (v[0] && strcmp (v[0], "x") == 0 && v[1] && strcmp (v[1], "y") == 0 && v[2] == NULL,
      "string array skips non-strings");
  is_int (cpb_json_string_map (cpb_json_get (tree, "m"), &keys, &values), 2,
          "string map skips non-strings");
  ok (strcmp (keys[1], "k3") == 0 && strcmp (values[1], "v3") == 0,
      "string map keeps document order");
  cpb_strv_free (v);
  v = cpb_json_strv (NULL);
  ok (v && v[0] == NULL, "strv of nothing is empty, not NULL");
}

static void
test_parse_errors (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  yajl_val tree = NULL;
  static const char nul[] = "{\"a\": 1}\0{\"b\": 2}";

  ok (cpb_json_parse ("{\"a\": ", 6, &tree, &err) < 0, "truncated JSON fails");
  ok (err && strstr (err->msg, "invalid JSON") != NULL, "with a message: %s", err ? err->msg : "");
  ok (cpb_json_parse (nul, sizeof nul - 1, &tree, &err) < 0, "an embedded NUL is refused");
  ok (cpb_json_parse ("[1,2]xx", 5, &tree, &err) == 0 && YAJL_IS_ARRAY (tree),
      "LEN bounds the text");
  yajl_tree_free (tree);
  ok (cpb_json_parse (NULL, 0, &tree, &err) < 0, "an empty answer is an error, not a crash");
}

static void
test_generator (void)
{
  _cleanup_yajl_gen_ yajl_gen g = cpb_json_gen_new ();
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *out = NULL;
  const char *keys[] = { "io.cpb.run", "q\"uote" }, *values[] = { "r1", "a\nb" };
  const char *argv[] = { "sh", "-c", "echo \"hi\"", NULL };
  size_t len = 0;

  yajl_gen_map_open (g);
  cpb_json_gen_key_string (g, "name", "t\xc3\xa9st");
  cpb_json_gen_key_string (g, "latin1", "caf\xe9!");
  cpb_json_gen_key_string (g, "null", NULL);
  cpb_json_gen_key_int (g, "big", 17179869184LL);
  cpb_json_gen_key_bool (g, "yes", true);
  cpb_json_gen_key (g, "argv");
  cpb_json_gen_strv (g, argv);
  cpb_json_gen_key (g, "labels");
  cpb_json_gen_map (g, keys, values, 2);
  yajl_gen_map_close (g);
  out = cpb_json_gen_finish (g, &len, &err);
  is_str (out,
          "{\"name\":\"t\xc3\xa9st\",\"latin1\":\"caf?!\",\"null\":null,\"big\":17179869184,"
          "\"yes\":true,"
          "\"argv\":[\"sh\",\"-c\",\"echo "
          "\\\"hi\\\"\"],\"labels\":{\"io.cpb.run\":\"r1\",\"q\\\"uote\":\"a\\nb\"}}",
          "generator output, with invalid UTF-8 replaced instead of dropped");
  is_int (len, out ? strlen (out) : 0, "length reported");

  _cleanup_yajl_val_ yajl_val back = NULL;
  ok (out && cpb_json_parse (out, len, &back, &err) == 0, "the output parses back");
  is_str (cpb_json_get_string (cpb_json_get (back, "labels"), "q\"uote"), "a\nb",
          "escapes round-trip");
}

int
main (void)
{
  test_lookups ();
  test_parse_errors ();
  test_generator ();
  return done_testing ();
}
