/* The run-time bookkeeping of a sink, with a scripted fake implementation: when it is due, what a success,
 * a failure (backoff) and a version mismatch write to export_sinks and to its timers, push_sockets storing
 * gpids, and which config changes count as a new receiver. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "backoff.h"
#include "export-sink.h"
#include "test-fixture.h"

typedef struct Fake {
        int result;     /* what the next push returns */
        uint64_t acked; /* ... and the version it reports */
        int sockets_result;
        unsigned pushes, socket_pushes;
} Fake;

static int fake_push(void *impl, const SyncState *st, uint64_t acked_version, uint64_t *ret_acked_version,
                     char **ret_error) {
        Fake *f = impl;

        f->pushes++;
        if (f->result < 0) {
                *ret_error = strdup("scripted failure");
                return f->result;
        }
        *ret_acked_version = f->acked ? f->acked : st->version;
        return 0;
}

static int fake_push_sockets(void *impl, const SyncState *st, SinkSocketResult *ret, char **ret_error) {
        Fake *f = impl;

        f->socket_pushes++;
        if (f->sockets_result < 0)
                return f->sockets_result;
        ret->process_gpids = calloc(1, sizeof(SinkGpid));
        ret->socket_gpids = calloc(1, sizeof(SinkSocketGpid));
        assert_non_null(ret->process_gpids);
        assert_non_null(ret->socket_gpids);
        ret->process_gpids[0] = (SinkGpid){.pid = 42, .gpid = 4242};
        ret->socket_gpids[0] =
                (SinkSocketGpid){.netns_inode = 1, .inode = 2, .local_gpid = 4242, .remote_gpid = 7};
        ret->n_process_gpids = ret->n_socket_gpids = 1;
        return 0;
}

static void fake_close(void *impl) {
}

static const SinkOps fake_ops = {
        .type = SINK_DEEPFLOW,
        .close = fake_close,
        .push = fake_push,
        .push_sockets = fake_push_sockets,
};

static ConfigSink cfg = {
        .type = SINK_FILE,
        .name = (char *) "fake",
        .path = (char *) "/nonexistent/fake.jsonl",
        .push_interval = 10 * USEC_PER_SEC,
};

static ExportSink *new_fake_sink(Fixture *f, Fake *fake) {
        ExportSink *s = NULL;

        assert_int_equal(export_sink_new(f->db, &cfg, &s), 0);
        /* Swap the real (lazily opened) file sink for the fake. */
        s->ops->close(s->impl);
        s->ops = &fake_ops;
        s->impl = fake;
        return s;
}

static SyncState *state(uint64_t version) {
        SyncState *st = calloc(1, sizeof(SyncState));

        assert_non_null(st);
        st->hostname = strdup("h");
        st->version = version;
        return st;
}

static int64_t query_int(Fixture *f, const char *sql) {
        sqlite3_stmt *st = NULL;
        int64_t v;

        assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static void assert_near(usec_t t, usec_t from, usec_t lo, usec_t hi) {
        assert_true(t >= from + lo);
        assert_true(t <= from + hi + 200 * USEC_PER_MSEC);
}

static void test_success_failure_backoff(void **unused) {
        _cleanup_sync_state_ SyncState *v5 = state(5), *v6 = state(6);
        Fake fake = {};
        ExportSink *s;
        bool changed;
        usec_t now;
        Fixture f = {};

        fixture_setup(&f);
        s = new_fake_sink(&f, &fake);

        now = now_usec(CLOCK_MONOTONIC);
        assert_true(export_sink_due(s, v5, now));
        assert_false(export_sink_due(s, NULL, now));
        assert_int_equal(export_sink_push(s, f.db, v5, &changed), 0);
        assert_true(changed);
        assert_int_equal(query_int(&f, "SELECT acked_version FROM export_sinks WHERE name = 'fake'"), 5);
        assert_near(s->next_push, now, 10 * USEC_PER_SEC, 10 * USEC_PER_SEC);
        assert_false(export_sink_due(s, v5, now_usec(CLOCK_MONOTONIC)));
        /* A new version does not wait for the timer. */
        assert_true(export_sink_due(s, v6, now_usec(CLOCK_MONOTONIC)));

        /* Failures: recorded, backoff 1 s then 2 s (±20%), no push before the timer even for a new version.
         */
        fake.result = -ECONNREFUSED;
        now = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(export_sink_push(s, f.db, v6, &changed), -ECONNREFUSED);
        assert_false(changed);
        assert_near(s->next_push, now, 800 * USEC_PER_MSEC, 1200 * USEC_PER_MSEC);
        assert_false(export_sink_due(s, v6, now_usec(CLOCK_MONOTONIC)));
        assert_int_equal(query_int(&f, "SELECT failures FROM export_sinks WHERE name = 'fake'"), 1);
        assert_int_equal(query_int(&f, "SELECT errors_total FROM export_sinks WHERE name = 'fake'"), 1);
        assert_int_equal(query_int(&f, "SELECT last_error = 'scripted failure' FROM export_sinks"), 1);
        assert_int_equal(query_int(&f, "SELECT next_attempt_at > last_attempt_at FROM export_sinks"), 1);
        assert_int_equal(query_int(&f, "SELECT acked_version FROM export_sinks"), 5);
        now = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(export_sink_push(s, f.db, v6, &changed), -ECONNREFUSED);
        assert_near(s->next_push, now, 1600 * USEC_PER_MSEC, 2400 * USEC_PER_MSEC);
        assert_true(s->failed);

        /* Back: everything reset but errors_total. */
        fake.result = 0;
        assert_int_equal(export_sink_push(s, f.db, v6, &changed), 0);
        assert_true(changed);
        assert_false(s->failed);
        assert_int_equal(query_int(&f, "SELECT failures FROM export_sinks"), 0);
        assert_int_equal(query_int(&f, "SELECT errors_total FROM export_sinks"), 2);
        assert_int_equal(query_int(&f, "SELECT last_error IS NULL FROM export_sinks"), 1);
        assert_int_equal(query_int(&f, "SELECT acked_version FROM export_sinks"), 6);
        assert_int_equal(fake.pushes, 4);

        /* A fresh process starts without the previous backoff, with the acknowledged version. */
        export_sink_free(s);
        s = new_fake_sink(&f, &fake);
        assert_int_equal(s->row.acked_version, 6);
        assert_true(export_sink_due(s, v6, now_usec(CLOCK_MONOTONIC)));

        export_sink_free(s);
        fixture_teardown(&f);
}

static void test_mismatch_is_not_a_loop(void **unused) {
        _cleanup_sync_state_ SyncState *v5 = state(5);
        Fake fake = {.acked = 4};
        ExportSink *s;
        bool changed;
        usec_t now;
        Fixture f = {};

        fixture_setup(&f);
        s = new_fake_sink(&f, &fake);
        now = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(export_sink_push(s, f.db, v5, &changed), 0);
        assert_int_equal(s->row.acked_version, 4);
        /* Not due again at once although 5 is not acknowledged; asked again after 1 s. */
        assert_false(export_sink_due(s, v5, now_usec(CLOCK_MONOTONIC)));
        assert_near(s->next_push, now, 1 * USEC_PER_SEC, 1 * USEC_PER_SEC);
        export_sink_free(s);
        fixture_teardown(&f);
}

static void test_push_sockets(void **unused) {
        _cleanup_sync_state_ SyncState *v5 = state(5);
        Fake fake = {};
        ExportSink *s;
        usec_t now;
        Fixture f = {};

        fixture_setup(&f);
        s = new_fake_sink(&f, &fake);

        assert_false(export_sink_sockets_due(s, v5, 0, now_usec(CLOCK_MONOTONIC)));
        assert_true(export_sink_sockets_due(s, v5, 10 * USEC_PER_SEC, now_usec(CLOCK_MONOTONIC)));
        now = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(export_sink_push_sockets(s, f.db, v5, 10 * USEC_PER_SEC), 0);
        assert_near(s->next_sockets, now, 10 * USEC_PER_SEC, 10 * USEC_PER_SEC);
        assert_int_equal(query_int(&f, "SELECT gpid FROM export_gpids WHERE sink = 'fake' AND pid = 42"),
                         4242);
        assert_int_equal(query_int(&f, "SELECT remote_gpid FROM export_socket_gpids WHERE sink = 'fake'"),
                         7);
        assert_int_equal(export_sink_next_wakeup(s, 10 * USEC_PER_SEC, true), s->next_push);

        fake.sockets_result = -ETIMEDOUT;
        now = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(export_sink_push_sockets(s, f.db, v5, 500 * USEC_PER_MSEC), -ETIMEDOUT);
        /* Backoff (1 s), but never later than the socket interval. */
        assert_near(s->next_sockets, now, 0, 500 * USEC_PER_MSEC);
        assert_int_equal(query_int(&f, "SELECT errors_total FROM export_sinks"), 1);
        assert_int_equal(query_int(&f, "SELECT last_error IS NOT NULL FROM export_sinks"), 1);
        /* The gpids of the last answer stay. */
        assert_int_equal(query_int(&f, "SELECT count(*) FROM export_gpids"), 1);

        export_sink_free(s);
        fixture_teardown(&f);
}

static void test_identity(void **unused) {
        char *h1[] = {(char *) "A: 1", (char *) "B: 2", NULL},
             *h2[] = {(char *) "B: 2", (char *) "A: 1", NULL};
        ConfigSink a = {.type = SINK_HTTP, .name = (char *) "c", .url = (char *) "http://x/", .headers = h1};
        ConfigSink b = a;
        _cleanup_free_ char *fa = NULL, *fb = NULL, *ta = NULL, *tb = NULL;

        fa = export_sink_fingerprint(&a);
        ta = export_sink_target(&a);
        b.timeout = 5 * USEC_PER_SEC;
        fb = export_sink_fingerprint(&b);
        tb = export_sink_target(&b);
        /* Another timeout: another config, same receiver. */
        assert_string_not_equal(fa, fb);
        assert_string_equal(ta, tb);
        free(fb);
        free(tb);

        b = a;
        b.headers = h2;
        fb = export_sink_fingerprint(&b);
        assert_string_not_equal(fa, fb);
        free(fb);

        b = a;
        b.url = (char *) "http://y/";
        fb = export_sink_fingerprint(&b);
        tb = export_sink_target(&b);
        assert_string_not_equal(fa, fb);
        assert_string_not_equal(ta, tb);
        assert_string_equal(tb, "http://y/");
}

static void test_target_readable(void **unused) {
        char *ips[] = {(char *) "10.0.0.1", (char *) "fd00::1", NULL}, *odd[] = {(char *) "a,b c", NULL},
             *two[] = {(char *) "a", (char *) "b c", NULL};
        ConfigSink d = {.type = SINK_DEEPFLOW, .controller_ips = ips, .controller_port = 30035};
        ConfigSink f = {.type = SINK_FILE, .path = (char *) "/var/log/procsync.jsonl"};
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL;

        t1 = export_sink_target(&d);
        assert_string_equal(t1, "10.0.0.1:30035, [fd00::1]:30035 as agent auto|auto");
        d.ctrl_ip = (char *) "10.0.0.5";
        d.ctrl_mac = (char *) "02:00:00:00:00:01";
        t2 = export_sink_target(&d);
        assert_string_equal(t2, "10.0.0.1:30035, [fd00::1]:30035 as agent 10.0.0.5|02:00:00:00:00:01");
        /* Entries that are no address cannot make two lists read the same. */
        d.controller_ips = odd;
        t3 = export_sink_target(&d);
        d.controller_ips = two;
        t4 = export_sink_target(&d);
        assert_string_equal(t3, "a%2Cb%20c:30035 as agent 10.0.0.5|02:00:00:00:00:01");
        assert_string_not_equal(t3, t4);
        t5 = export_sink_target(&f);
        assert_string_equal(t5, "/var/log/procsync.jsonl");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_success_failure_backoff),
                cmocka_unit_test(test_mismatch_is_not_a_loop),
                cmocka_unit_test(test_push_sockets),
                cmocka_unit_test(test_identity),
                cmocka_unit_test(test_target_readable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
