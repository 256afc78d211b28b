/* mkarchive: write one task archive into a store with cpb's real writer, from a tar stream on
 * standard input (e.g. `podman cp CTR:/work/. -`), for the fetch and archive scenarios.
 *
 *   mkarchive --root DIR --ns NS --batch B --task T [--state done|failed|cancelled]
 *             [--index N] [--finished EPOCH] [--stdout TEXT] [--output GLOB]... < stream.tar
 *
 * fetch.bats compiles it against the build's libcpb.a.
 */
#include "config.h"
#include "store/store.h"
#include "xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "root", required_argument, NULL, 'r' },     { "ns", required_argument, NULL, 'n' },
    { "batch", required_argument, NULL, 'b' },    { "task", required_argument, NULL, 't' },
    { "state", required_argument, NULL, 's' },    { "index", required_argument, NULL, 'i' },
    { "finished", required_argument, NULL, 'f' }, { "stdout", required_argument, NULL, 'o' },
    { "output", required_argument, NULL, 'g' },   { NULL, 0, NULL, 0 }
  };
  struct cpb_task_manifest m = { .attempt = 1, .exit_code = 0 };
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_store_writer_ cpb_store_writer *w = NULL;
  const char *root = NULL, *out_text = "";
  char *outputs[64] = { NULL };
  _cleanup_free_ char *path = NULL;
  size_t n_out = 0;
  int c;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 'r':
        root = optarg;
        break;
      case 'n':
        m.namespace = optarg;
        break;
      case 'b':
        m.batch = optarg;
        break;
      case 't':
        m.task = optarg;
        break;
      case 'i':
        m.index = atol (optarg);
        break;
      case 'f':
        m.finished = atoll (optarg);
        m.started = m.finished - 1;
        break;
      case 'o':
        out_text = optarg;
        break;
      case 'g':
        if (n_out < 63)
          outputs[n_out++] = optarg;
        break;
      case 's':
        m.state = strcmp (optarg, "failed") == 0      ? CPB_TASK_FAILED
                  : strcmp (optarg, "cancelled") == 0 ? CPB_TASK_CANCELLED
                                                      : CPB_TASK_DONE;
        m.exit_code = m.state == CPB_TASK_DONE ? 0 : 1;
        break;
      default:
        return 2;
      }
  if (root == NULL)
    return 2;
  w = cpb_store_writer_new (root, &m, outputs, &err);
  if (w == NULL || cpb_store_writer_feed_fd (w, 0, &err) < 0 ||
      cpb_store_writer_add_log (w, "stdout", out_text, strlen (out_text), &err) < 0 ||
      cpb_store_writer_commit (w, &path, &err) < 0)
    {
      fprintf (stderr, "mkarchive: %s\n", err ? err->msg : "failed");
      return 1;
    }
  puts (path);
  return 0;
}
