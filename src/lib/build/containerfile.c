/* build/containerfile.c: render one image of the model as a Containerfile and its step map.
 *
 * Instruction order is chosen for the layer cache: what changes least comes first
 * (packages before files before run steps, the helper binary after the run steps because
 * it changes with every build of cpb), so an edit to a late step reuses the early layers.
 */
#include "config.h"
#include "build/containerfile.h"
#include "xalloc.h"

#include <stdio.h>
#include <string.h>

#define OCI_DESCRIPTION "org.opencontainers.image.description"

struct render
{
  const struct cpb_containerfile_input *in;
  const char *spec_name;
  cpb_buf text;
  cpb_containerfile *cf;
  size_t cap_steps, cap_ctx, cap_owned;
};

static const char *
own (struct render *r, char *s)
{
  cpb_containerfile *cf = r->cf;

  if (cf->n_owned == r->cap_owned)
    {
      r->cap_owned = r->cap_owned ? 2 * r->cap_owned : 16;
      cf->owned = cpb_xrealloc (cf->owned, r->cap_owned * sizeof *cf->owned);
    }
  cf->owned[cf->n_owned++] = s;
  return s;
}

/* Start a new instruction: record its step, then the caller appends its text. */
static void
add_step (struct render *r, enum cpb_cf_step_kind kind, cpb_pos pos, const char *what)
{
  cpb_containerfile *cf = r->cf;

  if (cf->n_steps == r->cap_steps)
    {
      r->cap_steps = r->cap_steps ? 2 * r->cap_steps : 16;
      cf->steps = cpb_xrealloc (cf->steps, r->cap_steps * sizeof *cf->steps);
    }
  cf->steps[cf->n_steps++] =
      (struct cpb_cf_step){ .kind = kind, .pos = pos, .what = own (r, cpb_xstrdup (what)) };
}

static void
add_ctx (struct render *r, const char *name, const char *src, int mode)
{
  cpb_containerfile *cf = r->cf;

  if (cf->n_ctx == r->cap_ctx)
    {
      r->cap_ctx = r->cap_ctx ? 2 * r->cap_ctx : 8;
      cf->ctx = cpb_xrealloc (cf->ctx, r->cap_ctx * sizeof *cf->ctx);
    }
  cf->ctx[cf->n_ctx++] =
      (struct cpb_buildctx_entry){ .name = own (r, cpb_xstrdup (name)),
                                   .src = src ? own (r, cpb_xstrdup (src)) : NULL,
                                   .mode = mode > 0 ? (mode_t)mode : 0 };
}

void
cpb_containerfile_json_string (cpb_buf *b, const char *s)
{
  cpb_buf_putc (b, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    switch (*p)
      {
      case '"':
        cpb_buf_puts (b, "\\\"");
        break;
      case '\\':
        cpb_buf_puts (b, "\\\\");
        break;
      case '\n':
        cpb_buf_puts (b, "\\n");
        break;
      case '\t':
        cpb_buf_puts (b, "\\t");
        break;
      case '\r':
        cpb_buf_puts (b, "\\r");
        break;
      default:
        if (*p < 0x20)
          cpb_buf_printf (b, "\\u%04x", *p);
        else
          cpb_buf_putc (b, (char)*p);
      }
  cpb_buf_putc (b, '"');
}

/* A double-quoted Containerfile word.  Backslash and quote are escaped; with LITERAL the
   dollar sign too (labels are data; ENV values keep $VAR expansion, as users expect from
   PATH=/opt/bin:$PATH). */
static void
quoted_word (cpb_buf *b, const char *s, bool literal)
{
  cpb_buf_putc (b, '"');
  for (const char *p = s; *p; p++)
    {
      if (*p == '"' || *p == '\\' || (literal && *p == '$'))
        cpb_buf_putc (b, '\\');
      cpb_buf_putc (b, *p);
    }
  cpb_buf_putc (b, '"');
}

/* A word for /bin/sh: kept as is when it holds only characters sh leaves alone. */
static void
shell_word (cpb_buf *b, const char *s)
{
  if (*s &&
      strspn (s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+:=~/@%,-") ==
          strlen (s))
    {
      cpb_buf_puts (b, s);
      return;
    }
  cpb_buf_putc (b, '\'');
  for (const char *p = s; *p; p++)
    if (*p == '\'')
      cpb_buf_puts (b, "'\\''");
    else
      cpb_buf_putc (b, *p);
  cpb_buf_putc (b, '\'');
}

/* Values of instructions that end at the line's end cannot hold a newline. */
static int
check_one_line (struct render *r, const char *value, cpb_pos pos, const char *what, cpb_error **err)
{
  if (strpbrk (value, "\n\r") == NULL)
    return 0;
  return cpb_error_set (err, CPB_ERR_INPUT, "%s:%u:%u: image '%s': %s cannot span lines",
                        r->spec_name, pos.line, pos.col, r->in->image->name, what);
}

/* Variable names as a Containerfile takes them unquoted in ENV and ARG. */
static int
check_name (struct render *r, const char *name, cpb_pos pos, const char *what, cpb_error **err)
{
  static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";

  if (strchr (first, name[0]) && name[0] && strspn (name, "0123456789") == 0 &&
      strspn (name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_0123456789") ==
          strlen (name))
    return 0;
  return cpb_error_set (err, CPB_ERR_INPUT, "%s:%u:%u: image '%s': invalid %s name '%s'",
                        r->spec_name, pos.line, pos.col, r->in->image->name, what, name);
}

static int
check_map (struct render *r, const cpb_strmap *m, const char *what, bool names, cpb_error **err)
{
  char key[32], value[32];

  snprintf (key, sizeof key, "'%s' name", what);
  snprintf (value, sizeof value, "'%s' value", what);
  for (size_t i = 0; i < m->n; i++)
    {
      const cpb_strmap_entry *e = &m->items[i];

      if ((names && check_name (r, e->key, e->pos, what, err) < 0)
          || check_one_line (r, e->key, e->pos, key, err) < 0
          || check_one_line (r, e->value, e->pos, value, err) < 0)
        return -1;
    }
  return 0;
}

/* Everything that lands on one line of the Containerfile must fit there: a newline in
   any of it would end the instruction early, inject another one, and throw the step
   numbering (the map back to the spec) off.  Run steps, ENTRYPOINT, CMD and COPY are
   written as JSON and carry anything. */
static int
check_fields (struct render *r, cpb_error **err)
{
  const struct cpb_pod_image *img = r->in->image;

  if (check_one_line (r, r->in->from, img->from.pos, "from", err) < 0 ||
      check_map (r, &img->env, "env", true, err) < 0 ||
      check_map (r, &img->build_args, "build_arg", true, err) < 0 ||
      check_map (r, &img->labels, "label", false, err) < 0 ||
      (img->user && check_one_line (r, img->user, img->pos, "user", err) < 0) ||
      (img->workdir && check_one_line (r, img->workdir, img->pos, "workdir", err) < 0))
    return -1;
  for (size_t i = 0; i < img->n_packages; i++)
    if (check_one_line (r, img->packages[i], img->packages_pos, "a package name", err) < 0)
      return -1;
  return 0;
}

static void
render_argv (cpb_buf *b, const char *const *argv)
{
  cpb_buf_putc (b, '[');
  for (size_t i = 0; argv[i]; i++)
    {
      if (i > 0)
        cpb_buf_puts (b, ", ");
      cpb_containerfile_json_string (b, argv[i]);
    }
  cpb_buf_putc (b, ']');
}

/* Not cpb_pkg_manager_name: the renderer stays usable (and testable) without the loader. */
static const char *
manager_name (enum cpb_pkg_manager m)
{
  return m == CPB_PKG_DNF ? "dnf" : m == CPB_PKG_APK ? "apk" : "apt";
}

static void
render_packages (struct render *r)
{
  const struct cpb_pod_image *img = r->in->image;
  _cleanup_buf_ cpb_buf names = CPB_BUF_INIT;
  _cleanup_free_ char *what = NULL;

  for (size_t i = 0; i < img->n_packages; i++)
    {
      cpb_buf_putc (&names, ' ');
      shell_word (&names, img->packages[i]);
    }
  what = cpb_xasprintf ("%s install%s", manager_name (img->pkg_manager), names.data);
  add_step (r, CPB_CF_PACKAGES, img->packages_pos, what);
  switch (img->pkg_manager)
    {
    case CPB_PKG_DNF:
      cpb_buf_printf (&r->text,
                      "RUN dnf install -y --setopt=install_weak_deps=False%s && dnf clean all\n",
                      names.data);
      break;
    case CPB_PKG_APK:
      cpb_buf_printf (&r->text, "RUN apk add --no-cache%s\n", names.data);
      break;
    case CPB_PKG_APT:
    default:
      /* The lists are removed in the same step, or the layer keeps them (~20 MB). */
      cpb_buf_printf (&r->text,
                      "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
                      "--no-install-recommends%s && apt-get clean && rm -rf /var/lib/apt/lists/*\n",
                      names.data);
      break;
    }
}

/* The last path segment of a url or path, for the name of the copy in the context. */
static char *
base_name (const char *path)
{
  size_t len = strcspn (path, "?#");
  const char *start;
  _cleanup_free_ char *trimmed = cpb_xstrndup (path, len);

  while (len > 1 && trimmed[len - 1] == '/')
    trimmed[--len] = '\0';
  start = strrchr (trimmed, '/');
  start = start ? start + 1 : trimmed;
  if (*start == '\0' || strcmp (start, ".") == 0 || strcmp (start, "..") == 0)
    return cpb_xstrdup ("file");
  return cpb_xstrdup (start);
}

static void
render_file (struct render *r, size_t i)
{
  const struct cpb_pod_file *f = &r->in->image->files[i];
  const char *src = f->src_path;
  _cleanup_free_ char *base = base_name (f->url ? f->url : f->src);
  _cleanup_free_ char *name = cpb_xasprintf ("files/%zu/%s", i, base);
  _cleanup_free_ char *dest = NULL, *what = NULL;
  size_t dlen = strlen (f->dest);

  if (f->url)
    src = r->in->url_paths ? r->in->url_paths[i] : NULL;
  /* "into this directory": the copy keeps its own name there. */
  dest = dlen > 0 && f->dest[dlen - 1] == '/' ? cpb_xasprintf ("%s%s", f->dest, base)
                                              : cpb_xstrdup (f->dest);
  what = cpb_xasprintf ("copy '%s' to %s", f->url ? f->url : f->src, dest);
  add_step (r, CPB_CF_COPY, f->pos, what);
  add_ctx (r, name, src, f->mode);
  cpb_buf_puts (&r->text, "COPY ");
  if (f->mode >= 0)
    cpb_buf_printf (&r->text, "--chmod=%04o ", (unsigned)f->mode);
  {
    /* The JSON form, so that a destination may hold spaces. */
    const char *const argv[] = { name, dest, NULL };

    render_argv (&r->text, argv);
    cpb_buf_putc (&r->text, '\n');
  }
}

/* Shell form where it reads naturally; the exec form of /bin/sh where the shell form
   cannot carry the command (several lines, a trailing backslash, a leading '[' that the
   parser would take for JSON).  Several lines run with -e: a failing line stops the step,
   as a reader of the spec expects. */
static void
render_run (struct render *r, size_t i)
{
  const struct cpb_pod_step *s = &r->in->image->run[i];
  size_t len = strlen (s->cmd);

  add_step (r, CPB_CF_RUN, s->pos, s->cmd);
  r->cf->steps[r->cf->n_steps - 1].run_index = i + 1;
  if (strpbrk (s->cmd, "\n\r") == NULL && s->cmd[0] != '[' && len > 0 && s->cmd[len - 1] != '\\')
    {
      cpb_buf_printf (&r->text, "RUN %s\n", s->cmd);
      return;
    }
  {
    const char *const argv[] = { "/bin/sh", strchr (s->cmd, '\n') ? "-ec" : "-c", s->cmd, NULL };

    cpb_buf_puts (&r->text, "RUN ");
    render_argv (&r->text, argv);
    cpb_buf_putc (&r->text, '\n');
  }
}

/* ENTRYPOINT and CMD always in exec form: the shell form is `/bin/sh -c LINE` anyway, and
   the JSON form carries any text. */
static void
render_command (struct render *r, const struct cpb_pod_command *c, enum cpb_cf_step_kind kind)
{
  const char *keyword = kind == CPB_CF_ENTRYPOINT ? "ENTRYPOINT" : "CMD";

  if (!c->set)
    return;
  add_step (r, kind, c->pos, kind == CPB_CF_ENTRYPOINT ? "entrypoint" : "cmd");
  cpb_buf_printf (&r->text, "%s ", keyword);
  if (c->exec_form)
    render_argv (&r->text, (const char *const *)c->argv);
  else
    {
      const char *const argv[] = { "/bin/sh", "-c", c->argv[0], NULL };
      render_argv (&r->text, argv);
    }
  cpb_buf_putc (&r->text, '\n');
}

static int
render_map (struct render *r, const cpb_strmap *m, enum cpb_cf_step_kind kind, cpb_error **err)
{
  const char *keyword = kind == CPB_CF_ENV ? "ENV" : "LABEL";

  /* One instruction per entry: each keeps its own spec line for messages. */
  for (size_t i = 0; i < m->n; i++)
    {
      const cpb_strmap_entry *e = &m->items[i];

      {
        _cleanup_free_ char *what =
            cpb_xasprintf ("%s %s", kind == CPB_CF_ENV ? "env" : "label", e->key);
        add_step (r, kind, e->pos, what);
      }
      /* Variable names are plain words (the loader checks them); label keys may be anything. */
      cpb_buf_printf (&r->text, "%s ", keyword);
      if (kind == CPB_CF_ENV)
        cpb_buf_puts (&r->text, e->key);
      else
        quoted_word (&r->text, e->key, true);
      cpb_buf_putc (&r->text, '=');
      quoted_word (&r->text, e->value, kind == CPB_CF_LABEL);
      cpb_buf_putc (&r->text, '\n');
    }
  return 0;
}

/* The spec's description as the OCI annotation label, unless the user's labels set it:
   `podman image inspect` and registries show it.  A Containerfile line cannot hold a
   newline, and a folded description reads as well on one line. */
static void
render_description (struct render *r)
{
  const struct cpb_pod_image *img = r->in->image;
  _cleanup_free_ char *one_line = NULL;

  if (img->description == NULL)
    return;
  for (size_t i = 0; i < img->labels.n; i++)
    if (strcmp (img->labels.items[i].key, OCI_DESCRIPTION) == 0)
      return;
  one_line = cpb_xstrdup (img->description);
  for (char *p = one_line; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  add_step (r, CPB_CF_LABEL, img->pos, "description");
  cpb_buf_puts (&r->text, "LABEL \"" OCI_DESCRIPTION "\"=");
  quoted_word (&r->text, one_line, true);
  cpb_buf_putc (&r->text, '\n');
}

static int
render_head (struct render *r, cpb_error **err)
{
  const struct cpb_pod_image *img = r->in->image;

  cpb_buf_printf (&r->text, "# cpb: image '%s'\n", img->name);
  {
    _cleanup_free_ char *what = cpb_xasprintf ("from %s", img->from.text);
    add_step (r, CPB_CF_FROM, img->from.pos, what);
  }
  cpb_buf_printf (&r->text, "FROM %s\n", r->in->from);
  /* Declared so that run steps see them; values come with the build (buildargs=). */
  for (size_t i = 0; i < img->build_args.n; i++)
    {
      const cpb_strmap_entry *e = &img->build_args.items[i];
      _cleanup_free_ char *what = cpb_xasprintf ("build_arg %s", e->key);

      add_step (r, CPB_CF_ARG, e->pos, what);
      cpb_buf_printf (&r->text, "ARG %s\n", e->key);
    }
  if (render_map (r, &img->env, CPB_CF_ENV, err) < 0)
    return -1;
  if (img->n_packages > 0)
    render_packages (r);
  return 0;
}

static int
render_tail (struct render *r, cpb_error **err)
{
  const struct cpb_pod_image *img = r->in->image;

  if (img->helper)
    {
      const cpb_pos none = { 0, 0 };

      add_step (r, CPB_CF_HELPER, none, "copy cpb-helper");
      add_ctx (r, "helper/cpb-helper", r->in->helper_path, 0755);
      cpb_buf_puts (&r->text, "COPY --chmod=0755 helper/cpb-helper " CPB_POD_HELPER_PATH "\n");
    }
  if (img->user)
    {
      _cleanup_free_ char *what = cpb_xasprintf ("user %s", img->user);

      add_step (r, CPB_CF_USER, img->pos, what);
      cpb_buf_printf (&r->text, "USER %s\n", img->user);
    }
  render_command (r, &img->entrypoint, CPB_CF_ENTRYPOINT);
  render_command (r, &img->cmd, CPB_CF_CMD);
  if (render_map (r, &img->labels, CPB_CF_LABEL, err) < 0)
    return -1;
  render_description (r);
  return 0;
}

static int
render_all (struct render *r, cpb_error **err)
{
  const struct cpb_pod_image *img = r->in->image;

  if (img->helper && r->in->helper_path == NULL)
    return cpb_error_set (err, CPB_ERR_INPUT, "image '%s': helper: true, but no cpb-helper binary",
                          img->name);
  if (check_fields (r, err) < 0)
    return -1;
  add_ctx (r, "Containerfile", NULL, 0);
  if (render_head (r, err) < 0)
    return -1;
  for (size_t i = 0; i < img->n_files; i++)
    render_file (r, i);
  if (img->workdir)
    {
      _cleanup_free_ char *what = cpb_xasprintf ("workdir %s", img->workdir);

      add_step (r, CPB_CF_WORKDIR, img->pos, what);
      cpb_buf_printf (&r->text, "WORKDIR %s\n", img->workdir);
    }
  for (size_t i = 0; i < img->n_run; i++)
    render_run (r, i);
  return render_tail (r, err);
}

int
cpb_containerfile_render (const struct cpb_containerfile_input *in, const char *spec_name,
                          cpb_containerfile **ret, cpb_error **err)
{
  _cleanup_containerfile_ cpb_containerfile *cf = cpb_xzalloc (sizeof *cf);
  struct render r = { .in = in, .spec_name = spec_name, .text = CPB_BUF_INIT, .cf = cf };

  if (render_all (&r, err) < 0)
    {
      cpb_buf_free (&r.text);
      return -1;
    }
  cf->text = cpb_buf_steal (&r.text, &cf->len);
  cf->ctx[0].data = cf->text;
  cf->ctx[0].len = cf->len;
  *ret = TAKE_PTR (cf);
  return 0;
}

const struct cpb_cf_step *
cpb_containerfile_step (const cpb_containerfile *cf, unsigned k)
{
  if (k == 0 || k > cf->n_steps)
    return NULL;
  return &cf->steps[k - 1];
}

void
cpb_containerfile_free (cpb_containerfile *cf)
{
  if (cf == NULL)
    return;
  for (size_t i = 0; i < cf->n_owned; i++)
    free (cf->owned[i]);
  free (cf->owned);
  free (cf->steps);
  free (cf->ctx);
  free (cf->text);
  free (cf);
}
