/* Unit tests for paths: the config file, XDG locations and their precedence, names. */
#include "config.h"
#include "tap.h"
#include "paths.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_config_parse (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  struct cpb_config cfg;

  ok (cpb_config_parse ("c", "# comment\n\n  archive = /srv/cpb/archive  \nstate=~/s.db\n", &cfg,
                        &err) == 0,
      "a config with comments, blanks and spaces parses");
  is_str (cfg.archive, "/srv/cpb/archive", "archive is trimmed");
  ok (cfg.state && cfg.state[0] == '/' && strstr (cfg.state, "/s.db"), "'~/' is expanded");
  is_int (cfg.state_line, 4, "the line of each key is kept");
  cpb_config_clear (&cfg);

  ok (cpb_config_parse ("/home/u/.config/cpb/config", "archive = /a\nnonsense\n", &cfg, &err) < 0,
      "a line without '=' fails");
  is_str (err->msg, "/home/u/.config/cpb/config:2: expected 'key = value'", "with FILE:LINE");
  is_int (cpb_error_exit_code (err), 2, "as bad input");
  ok (cpb_config_parse ("c", "archvie = /a\n", &cfg, &err) < 0, "an unknown key fails");
  is_str (err->msg, "c:1: unknown key 'archvie' (known: archive, state)", "naming it");
  ok (cpb_config_parse ("c", "archive = relative/dir\n", &cfg, &err) < 0, "a relative path fails");
  ok (strstr (err->msg, "c:1: 'archive' must be an absolute path") != NULL, "saying so");
  ok (cpb_config_parse ("c", "state = /a\nstate = /b\n", &cfg, &err) < 0, "a repeated key fails");
  is_str (err->msg, "c:2: 'state' already set on line 1", "pointing at both lines");
  ok (cpb_config_parse ("c", "archive =\n", &cfg, &err) < 0, "an empty value fails");
}

static void
test_precedence (const char *tmp)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *cfg_dir = cpb_xasprintf ("%s/config/cpb", tmp);
  _cleanup_free_ char *cfg_file = cpb_xasprintf ("%s/config", cfg_dir);
  _cleanup_free_ char *data = cpb_xasprintf ("%s/data", tmp);
  _cleanup_free_ char *config_home = cpb_xasprintf ("%s/config", tmp);
  _cleanup_free_ char *want = cpb_xasprintf ("%s/data/cpb/archive", tmp);
  _cleanup_free_ char *want_db = cpb_xasprintf ("%s/data/cpb/state.db", tmp);
  char *p;
  FILE *f;

  unsetenv ("CPB_ARCHIVE_DIR");
  unsetenv ("CPB_STATE_DB");
  unsetenv ("CPB_CONFIG");
  setenv ("XDG_DATA_HOME", data, 1);
  setenv ("XDG_CONFIG_HOME", config_home, 1);
  p = cpb_archive_dir (NULL, &err);
  is_str (p, want, "default: $XDG_DATA_HOME/cpb/archive");
  free (p);
  p = cpb_state_path (NULL, &err);
  is_str (p, want_db, "default: $XDG_DATA_HOME/cpb/state.db");
  free (p);

  ok (cpb_mkdir_p (cfg_dir, 0755, &err) == 0, "mkdir -p the config dir");
  f = fopen (cfg_file, "we");
  fputs ("archive = /from/config\nstate = /from/config.db\n", f);
  fclose (f);
  p = cpb_archive_dir (NULL, &err);
  is_str (p, "/from/config", "the config file beats the default");
  free (p);
  setenv ("CPB_ARCHIVE_DIR", "/from/env", 1);
  p = cpb_archive_dir (NULL, &err);
  is_str (p, "/from/env", "the environment beats the config file");
  free (p);
  p = cpb_archive_dir ("/from/option", &err);
  is_str (p, "/from/option", "the option beats the environment");
  free (p);
  p = cpb_state_path (NULL, &err);
  is_str (p, "/from/config.db", "state comes from the config file too");
  free (p);
  unsetenv ("CPB_ARCHIVE_DIR");

  f = fopen (cfg_file, "we");
  fputs ("archive = /a\nbogus line\n", f);
  fclose (f);
  p = cpb_archive_dir (NULL, &err);
  ok (p == NULL, "a broken config file is an error, not silently ignored");
  ok (err && strstr (err->msg, "/config:2: expected") != NULL, "naming FILE:LINE");
  unlink (cfg_file);
}

static void
test_names (void)
{
  _cleanup_error_ cpb_error *err = NULL;
  _cleanup_free_ char *ns = cpb_default_namespace ();

  ok (cpb_check_name ("namespace", ns, NULL) == 0, "the default namespace '%s' is a valid name",
      ns);
  ok (cpb_check_name ("batch", "sweep-2024.01_a", &err) == 0, "letters, digits, . _ - are fine");
  ok (cpb_check_name ("batch", "..", &err) < 0, "'..' is refused");
  ok (cpb_check_name ("task", "a/b", &err) < 0, "a slash is refused");
  is_str (err->msg, "task name 'a/b' may only hold letters, digits, '.', '_' and '-'",
          "saying why");
  ok (cpb_check_name ("task", ".hidden", &err) < 0, "a leading dot is refused");
  ok (cpb_check_name ("task", "", &err) < 0, "an empty name is refused");
}

int
main (void)
{
  char tmp[] = "/tmp/test-paths-XXXXXX";
  _cleanup_free_ char *rm = NULL;

  if (mkdtemp (tmp) == NULL)
    return 1;
  test_config_parse ();
  test_precedence (tmp);
  test_names ();
  rm = cpb_xasprintf ("rm -rf '%s'", tmp);
  if (system (rm) != 0)
    diag ("could not remove %s", tmp);
  return done_testing ();
}
