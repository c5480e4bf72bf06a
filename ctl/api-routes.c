/* procsync-api's route table and handlers (DESIGN.md "REST API").
 *
 * A handler validates its query (unknown arguments are refused, so a typo is a 400 rather than a silently
 * ignored filter), builds the document with the same doc_*() function procctl uses, and fills the answer.
 * The server has already checked method, path, body size and content type, opened the read transaction
 * for read_db routes, and ends it afterwards. */
#include <inttypes.h>
#include <stdio.h>

#include "api.h"
#include "config-json.h"
#include "doc-db.h"
#include "doc-lookup.h"
#include "doc-metrics.h"
#include "doc-processes.h"
#include "doc-rules.h"
#include "doc-sockets.h"
#include "doc-status.h"
#include "rules-json.h"
#include "time-util.h"

/* Answers 400 naming the first argument not in `allowed` (NULL-terminated). Returns true when it did. */
static bool refuse_unknown_args(const ApiRequest *req, const char *const *allowed, ApiAnswer *a) {
        for (size_t i = 0; i < req->uri.n_args; i++) {
                bool ok = false;

                for (const char *const *k = allowed; k && *k && !ok; k++)
                        ok = streq(req->uri.args[i].key, *k);
                if (!ok) {
                        (void) api_answer_error(a, 400, "unknown query argument '%s'", req->uri.args[i].key);
                        return true;
                }
        }
        return false;
}

static int parse_pid(const char *s, pid_t *ret) {
        unsigned long long v = 0;

        if (!s || !*s || strlen(s) > 10)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (*p - '0');
        }
        if (v == 0 || v > INT32_MAX)
                return -EINVAL;
        *ret = (pid_t) v;
        return 0;
}

static int parse_bool(const char *s, bool *ret) {
        if (streq(s, "") || streq(s, "1") || streq(s, "true") || streq(s, "yes"))
                *ret = true;
        else if (streq(s, "0") || streq(s, "false") || streq(s, "no"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int get_status(Api *api, const ApiRequest *req, ApiAnswer *a) {
        json_auto_t *doc = NULL;
        int r;

        if (refuse_unknown_args(req, NULL, a))
                return 0;
        r = doc_status(api->db, api->config, now_epoch_ms(), &doc);
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int get_processes(Api *api, const ApiRequest *req, ApiAnswer *a) {
        static const char *const allowed[] = {"all", "name", "tag", NULL};
        ProcessQuery q = {};
        json_auto_t *doc = NULL;
        int r;

        if (refuse_unknown_args(req, allowed, a))
                return 0;
        for (size_t i = 0; i < req->uri.n_args; i++) {
                const ApiArg *arg = &req->uri.args[i];

                if (streq(arg->key, "all")) {
                        if (parse_bool(arg->value, &q.all) < 0)
                                return api_answer_error(a, 400, "all='%s' is not 1, 0, true or false",
                                                        arg->value);
                } else if (streq(arg->key, "name")) {
                        if (isempty(arg->value))
                                return api_answer_error(a, 400, "name= needs a name");
                        q.name = arg->value;
                } else if (streq(arg->key, "tag")) {
                        if (q.n_tags >= PROCESS_QUERY_MAX_TAGS)
                                return api_answer_error(a, 400, "more than %d tag= filters",
                                                        PROCESS_QUERY_MAX_TAGS);
                        /* The filter points into the request's own copy of the argument. */
                        if (process_tag_filter_parse(arg->value, &q.tags[q.n_tags]) < 0)
                                return api_answer_error(a, 400, "tag= needs KEY:VALUE or KEY");
                        q.n_tags++;
                }
        }
        r = doc_processes(api->db, &q, &doc);
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int get_process(Api *api, const ApiRequest *req, ApiAnswer *a) {
        json_auto_t *doc = NULL;
        pid_t pid;
        int r;

        if (refuse_unknown_args(req, NULL, a))
                return 0;
        if (parse_pid(req->rest, &pid) < 0)
                return api_answer_error(a, 400, "'%s' is not a process id", req->rest);
        r = doc_process(api->db, pid, &doc);
        if (r == -ENOENT)
                return api_answer_error(a, 404, "no process %d in the last scan", (int) pid);
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int get_sockets(Api *api, const ApiRequest *req, ApiAnswer *a) {
        static const char *const allowed[] = {"pid", NULL};
        json_auto_t *doc = NULL;
        const char *s;
        pid_t pid = 0;
        int r;

        if (refuse_unknown_args(req, allowed, a))
                return 0;
        s = api_uri_arg(&req->uri, "pid");
        if (s && parse_pid(s, &pid) < 0)
                return api_answer_error(a, 400, "pid='%s' is not a process id", s);
        r = doc_sockets(api->db, pid, &doc);
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int get_lookup(Api *api, const ApiRequest *req, ApiAnswer *a) {
        static const char *const allowed[] = {"proto", "local", "remote", NULL};
        const char *proto, *local, *remote;
        LookupEndpoint l, rm;
        json_auto_t *doc = NULL;
        int r;

        if (refuse_unknown_args(req, allowed, a))
                return 0;
        proto = api_uri_arg(&req->uri, "proto");
        local = api_uri_arg(&req->uri, "local");
        remote = api_uri_arg(&req->uri, "remote");
        if (!proto || (!streq(proto, "tcp") && !streq(proto, "udp")))
                return api_answer_error(a, 400, "proto= must be tcp or udp");
        if (!local || lookup_endpoint_parse(local, &l) < 0)
                return api_answer_error(a, 400, "local= must be IP:PORT or [IPV6]:PORT");
        if (!remote || lookup_endpoint_parse(remote, &rm) < 0)
                return api_answer_error(a, 400, "remote= must be IP:PORT or [IPV6]:PORT");
        r = doc_lookup(api->db, proto, &l, &rm, &doc);
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int get_config(Api *api, const ApiRequest *req, ApiAnswer *a) {
        json_auto_t *doc = NULL;
        int r;

        if (refuse_unknown_args(req, NULL, a))
                return 0;
        r = config_to_json(api->config, &doc);
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int get_rules(Api *api, const ApiRequest *req, ApiAnswer *a) {
        json_auto_t *doc = NULL;
        int r;

        if (refuse_unknown_args(req, NULL, a))
                return 0;
        r = rules_to_json(api->config->rules, api->config->n_rules, &doc);
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int post_rules_test(Api *api, const ApiRequest *req, ApiAnswer *a) {
        _cleanup_free_ char *error = NULL;
        json_auto_t *body = NULL, *doc = NULL;
        json_error_t e;
        int r;

        if (refuse_unknown_args(req, NULL, a))
                return 0;
        body = json_loadb(strempty(req->body), req->body_len, JSON_REJECT_DUPLICATES, &e);
        if (!body)
                return api_answer_error(a, 400, "the body is not JSON: %s (line %d, column %d)", e.text,
                                        e.line, e.column);
        r = doc_rules_test(api->db, api->config, body, &doc, &error);
        if (r == -EINVAL && error)
                return api_answer_error(a, 400, "%s", error);
        if (r == -ENOENT)
                return api_answer_error(a, 404, "no process %lld in the last scan",
                                        (long long) json_integer_value(json_object_get(body, "pid")));
        return r < 0 ? r : api_answer_json(a, 200, doc);
}

static int get_metrics(Api *api, const ApiRequest *req, ApiAnswer *a) {
        char *text = NULL;
        size_t len = 0;
        int r;

        if (refuse_unknown_args(req, NULL, a))
                return 0;
        r = doc_metrics(api->db, api->config, now_epoch_ms(), &text, &len);
        if (r < 0)
                return r;
        *a = (ApiAnswer){.status = 200, .content_type = DOC_METRICS_CONTENT_TYPE, .body = text, .len = len};
        return 0;
}

/* Not a read_db route: an unreadable database is the answer (503), not an error. */
static int get_healthz(Api *api, const ApiRequest *req, ApiAnswer *a) {
        json_auto_t *doc = NULL;
        bool healthy = false, in_txn = false;
        int r;

        if (refuse_unknown_args(req, NULL, a))
                return 0;
        r = api_db_ensure(api);
        if (r >= 0) {
                r = doc_read_begin(api->db);
                if (r < 0) {
                        free(api->db_error);
                        api->db_error = strdup(sqlite3_errmsg(api->db));
                } else
                        in_txn = true;
        }
        r = doc_health(in_txn ? api->db : NULL, api->db_error, api->config, now_epoch_ms(), &doc, &healthy);
        if (in_txn)
                doc_read_end(api->db);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* The database failed mid-read: that is unhealthy too. */
                doc = json_pack("{s:b, s:[s]}", "healthy", 0, "problems", "database read failed");
                if (!doc)
                        return -ENOMEM;
        }
        return api_answer_json(a, healthy ? 200 : 503, doc);
}

const ApiRoute api_routes[] = {
        /* path, prefix, methods, read_db, cacheable, handler */
        {"/v1/status", false, API_GET, true, false, get_status},
        {"/v1/processes", false, API_GET, true, true, get_processes},
        {"/v1/processes/", true, API_GET, true, true, get_process},
        {"/v1/sockets", false, API_GET, true, true, get_sockets},
        {"/v1/lookup", false, API_GET, true, true, get_lookup},
        {"/v1/rules", false, API_GET, false, false, get_rules},
        {"/v1/rules/test", false, API_POST, true, false, post_rules_test},
        {"/v1/config", false, API_GET, false, false, get_config},
        {"/metrics", false, API_GET, true, false, get_metrics},
        {"/healthz", false, API_GET, false, false, get_healthz},
};
const size_t api_n_routes = ELEMENTSOF(api_routes);

const ApiRoute *api_route_find(const char *path, const char **ret_rest) {
        for (size_t i = 0; i < api_n_routes; i++) {
                const ApiRoute *rt = &api_routes[i];

                if (rt->prefix ? strneq(path, rt->path, strlen(rt->path)) : streq(path, rt->path)) {
                        *ret_rest = rt->prefix ? path + strlen(rt->path) : NULL;
                        return rt;
                }
        }
        return NULL;
}
