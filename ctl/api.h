/* procsync-api's shared types: the context (config, state dir, the read-only database connection), one
 * request's state, the answer every handler fills, and the route table (api-routes.c) the server
 * (api-server.c) dispatches through.
 *
 * The server is single-threaded: libmicrohttpd runs in "external epoll" mode inside procsync-api's own
 * poll loop (api-main.c), so the context needs no locks and a SIGHUP reload simply swaps the config
 * between two requests. Every query is a few milliseconds of SQLite on a local file. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "api-uri.h"
#include "config.h"
#include "macro.h"

/* Request bodies (POST /v1/rules/test) larger than this get 413. */
#define API_MAX_BODY (64 * 1024)

typedef struct ApiCache ApiCache;

typedef struct Api {
        Config *config;
        ApiCache *cache; /* answers of cacheable routes until the database changes (api-cache.h) */
        char *state_dir;
        sqlite3 *db;    /* read-only; NULL until state.db could be opened (retried per request) */
        char *db_error; /* why the last open failed */
} Api;

/* What a handler answers; api_server queues it (the one place responses are built). */
typedef struct ApiAnswer {
        unsigned status;
        const char *content_type; /* NULL: application/json */
        char *body;               /* malloc'd, or NULL for an empty body */
        size_t len;
        const char *allow; /* the Allow header of a 405 */
} ApiAnswer;

void api_answer_done(ApiAnswer *a);

/* A compact JSON document with a trailing newline. -ENOMEM */
int api_answer_json(ApiAnswer *a, unsigned status, const json_t *doc);

/* {"error": "<message>"} with the status. Always returns 0 (the error answer is the result); on
 * allocation failure the answer is a bare 500. */
int api_answer_error(ApiAnswer *a, unsigned status, const char *fmt, ...) _printf_(3, 4);

typedef struct ApiRequest {
        ApiUri uri;
        const char *rest; /* what follows a prefix route's path ("1234" for /v1/processes/1234) */
        const char *body; /* the request body (NUL-terminated), NULL without one */
        size_t body_len;
} ApiRequest;

/* Returns 0 with *ret filled, or a negative errno the server turns into 500 (503 for -EBUSY/-ENOENT of
 * the database). Bad input is an answer (4xx), not an error. */
typedef int (*ApiHandler)(Api *api, const ApiRequest *req, ApiAnswer *ret);

typedef enum ApiMethods {
        API_GET,  /* GET and HEAD */
        API_POST, /* POST with a JSON body */
} ApiMethods;

typedef struct ApiRoute {
        const char *path; /* exact, or a prefix ending in '/' when prefix */
        bool prefix;
        ApiMethods methods;
        bool read_db;   /* runs inside one read transaction of the database */
        bool cacheable; /* the answer depends only on the database rows (and the target): see api-cache.h */
        ApiHandler handler;
} ApiRoute;

extern const ApiRoute api_routes[];
extern const size_t api_n_routes;

/* The route for a path, or NULL (404). *ret_rest is set for prefix routes. */
const ApiRoute *api_route_find(const char *path, const char **ret_rest);

/* Opens the database if it is not open yet. 0, or -errno with api->db_error set. */
int api_db_ensure(Api *api);
