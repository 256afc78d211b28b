/* paths.h: where cpb keeps its files (XDG base directories) and the user config file.
 *
 *   data     $XDG_DATA_HOME/cpb (default ~/.local/share/cpb), holding archive/ and state.db
 *   config   $XDG_CONFIG_HOME/cpb/config (default ~/.config/cpb/config)
 *
 * The config file is a list of `key = value` lines; `#` starts a comment line, blank lines are
 * ignored, values are taken verbatim after trimming (no quoting).  Paths must be absolute or
 * start with `~/`.  Keys:
 *
 *   archive = PATH   root of the archive store (docs/store.md)
 *   state   = PATH   the SQLite database of runs
 *
 * Every location is resolved with one precedence, most specific first: the command-line option,
 * the environment (CPB_ARCHIVE_DIR, CPB_STATE_DB), the config file, the default.
 */
#ifndef CPB_PATHS_H
#define CPB_PATHS_H

#include <stddef.h>
#include <sys/types.h>
#include "error.h"

/* The parsed config file: every key that was set, with the line it came from for messages. */
struct cpb_config
{
  char *path;    /* the file read (NULL when there was none) */
  char *archive; /* NULL when unset; '~/' already expanded */
  unsigned archive_line;
  char *state;
  unsigned state_line;
};

/* Read the config file at PATH into *RET.  A missing file is an empty config, not an error,
   because most users never write one; a malformed line fails with "PATH:LINE: message". */
int cpb_config_load (const char *path, struct cpb_config *ret, cpb_error **err);

/* Parse TEXT as if read from a file named PATH (the part of cpb_config_load that tests reach). */
int cpb_config_parse (const char *path, const char *text, struct cpb_config *ret, cpb_error **err);

/* Free what a config holds (not the struct itself, which callers keep on the stack). */
void cpb_config_clear (struct cpb_config *cfg);

/* $XDG_CONFIG_HOME/cpb/config, or ~/.config/cpb/config; CPB_CONFIG overrides the whole path
   so tests and scripts can point at a file without touching XDG. */
char *cpb_config_path (cpb_error **err);

/* $XDG_DATA_HOME/cpb, or ~/.local/share/cpb (not created here). */
char *cpb_data_dir (cpb_error **err);

/* The archive store root: OPTION (may be NULL) > $CPB_ARCHIVE_DIR > config `archive` >
   DATA/archive.  Relative OPTION/environment values are made absolute against the current
   directory, so a store path printed in a manifest or message stays meaningful. */
char *cpb_archive_dir (const char *option, cpb_error **err);

/* The state database path: OPTION > $CPB_STATE_DB > config `state` > DATA/state.db. */
char *cpb_state_path (const char *option, cpb_error **err);

/* The namespace runs and archives use when none is given: the user's login name, because a
   store shared by several users on one machine must keep their batches apart.  Never NULL. */
char *cpb_default_namespace (void);

/* Fail (CPB_ERR_INPUT, naming WHAT) unless NAME can be a namespace, batch or task name: 1 to
   128 of [A-Za-z0-9._-], not starting with '.', because names become directory and file
   names in the store and must never climb out of it or hide as dotfiles. */
int cpb_check_name (const char *what, const char *name, cpb_error **err);

/* mkdir -p with MODE for the directories it creates. */
int cpb_mkdir_p (const char *path, mode_t mode, cpb_error **err);

#endif
