/* The file sink: the exact JSON lines it writes (the one serializer of state-json.c), one per new version,
 * nothing for a version already acknowledged or already the file's last line (an exporter killed between
 * the write and the acknowledgement), a torn last line cut off, a missing directory an error, reopen
 * following a rotated file, 0640 permissions. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "sink.h"
#include "sinks.h"
#include "sync-state.h"
#include "test-fixture.h"

#define NOW_MS ((int64_t) 1700000000000)

static const char *const LINE_V7 =
        "{\"version\":7,\"hostname\":\"host-a\",\"full\":true,\"processes\":["
        "{\"pid\":42,\"ppid\":1,\"start_time\":1700000042,\"name\":\"web\",\"process_name\":\"nginx\","
        "\"cmdline\":\"nginx -g daemon "
        "off;\",\"user\":\"www-data\",\"uid\":33,\"netns_id\":1,\"container_id\":\"\","
        "\"tags\":{\"app\":\"shop\",\"env\":\"prod\"},\"rule\":2}],"
        "\"sockets\":["
        "{\"proto\":\"tcp\",\"state\":\"listen\",\"local\":\"0.0.0.0:80\",\"remote\":\"0.0.0.0:0\",\"role\":"
        "\"server\","
        "\"pids\":[42],\"netns_id\":1,\"inode\":9001,\"first_seen\":1699999990000},"
        "{\"proto\":\"udp\",\"state\":\"connected\",\"local\":\"[fe80::1]:5353\",\"remote\":\"[ff02::fb]:"
        "5353\","
        "\"role\":\"client\",\"pids\":[42],\"netns_id\":1,\"inode\":9002,\"first_seen\":1699999990000}]}\n";

static SyncState *make_state(Fixture *f, uint64_t version) {
        SyncBuildParams p = {
                .hostname = "host-a", .now_ms = NOW_MS, .socket_min_lifetime = 3 * USEC_PER_SEC};
        SyncState *s = NULL;

        assert_int_equal(sync_state_build(f->db, &p, &s), 0);
        s->version = version;
        return s;
}

static void scenario(Fixture *f) {
        fixture_netns(f, 4026531840ULL, 1);
        fixture_process(f, 42, "nginx", "nginx -g daemon off;", "www-data", 33, 4026531840ULL, "web",
                        "{\"env\": \"prod\", \"app\": \"shop\"}", 2, true);
        fixture_socket(f, 1, 4026531840ULL, 9001, "tcp", "listen", "0.0.0.0", 80, "0.0.0.0", 0, "server",
                       NOW_MS - 10000, 42u, 0u);
        fixture_socket(f, 2, 4026531840ULL, 9002, "udp", "connected", "fe80::1", 5353, "ff02::fb", 5353,
                       "client", NOW_MS - 10000, 42u, 0u);
}

static char *read_file(const char *path) {
        FILE *fp = fopen(path, "re");
        char *buf = NULL;
        size_t size = 0;
        FILE *out;

        assert_non_null(fp);
        out = open_memstream(&buf, &size);
        assert_non_null(out);
        for (int c; (c = fgetc(fp)) != EOF;)
                fputc(c, out);
        fclose(fp);
        fclose(out);
        return buf;
}

static void *open_sink(const char *path) {
        ConfigSink cfg = {.type = SINK_FILE, .name = (char *) "file", .path = (char *) path};
        const SinkOps *ops = sink_ops_for(SINK_FILE);
        _cleanup_free_ char *error = NULL;
        void *impl = NULL;

        assert_ptr_equal(ops, &sink_file_ops);
        assert_int_equal(ops->open(&cfg, &impl, &error), 0);
        return impl;
}

static void push_ok(void *impl, const SyncState *s, uint64_t acked, uint64_t expect_acked) {
        _cleanup_free_ char *error = NULL;
        uint64_t got = 0;

        assert_int_equal(sink_file_ops.push(impl, s, acked, &got, &error), 0);
        assert_null(error);
        assert_int_equal(got, expect_acked);
}

static void test_lines(void **state) {
        _cleanup_sync_state_ SyncState *s7 = NULL, *s8 = NULL;
        _cleanup_free_ char *path = NULL, *content = NULL, *expected = NULL, *line8 = NULL;
        mode_t old_umask = umask(022);
        struct stat st;
        void *impl;
        Fixture f = {};

        fixture_setup(&f);
        scenario(&f);
        assert_true(asprintf(&path, "%s/sync.jsonl", f.dir) > 0);
        s7 = make_state(&f, 7);

        impl = open_sink(path);
        /* Nothing is created before the first push. */
        assert_int_equal(stat(path, &st), -1);
        push_ok(impl, s7, 0, 7);
        content = read_file(path);
        assert_string_equal(content, LINE_V7);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0640);

        /* Acknowledged: not written again (a heartbeat is a no-op for a file). */
        push_ok(impl, s7, 7, 7);
        push_ok(impl, s7, 6, 7);
        free(content);
        content = read_file(path);
        assert_string_equal(content, LINE_V7);

        /* A rename makes version 8: one more line, the full state again. */
        fixture_sql(&f, "UPDATE match_decisions SET name = 'web2'");
        s8 = make_state(&f, 8);
        push_ok(impl, s8, 7, 8);
        free(content);
        content = read_file(path);
        line8 = strdup(LINE_V7);
        assert_non_null(line8);
        memcpy(strstr(line8, "\"version\":7"), "\"version\":8", 11);
        {
                char *n = strstr(line8, "\"name\":\"web\"");
                _cleanup_free_ char *fixed = NULL;

                assert_non_null(n);
                assert_true(asprintf(&fixed, "%.*s\"name\":\"web2\"%s", (int) (n - line8), line8,
                                     n + strlen("\"name\":\"web\"")) > 0);
                free(line8);
                line8 = TAKE_PTR(fixed);
        }
        assert_true(asprintf(&expected, "%s%s", LINE_V7, line8) > 0);
        assert_string_equal(content, expected);

        sink_file_ops.close(impl);
        umask(old_umask);
        fixture_teardown(&f);
}

static void test_restart_and_torn_line(void **state) {
        _cleanup_sync_state_ SyncState *s7 = NULL, *s8 = NULL;
        _cleanup_free_ char *path = NULL, *content = NULL, *expected = NULL;
        FILE *fp;
        void *impl;
        Fixture f = {};

        fixture_setup(&f);
        scenario(&f);
        assert_true(asprintf(&path, "%s/sync.jsonl", f.dir) > 0);
        s7 = make_state(&f, 7);

        impl = open_sink(path);
        push_ok(impl, s7, 0, 7);
        sink_file_ops.close(impl);

        /* Killed before the acknowledgement: the database still says 0. The new process finds version 7
         * as the file's last line and acknowledges it without writing it twice. */
        impl = open_sink(path);
        push_ok(impl, s7, 0, 7);
        content = read_file(path);
        assert_string_equal(content, LINE_V7);
        sink_file_ops.close(impl);

        /* Killed in the middle of a line: the torn part goes, the next version follows the last good line.
         */
        fp = fopen(path, "ae");
        assert_non_null(fp);
        fputs("{\"version\":8,\"hostname\":\"ho", fp);
        fclose(fp);
        s8 = make_state(&f, 8);
        impl = open_sink(path);
        push_ok(impl, s8, 7, 8);
        free(content);
        content = read_file(path);
        assert_true(asprintf(&expected, "%s%s", LINE_V7, LINE_V7) > 0);
        memcpy(strstr(expected + strlen(LINE_V7), "\"version\":7"), "\"version\":8", 11);
        assert_string_equal(content, expected);
        sink_file_ops.close(impl);

        fixture_teardown(&f);
}

static void test_missing_dir_and_reopen(void **state) {
        _cleanup_sync_state_ SyncState *s7 = NULL, *s8 = NULL;
        _cleanup_free_ char *path = NULL, *bad = NULL, *rotated = NULL, *content = NULL, *error = NULL;
        uint64_t got = 0;
        void *impl;
        Fixture f = {};

        fixture_setup(&f);
        scenario(&f);
        s7 = make_state(&f, 7);

        assert_true(asprintf(&bad, "%s/missing/sync.jsonl", f.dir) > 0);
        impl = open_sink(bad);
        assert_int_equal(sink_file_ops.push(impl, s7, 0, &got, &error), -ENOENT);
        assert_non_null(error);
        assert_non_null(strstr(error, "missing/sync.jsonl"));
        assert_int_equal(got, 0);
        sink_file_ops.close(impl);

        /* Rotation: the file is renamed, SIGHUP reopens, the next version starts the new file. */
        assert_true(asprintf(&path, "%s/sync.jsonl", f.dir) > 0);
        assert_true(asprintf(&rotated, "%s/sync.jsonl.1", f.dir) > 0);
        impl = open_sink(path);
        push_ok(impl, s7, 0, 7);
        assert_int_equal(rename(path, rotated), 0);
        assert_int_equal(sink_file_ops.reopen(impl), 0);
        fixture_sql(&f, "UPDATE scan_processes SET cmdline = 'nginx: \xff worker'");
        s8 = make_state(&f, 8);
        push_ok(impl, s8, 7, 8);
        content = read_file(rotated);
        assert_string_equal(content, LINE_V7);
        free(content);
        content = read_file(path);
        assert_non_null(strstr(content, "{\"version\":8,"));
        /* Invalid UTF-8 is repaired, never dropped nor passed through. */
        assert_non_null(strstr(content, "\"cmdline\":\"nginx: \xef\xbf\xbd worker\""));
        assert_int_equal(strchr(content, '\n') - content, (long) strlen(content) - 1);
        sink_file_ops.close(impl);

        fixture_teardown(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines),
                cmocka_unit_test(test_restart_and_torn_line),
                cmocka_unit_test(test_missing_dir_and_reopen),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
