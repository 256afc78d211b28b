/* test-doctor.c: the pure parts of cpb doctor (cgroup mode, subordinate ids, containers.conf). */
#include "config.h"

#include <stdlib.h>

#include "cleanup.h"
#include "doctor.h"
#include "tap.h"

static void
test_cgroup_mode (void)
{
  /* This project's test machines: controllers on v1 plus the empty unified hierarchy. */
  is_int (cpb_cgroup_mode_parse ("9:name=systemd:/\n4:memory:/x\n1:cpu:/\n0::/\n"),
          CPB_CGROUP_HYBRID, "controllers and 0:: are hybrid");
  is_int (cpb_cgroup_mode_parse ("0::/user.slice/user-1000.slice/session-2.scope\n"), CPB_CGROUP_V2,
          "0:: alone is v2");
  is_int (cpb_cgroup_mode_parse ("12:pids:/\n11:memory:/\n1:name=systemd:/\n"), CPB_CGROUP_V1,
          "controllers alone are v1");
  is_int (cpb_cgroup_mode_parse (""), CPB_CGROUP_UNKNOWN, "nothing is unknown");
  is_str (cpb_cgroup_mode_name (CPB_CGROUP_HYBRID), "hybrid", "mode names");
}

static void
test_subids (void)
{
  const char *text = "# a comment\n"
                     "alice:100000:65536\n"
                     "1002:165536:65536\n"
                     "bob:231072:1000\n"
                     "bob:300000:2000\n"
                     "broken line\n"
                     "carol:x:5\n";

  is_int (cpb_subid_count (text, "alice", 1001), 65536, "by name");
  is_int (cpb_subid_count (text, "dave", 1002), 65536, "by uid");
  is_int (cpb_subid_count (text, "bob", 1003), 3000, "ranges add up");
  is_int (cpb_subid_count (text, "carol", 1004), 0, "a malformed line gives nothing");
  is_int (cpb_subid_count (text, "alic", 1005), 0, "a prefix of a name is not the name");
  is_int (cpb_subid_count ("", "alice", 1001), 0, "empty file");
  is_int (cpb_subid_next_free (text), 302000, "next free id follows the last range");
  is_int (cpb_subid_next_free (""), 100000, "next free id starts where useradd does");
  is_int (cpb_subid_next_free ("x:10:10\n"), 100000, "low ranges do not pull it down");
}

static void
test_toml (void)
{
  const char *conf = "# containers.conf\n"
                     "[engine]\n"
                     "runtime = \"runc\"  # crun refuses hybrid cgroups\n"
                     "[containers]\n"
                     "# default_ulimits = [\"nofile=1:1\"]\n"
                     "default_ulimits = [\n"
                     "  \"nofile=1024:2048\", # the fd limit\n"
                     "  \"nproc=4096\",\n"
                     "]\n"
                     "[network]\n"
                     "runtime = \"other\"\n";
  _cleanup_free_ char *runtime = cpb_toml_get (conf, "engine", "runtime");
  _cleanup_free_ char *ulimits = cpb_toml_get (conf, "containers", "default_ulimits");
  _cleanup_free_ char *missing = cpb_toml_get (conf, "containers", "runtime");
  _cleanup_free_ char *spaced =
      cpb_toml_get ("[ engine ]\n\truntime='crun'\n", "engine", "runtime");
  uint64_t soft = 0, hard = 0;

  is_str (runtime, "\"runc\"", "a string value without its comment");
  ok (missing == NULL, "a key of another table is not found");
  is_str (spaced, "'crun'", "blanks around table names and keys");
  ok (ulimits && ulimits[0] == '[' && ulimits[strlen (ulimits) - 1] == ']',
      "an array over several lines, whole");
  ok (ulimits && strstr (ulimits, "the fd limit") == NULL, "comments inside an array dropped");
  ok (cpb_ulimit_parse (ulimits, "nofile", &soft, &hard), "nofile found");
  is_int (soft, 1024, "nofile soft");
  is_int (hard, 2048, "nofile hard");
  ok (cpb_ulimit_parse (ulimits, "nproc", &soft, &hard), "nproc found");
  is_int (hard, 4096, "a single number sets both limits");
  ok (!cpb_ulimit_parse (ulimits, "core", &soft, &hard), "an absent limit");
  ok (!cpb_ulimit_parse ("[\"nofile=12:x\"]", "nofile", &soft, &hard), "a malformed limit");
  ok (!cpb_ulimit_parse ("[\"nofile=-1:-1\"]", "nofile", &soft, &hard), "a negative limit");
}

int
main (void)
{
  plan_no_plan ();
  test_cgroup_mode ();
  test_subids ();
  test_toml ();
  return done_testing ();
}
