/* procsync-api's HTTP side: one libmicrohttpd daemon per listening socket, all in external-epoll mode so
 * procsync-api's own loop polls them (api_server_pollfds(), api_server_timeout_ms(), api_server_run()).
 *
 * Per request: the raw target arrives first (MHD's URI log callback), which is where the request's state
 * is allocated; it lives in *req_cls and is freed in the completed callback. On the first call of the
 * access handler the target is decoded strictly (400), the route found (404), the method checked (405
 * with Allow), the Content-Length checked against API_MAX_BODY (413) and, for a body route, the content
 * type (415) — before any body is read. The body is collected with the same limit (413 for a chunked body
 * that grows past it), and the handler runs on the final call. Every response is built by one function.
 * Limits: API_MAX_CONNECTIONS per listening socket, API_CONNECTION_MEMORY of libmicrohttpd's per-connection
 * pool (request line and headers must fit), idle connections closed after API_CONNECTION_TIMEOUT_S. */
#pragma once

#include <poll.h>
#include <stdint.h>

#include "api-listen.h"
#include "api.h"

#define API_MAX_CONNECTIONS      256
#define API_CONNECTION_MEMORY    (64 * 1024)
#define API_CONNECTION_TIMEOUT_S 30
/* The loop runs the server at least this often even when nothing happens. */
#define API_SERVER_TICK_MS 1000

typedef struct ApiServer ApiServer;

/* Starts one MHD daemon per listener; the daemons own the listening fds from then on (l's fds are set to
 * -1; unix socket files stay l's to remove). */
int api_server_new(Api *api, ApiListeners *l, ApiServer **ret, char **ret_error);
ApiServer *api_server_free(ApiServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiServer *, api_server_free);

size_t api_server_n_fds(const ApiServer *s);
/* Fills fds[0..api_server_n_fds()) with the daemons' epoll fds (POLLIN). */
void api_server_pollfds(const ApiServer *s, struct pollfd *fds);
/* The longest the loop may sleep before calling api_server_run() (at most API_SERVER_TICK_MS). */
int api_server_timeout_ms(const ApiServer *s);
/* Lets every daemon do what is ready (never blocks). */
void api_server_run(ApiServer *s);
