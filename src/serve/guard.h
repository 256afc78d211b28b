/* guard.h: what every request to cpb serve must pass, apart from the HTTP server so that
 * the unit tests reach it.
 *
 * The page shows what a farm runs and can hold or cancel it, so it is guarded as a local
 * notebook server is (shared/notes/anchors.md §6.3): the Host header must name the server
 * itself (a DNS-rebinding page gets 421), a random token printed at start is exchanged for
 * an HttpOnly SameSite=Strict session cookie, and an action must also carry a CSRF token
 * and an Origin equal to the page's own.
 */
#ifndef CPB_SERVE_GUARD_H
#define CPB_SERVE_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* 32 random bytes as 64 hex digits. */
#define CPB_GUARD_SECRET_LEN 64

struct cpb_guard
{
  char token[CPB_GUARD_SECRET_LEN + 1];   /* in the printed URL: ?token= */
  char session[CPB_GUARD_SECRET_LEN + 1]; /* the cookie's value, given for the token */
  char csrf[CPB_GUARD_SECRET_LEN + 1];    /* what actions carry in X-CPB-CSRF */
  char **hosts;                           /* the Host values accepted, NULL-terminated */
};

/* Where to listen: "HOST:PORT", "[V6]:PORT" or ":PORT" (loopback).  *RET_HOST is the
   address without brackets. */
int cpb_guard_parse_listen (const char *arg, char **ret_host, unsigned *ret_port, cpb_error **err);

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool cpb_guard_is_loopback (const char *host);

/* Fresh secrets, and the Host values that name this server on PORT: the loopback names when
   HOST is a loopback address, HOST itself, and each of EXTRA (NULL-terminated, may be NULL:
   the names a remote browser uses with --listen on another address). */
int cpb_guard_init (struct cpb_guard *g, const char *host, unsigned port, char *const *extra,
                    cpb_error **err);
void cpb_guard_clear (struct cpb_guard *g);

/* True when HOST (the request's Host header, may be NULL) names this server. */
bool cpb_guard_host_ok (const struct cpb_guard *g, const char *host);

/* GIVEN equals SECRET, compared in constant time (a timing probe learns nothing). */
bool cpb_guard_secret_eq (const char *secret, const char *given);

/* True when ORIGIN (may be NULL) is the page's own origin for HOST: "http://HOST". */
bool cpb_guard_origin_ok (const char *origin, const char *host);

#endif
