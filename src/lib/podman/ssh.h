/* podman/ssh.h: reaching a Podman service on another machine, and running a command there.
 *
 * A node is named by a URL: unix:///path/podman.sock (a service on this machine) or
 * ssh://[user@]host[:port]/path/podman.sock (a service on another one, reached as that
 * user).  The transport is the user's own OpenSSH client, so ~/.ssh/config, the agent,
 * ProxyJump and known_hosts work as they do for ssh itself: per node, one master process
 *
 *   ssh -M -S DIR/c -N -L DIR/f:/path/podman.sock -o BatchMode=yes
 *       -o StrictHostKeyChecking=yes -o ExitOnForwardFailure=yes [-p PORT] [-l USER] HOST
 *
 * in a private directory (0700) of its own; libcurl talks HTTP to the forwarded socket
 * DIR/f exactly as to a local one, and commands run on the node through the same
 * connection (ssh -S DIR/c, no second login).  Every clone of the connection
 * (cpb_podman_clone) shares the master; the last one freed stops it and removes the
 * directory.  BatchMode: no password or passphrase prompt ever interrupts a run; an
 * unknown host key is refused with the command that trusts it.
 *
 * The master runs in a session of its own (a Ctrl-C for cpb must not cut the link before
 * cpb has cleaned up on the node) and gets SIGTERM when the thread that started it dies
 * (PR_SET_PDEATHSIG), which covers a cpb killed with SIGKILL.  Because that signal follows
 * the *thread*, start masters from the main thread (cpb_podman_begin); the slow part
 * (cpb_podman_finish: the login, the first request) may run on any thread.
 *
 * CPB_SSH_CONFIG, when set, is given to ssh as -F (a config file read instead of
 * ~/.ssh/config): the test suite uses it to keep away from the user's own files.
 */
#ifndef CPB_PODMAN_SSH_H
#define CPB_PODMAN_SSH_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "podman/podman.h"

/* ------------------------------------------------------------------ URLs */

enum cpb_url_scheme
{
  CPB_URL_UNIX = 1, /* unix:///path */
  CPB_URL_SSH,      /* ssh://[user@]host[:port]/path */
};

/* A node's URL, parsed.  Every part is checked so that it cannot be taken for an option by
   ssh (no leading '-') and can be put on an `ssh -L` line (no ':' or blanks in the path). */
struct cpb_url
{
  enum cpb_url_scheme scheme;
  char *user;      /* NULL: ssh decides (User of ~/.ssh/config, else the local user) */
  char *host;      /* a name or address, IPv6 without its brackets */
  int port;        /* 22 when not given */
  bool port_given; /* only then is -p passed: ~/.ssh/config may set another Port */
  char *path;      /* the socket, an absolute path on the node */
};

/* Parse TEXT.  A bad URL is CPB_ERR_INPUT saying what is wrong and what is expected. */
int cpb_url_parse (const char *text, struct cpb_url *ret, cpb_error **err);

/* The URL written back (ssh://user@host:port/path, [v6] in brackets; the port only when
   it was given), for nodes.yaml and messages. */
char *cpb_url_format (const struct cpb_url *u);

/* "user@host:port" or "host" as a person reads the destination. */
char *cpb_url_destination (const struct cpb_url *u);

void cpb_url_clear (struct cpb_url *u);

/* ------------------------------------------------------------------ connecting */

/* Where and how to connect: a node. */
struct cpb_podman_target
{
  const char *url;      /* unix:// or ssh:// (tcp:// too, without the ssh parts) */
  const char *identity; /* ssh: a private key file (ssh -i), or NULL for ssh's own choice */
  int timeout_ms;       /* for the login and the first answer; 0: CPB_PODMAN_TIMEOUT_MS */
};

#define CPB_PODMAN_TIMEOUT_MS 10000

/* Start reaching TARGET without waiting: for ssh://, spawn the master (call from the main
   thread, see above).  *RET is not usable until cpb_podman_finish succeeds; freeing it
   at any point stops what was started.  Fails only on a bad URL or a failed fork. */
int cpb_podman_begin (const struct cpb_podman_target *target, cpb_podman **ret, cpb_error **err);

/* Wait until P answers: the ssh login (within the target's timeout), then _ping and the
   API version check.  Failures are CPB_ERR_CONNECT with the reason in the user's terms:
   the host does not answer, its key is unknown (with the command that trusts it) or
   changed, the login was refused, no service listens at the socket path on the node.
   cpb_podman_cancel (P) from another thread ends the wait with CPB_ERR_CANCELLED. */
int cpb_podman_finish (cpb_podman *p, cpb_error **err);

/* cpb_podman_begin and cpb_podman_finish in one call. */
int cpb_podman_connect_to (const struct cpb_podman_target *target, cpb_podman **ret,
                           cpb_error **err);

/* True when P reaches its service through an ssh master (not a local socket). */
bool cpb_podman_is_remote (const cpb_podman *p);

/* ------------------------------------------------------------------ commands on the node */

struct cpb_exec_result
{
  int status; /* the exit code, or 128 + the signal that ended it */
  char *out;  /* what it wrote on stdout, NUL-terminated (NULL before a run) */
  size_t out_len;
  char *errout; /* the first few kB of its stderr, NUL-terminated */
};

void cpb_exec_result_clear (struct cpb_exec_result *r);

/* Run COMMAND (a shell command line) where P's service runs: over P's ssh master for a
   remote service, else with /bin/sh on this machine.  At most MAX_OUTPUT bytes of stdout
   are taken (more fails the call: the caller said how much an answer can be); after
   TIMEOUT_MS the command is killed and the call fails.  A command that runs and exits
   non-zero is not a failure: see RET->status.  cpb_podman_cancel (P) ends the wait. */
int cpb_podman_exec (cpb_podman *p, const char *command, size_t max_output, int timeout_ms,
                     struct cpb_exec_result *ret, cpb_error **err);

#endif
