/* libFuzzer harness of procsync-api's request path: what api-server.c does with a request before and after
 * libmicrohttpd — the strict decoding of the raw target (api_uri_parse), the route lookup, and the
 * handler with its query-argument parsing, run inside a read transaction of a real state.db, as dispatch()
 * runs it, with the answer cache in front of cacheable routes.
 *
 * Input: "TARGET\nBODY" (the body goes to POST routes only). The database is made once in a temporary
 * state directory, with a few processes, decisions, tags and sockets (odd bytes included), so that the
 * handlers' SQL and JSON run on rows. The API promises that bad input is an answer, never an error: a
 * handler failing (a 500) on any target or body is a finding, and so is a status other than 200, 400,
 * 404 and 503 (healthz), or a JSON answer that is not JSON. A decoded target must be UTF-8 throughout, as
 * api-uri.h promises. The database never changes here, so an answer the cache holds for a target must be
 * the very answer the handler builds again (the handler always runs, unlike in the server). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api-cache.h"
#include "api.h"
#include "db.h"
#include "fuzz-util.h"
#include "doc-db.h"
#include "utf8.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_yaml[] =
        "os-proc-regex:\n"
        "  - match-regex: ^nginx$\n"
        "    rewrite-name: web\n"
        "  - match-regex: ^sleep$\n"
        "    action: drop\n"
        "  - match-regex: python3 (\\w+)\\.py\n"
        "    match-type: cmdline\n"
        "    rewrite-name: $1-py\n"
        "  - match-regex: ^app:shop$\n"
        "    match-type: tag\n"
        "  - match-regex: systemd\n"
        "    match-type: parent_process_name\n";

static const char rows_sql[] =
        "BEGIN;"
        "INSERT INTO scan_daemon (id, pid, pid_start_ticks, started_at, last_cycle_at, last_cycle_ms, generation,"
        " config_path, config_ok, stats) VALUES (1, 1, 1, 1700000000000, 1700000001000, 12, 41, '/etc/x.yaml', 1,"
        " '{\"procs\": 7}');"
        "INSERT INTO match_daemon (id, pid, pid_start_ticks, started_at, last_cycle_at, last_cycle_ms, generation,"
        " scan_generation, config_ok, config_error) VALUES (1, 2, 1, 1700000000000, 1700000002000, 3, 17, 41, 0,"
        " 'x.yaml:3:5: bad regex');"
        "INSERT INTO scan_netns VALUES (4026531840, 1, 0, 0), (4026532001, 2, 0, 0);"
        "INSERT INTO scan_processes VALUES"
        " (1, 10, 1700000000, 0, 'systemd', '/sbin/init', '/sbin/init', 0, 'root', 4026531840, '', 0, 0, 41),"
        " (100, 555, 1700000100, 1, 'nginx', 'nginx: worker process', '/usr/sbin/nginx', 33, 'www-data',"
        "  4026531840, '', 0, 0, 41),"
        " (101, 556, 1700000101, 1, 'sleep', 'sleep 1000', '/bin/sleep', 1000, 'alice', 4026531840, '', 0, 0, 41),"
        " (102, 557, 1700000102, 100, 'curl', 'curl http://127.0.0.1/', '/usr/bin/curl', 1000, 'alice',"
        "  4026531840, '', 0, 0, 41),"
        " (105, 2, 1700000000, 2, 'kworker/0:1', '', '', 0, 'root', 4026531840, '', 0, 0, 41),"
        " (106, 559, 1700000106, 1, CAST(X'707966ff' AS TEXT), CAST(X'707974686f6e3320736f6d652e7079fe' AS TEXT),"
        "  '', 0, 'root', 4026532001, 'abc123', 0, 0, 41);"
        "INSERT INTO match_decisions VALUES"
        " (1, 10, 'accept', 5, 'systemd', 'default', 1, '{}', 0),"
        " (100, 555, 'accept', 0, 'web', 'rule', 1, '{\"app\":\"shop\",\"note\":\"a \\\"q\\\"\\nb\",\"w.k\":\"w\"}', 0),"
        " (101, 556, 'drop', 1, 'sleep', 'rule', 0, '{}', 0),"
        " (102, 557, 'accept', 5, 'curl', 'too-young', 0, '{\"app\":\"shop\"}', 0),"
        " (105, 2, 'drop', -1, 'kworker/0:1', 'kernel-thread', 0, '{}', 0),"
        " (106, 559, 'accept', 2, 'some-py', 'rule', 1, 'not json', 0);"
        "INSERT INTO match_tag_output VALUES (100, 'app', 'shop'), (106, 'team', 'data');"
        "INSERT INTO match_tag_exec VALUES (1, 0, 'exit status 3', 0, 0, 25, 2, 1, 4, 'boom');"
        "INSERT INTO match_rule_stats VALUES (0, 1, 0), (1, 1, 0), (2, 1, 2), (5, 2, 0);"
        "INSERT INTO scan_sockets VALUES"
        " (1, 4026531840, 1001, 'tcp', 4, 'listen', '0.0.0.0', 80, '0.0.0.0', 0, 'server', 0, 0),"
        " (2, 4026531840, 1002, 'tcp', 4, 'established', '10.0.0.1', 80, '10.0.0.2', 5555, 'server', 0, 0),"
        " (5, 4026532001, 1005, 'tcp', 6, 'established', '2001:db8::1', 443, '2001:db8::2', 6000, 'server', 0, 0),"
        " (6, 4026531840, 1006, 'udp', 4, 'bound', '0.0.0.0', 53, '0.0.0.0', 0, 'server', 0, 0),"
        " (7, 4026531840, 1007, 'udp', 4, 'connected', '10.0.0.1', 5353, '8.8.8.8', 53, 'client', 0, 0);"
        "INSERT INTO scan_socket_owners VALUES (1, 100), (1, 106), (2, 100), (5, 106), (6, 101), (7, 100);"
        "INSERT INTO export_state VALUES (1, 1700000005, 'abc', 17, 0);"
        "INSERT INTO export_sinks (name, type, acked_version, last_attempt_at, last_ok_at, last_error,"
        " failures, errors_total, next_attempt_at) VALUES ('http', 'http', 1700000003, 0, 0, 'connection refused', 2, 7, 0);"
        "INSERT INTO export_gpids VALUES ('deepflow', 100, 777);"
        "COMMIT;";

static Api api;
static sqlite3 *writer; /* kept open: the WAL files stay, as while the daemons run */
static char state_dir[] = "/tmp/procsync-fuzz-api.XXXXXX";

static void cleanup(void) {
        char path[sizeof(state_dir) + 32];

        api_cache_free(api.cache);
        if (api.db)
                sqlite3_close_v2(api.db);
        if (writer)
                sqlite3_close_v2(writer);
        config_free(api.config);
        free(api.db_error);
        free(api.state_dir);
        for (const char *const *f = (const char *const[]) { "state.db", "state.db-wal", "state.db-shm", NULL };
             *f; f++) {
                snprintf(path, sizeof(path), "%s/%s", state_dir, *f);
                (void) unlink(path);
        }
        (void) rmdir(state_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        ConfigDiags diags = {};
        char *error = NULL;

        if (!mkdtemp(state_dir))
                abort();
        atexit(cleanup);
        if (db_open(state_dir, DB_READ_WRITE, &writer, &error) < 0 || db_exec(writer, rows_sql) < 0) {
                fprintf(stderr, "fuzz-api-request: cannot make the database: %s\n", strempty(error));
                abort();
        }
        if (config_load_buffer("fuzz.yaml", config_yaml, strlen(config_yaml), &api.config, &diags) < 0)
                abort();
        config_diags_done(&diags);
        api.state_dir = strdup(state_dir);
        api.cache = api_cache_new();
        if (!api.state_dir || !api.cache || api_db_ensure(&api) < 0)
                abort();
        return 0;
}

static void check_answer(const ApiAnswer *a) {
        json_t *j;

        if (a->status != 200 && a->status != 400 && a->status != 404 && a->status != 503)
                abort();
        if (a->content_type)
                return;
        j = json_loadb(a->body, a->len, 0, NULL);
        if (!j)
                abort();
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *nl = memchr(data, '\n', size), *error = NULL;
        _cleanup_free_ char *target = NULL, *body = NULL;
        _cleanup_(api_uri_done) ApiUri uri = {};
        const ApiRoute *route;
        ApiRequest req = {};
        ApiAnswer a = {}, cached = {};
        bool cache = false, have_cached = false;
        uint64_t version = 0;
        int r;

        target = fuzz_strdup_n(data, nl ? (size_t) (nl - (const char *) data) : size);

        r = api_uri_parse(target, &uri, &error);
        if (r == -ENOMEM)
                abort();
        if (r < 0) {
                if (!error)
                        abort();
                return 0;
        }

        if (!utf8_is_valid(uri.path, strlen(uri.path)))
                abort();
        for (size_t i = 0; i < uri.n_args; i++)
                if (!utf8_is_valid(uri.args[i].key, strlen(uri.args[i].key)) ||
                    !utf8_is_valid(uri.args[i].value, strlen(uri.args[i].value)))
                        abort();

        route = api_route_find(uri.path, &req.rest);
        if (!route)
                return 0;
        req.uri = uri;
        if (route->methods == API_POST && nl) {
                req.body_len = size - (size_t) (nl + 1 - (const char *) data);
                body = fuzz_strdup_n(nl + 1, req.body_len);
                req.body = body;
        }

        if (route->read_db) {
                if (doc_read_begin(api.db) < 0)
                        abort();
                cache = route->cacheable && doc_data_version(api.db, &version) >= 0;
                if (cache) {
                        r = api_cache_get(api.cache, version, target, &cached);
                        if (r < 0)
                                abort();
                        have_cached = r > 0;
                }
        }
        r = route->handler(&api, &req, &a);
        if (route->read_db)
                doc_read_end(api.db);
        if (r < 0) {
                fprintf(stderr, "fuzz-api-request: handler of '%s' failed: %s\n", target, strerror(-r));
                abort();
        }
        check_answer(&a);
        if (have_cached && (cached.status != a.status || cached.len != a.len ||
                            (a.len > 0 && memcmp(cached.body, a.body, a.len) != 0)))
                abort();
        if (cache)
                api_cache_put(api.cache, version, target, &a);
        api_answer_done(&cached);
        api_answer_done(&a);
        return 0;
}
