/* build/recipe.c: local base images from recipes, and `url` files fetched by digest.
 *
 * Both exist so that a lab without a registry can build everything: a recipe turns
 * distribution packages (busybox-static, mmdebstrap) into a base image, and a url file is
 * fetched once into a cache keyed by its sha256, so rebuilds and air-gapped machines with
 * a copied cache need no network.
 */
#include "config.h"
#include "build/builder.h"
#include "build/buildctx.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Output of a failed recipe kept for the message: enough for mmdebstrap's reason. */
#define RECIPE_LOG_TAIL 1500

char *
cpb_builder_recipe_ref (const char *name)
{
  return cpb_xasprintf ("localhost/cpb-base-%s:latest", name);
}

static int
check_recipe_name (const char *name, cpb_error **err)
{
  if (*name == '\0' || *name == '.' ||
      strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen (name))
    return cpb_error_set (err, CPB_ERR_INPUT, "invalid recipe name '%s'", name);
  return 0;
}

int
cpb_builder_recipe_hash (const char *images_dir, const char *name, char hex[CPB_SHA256_HEX_LEN + 1],
                         cpb_error **err)
{
  _cleanup_free_ char *dir = NULL, *script = NULL;
  struct cpb_buildctx_entry entry = { .name = name };

  if (check_recipe_name (name, err) < 0)
    return -1;
  dir = cpb_xasprintf ("%s/%s", images_dir, name);
  script = cpb_xasprintf ("%s/recipe.sh", dir);
  if (access (script, R_OK) < 0)
    return cpb_error_set (err, CPB_ERR_INPUT, "unknown recipe '%s': no %s", name, script);
  entry.src = dir;
  return cpb_buildctx_hash (&entry, 1, hex, err);
}

/* The last bytes of the file at PATH, as text for a message. */
static char *
file_tail (const char *path)
{
  _cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
  char buf[RECIPE_LOG_TAIL + 1];
  off_t size;
  ssize_t n;

  if (fd < 0)
    return cpb_xstrdup ("");
  size = lseek (fd, 0, SEEK_END);
  lseek (fd, size > RECIPE_LOG_TAIL ? size - RECIPE_LOG_TAIL : 0, SEEK_SET);
  n = read (fd, buf, RECIPE_LOG_TAIL);
  buf[n > 0 ? n : 0] = '\0';
  while (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  return cpb_xstrdup (buf);
}

/* Run `sh SCRIPT OUT` with its output in LOG; a failure carries the log's tail. */
static int
run_recipe (const char *name, const char *script, const char *out, const char *log, cpb_error **err)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  char *argv[] = { (char *)"/bin/sh", (char *)script, (char *)out, NULL };
  sigset_t all, none;
  pid_t pid;
  int r, status;

  /* cpb ignores SIGPIPE, and an ignored signal stays ignored across exec: apt's download
     methods inside mmdebstrap then fail ("apt download failed").  Give the recipe the
     default dispositions and an empty mask, as a shell would. */
  sigfillset (&all);
  sigemptyset (&none);
  posix_spawnattr_init (&attr);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2 (&fa, 1, 2);
  /* libcurl's sockets to Podman are not close-on-exec, and mmdebstrap's apt fails with
     foreign descriptors where it expects its own ("apt download failed"). */
  posix_spawn_file_actions_addclosefrom_np (&fa, 3);
  r = posix_spawn (&pid, argv[0], &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  if (r != 0)
    return cpb_error_errno (err, r, "recipe '%s': cannot run '%s'", name, script);
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return cpb_error_errno (err, errno, "recipe '%s': waiting for '%s'", name, script);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      _cleanup_free_ char *tail = file_tail (log);

      return cpb_error_set (err, CPB_ERR_FAILED, "recipe '%s' failed (%s %d)%s%s", name,
                            WIFEXITED (status) ? "exit" : "signal",
                            WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status),
                            *tail ? ":\n" : "", tail);
    }
  return 0;
}

/* The lines of DIR/changes (Containerfile instructions for the import), plus our label. */
static char **
recipe_changes (const char *dir, const char *hash)
{
  _cleanup_free_ char *path = cpb_xasprintf ("%s/changes", dir);
  _cleanup_fclose_ FILE *f = fopen (path, "re");
  char **v = cpb_xcalloc (2, sizeof *v);
  size_t n = 0;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;

  while (f && (len = getline (&line, &cap, f)) >= 0)
    {
      while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
      if (len == 0 || line[0] == '#')
        continue;
      v = cpb_xrealloc (v, (n + 3) * sizeof *v);
      v[n++] = cpb_xstrdup (line);
    }
  free (line);
  v[n++] = cpb_xasprintf ("LABEL " CPB_LABEL_RECIPE_HASH "=%s", hash);
  v[n] = NULL;
  return v;
}

/* Run the recipe into a private temporary directory and import the tar it wrote. */
static int
make_recipe (cpb_podman *p, const char *dir, const char *name, const char *hash, cpb_error **err)
{
  _cleanup_free_ char *script = cpb_xasprintf ("%s/recipe.sh", dir);
  _cleanup_free_ char *tmp = cpb_xasprintf (
      "%s/cpb-recipe-%s.XXXXXX", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/var/tmp", name);
  _cleanup_free_ char *tar = NULL, *log = NULL, *ref = cpb_builder_recipe_ref (name);
  _cleanup_strv_free_ char **changes = recipe_changes (dir, hash);
  _cleanup_close_ int fd = -1;
  struct cpb_podman_body body;
  int ret = -1;

  /* /var/tmp: a Debian root filesystem (~190 MB) does not belong in a tmpfs /tmp. */
  if (mkdtemp (tmp) == NULL)
    return cpb_error_errno (err, errno, "recipe '%s': cannot create a directory in '%s'", name,
                            tmp);
  tar = cpb_xasprintf ("%s/rootfs.tar", tmp);
  log = cpb_xasprintf ("%s/recipe.log", tmp);
  if (run_recipe (name, script, tar, log, err) < 0)
    goto out;
  fd = open (tar, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      cpb_error_errno (err, errno, "recipe '%s': no root filesystem at '%s'", name, tar);
      goto out;
    }
  body = CPB_PODMAN_BODY_FD (fd);
  ret = cpb_podman_image_import (p, &body, ref, (const char *const *)changes, NULL, err);
  if (ret < 0)
    cpb_error_prefix (err, "recipe '%s': importing '%s'", name, ref);
out:
  unlink (tar);
  unlink (log);
  rmdir (tmp);
  return ret;
}

int
cpb_builder_recipe_current (cpb_podman *p, const char *images_dir, const char *name, bool *ret,
                            cpb_error **err)
{
  _cleanup_free_ char *ref = cpb_builder_recipe_ref (name);
  _cleanup_podman_image_ struct cpb_podman_image *img = NULL;
  _cleanup_error_ cpb_error *inspect_err = NULL;
  char hash[CPB_SHA256_HEX_LEN + 1];
  const char *have;

  if (cpb_builder_recipe_hash (images_dir, name, hash, err) < 0)
    return -1;
  if (cpb_podman_image_inspect (p, ref, &img, &inspect_err) < 0 &&
      inspect_err->kind != CPB_ERR_NOT_FOUND)
    {
      cpb_error_free (*err);
      *err = TAKE_PTR (inspect_err);
      return cpb_error_prefix (err, "recipe '%s'", name);
    }
  have = img ? cpb_podman_kv_get (img->labels, img->n_labels, CPB_LABEL_RECIPE_HASH) : NULL;
  *ret = have && strcmp (have, hash) == 0;
  return 0;
}

int
cpb_builder_ensure_recipe (cpb_podman *p, const char *images_dir, const char *name, bool force,
                           bool *ret_made, cpb_error **err)
{
  _cleanup_free_ char *dir = NULL;
  char hash[CPB_SHA256_HEX_LEN + 1];
  bool current = false;

  if (!force && cpb_builder_recipe_current (p, images_dir, name, &current, err) < 0)
    return -1;
  if (current)
    {
      if (ret_made)
        *ret_made = false;
      return 0;
    }
  if (cpb_builder_recipe_hash (images_dir, name, hash, err) < 0)
    return -1;
  dir = cpb_xasprintf ("%s/%s", images_dir, name);
  if (make_recipe (p, dir, name, hash, err) < 0)
    return -1;
  if (ret_made)
    *ret_made = true;
  return 0;
}

/* --- url files ---------------------------------------------------------------------- */

/* mkdir -p, private to the cache: paths.c has one, but the builder must not need it. */
static int
make_dirs (const char *path, cpb_error **err)
{
  _cleanup_free_ char *copy = cpb_xstrdup (path);

  for (char *p = copy + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        if (mkdir (copy, 0700) < 0 && errno != EEXIST)
          return cpb_error_errno (err, errno, "cannot create '%s'", copy);
        *p = '/';
      }
  if (mkdir (copy, 0700) < 0 && errno != EEXIST)
    return cpb_error_errno (err, errno, "cannot create '%s'", copy);
  return 0;
}

CPB_DEFINE_CLEANUP_FUNC (CURL *, curl_easy_cleanup)
#define _cleanup_curl_easy_ _cleanup_ (curl_easy_cleanupp)

static int
download (const char *url, int fd, cpb_error **err)
{
  _cleanup_curl_easy_ CURL *c = curl_easy_init ();
  _cleanup_fclose_ FILE *f = fdopen (dup (fd), "we");
  char msg[CURL_ERROR_SIZE] = "";
  CURLcode rc;

  if (c == NULL || f == NULL)
    return cpb_error_set (err, CPB_ERR_SYSTEM, "cannot start a download");
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, f);
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, msg);
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 30L);
  /* What the spec loader accepts, redirects included: a server must not be able to
     redirect a download to file:///etc/shadow. */
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt (c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  rc = curl_easy_perform (c);
  if (rc != CURLE_OK)
    return cpb_error_set (err, CPB_ERR_FAILED, "cannot download '%s': %s", url,
                          *msg ? msg : curl_easy_strerror (rc));
  if (fflush (f) != 0)
    return cpb_error_errno (err, errno, "cannot write the download of '%s'", url);
  return 0;
}

int
cpb_builder_fetch (const char *cache_dir, const char *url, const char *sha256, char **ret_path,
                   cpb_error **err)
{
  _cleanup_free_ char *dir = cpb_xasprintf ("%s/sha256", cache_dir);
  _cleanup_free_ char *path = cpb_xasprintf ("%s/%s", dir, sha256);
  _cleanup_free_ char *tmp = cpb_xasprintf ("%s/.%s.XXXXXX", dir, sha256);
  _cleanup_close_ int fd = -1;
  char got[CPB_SHA256_HEX_LEN + 1];

  if (access (path, R_OK) == 0)
    {
      *ret_path = TAKE_PTR (path);
      return 0;
    }
  if (make_dirs (dir, err) < 0)
    return -1;
  fd = mkostemp (tmp, O_CLOEXEC);
  if (fd < 0)
    return cpb_error_errno (err, errno, "cannot create '%s'", tmp);
  if (download (url, fd, err) < 0 || cpb_sha256_file (tmp, got, err) < 0)
    {
      unlink (tmp);
      return -1;
    }
  if (strcmp (got, sha256) != 0)
    {
      unlink (tmp);
      return cpb_error_set (err, CPB_ERR_INPUT, "'%s' has sha256 %s, the spec says %s", url, got,
                            sha256);
    }
  if (rename (tmp, path) < 0)
    {
      unlink (tmp);
      return cpb_error_errno (err, errno, "cannot rename '%s'", tmp);
    }
  *ret_path = TAKE_PTR (path);
  return 0;
}
