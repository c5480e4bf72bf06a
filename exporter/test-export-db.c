/* The exporter's tables: a sink's row survives a reload of the database, is reset when the name is used
 * by another type or another receiver (target), is adopted when it predates the target column; rows and
 * gpids of removed sinks are pruned; a GPIDSync answer replaces the sink's gpids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "export-db.h"
#include "test-fixture.h"

static int64_t count(Fixture *f, const char *sql) {
        sqlite3_stmt *st = NULL;
        int64_t n;

        assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return n;
}

static void test_sink_row(void **state) {
        ExportSinkRow row = {}, back = {};
        Fixture f = {};

        fixture_setup(&f);
        assert_int_equal(export_sink_load(f.db, "c", SINK_HTTP, "http:url=1:a;", &row), 0);
        assert_int_equal(row.acked_version, 0);
        assert_null(row.last_error);

        row.acked_version = 17;
        row.last_attempt_at = 5;
        row.last_ok_at = 4;
        row.last_error = strdup("HTTP 500");
        row.failures = 2;
        row.errors_total = 9;
        row.next_attempt_at = 6;
        assert_int_equal(export_sink_save(f.db, "c", &row), 0);
        assert_int_equal(export_sink_save(f.db, "nope", &row), -ENOENT);

        assert_int_equal(export_sink_load(f.db, "c", SINK_HTTP, "http:url=1:a;", &back), 0);
        assert_int_equal(back.acked_version, 17);
        assert_int_equal(back.last_attempt_at, 5);
        assert_int_equal(back.last_ok_at, 4);
        assert_string_equal(back.last_error, "HTTP 500");
        assert_int_equal(back.failures, 2);
        assert_int_equal(back.errors_total, 9);
        assert_int_equal(back.next_attempt_at, 6);
        export_sink_row_done(&back);

        /* Another receiver under the same name: forgotten. */
        assert_int_equal(export_sink_load(f.db, "c", SINK_HTTP, "http:url=1:b;", &back), 0);
        assert_int_equal(back.acked_version, 0);
        assert_int_equal(back.errors_total, 0);
        assert_null(back.last_error);
        export_sink_row_done(&back);

        /* Another type under the same name: forgotten. */
        assert_int_equal(export_sink_save(f.db, "c", &row), 0);
        assert_int_equal(export_sink_load(f.db, "c", SINK_FILE, "http:url=1:b;", &back), 0);
        assert_int_equal(back.acked_version, 0);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_sinks WHERE type = 'file'"), 1);
        export_sink_row_done(&back);

        /* A row from schema 1 (no target): taken as the same receiver, and the target recorded. */
        assert_int_equal(export_sink_save(f.db, "c", &row), 0);
        fixture_sql(&f, "UPDATE export_sinks SET target = NULL");
        assert_int_equal(export_sink_load(f.db, "c", SINK_FILE, "file:path=2:/x;", &back), 0);
        assert_int_equal(back.acked_version, 17);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_sinks WHERE target = 'file:path=2:/x;'"), 1);
        export_sink_row_done(&back);

        export_sink_row_done(&row);
        fixture_teardown(&f);
}

static void test_prune_and_gpids(void **state) {
        SinkGpid pg[] = {{100, 7001}, {200, 7002}};
        SinkSocketGpid sg[] = {{4026531840ULL, 5001, 7001, 9001}};
        SinkSocketResult res = {
                .process_gpids = pg, .n_process_gpids = 2, .socket_gpids = sg, .n_socket_gpids = 1};
        SinkSocketResult res2 = {.process_gpids = pg, .n_process_gpids = 1};
        ConfigSink keep[] = {{.type = SINK_DEEPFLOW, .name = (char *) "df"}};
        ExportSinkRow row = {};
        Fixture f = {};

        fixture_setup(&f);
        assert_int_equal(export_sink_load(f.db, "df", SINK_DEEPFLOW, "t", &row), 0);
        export_sink_row_done(&row);
        assert_int_equal(export_sink_load(f.db, "old", SINK_DEEPFLOW, "t", &row), 0);
        export_sink_row_done(&row);

        assert_int_equal(export_gpids_store(f.db, "df", &res), 0);
        assert_int_equal(export_gpids_store(f.db, "old", &res), 0);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_gpids WHERE sink = 'df'"), 2);
        assert_int_equal(count(&f, "SELECT gpid FROM export_gpids WHERE sink = 'df' AND pid = 200"), 7002);
        assert_int_equal(
                count(&f, "SELECT remote_gpid FROM export_socket_gpids WHERE sink = 'df' AND inode = 5001"),
                9001);

        /* The next answer replaces the previous one. */
        assert_int_equal(export_gpids_store(f.db, "df", &res2), 0);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_gpids WHERE sink = 'df'"), 1);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_socket_gpids WHERE sink = 'df'"), 0);

        assert_int_equal(export_sinks_prune(f.db, keep, 1), 0);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_sinks"), 1);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_gpids WHERE sink = 'old'"), 0);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_socket_gpids WHERE sink = 'old'"), 0);
        assert_int_equal(count(&f, "SELECT count(*) FROM export_gpids WHERE sink = 'df'"), 1);

        fixture_teardown(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sink_row),
                cmocka_unit_test(test_prune_and_gpids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
