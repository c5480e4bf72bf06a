/* Where procsync-api listens: sockets handed over by systemd (socket activation), else the --listen
 * specifications, else the config's procsync.api.listen.
 *
 * A specification is "HOST:PORT" (an IPv4 literal), "[V6]:PORT" (an IPv6 literal, v6-only) or
 * "unix:PATH". A unix socket is created with mode 0660 (the umask is set around bind() so it never exists
 * with a wider mode); a stale socket file left by a previous run (nothing accepts on it) is removed first,
 * while a live one is an error (-EADDRINUSE) and a file that is not a socket is never touched (-EEXIST).
 *
 * From systemd, every passed fd that is a listening stream socket and whose name (FileDescriptorName=,
 * systemd-socket-activate --fdname) is one of API_FD_NAMES is used; other fds are closed and reported. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* "api" and "api-*" (what units/procsync-api.socket names its sockets), the unit's default name
 * "procsync-api.socket" when FileDescriptorName= is not set, and "unknown" (LISTEN_FDNAMES unset). */
bool api_fd_name_ok(const char *name);

typedef struct ApiListener {
        int fd;
        char *description; /* "127.0.0.1:9930", "unix:/run/procsync/api.sock", "systemd:api" */
        char *unix_path;   /* the socket file this process created, removed on exit; NULL otherwise */
} ApiListener;

typedef struct ApiListeners {
        ApiListener *items;
        size_t n;
} ApiListeners;

/* Closes the fds and removes the unix socket files this process created. */
void api_listeners_done(ApiListeners *l);

/* Parses one specification without opening anything (-EINVAL when malformed). */
int api_listen_spec_check(const char *spec);

/* Opens one specification and appends it. *ret_error (malloc'd) explains a failure. */
int api_listeners_open(ApiListeners *l, const char *spec, char **ret_error);

/* Takes the sockets systemd passed (sd_listen_fds_with_names, unsetting the environment). Returns how many
 * were taken (0: not socket-activated). Unusable fds are closed and described in *ret_ignored (malloc'd,
 * "; "-separated, NULL when none). */
int api_listeners_from_systemd(ApiListeners *l, char **ret_ignored);
