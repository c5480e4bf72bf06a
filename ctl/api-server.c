/* See api-server.h. */
#include "api-server.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "api-cache.h"
#include "doc-db.h"
#include "log.h"

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

struct ApiServer {
        Api *api;
        struct MHD_Daemon **daemons;
        size_t n;
};

/* One request's state: allocated when the request line arrives, freed when MHD is done with it. */
typedef struct ApiConn {
        char *raw_uri;
        bool started;  /* the first access-handler call happened */
        bool answered; /* a response is queued; anything else the client sends is discarded */
        bool too_large;
        const ApiRoute *route;
        ApiRequest req;
        char *body;
        size_t body_len;
} ApiConn;

static ApiConn *api_conn_free(ApiConn *c) {
        if (!c)
                return NULL;
        api_uri_done(&c->req.uri);
        free(c->raw_uri);
        free(c->body);
        free(c);
        return NULL;
}

void api_answer_done(ApiAnswer *a) {
        free(a->body);
        *a = (ApiAnswer){};
}

int api_answer_json(ApiAnswer *a, unsigned status, const json_t *doc) {
        _cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        char *body;
        size_t len;

        if (!text)
                return -ENOMEM;
        len = strlen(text);
        body = realloc(text, len + 2);
        if (!body)
                return -ENOMEM;
        text = NULL;
        body[len] = '\n';
        body[len + 1] = 0;
        api_answer_done(a);
        *a = (ApiAnswer){.status = status, .body = body, .len = len + 1};
        return 0;
}

int api_answer_error(ApiAnswer *a, unsigned status, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        json_auto_t *doc = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n >= 0)
                doc = json_pack("{s:o}", "error", doc_json_string(msg));
        if (!doc || api_answer_json(a, status, doc) < 0) {
                api_answer_done(a);
                *a = (ApiAnswer){.status = 500};
        }
        return 0;
}

/* The one place a response is built and queued. Takes a->body. */
static enum MHD_Result queue_answer(struct MHD_Connection *connection, ApiConn *c, ApiAnswer *a) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = a->body ? MHD_create_response_from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE)
                       : MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
        if (!resp) {
                api_answer_done(a);
                return MHD_NO;
        }
        a->body = NULL; /* MHD frees it with free() */
        if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    a->content_type ?: "application/json") != MHD_YES ||
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
            MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
            (a->allow && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, a->allow) != MHD_YES)) {
                MHD_destroy_response(resp);
                return MHD_NO;
        }
        ret = MHD_queue_response(connection, a->status, resp);
        MHD_destroy_response(resp);
        if (c)
                c->answered = true;
        return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *connection, ApiConn *c, unsigned status,
                                   const char *allow, const char *fmt, ...) _printf_(5, 6);
static enum MHD_Result queue_error(struct MHD_Connection *connection, ApiConn *c, unsigned status,
                                   const char *allow, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        ApiAnswer a = {};
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                return MHD_NO;
        (void) api_answer_error(&a, status, "%s", msg);
        a.allow = allow;
        return queue_answer(connection, c, &a);
}

int api_db_ensure(Api *api) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (api->db)
                return 0;
        r = doc_db_open(api->state_dir, &api->db, &error);
        if (r < 0) {
                free(api->db_error);
                api->db_error = TAKE_PTR(error);
                if (!api->db_error)
                        api->db_error = strdup(strerror(-r));
                return r;
        }
        api->db_error = mfree_str(api->db_error);
        return 0;
}

static bool content_type_is_json(const char *ct) {
        size_t n = strlen("application/json");

        return ct && strncasecmp(ct, "application/json", n) == 0 &&
               (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

static const char *route_allow(const ApiRoute *rt) {
        return rt->methods == API_POST ? "POST" : "GET, HEAD";
}

/* The first call: everything that can be refused before a body byte is read. */
static enum MHD_Result first_call(struct MHD_Connection *connection, ApiConn *c, const char *method) {
        const char *error = NULL, *len;
        int r;

        if (!c->raw_uri)
                return queue_error(connection, c, 400, NULL, "missing request target");
        r = api_uri_parse(c->raw_uri, &c->req.uri, &error);
        if (r == -ENOMEM)
                return MHD_NO;
        if (r < 0)
                return queue_error(connection, c, 400, NULL, "%s", error);

        c->route = api_route_find(c->req.uri.path, &c->req.rest);
        if (!c->route)
                return queue_error(connection, c, 404, NULL,
                                   "no such path; see /v1/status, /v1/processes, "
                                   "/v1/sockets, /v1/lookup, /v1/rules, /v1/config, /metrics, /healthz");
        if (c->route->methods == API_GET ? !streq(method, "GET") && !streq(method, "HEAD")
                                         : !streq(method, "POST"))
                return queue_error(connection, c, 405, route_allow(c->route),
                                   "method %s is not allowed here", method);

        len = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (len) {
                char *end;
                unsigned long long v;

                errno = 0;
                v = strtoull(len, &end, 10);
                if (errno != 0 || end == len || *end != 0 || len[0] == '-')
                        return queue_error(connection, c, 400, NULL, "bad Content-Length");
                if (v > API_MAX_BODY)
                        return queue_error(connection, c, 413, NULL, "request body over %d bytes",
                                           API_MAX_BODY);
        }
        if (c->route->methods == API_POST &&
            !content_type_is_json(
                    MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
                return queue_error(connection, c, 415, NULL,
                                   "the body must be Content-Type: application/json");
        return MHD_YES;
}

static int collect_body(ApiConn *c, const char *data, size_t size) {
        char *b;

        if (c->too_large)
                return 0;
        if (size > API_MAX_BODY - c->body_len) {
                c->too_large = true;
                c->body = mfree_str(c->body);
                c->body_len = 0;
                return 0;
        }
        b = realloc(c->body, c->body_len + size + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b + c->body_len, data, size);
        c->body = b;
        c->body_len += size;
        c->body[c->body_len] = 0;
        return 0;
}

static enum MHD_Result dispatch(Api *api, struct MHD_Connection *connection, ApiConn *c) {
        ApiAnswer a = {};
        bool in_txn = false, cache = false;
        uint64_t version = 0;
        int r;

        if (c->route->read_db) {
                r = api_db_ensure(api);
                if (r < 0)
                        return queue_error(connection, c, 503, NULL, "database not available: %s",
                                           strempty(api->db_error));
                r = doc_read_begin(api->db);
                if (r < 0)
                        return queue_error(connection, c, 503, NULL, "cannot read the database: %s",
                                           sqlite3_errmsg(api->db));
                in_txn = true;

                /* Read before the first SELECT takes the snapshot: see api-cache.h. */
                cache = c->route->cacheable && api->cache && doc_data_version(api->db, &version) >= 0;
                if (cache) {
                        r = api_cache_get(api->cache, version, c->raw_uri, &a);
                        if (r > 0) {
                                doc_read_end(api->db);
                                return queue_answer(connection, c, &a);
                        }
                }
        }

        c->req.body = c->body;
        c->req.body_len = c->body_len;
        r = c->route->handler(api, &c->req, &a);
        if (in_txn)
                doc_read_end(api->db);
        if (r < 0) {
                api_answer_done(&a);
                if (r == -EBUSY)
                        return queue_error(connection, c, 503, NULL, "the database is busy, try again");
                log_warning_errno(r, "Request '%s' failed: %m", c->raw_uri);
                return queue_error(connection, c, 500, NULL, "internal error: %s", strerror(-r));
        }
        if (cache)
                api_cache_put(api->cache, version, c->raw_uri, &a);
        return queue_answer(connection, c, &a);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version, const char *upload_data,
                                      size_t *upload_data_size, void **req_cls) {
        ApiServer *s = cls;
        ApiConn *c = *req_cls;

        if (!c) {
                /* The URI log callback did not run (it always does in this libmicrohttpd): be safe. */
                c = calloc(1, sizeof(ApiConn));
                if (!c)
                        return MHD_NO;
                c->raw_uri = url ? strdup(url) : NULL;
                *req_cls = c;
        }
        if (!c->started) {
                c->started = true;
                return first_call(connection, c, method);
        }
        if (*upload_data_size > 0) {
                size_t n = *upload_data_size;

                *upload_data_size = 0;
                if (c->answered)
                        return MHD_YES;
                return collect_body(c, upload_data, n) < 0 ? MHD_NO : MHD_YES;
        }
        if (c->answered)
                return MHD_YES;
        if (c->too_large)
                return queue_error(connection, c, 413, NULL, "request body over %d bytes", API_MAX_BODY);
        return dispatch(s->api, connection, c);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *connection) {
        ApiConn *c = calloc(1, sizeof(ApiConn));

        if (c && uri)
                c->raw_uri = strdup(uri);
        return c;
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **req_cls,
                              enum MHD_RequestTerminationCode toe) {
        *req_cls = api_conn_free(*req_cls);
}

/* libmicrohttpd's messages are about clients (malformed requests, resets): debug level, or a hostile
 * client could fill the journal. */
_printf_(2, 0) static void mhd_logger(void *cls, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        size_t n;

        if (log_get_max_level() < LOG_LEVEL_DEBUG || vasprintf(&msg, fmt, ap) < 0)
                return;
        n = strlen(msg);
        while (n > 0 && msg[n - 1] == '\n')
                msg[--n] = 0;
        log_debug("libmicrohttpd: %s", msg);
}

int api_server_new(Api *api, ApiListeners *l, ApiServer **ret, char **ret_error) {
        _cleanup_(api_server_freep) ApiServer *s = NULL;

        s = calloc(1, sizeof(ApiServer));
        if (!s)
                return -ENOMEM;
        s->api = api;
        s->daemons = calloc(l->n, sizeof(struct MHD_Daemon *));
        if (!s->daemons)
                return -ENOMEM;

        for (size_t i = 0; i < l->n; i++) {
                int flags = fcntl(l->items[i].fd, F_GETFL);

                /* Sockets from systemd come blocking; an accept() must never block the loop. */
                if (flags >= 0)
                        (void) fcntl(l->items[i].fd, F_SETFL, flags | O_NONBLOCK);
                s->daemons[i] = MHD_start_daemon(
                        MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, access_handler, s,
                        MHD_OPTION_LISTEN_SOCKET, (MHD_socket) l->items[i].fd, MHD_OPTION_CONNECTION_LIMIT,
                        (unsigned) API_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                        (size_t) API_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
                        (unsigned) API_CONNECTION_TIMEOUT_S, MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
                        MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER,
                        mhd_logger, NULL, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
                if (!s->daemons[i]) {
                        (void) asprintf(ret_error, "libmicrohttpd refused the socket '%s'",
                                        l->items[i].description);
                        return -EINVAL;
                }
                s->n++;
                l->items[i].fd = -EBADF; /* MHD_stop_daemon() closes it */
        }
        *ret = TAKE_PTR(s);
        return 0;
}

ApiServer *api_server_free(ApiServer *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                MHD_stop_daemon(s->daemons[i]);
        free(s->daemons);
        free(s);
        return NULL;
}

size_t api_server_n_fds(const ApiServer *s) {
        return s->n;
}

void api_server_pollfds(const ApiServer *s, struct pollfd *fds) {
        for (size_t i = 0; i < s->n; i++) {
                const union MHD_DaemonInfo *info =
                        MHD_get_daemon_info(s->daemons[i], MHD_DAEMON_INFO_EPOLL_FD);

                fds[i] = (struct pollfd){.fd = info ? info->epoll_fd : -1, .events = POLLIN};
        }
}

int api_server_timeout_ms(const ApiServer *s) {
        /* A periodic run as well, so that no bookkeeping libmicrohttpd leaves for a later MHD_run() (see
         * api_server_run()) can wait for an event that never comes. */
        int t = API_SERVER_TICK_MS;

        for (size_t i = 0; i < s->n; i++) {
                MHD_UNSIGNED_LONG_LONG ms;

                if (MHD_get_timeout(s->daemons[i], &ms) != MHD_YES)
                        continue;
                if (ms > INT32_MAX)
                        ms = INT32_MAX;
                if ((int) ms < t)
                        t = (int) ms;
        }
        return t;
}

void api_server_run(ApiServer *s) {
        /* Twice: libmicrohttpd (0.9.75, external epoll) closes the sockets of connections that ended during
         * one MHD_run() only in the next one, and MHD_get_timeout() does not count them as pending. At the
         * connection limit that is a deadlock: the ended connections still hold every slot, so the listening
         * socket is not polled, so nothing wakes the loop to clean them up (found by the 500 idle
         * connections of tests/test-api-hostile.py). */
        for (size_t i = 0; i < s->n; i++) {
                (void) MHD_run(s->daemons[i]);
                (void) MHD_run(s->daemons[i]);
        }
}
