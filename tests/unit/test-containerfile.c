/* Unit tests for Containerfile rendering: instruction order, quoting, package managers,
   the step map back to spec lines, and the context the file expects. */
#include "config.h"
#include "tap.h"
#include "build/containerfile.h"
#include "buf.h"

static cpb_strmap_entry env_items[] = {
  { "PATH", "/opt/bin:$PATH", { 7, 5 } },
  { "GREETING", "say \"hi\" \\o/", { 8, 5 } },
};
static cpb_strmap_entry label_items[] = { { "org.lab.owner", "ann $HOME", { 30, 5 } } };
static char *caps[] = { "python3", NULL };
static char *pkgs[] = { "make", "gcc-12", "libfoo>=1", NULL };
static struct cpb_pod_file files[] = {
  { .src = "data/in.csv",
    .src_path = "/spec/data/in.csv",
    .dest = "/work/",
    .mode = -1,
    .pos = { 12, 7 } },
  { .src = "bin/solve",
    .src_path = "/spec/bin/solve",
    .dest = "/usr/local/bin/solve now",
    .mode = 0755,
    .pos = { 14, 7 } },
  { .url = "https://example.org/x/tool.tar.gz?dl=1",
    .sha256 = "ab",
    .dest = "/opt/",
    .mode = 0644,
    .pos = { 16, 7 } },
};
static struct cpb_pod_step steps[] = {
  { "make -j4", { 20, 9 } },
  { "cd /work\n./configure\nmake", { 21, 9 } },
  { "[ -x /bin/sh ] && echo ok", { 25, 9 } },
};
static char *ep_argv[] = { "/usr/local/bin/solve now", "--in", "a \"b\"", NULL };
static char *cmd_argv[] = { "echo $HOME && exec solve", NULL };

static struct cpb_pod_image
solver (void)
{
  struct cpb_pod_image img = {
    .name = "solver",
    .tag = "latest",
    .from = { .kind = CPB_POD_FROM_RECIPE,
              .text = "recipe:debian",
              .ref = "debian",
              .pos = { 4, 11 } },
    .capabilities = caps,
    .n_capabilities = 1,
    .pkg_manager = CPB_PKG_APT,
    .packages = pkgs,
    .n_packages = 3,
    .packages_pos = { 10, 5 },
    .env = { env_items, 2 },
    .files = files,
    .n_files = 3,
    .run = steps,
    .n_run = 3,
    .workdir = "/work",
    .user = "1000:1000",
    .entrypoint = { .set = true, .exec_form = true, .argv = ep_argv, .argc = 3, .pos = { 27, 17 } },
    .cmd = { .set = true, .exec_form = false, .argv = cmd_argv, .argc = 1, .pos = { 28, 10 } },
    .labels = { label_items, 1 },
    .helper = true,
    .description = "Solves \"it\" in $WORK\nfast",
    .pos = { 3, 5 },
  };
  return img;
}

static const char *const url_paths[] = { NULL, NULL, "/cache/ab", NULL };

static void
test_full (void)
{
  struct cpb_pod_image img = solver ();
  struct cpb_containerfile_input in = { &img, "localhost/cpb-base-debian:latest",
                                        "/build/src/helper/cpb-helper", url_paths };
  _cleanup_containerfile_ cpb_containerfile *cf = NULL;
  _cleanup_error_ cpb_error *err = NULL;
  const struct cpb_cf_step *s;

  ok (cpb_containerfile_render (&in, "pods.yaml", &cf, &err) == 0, "the image renders");
  is_str (cf->text,
          "# cpb: image 'solver'\n"
          "FROM localhost/cpb-base-debian:latest\n"
          "ENV PATH=\"/opt/bin:$PATH\"\n"
          "ENV GREETING=\"say \\\"hi\\\" \\\\o/\"\n"
          "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
          "--no-install-recommends make gcc-12 'libfoo>=1' && apt-get clean && rm -rf "
          "/var/lib/apt/lists/*\n"
          "COPY [\"files/0/in.csv\", \"/work/in.csv\"]\n"
          "COPY --chmod=0755 [\"files/1/solve\", \"/usr/local/bin/solve now\"]\n"
          "COPY --chmod=0644 [\"files/2/tool.tar.gz\", \"/opt/tool.tar.gz\"]\n"
          "WORKDIR /work\n"
          "RUN make -j4\n"
          "RUN [\"/bin/sh\", \"-ec\", \"cd /work\\n./configure\\nmake\"]\n"
          "RUN [\"/bin/sh\", \"-c\", \"[ -x /bin/sh ] && echo ok\"]\n"
          "COPY --chmod=0755 helper/cpb-helper /usr/local/libexec/cpb/cpb-helper\n"
          "USER 1000:1000\n"
          "ENTRYPOINT [\"/usr/local/bin/solve now\", \"--in\", \"a \\\"b\\\"\"]\n"
          "CMD [\"/bin/sh\", \"-c\", \"echo $HOME && exec solve\"]\n"
          "LABEL \"org.lab.owner\"=\"ann \\$HOME\"\n"
          "LABEL \"org.opencontainers.image.description\"=\"Solves \\\"it\\\" in \\$WORK fast\"\n",
          "the Containerfile: cache-friendly order, quoting, exec forms");
  is_int (cf->n_steps, 17, "one step per instruction, comments excluded");

  s = cpb_containerfile_step (cf, 9);
  ok (s && s->kind == CPB_CF_RUN && s->run_index == 1 && s->pos.line == 20 && s->pos.col == 9,
      "STEP 9 maps to run step 1 at line 20");
  is_str (s ? s->what : NULL, "make -j4", "with the spec's own text");
  s = cpb_containerfile_step (cf, 10);
  ok (s && s->run_index == 2 && s->pos.line == 21, "a multi-line run step is one step");
  s = cpb_containerfile_step (cf, 4);
  ok (s && s->kind == CPB_CF_PACKAGES && s->pos.line == 10, "STEP 4 is the package install");
  is_str (s ? s->what : NULL, "apt install make gcc-12 'libfoo>=1'",
          "described by manager and names");
  ok (cpb_containerfile_step (cf, 18) == NULL, "a step Podman adds (labels=) maps to nothing");
  ok (cpb_containerfile_step (cf, 0) == NULL, "step 0 does not exist");

  is_int (cf->n_ctx, 5, "the context: Containerfile, three files, the helper");
  is_str (cf->ctx[0].name, "Containerfile", "the Containerfile comes first");
  ok (cf->ctx[0].data == cf->text && cf->ctx[0].len == cf->len, "from memory");
  is_str (cf->ctx[1].src, "/spec/data/in.csv", "a src file is read from the spec's directory");
  is_int (cf->ctx[2].mode, 0755, "with its mode");
  is_str (cf->ctx[3].src, "/cache/ab", "a url file from its download");
  is_str (cf->ctx[4].name, "helper/cpb-helper", "the helper last");
}

static void
test_managers_and_minimal (void)
{
  char *one[] = { "py3-numpy", NULL };
  struct cpb_pod_image img = {
    .name = "tiny",
    .from = { .kind = CPB_POD_FROM_OCI, .text = "localhost/cpb-busybox", .pos = { 2, 11 } },
    .capabilities = caps,
    .packages = one,
    .n_packages = 1,
    .pkg_manager = CPB_PKG_APK,
  };
  struct cpb_containerfile_input in = { &img, "localhost/cpb-busybox", NULL, NULL };
  _cleanup_containerfile_ cpb_containerfile *cf = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  cpb_containerfile_render (&in, "pods.yaml", &cf, &err);
  ok (strstr (cf->text, "RUN apk add --no-cache py3-numpy\n") != NULL, "apk without a cache");
  cpb_containerfile_free (TAKE_PTR (cf));
  img.pkg_manager = CPB_PKG_DNF;
  cpb_containerfile_render (&in, "pods.yaml", &cf, &err);
  ok (strstr (cf->text,
              "RUN dnf install -y --setopt=install_weak_deps=False py3-numpy && dnf clean all\n") !=
          NULL,
      "dnf without weak dependencies, cleaned");
  cpb_containerfile_free (TAKE_PTR (cf));
  img.n_packages = 0;
  cpb_containerfile_render (&in, "pods.yaml", &cf, &err);
  is_str (cf->text, "# cpb: image 'tiny'\nFROM localhost/cpb-busybox\n",
          "a bare image is its FROM");
  is_int (cf->n_ctx, 1, "and its context only the Containerfile");
}

static void
test_errors (void)
{
  cpb_strmap_entry bad_env[] = { { "X", "two\nlines", { 9, 8 } } };
  struct cpb_pod_image img = {
    .name = "bad",
    .from = { .kind = CPB_POD_FROM_OCI, .text = "x", .pos = { 2, 11 } },
    .capabilities = caps,
    .packages = caps + 1,
    .env = { bad_env, 1 },
  };
  struct cpb_containerfile_input in = { &img, "x", NULL, NULL };
  _cleanup_containerfile_ cpb_containerfile *cf = NULL;
  _cleanup_error_ cpb_error *err = NULL;

  ok (cpb_containerfile_render (&in, "pods.yaml", &cf, &err) < 0,
      "a newline in an env value fails");
  is_str (err ? err->msg : NULL, "pods.yaml:9:8: image 'bad': 'env' value cannot span lines",
          "pointing at the spec");
  ok (cf == NULL, "and returns nothing");
  cpb_error_free (TAKE_PTR (err));
  bad_env[0] = (cpb_strmap_entry){ "X Y", "z", { 9, 8 } };
  ok (cpb_containerfile_render (&in, "pods.yaml", &cf, &err) < 0, "an env name with a space fails");
  is_str (err ? err->msg : NULL, "pods.yaml:9:8: image 'bad': invalid env name 'X Y'", "naming it");
  cpb_error_free (TAKE_PTR (err));
  img.env.n = 0;
  img.labels = (cpb_strmap){ bad_env, 1 };
  bad_env[0] = (cpb_strmap_entry){ "k", "v\nRUN rm -rf /", { 11, 3 } };
  ok (cpb_containerfile_render (&in, "pods.yaml", &cf, &err) < 0,
      "a newline in a label value cannot inject an instruction");
  cpb_error_free (TAKE_PTR (err));
  img.labels.n = 0;
  {
    char *pk[] = { "make\nRUN x", NULL };

    img.packages = pk;
    img.n_packages = 1;
    ok (cpb_containerfile_render (&in, "pods.yaml", &cf, &err) < 0, "nor in a package name");
    cpb_error_free (TAKE_PTR (err));
    img.n_packages = 0;
    img.packages = caps + 1;
  }
  img.helper = true;
  ok (cpb_containerfile_render (&in, "pods.yaml", &cf, &err) < 0 && err->kind == CPB_ERR_INPUT,
      "helper: true without a helper binary fails");
}

static void
test_json_string (void)
{
  _cleanup_buf_ cpb_buf b = CPB_BUF_INIT;

  cpb_containerfile_json_string (&b, "a\"b\\c\td\x01");
  is_str (b.data, "\"a\\\"b\\\\c\\td\\u0001\"",
          "JSON strings escape quotes, backslashes, controls");
}

int
main (void)
{
  test_full ();
  test_managers_and_minimal ();
  test_errors ();
  test_json_string ();
  return done_testing ();
}
