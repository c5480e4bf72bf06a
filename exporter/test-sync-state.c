/* The sync state read from a hand-filled state.db: which processes and sockets are synced and in which
 * order; the digest changes on every kind of synced-field change and on nothing else; the version rules
 * (first = first start time, +1 per digest change, kept across restarts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "db.h"
#include "export-db.h"
#include "sync-state.h"
#include "test-fixture.h"

#define NOW_MS  ((int64_t) 1700000000000)
#define OLD     (NOW_MS - 60000)
#define NETNS_A 4026531840ULL
#define NETNS_B 4026532000ULL

/* Synced: 100 (netns B), 300 (netns A). Not synced: 200 (dropped), 400 (stale decision: the scanner
 * sees another process under that pid). */
static void scenario(Fixture *f) {
        fixture_netns(f, NETNS_A, 1);
        fixture_netns(f, NETNS_B, 2);
        fixture_process(f, 300, "nginx", "nginx -g daemon off;", "root", 0, NETNS_A, "nginx-web",
                        "{\"b\": \"2\", \"a\": \"1\", \"app\": \"shop\"}", 1, true);
        fixture_process(f, 100, "python3", "python3 app.py", "app", 1000, NETNS_B, "app-py-script", "{}", 0,
                        true);
        fixture_process(f, 200, "sleep", "sleep 100", "root", 0, NETNS_A, "sleep", "{}", 2, false);
        fixture_process(f, 400, "redis", "redis-server", "redis", 101, NETNS_A, "redis", "{}", 3, true);
        fixture_sql(f, "UPDATE scan_processes SET start_ticks = 1 WHERE pid = 400");

        fixture_socket(f, 1, NETNS_A, 5001, "tcp", "listen", "0.0.0.0", 80, "0.0.0.0", 0, "server", OLD,
                       300u, 200u, 0u);
        fixture_socket(f, 2, NETNS_A, 5002, "tcp", "established", "10.0.0.1", 80, "10.0.0.2", 5555, "server",
                       NOW_MS - 1000, 300u, 0u);
        fixture_socket(f, 3, NETNS_B, 5003, "udp", "connected", "::1", 53, "::1", 5353, "client", OLD, 100u,
                       0u);
        fixture_socket(f, 4, NETNS_A, 5004, "tcp", "established", "10.0.0.1", 40000, "10.0.0.9", 443,
                       "client", OLD, 200u, 0u);
        fixture_socket(f, 5, NETNS_A, 5005, "tcp", "established", "10.0.0.1", 80, "10.0.0.3", 6000, "server",
                       OLD, 300u, 100u, 400u, 0u);
}

static SyncState *build_at(Fixture *f, const char *hostname, int64_t now_ms) {
        SyncBuildParams p = {
                .hostname = hostname,
                .now_ms = now_ms,
                .socket_min_lifetime = 3 * USEC_PER_SEC,
        };
        SyncState *s = NULL;

        assert_int_equal(sync_state_build(f->db, &p, &s), 0);
        assert_non_null(s);
        return s;
}

static SyncState *build(Fixture *f) {
        return build_at(f, "host-a", NOW_MS);
}

static void test_build(void **state) {
        _cleanup_sync_state_ SyncState *s = NULL;
        Fixture f = {};

        fixture_setup(&f);
        scenario(&f);
        fixture_sql(&f, "INSERT INTO match_daemon (id, pid, pid_start_ticks, started_at, generation) "
                        "VALUES (1, 1, 1, 1, 42)");
        s = build(&f);

        assert_string_equal(s->hostname, "host-a");
        assert_int_equal(s->match_generation, 42);
        assert_int_equal(s->built_at, NOW_MS);
        assert_int_equal(s->version, 0);
        assert_int_equal(strlen(s->digest), 64);

        assert_int_equal(s->n_processes, 2);
        assert_int_equal(s->processes[0].pid, 100);
        assert_string_equal(s->processes[0].name, "app-py-script");
        assert_string_equal(s->processes[0].process_name, "python3");
        assert_string_equal(s->processes[0].cmdline, "python3 app.py");
        assert_string_equal(s->processes[0].user, "app");
        assert_int_equal(s->processes[0].uid, 1000);
        assert_int_equal(s->processes[0].start_time, 1700000100);
        assert_int_equal(s->processes[0].netns_inode, NETNS_B);
        assert_int_equal(s->processes[0].netns_idx, 2);
        assert_string_equal(s->processes[0].container_id, "");
        assert_int_equal(s->processes[0].n_tags, 0);
        assert_int_equal(s->processes[1].pid, 300);
        assert_int_equal(s->processes[1].rule, 1);
        assert_int_equal(s->processes[1].n_tags, 3);
        assert_string_equal(s->processes[1].tags[0].key, "a");
        assert_string_equal(s->processes[1].tags[1].key, "app");
        assert_string_equal(s->processes[1].tags[1].value, "shop");
        assert_string_equal(s->processes[1].tags[2].key, "b");

        /* 2 is too young, 4 has no synced owner; netns A (idx 1) first. */
        assert_int_equal(s->n_sockets, 3);
        assert_int_equal(s->sockets[0].inode, 5001);
        assert_int_equal(s->sockets[0].n_pids, 1);
        assert_int_equal(s->sockets[0].pids[0], 300);
        assert_int_equal(s->sockets[0].role, SYNC_ROLE_SERVER);
        assert_false(s->sockets[0].udp);
        assert_string_equal(s->sockets[0].state, "listen");
        assert_int_equal(s->sockets[1].inode, 5005);
        assert_int_equal(s->sockets[1].n_pids, 2);
        assert_int_equal(s->sockets[1].pids[0], 100);
        assert_int_equal(s->sockets[1].pids[1], 300);
        assert_string_equal(s->sockets[1].remote_addr, "10.0.0.3");
        assert_int_equal(s->sockets[1].remote_port, 6000);
        assert_int_equal(s->sockets[2].inode, 5003);
        assert_true(s->sockets[2].udp);
        assert_int_equal(s->sockets[2].family, 6);
        assert_int_equal(s->sockets[2].netns_idx, 2);
        assert_int_equal(s->sockets[2].role, SYNC_ROLE_CLIENT);
        assert_int_equal(s->sockets[2].first_seen, OLD);

        fixture_teardown(&f);
}

static void test_bad_tags(void **state) {
        SyncBuildParams p = {.hostname = "h", .now_ms = NOW_MS};
        SyncState *s = NULL;
        Fixture f = {};

        fixture_setup(&f);
        fixture_process(&f, 1, "a", "a", "root", 0, 0, "a", "[1]", 0, true);
        assert_int_equal(sync_state_build(f.db, &p, &s), -EBADMSG);
        assert_null(s);
        fixture_sql(&f, "UPDATE match_decisions SET tags = '{\"k\": 1}'");
        assert_int_equal(sync_state_build(f.db, &p, &s), -EBADMSG);
        /* The failed build left no transaction open. */
        assert_true(sqlite3_get_autocommit(f.db));
        fixture_teardown(&f);
}

static void test_digest_changes(void **state) {
        static const struct {
                const char *sql;
                bool changes;
        } cases[] = {
                {"UPDATE match_decisions SET name = 'renamed' WHERE pid = 300", true},
                {"UPDATE scan_processes SET comm = 'nginx2' WHERE pid = 300", true},
                {"UPDATE scan_processes SET cmdline = 'nginx -g x' WHERE pid = 300", true},
                {"UPDATE scan_processes SET user = 'www' WHERE pid = 300", true},
                {"UPDATE scan_processes SET uid = 33 WHERE pid = 300", true},
                {"UPDATE scan_processes SET container_id = 'abc' WHERE pid = 300", true},
                {"UPDATE scan_processes SET start_time = 5 WHERE pid = 300", true},
                {"UPDATE scan_processes SET ppid = 2 WHERE pid = 300", true},
                {"UPDATE scan_processes SET netns_inode = 4026532000 WHERE pid = 300", true},
                {"UPDATE scan_netns SET idx = 7 WHERE inode = 4026531840", true},
                {"UPDATE match_decisions SET tags = '{\"a\": \"1\", \"app\": \"shop\", \"b\": \"3\"}' "
                 "WHERE pid = 300",
                 true},
                {"UPDATE match_decisions SET tags = '{\"a\": \"1\", \"app\": \"shop\", \"c\": \"2\"}' "
                 "WHERE pid = 300",
                 true},
                {"UPDATE match_decisions SET tags = '{\"a\": \"1\", \"app\": \"shop\"}' WHERE pid = 300",
                 true},
                {"UPDATE match_decisions SET tags = '{\"a\": \"1\", \"app\": \"shop:b\", \"b\": \"2\"}' "
                 "WHERE pid = 300",
                 true},
                {"UPDATE match_decisions SET rule = 9 WHERE pid = 300", true},
                {"UPDATE match_decisions SET synced = 0 WHERE pid = 100", true},
                {"UPDATE match_decisions SET synced = 1 WHERE pid = 200", true},
                {"UPDATE scan_processes SET start_ticks = 4000 WHERE pid = 400", true},
                {"UPDATE scan_sockets SET state = 'closing' WHERE id = 1", true},
                {"UPDATE scan_sockets SET remote_port = 6001 WHERE id = 5", true},
                {"UPDATE scan_sockets SET remote_addr = '10.0.0.4' WHERE id = 5", true},
                {"UPDATE scan_sockets SET local_addr = '10.0.0.5' WHERE id = 5", true},
                {"UPDATE scan_sockets SET local_port = 81 WHERE id = 1", true},
                {"UPDATE scan_sockets SET role = 'client' WHERE id = 5", true},
                {"UPDATE scan_sockets SET proto = 'udp' WHERE id = 5", true},
                {"UPDATE scan_sockets SET inode = 6000 WHERE id = 5", true},
                {"UPDATE scan_sockets SET first_seen = 5 WHERE id = 5", true},
                {"INSERT INTO scan_socket_owners (socket_id, pid) VALUES (1, 100)", true},
                {"DELETE FROM scan_socket_owners WHERE socket_id = 5 AND pid = 100", true},
                {"DELETE FROM scan_sockets WHERE id = 3", true},
                {"UPDATE scan_sockets SET first_seen = 1 WHERE id = 2", true},
                /* Not synced fields, not synced processes, not yet eligible sockets. */
                {"UPDATE scan_processes SET last_seen = 99, first_seen = 98, changed_generation = 7", false},
                {"UPDATE scan_processes SET exe = '/usr/sbin/nginx' WHERE pid = 300", false},
                {"UPDATE scan_processes SET cmdline = 'sleep 1' WHERE pid = 200", false},
                {"UPDATE match_decisions SET name = 'x', tags = '{\"a\": \"b\"}' WHERE pid = 200", false},
                {"UPDATE match_decisions SET decided_at = 5, reason = 'x'", false},
                {"UPDATE scan_sockets SET last_seen = 5", false},
                {"UPDATE scan_sockets SET state = 'x' WHERE id IN (2, 4)", false},
                {"INSERT INTO scan_socket_owners (socket_id, pid) VALUES (5, 200)", false},
                {"UPDATE scan_netns SET last_seen = 77", false},
                {"UPDATE match_decisions SET tags = '{\"app\": \"shop\", \"a\": \"1\", \"b\": \"2\"}' "
                 "WHERE pid = 300",
                 false},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_sync_state_ SyncState *a = NULL, *b = NULL;
                Fixture f = {};

                fixture_setup(&f);
                scenario(&f);
                a = build(&f);
                fixture_sql(&f, "%s", cases[i].sql);
                b = build(&f);
                if (cases[i].changes != !streq(a->digest, b->digest))
                        fail_msg("case %zu (%s): digest %s", i, cases[i].sql,
                                 cases[i].changes ? "did not change" : "changed");
                fixture_teardown(&f);
        }
}

static void test_digest_other(void **state) {
        _cleanup_sync_state_ SyncState *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        Fixture f = {}, g = {};

        fixture_setup(&f);
        scenario(&f);
        a = build(&f);
        b = build(&f);
        assert_string_equal(a->digest, b->digest);
        /* The hostname is synced. */
        c = build_at(&f, "host-b", NOW_MS);
        assert_string_not_equal(a->digest, c->digest);
        /* Socket 2 ages into the state. */
        d = build_at(&f, "host-a", NOW_MS + 2500);
        assert_string_not_equal(a->digest, d->digest);
        assert_int_equal(d->n_sockets, 4);

        /* The same content inserted in another order gives the same digest. */
        fixture_setup(&g);
        fixture_netns(&g, NETNS_B, 2);
        fixture_netns(&g, NETNS_A, 1);
        fixture_process(&g, 400, "redis", "redis-server", "redis", 101, NETNS_A, "redis", "{}", 3, true);
        fixture_sql(&g, "UPDATE scan_processes SET start_ticks = 1 WHERE pid = 400");
        fixture_process(&g, 200, "sleep", "sleep 100", "root", 0, NETNS_A, "sleep", "{}", 2, false);
        fixture_process(&g, 100, "python3", "python3 app.py", "app", 1000, NETNS_B, "app-py-script", "{}", 0,
                        true);
        fixture_process(&g, 300, "nginx", "nginx -g daemon off;", "root", 0, NETNS_A, "nginx-web",
                        "{\"app\": \"shop\", \"b\": \"2\", \"a\": \"1\"}", 1, true);
        fixture_socket(&g, 15, NETNS_A, 5005, "tcp", "established", "10.0.0.1", 80, "10.0.0.3", 6000,
                       "server", OLD, 400u, 100u, 300u, 0u);
        fixture_socket(&g, 13, NETNS_B, 5003, "udp", "connected", "::1", 53, "::1", 5353, "client", OLD,
                       100u, 0u);
        fixture_socket(&g, 11, NETNS_A, 5001, "tcp", "listen", "0.0.0.0", 80, "0.0.0.0", 0, "server", OLD,
                       200u, 300u, 0u);
        e = build(&g);
        assert_string_equal(a->digest, e->digest);

        fixture_teardown(&f);
        fixture_teardown(&g);
}

static void test_version_rule(void **state) {
        const char *x = "aa", *y = "bb";

        assert_int_equal(export_next_version(false, 0, "", x, 1700000000), 1700000000);
        assert_int_equal(export_next_version(false, 0, "", x, 0), 1);
        assert_int_equal(export_next_version(true, 1700000000, x, x, 1800000000), 1700000000);
        assert_int_equal(export_next_version(true, 1700000000, x, y, 1800000000), 1700000001);
}

static void test_version_store(void **state) {
        _cleanup_free_ char *error = NULL;
        _cleanup_sync_state_ SyncState *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        char digest[65];
        uint64_t v;
        bool is_new;
        Fixture f = {};

        fixture_setup(&f);
        scenario(&f);
        assert_int_equal(export_state_read(f.db, &v, digest), -ENOENT);

        a = build(&f);
        assert_int_equal(export_state_commit(f.db, a, 1700000000, &is_new), 0);
        assert_true(is_new);
        assert_int_equal(a->version, 1700000000);

        /* Same content: same version, even with another start time (a restart). */
        b = build(&f);
        assert_int_equal(export_state_commit(f.db, b, 1800000000, &is_new), 0);
        assert_false(is_new);
        assert_int_equal(b->version, 1700000000);

        /* A change: +1, stored before anything is sent. */
        fixture_sql(&f, "UPDATE match_decisions SET name = 'renamed' WHERE pid = 300");
        c = build(&f);
        assert_int_equal(export_state_commit(f.db, c, 1800000000, &is_new), 0);
        assert_true(is_new);
        assert_int_equal(c->version, 1700000001);

        /* A new connection (the exporter restarted) sees the stored version and digest. */
        sqlite3_close_v2(f.db);
        f.db = NULL;
        assert_int_equal(db_open(f.dir, DB_READ_WRITE, &f.db, &error), 0);
        assert_int_equal(export_state_read(f.db, &v, digest), 0);
        assert_int_equal(v, 1700000001);
        assert_string_equal(digest, c->digest);
        d = build(&f);
        assert_int_equal(export_state_commit(f.db, d, 1900000000, &is_new), 0);
        assert_false(is_new);
        assert_int_equal(d->version, 1700000001);

        /* Changing back to an earlier content is still a new version (never reused). */
        fixture_sql(&f, "UPDATE match_decisions SET name = 'nginx-web' WHERE pid = 300");
        sync_state_free(d);
        d = build(&f);
        assert_string_equal(d->digest, a->digest);
        assert_int_equal(export_state_commit(f.db, d, 1900000000, &is_new), 0);
        assert_true(is_new);
        assert_int_equal(d->version, 1700000002);

        fixture_teardown(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_build),          cmocka_unit_test(test_bad_tags),
                cmocka_unit_test(test_digest_changes), cmocka_unit_test(test_digest_other),
                cmocka_unit_test(test_version_rule),   cmocka_unit_test(test_version_store),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
