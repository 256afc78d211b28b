/* spec/nodes.h: nodes.yaml, the machines a user's runs may use, as a validated model.
 *
 * The file is $XDG_CONFIG_HOME/cpb/nodes.yaml (~/.config/cpb/nodes.yaml), written by hand
 * or by `cpb node add/rm/import`, documented in docs/nodes.md, with specs/nodes.schema.json
 * as the same contract for editors:
 *
 *   nodes:
 *     lab1:
 *       url: ssh://alice@lab1.example/run/user/1000/podman/podman.sock
 *       capabilities: [gpu]
 *       cpus: 8
 *       memory: 32G
 *       max_tasks: 6
 *
 * Nodes are keyed by name, so the YAML loader refuses a name given twice, with its
 * position.  The local Podman service is the node "local" without any entry (found as
 * every verb finds it, the embedded service included); an entry named local configures it
 * (its url is then optional) or leaves it out (enabled: false).  Every mistake is reported
 * at once, as FILE:LINE:COL (CPB_ERR_INPUT); a missing file is no nodes but the local one.
 *
 * The owner policies of a later issue (pause, drain, lend) are not keys yet: anything not
 * listed here is refused, with the nearest known key suggested.
 *
 * Edits keep the file the user's: cpb_nodes_text_add/remove change only the lines of one
 * entry (comments, order and anchors elsewhere stay), and the result is loaded again before
 * anything is written, so cpb never writes a file it would refuse.
 */
#ifndef CPB_SPEC_NODES_H
#define CPB_SPEC_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "diag.h"
#include "error.h"

/* The name of the local node, with or without an entry. */
#define CPB_NODE_LOCAL "local"

struct cpb_node_conf
{
  char *name;          /* [A-Za-z0-9][A-Za-z0-9._-]*, at most 64 */
  char *url;           /* unix:// or ssh://; NULL only for "local" (discovery) */
  char *identity;      /* ssh private key (ssh -i), '~/' expanded; NULL: ssh's choice */
  char **capabilities; /* NULL-terminated, never NULL */
  size_t n_capabilities;
  int cpus;          /* 0: what the node reports */
  uint64_t memory;   /* bytes; 0: what the node reports */
  char *memory_text; /* as written ("32G"), NULL when not given */
  int max_tasks;     /* 0: as many as fit */
  bool enabled;      /* false: configured but not used */
  cpb_pos pos;       /* of the name */
};

typedef struct cpb_nodes_conf
{
  char *path; /* the file read (it need not exist) */
  bool exists;
  struct cpb_node_conf *nodes; /* in file order */
  size_t n;
} cpb_nodes_conf;

/* $XDG_CONFIG_HOME/cpb/nodes.yaml, or ~/.config/cpb/nodes.yaml. */
char *cpb_nodes_conf_path (cpb_error **err);

/* Load PATH.  A missing file is an empty configuration (ret->exists false), not an
   error: most users have only the local node. */
int cpb_nodes_conf_load (const char *path, cpb_nodes_conf **ret, cpb_error **err);

/* The same for text in memory, NAME used in messages. */
int cpb_nodes_conf_load_buffer (const char *name, const char *data, size_t len,
                                cpb_nodes_conf **ret, cpb_error **err);

void cpb_nodes_conf_free (cpb_nodes_conf *c);
CPB_DEFINE_CLEANUP_FUNC (cpb_nodes_conf *, cpb_nodes_conf_free)
#define _cleanup_nodes_conf_ _cleanup_ (cpb_nodes_conf_freep)

/* The entry NAME, or NULL. */
const struct cpb_node_conf *cpb_nodes_conf_find (const cpb_nodes_conf *c, const char *name);

/* CPB_ERR_NOT_FOUND "no node 'NAME' in FILE" with the nearest configured name suggested
   (the local node counts as configured).  Returns -1. */
int cpb_nodes_conf_unknown (const cpb_nodes_conf *c, const char *name, cpb_error **err);

/* Fail (CPB_ERR_INPUT) unless NAME can be a node name. */
int cpb_node_name_check (const char *name, cpb_error **err);

/* TEXT (the file's contents, FILE its name for messages; may be empty) with NODE's entry
   appended to `nodes:` in the file's own indentation, in *RET.  Fails when the name is
   taken, or when `nodes` is written in flow style ({...}), which only a person can edit
   without losing what they wrote. */
int cpb_nodes_text_add (const char *file, const char *text, const struct cpb_node_conf *node,
                        char **ret, cpb_error **err);

/* TEXT without the entry NAME (its lines, and the comment lines just above it), in *RET. */
int cpb_nodes_text_remove (const char *file, const char *text, const char *name, char **ret,
                           cpb_error **err);

/* The contents of PATH (empty when missing), for an edit. */
int cpb_nodes_text_read (const char *path, char **ret, cpb_error **err);

/* Replace PATH by TEXT atomically (a temporary file in the same directory, renamed over
   it, keeping the old file's mode), creating the directory. */
int cpb_nodes_text_write (const char *path, const char *text, cpb_error **err);

#endif
