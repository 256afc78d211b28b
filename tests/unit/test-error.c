/* Unit tests for the error type, the buffer and hashing. */
#include "config.h"
#include "tap.h"
#include "error.h"
#include "buf.h"
#include "hash.h"

#include <errno.h>

static int
inner (cpb_error **err)
{
  return cpb_error_set (err, CPB_ERR_INPUT, "unknown key '%s'", "pakages");
}

static int
outer (cpb_error **err)
{
  if (inner (err) < 0)
    return cpb_error_prefix (err, "pods.yaml:14:7: image '%s'", "solver");
  return 0;
}

int
main (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;
  char hex[CPB_SHA256_HEX_LEN + 1];

  ok (outer (&err) < 0, "failure propagates as a negative return");
  is_str (err->msg, "pods.yaml:14:7: image 'solver': unknown key 'pakages'", "context chains outermost first");
  is_int (cpb_error_exit_code (err), CPB_EXIT_USAGE, "input errors exit 2");

  cpb_error_errno (&err, ENOENT, "cannot open '%s'", "x.yaml");
  is_str (err->msg, "cannot open 'x.yaml': No such file or directory", "errno text appended");
  is_int (err->errno_value, ENOENT, "errno kept");
  is_int (cpb_error_exit_code (NULL), 0, "no error exits 0");

  for (int i = 0; i < 1000; i++)
    cpb_buf_printf (&b, "%d,", i);
  is_int (b.len, 3890, "buffer grows across many appends");
  ok (b.data[b.len] == '\0', "buffer stays NUL-terminated");

  {
    cpb_buf empty = CPB_BUF_INIT;
    size_t len = 1;
    _cleanup_free_ char *s = cpb_buf_steal (&empty, &len);
    ok (s != NULL && s[0] == '\0' && len == 0, "stealing an empty buffer gives an empty string");
  }

  cpb_sha256_hex ("abc", 3, hex);
  is_str (hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 of 'abc'");
  ok (cpb_sha256_file ("/nonexistent/file", hex, &err) < 0, "hashing a missing file fails");
  ok (strstr (err->msg, "/nonexistent/file") != NULL, "and names the file");

  return done_testing ();
}
