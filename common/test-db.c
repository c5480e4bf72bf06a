/* Tests of db.c: creating, migrating, refusing and sharing state.db.
 *
 * Every test works in its own temporary state directory. The multi-process tests fork before any
 * connection to their database exists in the parent: SQLite's unix VFS keeps per-process lock bookkeeping
 * that a child must not inherit for a file it then opens itself. Children report by exit status only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <grp.h>
#include <inttypes.h>
#include <sys/wait.h>
#include <time.h>

#include "db.h"
#include "schema.h"
#include "test-util.h"
#include "time-util.h"

typedef struct Fixture {
        char *dir;
        char *path;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        f->dir = test_mkdtemp();
        assert_non_null(f->dir);
        assert_true(asprintf(&f->path, "%s/%s", f->dir, DB_FILENAME) > 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        test_rm_rf(f->dir);
        free(f->dir);
        free(f->path);
        free(f);
        return 0;
}

static int64_t query_int(sqlite3 *db, const char *sql) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        return sqlite3_column_int64(st, 0);
}

static char *query_text(sqlite3 *db, const char *sql) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        char *s;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        s = strdup((const char *) sqlite3_column_text(st, 0));
        assert_non_null(s);
        return s;
}

/* The objects (tables, views, indexes) the embedded migrations create, from a scratch in-memory
 * database, as "type:name" lines; so the check follows schema/ without a hand-kept list. */
static char *schema_objects(sqlite3 *db) {
        return query_text(db, "SELECT group_concat(type || ':' || name, ' ') FROM "
                              "(SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' "
                              " AND name <> 'unrelated' ORDER BY type, name)");
}

static char *expected_objects(void) {
        _cleanup_db_ sqlite3 *mem = NULL;

        assert_int_equal(sqlite3_open(":memory:", &mem), SQLITE_OK);
        for (unsigned i = 0; i < schema_n_migrations; i++)
                assert_int_equal(sqlite3_exec(mem, schema_migrations[i], NULL, NULL, NULL), SQLITE_OK);
        return schema_objects(mem);
}

static void assert_current_schema(sqlite3 *db) {
        _cleanup_free_ char *want = expected_objects(), *have = schema_objects(db);

        assert_string_equal(have, want);
        assert_int_equal(query_int(db, "PRAGMA user_version"), db_schema_version());
        assert_int_equal(db_schema_version(), schema_n_migrations);
}

/* A snapshot of a file: its bytes and mtime, to prove a refused file was not touched. */
typedef struct Snapshot {
        char *data;
        size_t len;
        struct timespec mtime;
        ino_t ino;
} Snapshot;

static void snapshot(const char *path, Snapshot *s) {
        struct stat st;

        assert_int_equal(test_read_file(path, &s->data, &s->len), 0);
        assert_int_equal(stat(path, &st), 0);
        s->mtime = st.st_mtim;
        s->ino = st.st_ino;
}

static void assert_untouched(const char *path, Snapshot *s) {
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t len;

        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_ino, s->ino); /* not replaced by a new file */
        assert_int_equal(st.st_mtim.tv_sec, s->mtime.tv_sec);
        assert_int_equal(st.st_mtim.tv_nsec, s->mtime.tv_nsec);
        assert_int_equal(test_read_file(path, &data, &len), 0);
        assert_int_equal(len, s->len);
        assert_memory_equal(data, s->data, len);
        free(s->data);
        s->data = NULL;
}

static void assert_no_sidecars(const char *path) {
        const char *suffixes[] = {"-wal", "-shm", "-journal"};

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                _cleanup_free_ char *p = NULL;

                assert_true(asprintf(&p, "%s%s", path, suffixes[i]) > 0);
                if (test_path_exists(p))
                        fail_msg("'%s' was created", p);
        }
}

static void test_create_fresh(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_free_ char *error = NULL, *mode = NULL, *wal = NULL;

        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &db, &error), 0);
        assert_null(error);
        assert_current_schema(db);

        mode = query_text(db, "PRAGMA journal_mode");
        assert_string_equal(mode, "wal");
        assert_true(asprintf(&wal, "%s-wal", f->path) > 0);
        assert_true(test_path_exists(wal));
        assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
        assert_true(query_int(db, "PRAGMA busy_timeout") >= 1000);

        /* foreign_keys is really enforced: an owner of a socket that does not exist. */
        assert_int_equal(db_exec(db, "INSERT INTO scan_socket_owners (socket_id, pid) VALUES (42, 1)"),
                         -EEXIST);
}

static void test_create_state_dir(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_free_ char *sub = NULL;

        assert_true(asprintf(&sub, "%s/var", f->dir) > 0);
        assert_int_equal(db_open(sub, DB_READ_WRITE, &db, NULL), 0);
        assert_current_schema(db);
}

static void test_migrate_empty_file(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *db = NULL;

        assert_int_equal(test_write_file(f->path, "", 0), 0);
        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &db, NULL), 0);
        assert_current_schema(db);
}

static void test_migrate_v0_with_unrelated_table(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *raw = NULL, *db = NULL;

        assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
        assert_int_equal(
                db_exec(raw, "CREATE TABLE unrelated (x TEXT); INSERT INTO unrelated VALUES ('kept')"), 0);
        assert_int_equal(query_int(raw, "PRAGMA user_version"), 0);
        raw = (sqlite3_close(raw), NULL);

        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &db, NULL), 0);
        assert_current_schema(db);
        assert_int_equal(query_int(db, "SELECT count(*) FROM unrelated WHERE x = 'kept'"), 1);
}

static void test_reopen_is_noop(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_free_ char *wal = NULL;
        struct stat st;
        Snapshot s = {};

        assert_true(asprintf(&wal, "%s-wal", f->path) > 0);
        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &db, NULL), 0);
        assert_int_equal(db_exec(db, "INSERT INTO scan_netns VALUES (4026531840, 0, 1, 1)"), 0);
        db = (sqlite3_close(db), NULL);
        snapshot(f->path, &s);

        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &db, NULL), 0);
        assert_current_schema(db);
        assert_int_equal(query_int(db, "SELECT count(*) FROM scan_netns"), 1);
        /* An up-to-date database is not written at open: the WAL (emptied when the first connection
         * closed) is still empty. */
        assert_int_equal(stat(wal, &st), 0);
        assert_int_equal(st.st_size, 0);
        db = (sqlite3_close(db), NULL);
        assert_untouched(f->path, &s);
}

static void make_newer_db(const char *path, bool wal) {
        _cleanup_db_ sqlite3 *raw = NULL;

        assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
        if (wal)
                assert_int_equal(db_exec(raw, "PRAGMA journal_mode = WAL"), 0);
        assert_int_equal(db_exec(raw, "CREATE TABLE future (x); INSERT INTO future VALUES (1); "
                                      "PRAGMA user_version = 99"),
                         0);
}

static void check_refuse_newer(const char *dir, const char *path, bool wal) {
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_free_ char *error = NULL, *error_ro = NULL;
        Snapshot s = {};

        make_newer_db(path, wal);
        snapshot(path, &s);

        assert_int_equal(db_open(dir, DB_READ_WRITE, &db, &error), -EPROTO);
        assert_null(db);
        assert_non_null(error);
        assert_non_null(strstr(error, "newer"));
        assert_non_null(strstr(error, "99"));
        assert_non_null(strstr(error, path));
        assert_no_sidecars(path);

        /* A read-only connection may leave empty -wal/-shm files behind (it may not delete them); the
         * database itself stays as it was. */
        assert_int_equal(db_open(dir, DB_READ_ONLY, &db, &error_ro), -EPROTO);
        assert_non_null(strstr(error_ro, "newer"));
        assert_untouched(path, &s);
}

static void test_refuse_newer_wal(void **state) {
        Fixture *f = *state;

        check_refuse_newer(f->dir, f->path, true);
}

/* A newer database still in rollback-journal mode: switching it to WAL would rewrite its header. */
static void test_refuse_newer_rollback(void **state) {
        Fixture *f = *state;

        check_refuse_newer(f->dir, f->path, false);
}

static void check_refuse_not_db(const char *dir, const char *path, const void *data, size_t len) {
        _cleanup_free_ char *error = NULL, *error_ro = NULL;
        sqlite3 *db = NULL;
        Snapshot s = {};

        assert_int_equal(test_write_file(path, data, len), 0);
        snapshot(path, &s);

        assert_int_equal(db_open(dir, DB_READ_WRITE, &db, &error), -EBADMSG);
        assert_null(db);
        assert_non_null(error);
        assert_non_null(strstr(error, "not an SQLite database"));
        assert_int_equal(db_open(dir, DB_READ_ONLY, &db, &error_ro), -EBADMSG);
        assert_null(db);

        assert_untouched(path, &s);
        assert_no_sidecars(path);
}

static void test_refuse_text_file(void **state) {
        Fixture *f = *state;
        const char text[] = "procsync:\n  state_dir: /var/lib/procsync\n";

        check_refuse_not_db(f->dir, f->path, text, sizeof(text) - 1);
}

static void test_refuse_random_bytes(void **state) {
        Fixture *f = *state;
        uint8_t buf[16384];
        uint32_t x = 0x9e3779b9;

        for (size_t i = 0; i < sizeof(buf); i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (uint8_t) x;
        }
        check_refuse_not_db(f->dir, f->path, buf, sizeof(buf));
}

static void test_ro_missing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *error = NULL, *missing_dir = NULL;
        sqlite3 *db = NULL;

        assert_int_equal(db_open(f->dir, DB_READ_ONLY, &db, &error), -ENOENT);
        assert_null(db);
        assert_non_null(strstr(error, "does not exist"));
        assert_false(test_path_exists(f->path));

        assert_true(asprintf(&missing_dir, "%s/nope", f->dir) > 0);
        assert_int_equal(db_open(missing_dir, DB_READ_ONLY, &db, NULL), -ENOENT);
        assert_false(test_path_exists(missing_dir));
}

static void test_ro_older(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *error = NULL;
        sqlite3 *db = NULL;
        Snapshot s = {};

        assert_int_equal(test_write_file(f->path, "", 0), 0);
        snapshot(f->path, &s);
        assert_int_equal(db_open(f->dir, DB_READ_ONLY, &db, &error), -EPROTO);
        assert_null(db);
        assert_non_null(strstr(error, "older"));
        assert_untouched(f->path, &s);
}

static void test_ro_current(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *rw = NULL, *ro = NULL;

        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &rw, NULL), 0);
        assert_int_equal(db_exec(rw, "INSERT INTO scan_netns VALUES (1, 0, 1, 1)"), 0);
        assert_int_equal(db_open(f->dir, DB_READ_ONLY, &ro, NULL), 0);
        assert_int_equal(query_int(ro, "SELECT count(*) FROM scan_netns"), 1);
        assert_int_equal(db_exec(ro, "INSERT INTO scan_netns VALUES (2, 1, 1, 1)"), -EROFS);
}

/* A reader (procsync-api) must not be blocked by a writer in the middle of its cycle: WAL gives it the
 * last committed snapshot at once, not SQLITE_BUSY after busy_timeout. */
static void test_reader_during_write_transaction(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *rw = NULL, *ro = NULL;
        usec_t t0;

        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &rw, NULL), 0);
        assert_int_equal(db_exec(rw, "INSERT INTO scan_netns VALUES (1, 0, 1, 1)"), 0);
        assert_int_equal(db_begin(rw), 0);
        assert_int_equal(db_exec(rw, "INSERT INTO scan_netns VALUES (2, 1, 1, 1)"), 0);

        assert_int_equal(db_open(f->dir, DB_READ_ONLY, &ro, NULL), 0);
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(query_int(ro, "SELECT count(*) FROM scan_netns"), 1);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < DB_BUSY_TIMEOUT_MS * USEC_PER_MSEC / 2);

        assert_int_equal(db_commit(rw), 0);
        assert_int_equal(query_int(ro, "SELECT count(*) FROM scan_netns"), 2);
}

static int wait_child(pid_t pid) {
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -1;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Blocks until the parent closes its end of the pipe (a start line for all children). */
static void child_wait_start(int fd) {
        char c;

        while (read(fd, &c, 1) < 0 && errno == EINTR)
                ;
}

/* Several daemons starting at once on a missing database: one creates and migrates, the others wait on
 * the lock and find it migrated. */
static void test_concurrent_first_open(void **state) {
        Fixture *f = *state;
        _cleanup_db_ sqlite3 *db = NULL;
        pid_t pids[4];
        int start[2];

        assert_int_equal(pipe2(start, O_CLOEXEC), 0);
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0) {
                        sqlite3 *c = NULL;
                        char *error = NULL;
                        int r;

                        (void) close(start[1]);
                        child_wait_start(start[0]);
                        r = db_open(f->dir, DB_READ_WRITE, &c, &error);
                        if (r < 0)
                                fprintf(stderr, "child %zu: %s\n", i, error);
                        _exit(r < 0 ? 1 : (sqlite3_close(c), 0));
                }
        }
        (void) close(start[0]);
        (void) close(start[1]);
        for (size_t i = 0; i < ELEMENTSOF(pids); i++)
                assert_int_equal(wait_child(pids[i]), 0);

        assert_int_equal(db_open(f->dir, DB_READ_ONLY, &db, NULL), 0);
        assert_current_schema(db);
}

/* One writer's loop: BEGIN IMMEDIATE, a batch of rows into its own table, COMMIT, a short pause (a
 * daemon works outside its transaction between two), for `duration`. Any error (SQLITE_BUSY included)
 * fails the child. Writes its number of transactions and its longest wait for the lock to `out`.
 *
 * Without the pause one writer starves the other for as long as it loops: SQLite's busy handler polls
 * with growing sleeps (up to 100 ms) and a back-to-back writer almost always holds the lock at that
 * moment. busy_timeout only bounds the wait; fairness comes from the daemons' cycles. */
static int writer_loop(const char *dir, const char *table, usec_t duration, int out) {
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_stmt_ sqlite3_stmt *ins = NULL;
        _cleanup_free_ char *sql = NULL;
        uint64_t res[2] = {};
        usec_t end;
        int r;

        if (db_open(dir, DB_READ_WRITE, &db, NULL) < 0)
                return 1;
        if (streq(table, "scan_netns"))
                sql = strdup("INSERT OR REPLACE INTO scan_netns VALUES (?1, ?1, 0, 0)");
        else
                sql = strdup("INSERT OR REPLACE INTO match_rule_stats (rule, hits) VALUES (?1, ?1)");
        if (!sql || db_prepare(db, sql, &ins) < 0)
                return 2;

        end = now_usec(CLOCK_MONOTONIC) + duration;
        while (now_usec(CLOCK_MONOTONIC) < end) {
                usec_t t0 = now_usec(CLOCK_MONOTONIC), waited;

                r = db_begin(db);
                if (r < 0) {
                        fprintf(stderr, "%s: BEGIN: %s\n", table, sqlite3_errmsg(db));
                        return 3;
                }
                waited = now_usec(CLOCK_MONOTONIC) - t0;
                if (waited > res[1])
                        res[1] = waited;
                for (int i = 0; i < 50; i++) {
                        sqlite3_bind_int64(ins, 1, (int64_t) ((res[0] * 50 + (uint64_t) i) % 5000));
                        if (sqlite3_step(ins) != SQLITE_DONE) {
                                fprintf(stderr, "%s: INSERT: %s\n", table, sqlite3_errmsg(db));
                                return 4;
                        }
                        sqlite3_reset(ins);
                }
                r = db_commit(db);
                if (r < 0) {
                        fprintf(stderr, "%s: COMMIT: %s\n", table, sqlite3_errmsg(db));
                        return 5;
                }
                res[0]++;
                (void) usleep(1000);
        }
        return write(out, res, sizeof(res)) == sizeof(res) ? 0 : 6;
}

static void test_concurrent_writers(void **state) {
        Fixture *f = *state;
        const char *tables[] = {"scan_netns", "match_rule_stats"};
        _cleanup_db_ sqlite3 *db = NULL;
        pid_t pids[2];
        int start[2], out[2];

        assert_int_equal(db_open(f->dir, DB_READ_WRITE, &db, NULL), 0);
        db = (sqlite3_close(db), NULL);

        assert_int_equal(pipe2(start, O_CLOEXEC), 0);
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                pids[i] = fork();
                assert_true(pids[i] >= 0);
                if (pids[i] == 0) {
                        (void) close(start[1]);
                        child_wait_start(start[0]);
                        _exit(writer_loop(f->dir, tables[i], USEC_PER_SEC, out[1]));
                }
        }
        (void) close(start[0]);
        (void) close(start[1]);
        (void) close(out[1]);
        for (size_t i = 0; i < ELEMENTSOF(pids); i++)
                assert_int_equal(wait_child(pids[i]), 0);

        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                uint64_t res[2] = {};

                assert_int_equal(read(out[0], res, sizeof(res)), sizeof(res));
                print_message("writer %zu: %" PRIu64
                              " transactions in 1 s, longest wait for the lock %" PRIu64 " us\n",
                              i, res[0], res[1]);
                assert_true(res[0] >= 20);
        }
        (void) close(out[0]);

        assert_int_equal(db_open(f->dir, DB_READ_ONLY, &db, NULL), 0);
        assert_true(query_int(db, "SELECT count(*) FROM scan_netns") > 0);
        assert_true(query_int(db, "SELECT count(*) FROM match_rule_stats") > 0);
}

/* Reader side of test_ro_unprivileged(): may not write the state directory (uid nobody when the test
 * runs as root, else the directory is made read-only). Exit 0 when the outcome is the expected one. */
static int unprivileged_reader(const char *dir, bool expect_ok) {
        sqlite3 *db = NULL;
        char *error = NULL;
        int r;

        if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                               setresuid(65534, 65534, 65534) < 0))
                return 10;
        r = db_open(dir, DB_READ_ONLY, &db, &error);
        if (expect_ok) {
                sqlite3_stmt *st = NULL;
                int64_t n = -1;

                if (r < 0) {
                        fprintf(stderr, "reader: %s\n", error);
                        return 11;
                }
                if (sqlite3_prepare_v2(db, "SELECT count(*) FROM scan_netns", -1, &st, NULL) == SQLITE_OK &&
                    sqlite3_step(st) == SQLITE_ROW)
                        n = sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
                sqlite3_close(db);
                return n == 1 ? 0 : 12; /* the committed row, not the writer's open transaction */
        }
        if (r != -EACCES) {
                fprintf(stderr, "reader: expected -EACCES, got %d (%s)\n", r, strempty(error));
                return 13;
        }
        fprintf(stderr, "reader (expected failure): %s\n", error);
        return strstr(error, "-shm") && strstr(error, "daemons") ? 0 : 14;
}

static void set_dir_writable(const char *dir, bool w) {
        assert_int_equal(chmod(dir, w ? 0755 : 0555), 0);
}

/* procctl run by a user who may read but not write the state directory: works while a daemon has the
 * database open (its -wal/-shm exist), and says why it cannot otherwise. */
static void test_ro_unprivileged(void **state) {
        Fixture *f = *state;
        bool root = geteuid() == 0;
        int ready[2], done[2];
        pid_t writer, reader;
        char c;

        set_dir_writable(f->dir, true); /* mkdtemp's 0700 would keep nobody out */
        assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
        assert_int_equal(pipe2(done, O_CLOEXEC), 0);

        writer = fork();
        assert_true(writer >= 0);
        if (writer == 0) {
                sqlite3 *db = NULL;

                (void) close(ready[0]);
                (void) close(done[1]);
                if (db_open(f->dir, DB_READ_WRITE, &db, NULL) < 0 ||
                    db_exec(db, "INSERT INTO scan_netns VALUES (1, 0, 1, 1)") < 0 || db_begin(db) < 0 ||
                    db_exec(db, "INSERT INTO scan_netns VALUES (2, 1, 1, 1)") < 0)
                        _exit(1);
                if (write(ready[1], "r", 1) != 1)
                        _exit(2);
                child_wait_start(done[0]);
                _exit(db_commit(db) < 0 ? 3 : (sqlite3_close(db), 0));
        }
        (void) close(ready[1]);
        (void) close(done[0]);
        assert_int_equal(read(ready[0], &c, 1), 1);

        if (!root)
                set_dir_writable(f->dir, false);
        reader = fork();
        assert_true(reader >= 0);
        if (reader == 0)
                _exit(unprivileged_reader(f->dir, true));
        assert_int_equal(wait_child(reader), 0);
        if (!root)
                set_dir_writable(f->dir, true);

        (void) close(done[1]);
        assert_int_equal(wait_child(writer), 0);
        (void) close(ready[0]);

        /* The last connection closed: SQLite removed -wal and -shm. */
        assert_no_sidecars(f->path);
        if (!root)
                set_dir_writable(f->dir, false);
        reader = fork();
        assert_true(reader >= 0);
        if (reader == 0)
                _exit(unprivileged_reader(f->dir, false));
        assert_int_equal(wait_child(reader), 0);
        set_dir_writable(f->dir, true);
        assert_no_sidecars(f->path);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create_fresh, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_state_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_empty_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_v0_with_unrelated_table, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reopen_is_noop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuse_newer_wal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuse_newer_rollback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuse_text_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuse_random_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ro_missing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ro_older, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ro_current, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reader_during_write_transaction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ro_unprivileged, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
