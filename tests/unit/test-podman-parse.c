/* Unit tests for the parse functions of every Podman response shape the client reads,
 * against documents captured from the real Podman 4.3.1 service (tests/unit/data/podman/).
 */
#include "config.h"
#include "tap.h"
#include "podman/podman.h"
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#define FIXTURES CPB_SOURCE_ROOT "/tests/unit/data/podman/"
#define FIXTURE_ID "087a137fefad45c258dc3ea34efdb12ec3064e3e8cf28eb24226a1dcdea0b56f"

static cpb_buf
slurp (const char *name)
{
  _cleanup_free_ char *path = NULL;
  cpb_buf b = CPB_BUF_INIT;
  char block[4096];
  size_t n;
  FILE *f;

  if (asprintf (&path, FIXTURES "%s", name) < 0)
    abort ();
  f = fopen (path, "re");
  while (f && (n = fread (block, 1, sizeof block, f)) > 0)
    cpb_buf_append (&b, block, n);
  if (f)
    fclose (f);
  if (b.data == NULL)
    cpb_buf_puts (&b, "");
  return b;
}

static void
test_version_info (void)
{
  _cleanup_buf_ cpb_buf v = slurp ("version.json"), i = slurp ("info.json");
  _cleanup_podman_version_ struct cpb_podman_version *ver = NULL;
  _cleanup_podman_info_ struct cpb_podman_info *info = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  ok (cpb_podman_parse_version (v.data, v.len, &ver, &err) == 0, "version parses");
  is_str (ver ? ver->version : NULL, "4.3.1", "version");
  is_str (ver ? ver->api_version : NULL, "1.41", "compat API version");
  is_str (ver ? ver->arch : NULL, "amd64", "arch");

  ok (cpb_podman_parse_info (i.data, i.len, &info, &err) == 0, "info parses");
  if (info == NULL)
    return;
  is_int (info->cpus, 2, "cpus");
  is_int (info->mem_total, 25276502016LL, "memory total (beyond 32 bits)");
  is_int (info->mem_free, 23278559232LL, "memory free");
  is_int (info->cgroup_version, 1, "cgroup version from 'v1'");
  is_str (info->oci_runtime, "runc", "OCI runtime name");
  ok (info->rootless, "rootless");
  is_str (info->storage_driver, "vfs", "storage driver");
  is_str (info->hostname, "vm", "hostname");
  is_str (info->os, "linux", "os");
  is_str (info->version, "4.3.1", "podman version");
  is_str (info->graph_root, "/tmp/client-svc/storage", "graph root");
}

static void
test_images (void)
{
  _cleanup_buf_ cpb_buf l = slurp ("images-list-labels.json"), e = slurp ("images-list.json");
  _cleanup_buf_ cpb_buf ins = slurp ("image-inspect-labels.json"),
                        plain = slurp ("image-inspect.json");
  _cleanup_podman_image_list_ struct cpb_podman_image_list *list = NULL, *list2 = NULL;
  _cleanup_podman_image_ struct cpb_podman_image *img = NULL, *img2 = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  ok (cpb_podman_parse_image_list (l.data, l.len, &list, &err) == 0 && list->n == 1,
      "image list parses");
  if (list && list->n)
    {
      struct cpb_podman_image *a = &list->images[0];
      is_str (a->id, "57cdbd18e691eb1600f618e3a16fcd724a8f9d573f6e052100008ab5c22cedcb",
              "list: id");
      is_str (a->repo_tags[0], "localhost/cpb-fixture:1", "list: repo tag");
      is_str (cpb_podman_kv_get (a->labels, a->n_labels, "io.cpb.spec-hash"), "abc123",
              "list: label");
      is_int (a->created, 1795322890, "list: created in seconds");
      is_int (a->size, 2137290, "list: size");
    }
  ok (cpb_podman_parse_image_list (e.data, e.len, &list2, &err) == 0 &&
          list2->images[0].n_labels == 0,
      "list entry with \"Labels\": null has no labels");

  ok (cpb_podman_parse_image_inspect (ins.data, ins.len, &img, &err) == 0, "image inspect parses");
  if (img)
    {
      is_str (cpb_podman_kv_get (img->labels, img->n_labels, "io.cpb.capabilities"), "none",
              "inspect: label");
      is_int (img->n_labels, 4, "inspect: all labels");
      is_str (img->digest,
              "sha256:bdc12e2baeb01204a57bbfcfdb58faa5d4b003027948fd009738859179f709e7",
              "inspect: digest");
      ok (img->created > 1795322800 && img->created < 1795323000, "inspect: RFC 3339 created");
    }
  ok (cpb_podman_parse_image_inspect (plain.data, plain.len, &img2, &err) == 0 &&
          img2->repo_tags[1] == NULL,
      "plain image: one tag");
  is_int (img2 ? img2->created : 0, 1795322875, "plain image: created 2026-11-22T04:47:55.91Z");
}

static void
test_containers (void)
{
  _cleanup_buf_ cpb_buf c = slurp ("container-inspect-created.json"),
                        x = slurp ("container-inspect-exited.json");
  _cleanup_buf_ cpb_buf l = slurp ("container-list.json");
  _cleanup_podman_container_ struct cpb_podman_container *created = NULL, *exited = NULL;
  _cleanup_podman_container_list_ struct cpb_podman_container_list *list = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  ok (cpb_podman_parse_container_inspect (c.data, c.len, &created, &err) == 0,
      "created container parses");
  is_str (created ? created->status : NULL, "created", "status created");
  is_int (created ? created->started_at : -1, 0, "Go's zero time is 0");

  ok (cpb_podman_parse_container_inspect (x.data, x.len, &exited, &err) == 0,
      "exited container parses");
  if (exited)
    {
      is_str (exited->id, FIXTURE_ID, "id");
      is_str (exited->name, "cpb-fix-1", "name");
      is_str (exited->image, "localhost/cpb-fixture:1", "image name from ImageName");
      is_str (exited->image_id, "57cdbd18e691eb1600f618e3a16fcd724a8f9d573f6e052100008ab5c22cedcb",
              "image id");
      is_str (exited->status, "exited", "status exited");
      is_int (exited->exit_code, 7, "exit code");
      ok (!exited->oom_killed, "not OOM killed");
      is_int (exited->started_at, 1795322899, "started at");
      is_int (exited->finished_at, 1795322899, "finished at");
      is_str (cpb_podman_kv_get (exited->labels, exited->n_labels, "io.cpb.task"), "t1",
              "labels from Config");
    }
  ok (cpb_podman_parse_container_list (l.data, l.len, &list, &err) == 0 && list->n == 1,
      "list parses");
  if (list && list->n)
    {
      is_str (list->containers[0].name, "cpb-fix-1", "list: first of Names");
      is_str (list->containers[0].status, "exited", "list: State");
      is_int (list->containers[0].exit_code, 7, "list: exit code");
      is_str (cpb_podman_kv_get (list->containers[0].labels, list->containers[0].n_labels,
                                 "io.cpb.run"),
              "r1", "list: labels");
    }
}

static void
test_events (void)
{
  _cleanup_buf_ cpb_buf b = slurp ("events-container.jsonl");
  _cleanup_error_ cpb_error *err = NULL;
  const char *line = b.data;
  int n = 0, died = 0, exit_codes_elsewhere = 0;

  for (const char *nl; (nl = strchr (line, '\n')) != NULL; line = nl + 1)
    {
      _cleanup_podman_event_ struct cpb_podman_event *ev = NULL;

      if (cpb_podman_parse_event (line, (size_t)(nl - line), &ev, &err) < 0)
        break;
      n++;
      if (strcmp (ev->action, "died") == 0)
        {
          died++;
          is_int (ev->exit_code, 7, "died: exit code from containerExitCode");
          is_str (ev->type, "container", "died: type");
          is_str (ev->id, FIXTURE_ID, "died: id from Actor.ID");
          is_str (ev->name, "cpb-fix-1", "died: name attribute");
          is_str (ev->image, "localhost/cpb-fixture:1", "died: image attribute");
          is_str (cpb_podman_kv_get (ev->attributes, ev->n_attributes, "io.cpb.run"), "r1",
                  "died: labels");
          is_int (ev->time, 1795322899, "died: time");
          is_int (ev->time_nano, 1795322899031598282LL, "died: nanoseconds");
        }
      else if (ev->exit_code != -1)
        exit_codes_elsewhere++;
    }
  is_int (n, 5, "create, init, start, died, cleanup all parse");
  is_int (died, 1, "one died event");
  is_int (exit_codes_elsewhere, 0,
          "4.3's containerExitCode \"0\" on other events is not an exit code");
}

static void
test_small_answers (void)
{
  _cleanup_buf_ cpb_buf cr = slurp ("create.json"), im = slurp ("import.json"),
                        ld = slurp ("load.json");
  _cleanup_buf_ cpb_buf w = slurp ("wait.txt");
  _cleanup_free_ char *id = NULL, *id2 = NULL;
  _cleanup_strv_free_ char **names = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  int code = -5;

  ok (cpb_podman_parse_id (cr.data, cr.len, &id, &err) == 0, "create answer parses");
  is_str (id, "8eed3eccc5e3384ec64b27d0e8eabdc50dd577cf4dc8d79cce3aa757347effa2", "created id");
  ok (cpb_podman_parse_id (im.data, im.len, &id2, &err) == 0, "import answer parses");
  is_str (id2, "9a89691200040a9bc42fe18f050c03a7408a02830431ae0ce65a45846921d216",
          "import id without sha256:");
  ok (cpb_podman_parse_load (ld.data, ld.len, &names, &err) == 0 && names[0] && names[1] == NULL,
      "load answer");
  is_str (names ? names[0] : NULL, "localhost/cpb-imp:1", "loaded name");
  ok (cpb_podman_parse_wait (w.data, w.len, &code, &err) == 0 && code == 7, "wait's bare integer");
  ok (cpb_podman_parse_wait ("{\"x\":1}", 7, &code, &err) < 0 && code == 7,
      "a non-integer wait answer fails");
  ok (cpb_podman_parse_id ("{\"Warnings\":[]}", 15, &id, &err) < 0, "an answer without Id fails");
  {
    _cleanup_buf_ cpb_buf cw = slurp ("create-warnings.json");
    _cleanup_strv_free_ char **warnings = NULL, **none = NULL;
    _cleanup_free_ char *id3 = NULL, *id4 = NULL;

    ok (cpb_podman_parse_create (cw.data, cw.len, &id3, &warnings, &err) == 0,
        "create answer with warnings");
    is_str (warnings ? warnings[0] : NULL,
            "Resource limits are not supported and ignored on cgroups V1 rootless systems",
            "the cgroups v1 rootless warning");
    ok (cpb_podman_parse_create (cr.data, cr.len, &id4, &none, &err) == 0 && none[0] == NULL,
        "no warnings: empty");
  }
  ok (cpb_podman_parse_id ("[]", 2, &id, &err) < 0 && strstr (err->msg, "not a JSON object"),
      "a wrong shape fails");
}

static void
test_errors (void)
{
  _cleanup_buf_ cpb_buf nf = slurp ("error-container-404.json"),
                        st = slurp ("error-start-500.json");
  _cleanup_error_ cpb_error *err = NULL;

  cpb_podman_parse_error (nf.data, nf.len, 404, &err);
  is_int (err->kind, CPB_ERR_NOT_FOUND, "404 is not-found");
  is_int (err->http_status, 404, "status kept");
  is_str (err->msg, "podman: no container with name or ID \"nosuch\" found: no such container",
          "message");
  cpb_podman_parse_error (st.data, st.len, 500, &err);
  is_int (err->kind, CPB_ERR_PODMAN, "500 is a podman error");
  ok (strncmp (err->msg, "podman: runc: runc create failed", 32) == 0,
      "Podman's message reaches the caller");
  cpb_podman_parse_error ("Bad Gateway\nmore", 16, 502, &err);
  is_str (err->msg, "podman: Bad Gateway", "non-JSON body: its first line");
  cpb_podman_parse_error (NULL, 0, 500, &err);
  is_str (err->msg, "podman: HTTP status 500", "empty body: the status");
}

static void
test_build_lines (void)
{
  _cleanup_buf_ cpb_buf okb = slurp ("build-ok.jsonl"), bad = slurp ("build-fail.jsonl");
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *last = NULL;
  const char *line;
  int lines = 0, failed = 0;

  line = okb.data;
  for (const char *nl; (nl = strchr (line, '\n')) != NULL; line = nl + 1)
    {
      char *text = NULL;

      if (cpb_podman_parse_build_line (line, (size_t)(nl - line), &text, &err) < 0)
        failed++;
      lines++;
      free (last);
      last = text;
    }
  ok (lines == 12 && failed == 0, "a successful build's 12 lines parse");
  is_str (last, "57cdbd18e691eb1600f618e3a16fcd724a8f9d573f6e052100008ab5c22cedcb\n",
          "the last is the image ID");

  line = bad.data;
  failed = 0;
  for (const char *nl; (nl = strchr (line, '\n')) != NULL; line = nl + 1)
    {
      _cleanup_free_ char *text = NULL;

      if (cpb_podman_parse_build_line (line, (size_t)(nl - line), &text, &err) < 0)
        failed++;
    }
  is_int (failed, 1, "the failed build's error line is an error");
  is_int (err->kind, CPB_ERR_FAILED, "a build failure is CPB_ERR_FAILED");
  is_str (err->msg, "podman: building at STEP \"RUN exit 3\": while running runtime: exit status 3",
          "with Podman's text, trailing newline dropped");
}

int
main (void)
{
  test_version_info ();
  test_images ();
  test_containers ();
  test_events ();
  test_small_answers ();
  test_errors ();
  test_build_lines ();
  return done_testing ();
}
