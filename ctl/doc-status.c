/* See doc-status.h. Everything comes from the tables of schema/001-initial.sql: the `daemons` view for
 * the heartbeats, the counts from the scan and match tables, match_tag_exec, match_rule_stats,
 * export_state and export_sinks. The daemons' own `stats` JSON is passed through as it is: its shape is
 * each daemon's business, the fields above are the contract. */
#include "doc-status.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "doc-db.h"
#include "proc-stat.h"

usec_t doc_daemon_period(const Config *c, DaemonKind kind) {
        usec_t p = c->process_scan_interval;

        if (c->socket_sync_interval > 0 && c->socket_sync_interval < p)
                p = c->socket_sync_interval;
        if (p == 0)
                p = USEC_PER_SEC;
        if (kind != DAEMON_SCANNER && p < DOC_HEARTBEAT_FLOOR)
                p = DOC_HEARTBEAT_FLOOR;
        return p;
}

/* A query that yields one row of integers (0 when the table has no row). */
static int query_int64(sqlite3 *db, const char *sql, int64_t *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = db_prepare(db, sql, &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return doc_sqlite_error(rc);
        *ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        return 0;
}

static int add_count(sqlite3 *db, json_t *o, const char *key, const char *sql) {
        int64_t v = 0;
        int r;

        r = query_int64(db, sql, &v);
        if (r < 0)
                return r;
        return doc_set(o, key, json_integer(v));
}

static bool pid_is_alive(int64_t pid, int64_t start_ticks) {
        ProcStat st;

        if (pid <= 0 || pid > INT32_MAX)
                return false;
        if (proc_stat_read("/proc", (pid_t) pid, &st) < 0)
                return false;
        return st.start_ticks == (uint64_t) start_ticks;
}

static int add_problem(json_t *list, const char *fmt, ...) _printf_(2, 3);
static int add_problem(json_t *list, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        return json_array_append_new(list, doc_json_string(s)) < 0 ? -ENOMEM : 0;
}

typedef struct Health {
        json_t *problems;
        json_t *warnings;
        json_t *config_errors;
} Health;

static void health_done(Health *h) {
        json_decref(h->problems);
        json_decref(h->warnings);
        json_decref(h->config_errors);
}

static int health_init(Health *h) {
        h->problems = json_array();
        h->warnings = json_array();
        h->config_errors = json_array();
        return h->problems && h->warnings && h->config_errors ? 0 : -ENOMEM;
}

/* The DAEMON object of `kind` from the daemons view, judging its freshness into h. */
static int daemon_json(sqlite3 *db, const Config *c, DaemonKind kind, int64_t now_ms, Health *h,
                       json_t **ret) {
        static const char *const fields[] = {"pid",           "alive",        "started_at", "last_cycle_at",
                                             "last_cycle_ms", "generation",   "fresh",      "config_path",
                                             "config_ok",     "config_error", "last_error", "stats"};
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *o = json_object();
        const char *name = daemon_kind_to_string(kind);
        usec_t period = doc_daemon_period(c, kind);
        int64_t period_ms = (int64_t) (period / USEC_PER_MSEC), age;
        bool alive, fresh;
        int rc, r = 0;

        if (!o)
                return -ENOMEM;
        r = db_prepare(
                db,
                "SELECT pid, pid_start_ticks, started_at, last_cycle_at, last_cycle_ms, generation, "
                "config_path, config_ok, config_error, last_error, stats FROM daemons WHERE name = ?1",
                &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        r = r ?: doc_set(o, fields[i], json_null());
                r = r ?: doc_set(o, "alive", json_false());
                r = r ?: doc_set(o, "fresh", json_false());
                r = r ?: add_problem(h->problems, "%s has never started", name);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(o);
                return 0;
        }
        if (rc != SQLITE_ROW)
                return doc_sqlite_error(rc);

        alive = pid_is_alive(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
        /* A daemon that has not finished a cycle yet is judged from its start. */
        age = now_ms - (sqlite3_column_type(st, 3) != SQLITE_NULL ? sqlite3_column_int64(st, 3)
                                                                  : sqlite3_column_int64(st, 2));
        fresh = age <= DOC_HEALTH_CYCLES * period_ms;

        r = r ?: doc_set(o, "pid", doc_column_integer(st, 0));
        r = r ?: doc_set(o, "alive", json_boolean(alive));
        r = r ?: doc_set(o, "started_at", doc_column_integer(st, 2));
        r = r ?: doc_set(o, "last_cycle_at", doc_column_integer(st, 3));
        r = r ?: doc_set(o, "last_cycle_ms", doc_column_integer(st, 4));
        r = r ?: doc_set(o, "generation", doc_column_integer(st, 5));
        r = r ?: doc_set(o, "fresh", json_boolean(fresh));
        r = r ?: doc_set(o, "config_path", doc_column_string(st, 6));
        r = r ?: doc_set(o, "config_ok", json_boolean(sqlite3_column_int(st, 7) != 0));
        r = r ?: doc_set(o, "config_error", doc_column_string(st, 8));
        r = r ?: doc_set(o, "last_error", doc_column_string(st, 9));
        r = r ?: doc_set(o, "stats", doc_column_json(st, 10));

        if (!fresh)
                r = r
                            ?: add_problem(h->problems,
                                           "%s last reported %" PRIi64 " s ago (expected every %" PRIi64
                                           " s)",
                                           name, age / 1000, period_ms / 1000);
        if (!alive)
                r = r
                            ?: add_problem(h->warnings, "%s (pid %" PRIi64 ") is not running", name,
                                           (int64_t) sqlite3_column_int64(st, 0));
        if (sqlite3_column_int(st, 7) == 0)
                r = r
                            ?: add_problem(h->config_errors, "%s: %s", name,
                                           sqlite3_column_type(st, 8) == SQLITE_NULL
                                                   ? "reload failed"
                                                   : doc_column_text(st, 8));
        if (sqlite3_column_type(st, 9) != SQLITE_NULL)
                r = r ?: add_problem(h->warnings, "%s: %s", name, doc_column_text(st, 9));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* A full state directory is the one failure the daemons may be unable to report themselves: recording a
 * failed cycle in the heartbeat row is a write too, and it fails like the cycle did (SQLITE_FULL). Their
 * heartbeats then go stale without a word on why, so the readers look at the file system themselves:
 * less than DOC_STATE_FS_MIN_FREE available (to the daemons' users, so root's reserve is not counted) is a
 * problem that names the cause. Free space is only read, never reserved: statvfs() of the directory of
 * state.db (none for an in-memory database, as in some tests). */
static int state_fs_json(sqlite3 *db, Health *h, json_t **ret) {
        _cleanup_free_ char *dir = NULL;
        const char *path = sqlite3_db_filename(db, "main");
        struct statvfs sv;
        uint64_t avail;
        char *slash;

        *ret = NULL;
        if (isempty(path))
                return 0;
        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash)
                *(slash == dir ? slash + 1 : slash) = 0;
        if (statvfs(slash ? dir : ".", &sv) < 0)
                return 0; /* nothing to say: the database itself was readable */
        avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        *ret = json_pack("{s:I, s:I}", "available_bytes", (json_int_t) avail, "size_bytes",
                         (json_int_t) ((uint64_t) sv.f_blocks * sv.f_frsize));
        if (!*ret)
                return -ENOMEM;
        if (avail < DOC_STATE_FS_MIN_FREE || (sv.f_files > 0 && sv.f_favail == 0))
                return add_problem(h->problems,
                                   "state directory %s is full (%" PRIu64 " bytes free%s): writes to %s fail "
                                   "with 'database or disk is full'",
                                   slash ? dir : ".", avail, sv.f_files > 0 && sv.f_favail == 0 ? ", no inodes" : "",
                                   DB_FILENAME);
        return 0;
}

static int scanner_extra(sqlite3 *db, json_t *o) {
        json_auto_t *counts = json_object();
        int r = 0;

        if (!counts)
                return -ENOMEM;
        r = r ?: add_count(db, counts, "processes", "SELECT count(*) FROM scan_processes");
        r = r ?: add_count(db, counts, "sockets", "SELECT count(*) FROM scan_sockets");
        r = r ?: add_count(db, counts, "netns", "SELECT count(*) FROM scan_netns");
        return r ?: doc_set(o, "counts", TAKE_PTR(counts));
}

static int tag_exec_json(sqlite3 *db, const Config *c, Health *h, json_t **ret) {
        static const char *const fields[] = {"ok",          "error",   "last_run", "last_ok",
                                             "duration_ms", "entries", "skipped",  "failures"};
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *o = json_object();
        int rc, r;

        if (!o)
                return -ENOMEM;
        r = doc_set(o, "configured", json_boolean(c->tag_exec && c->tag_exec[0]));
        if (r < 0)
                return r;
        r = db_prepare(db,
                       "SELECT ok, error, last_run, last_ok, duration_ms, entries, skipped, failures "
                       "FROM match_tag_exec WHERE id = 1",
                       &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return doc_sqlite_error(rc);
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                json_t *v;

                if (rc == SQLITE_DONE)
                        v = json_null();
                else if (i == 0)
                        v = json_boolean(sqlite3_column_int(st, 0) != 0);
                else if (i == 1)
                        v = doc_column_string(st, 1);
                else
                        v = doc_column_integer(st, (int) i);
                r = doc_set(o, fields[i], v);
                if (r < 0)
                        return r;
        }
        if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) == 0) {
                r = add_problem(h->warnings, "tag command failing: %s",
                                sqlite3_column_type(st, 1) == SQLITE_NULL ? "unknown error"
                                                                          : doc_column_text(st, 1));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

static int rules_stats_json(sqlite3 *db, json_t **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *a = json_array();
        int rc, r;

        if (!a)
                return -ENOMEM;
        r = db_prepare(db, "SELECT rule, hits, limit_hits FROM match_rule_stats ORDER BY rule", &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                if (json_array_append_new(a,
                                          json_pack("{s:I, s:I, s:I}", "rule", sqlite3_column_int64(st, 0),
                                                    "hits", sqlite3_column_int64(st, 1), "limit_hits",
                                                    sqlite3_column_int64(st, 2))) < 0)
                        return -ENOMEM;
        if (rc != SQLITE_DONE)
                return doc_sqlite_error(rc);
        *ret = TAKE_PTR(a);
        return 0;
}

static int matcher_extra(sqlite3 *db, const Config *c, Health *h, json_t *o) {
        json_auto_t *counts = json_object(), *tag_exec = NULL, *rules = NULL;
        int r = 0;

        if (!counts)
                return -ENOMEM;
        r = r ?: add_count(db, counts, "decided", "SELECT count(*) FROM match_decisions");
        r = r ?: add_count(db, counts, "synced", "SELECT count(*) FROM match_decisions WHERE synced = 1");
        r = r
                    ?: add_count(db, counts, "dropped",
                                 "SELECT count(*) FROM match_decisions WHERE action = 'drop'");
        r = r
                    ?: add_count(db, counts, "not_eligible",
                                 "SELECT count(*) FROM match_decisions "
                                 "WHERE action = 'accept' AND synced = 0");
        r = r ?: tag_exec_json(db, c, h, &tag_exec);
        r = r ?: rules_stats_json(db, &rules);
        r = r ?: doc_set(o, "counts", TAKE_PTR(counts));
        r = r ?: doc_set(o, "tag_exec", TAKE_PTR(tag_exec));
        return r ?: doc_set(o, "rules", TAKE_PTR(rules));
}

static int exporter_extra(sqlite3 *db, Health *h, json_t *o) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *sinks = json_array();
        int rc, r;

        if (!sinks)
                return -ENOMEM;
        r = db_prepare(
                db,
                "SELECT name, type, acked_version, acked_version = (SELECT version FROM export_state), "
                "last_attempt_at, last_ok_at, last_error, failures, errors_total, next_attempt_at, target "
                "FROM export_sinks ORDER BY name",
                &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_auto_t *s = json_object();

                if (!s)
                        return -ENOMEM;
                r = doc_set(s, "name", doc_column_string(st, 0));
                r = r ?: doc_set(s, "type", doc_column_string(st, 1));
                r = r ?: doc_set(s, "target", doc_column_string(st, 10));
                r = r ?: doc_set(s, "acked_version", doc_column_integer(st, 2));
                r = r ?: doc_set(s, "in_sync", json_boolean(sqlite3_column_int(st, 3) == 1));
                r = r ?: doc_set(s, "last_attempt_at", doc_column_integer(st, 4));
                r = r ?: doc_set(s, "last_ok_at", doc_column_integer(st, 5));
                r = r ?: doc_set(s, "last_error", doc_column_string(st, 6));
                r = r ?: doc_set(s, "failures", doc_column_integer(st, 7));
                r = r ?: doc_set(s, "errors_total", doc_column_integer(st, 8));
                r = r ?: doc_set(s, "next_attempt_at", doc_column_integer(st, 9));
                if (r == 0 && sqlite3_column_int64(st, 7) > 0)
                        r = add_problem(h->warnings, "sink %s failing: %s", doc_column_text(st, 0),
                                        sqlite3_column_type(st, 6) == SQLITE_NULL ? "unknown error"
                                                                                  : doc_column_text(st, 6));
                if (r < 0)
                        return r;
                if (json_array_append(sinks, s) < 0)
                        return -ENOMEM;
        }
        if (rc != SQLITE_DONE)
                return doc_sqlite_error(rc);

        sqlite3_finalize(TAKE_PTR(st));
        r = db_prepare(db, "SELECT version FROM export_state WHERE id = 1", &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return doc_sqlite_error(rc);
        r = doc_set(o, "version", rc == SQLITE_ROW ? doc_column_integer(st, 0) : json_null());
        return r ?: doc_set(o, "sinks", TAKE_PTR(sinks));
}

static int config_json(const Config *c, Health *h, json_t **ret) {
        _cleanup_free_ char *error = NULL;
        size_t n = json_array_size(h->config_errors);
        json_t *v;
        size_t i;

        /* "scanner: FILE:1:2: ...; matcher: ..." */
        json_array_foreach(h->config_errors, i, v) {
                char *e = NULL;

                if (asprintf(&e, "%s%s%s", strempty(error), error ? "; " : "", json_string_value(v)) < 0)
                        return -ENOMEM;
                free(error);
                error = e;
        }
        if (n > 0 && add_problem(h->warnings, "configuration: %s", error) < 0)
                return -ENOMEM;
        *ret = json_pack("{s:o, s:b, s:o}", "path", doc_json_string(c->path), "ok", n == 0, "error",
                         doc_json_string(error));
        return *ret ? 0 : -ENOMEM;
}

int doc_status(sqlite3 *db, const Config *c, int64_t now_ms, json_t **ret) {
        _cleanup_(health_done) Health h = {};
        json_auto_t *root = json_object(), *scanner = NULL, *matcher = NULL, *exporter = NULL,
                    *config = NULL, *health = NULL, *state_fs = NULL;
        json_t **daemons[_DAEMON_KIND_MAX] = {&scanner, &matcher, &exporter};
        char hostname[HOST_NAME_MAX + 1] = {};
        int r;

        if (!root || health_init(&h) < 0)
                return -ENOMEM;
        for (DaemonKind k = 0; k < _DAEMON_KIND_MAX; k++) {
                r = daemon_json(db, c, k, now_ms, &h, daemons[k]);
                if (r < 0)
                        return r;
        }
        r = scanner_extra(db, scanner);
        r = r ?: matcher_extra(db, c, &h, matcher);
        r = r ?: exporter_extra(db, &h, exporter);
        r = r ?: config_json(c, &h, &config);
        r = r ?: state_fs_json(db, &h, &state_fs);
        if (r < 0)
                return r;
        health = json_pack("{s:b, s:O, s:O}", "healthy", json_array_size(h.problems) == 0, "problems",
                           h.problems, "warnings", h.warnings);
        if (!health)
                return -ENOMEM;

        (void) gethostname(hostname, sizeof(hostname) - 1);
        r = doc_set(root, "version", json_string(PROCSYNC_VERSION));
        r = r ?: doc_set(root, "hostname", doc_json_string(hostname));
        r = r ?: doc_set(root, "config", TAKE_PTR(config));
        if (state_fs)
                r = r ?: doc_set(root, "state_fs", TAKE_PTR(state_fs));
        for (DaemonKind k = 0; k < _DAEMON_KIND_MAX && r == 0; k++)
                r = doc_set(root, daemon_kind_to_string(k), TAKE_PTR(*daemons[k]));
        r = r ?: doc_set(root, "health", TAKE_PTR(health));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(root);
        return 0;
}

int doc_health(sqlite3 *db, const char *db_error, const Config *c, int64_t now_ms, json_t **ret,
               bool *ret_healthy) {
        _cleanup_(health_done) Health h = {};
        bool healthy;
        int r;

        if (health_init(&h) < 0)
                return -ENOMEM;
        if (!db) {
                r = add_problem(h.problems, "database not readable: %s", strempty(db_error));
                if (r < 0)
                        return r;
        } else {
                json_auto_t *fs = NULL;

                for (DaemonKind k = 0; k < _DAEMON_KIND_MAX; k++) {
                        json_auto_t *d = NULL;

                        r = daemon_json(db, c, k, now_ms, &h, &d);
                        if (r < 0)
                                return r;
                }
                r = state_fs_json(db, &h, &fs);
                if (r < 0)
                        return r;
        }
        healthy = json_array_size(h.problems) == 0;
        *ret = json_pack("{s:b, s:O}", "healthy", healthy, "problems", h.problems);
        if (!*ret)
                return -ENOMEM;
        *ret_healthy = healthy;
        return 0;
}
