/* Unit tests of the incremental database writes (store.c) on a real state.db in a temporary directory:
 * unchanged cycles write nothing, identities (pid + start time, netns + inode) keep first_seen, a reused
 * pid is a new process, exec updates the row, gone rows go, netns indexes are stable and never reused,
 * socket owners are diffed, and a forgotten (rolled back) state is reloaded from the database. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "store.h"

typedef struct Fixture {
        char dir[64];
        sqlite3 *db;
        Store *store;
        ProcTable procs;
        uint64_t generation;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        char path[128];

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/procsync-test-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(path, sizeof(path), "%s/state.db", f->dir);
        assert_int_equal(db_open_path(path, DB_READ_WRITE, &f->db, NULL), 0);
        assert_int_equal(store_new(f->db, &f->store), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        char path[128];

        proc_table_done(&f->procs);
        store_free(f->store);
        sqlite3_close(f->db);
        snprintf(path, sizeof(path), "%s/state.db", f->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/state.db-wal", f->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/state.db-shm", f->dir);
        unlink(path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static void add_proc(Fixture *f, pid_t pid, uint64_t ticks, const char *comm, const char *cmdline,
                     uint64_t netns) {
        ScanProcess p = {
                .pid = pid,
                .ppid = 1,
                .uid = 1000,
                .start_ticks = ticks,
                .start_time = 1700000000 + (int64_t) ticks / 100,
                .netns_inode = netns,
        };

        snprintf(p.comm, sizeof(p.comm), "%s", comm);
        assert_int_equal(proc_table_add(&f->procs, &p, cmdline, "/usr/bin/x", "alice"), 0);
}

/* One cycle: apply, commit. Returns store_apply()'s answer; *changes the rows SQLite changed. */
static int cycle(Fixture *f, const SocketScan *sockets, int64_t now, StoreStats *stats, int *changes) {
        int before, r;

        proc_table_sort(&f->procs);
        assert_int_equal(db_begin(f->db), 0);
        before = sqlite3_total_changes(f->db);
        r = store_apply(f->store, &f->procs, sockets, now, f->generation + 1, stats);
        assert_true(r >= 0);
        if (changes)
                *changes = sqlite3_total_changes(f->db) - before;
        assert_int_equal(db_commit(f->db), 0);
        store_committed(f->store, &f->procs);
        proc_table_clear(&f->procs);
        if (r > 0)
                f->generation++;
        return r;
}

static int64_t query_int(Fixture *f, const char *sql) {
        sqlite3_stmt *st;
        int64_t v;

        assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static void query_text(Fixture *f, const char *sql, const char *want) {
        sqlite3_stmt *st;

        assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), want);
        sqlite3_finalize(st);
}

static void test_processes(void **state) {
        Fixture *f = *state;
        StoreStats st;
        int changes;

        add_proc(f, 10, 500, "sleep", "sleep 100", 111);
        add_proc(f, 20, 600, "bash", "bash", 111);
        add_proc(f, 30, 700, "nginx", "nginx: master", 222);
        assert_int_equal(cycle(f, NULL, 1000, &st, NULL), 1);
        assert_int_equal(st.processes_inserted, 3);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_processes"), 3);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_processes WHERE pid = 10"), 1000);
        assert_int_equal(query_int(f, "SELECT changed_generation FROM scan_processes WHERE pid = 10"), 1);

        /* The same processes again: nothing written at all. */
        add_proc(f, 30, 700, "nginx", "nginx: master", 222);
        add_proc(f, 10, 500, "sleep", "sleep 100", 111);
        add_proc(f, 20, 600, "bash", "bash", 111);
        assert_int_equal(cycle(f, NULL, 2000, &st, &changes), 0);
        assert_int_equal(changes, 0);
        assert_int_equal(f->generation, 1);

        /* pid 10 reused (new start ticks), pid 20 exec'd, pid 30 gone, pid 40 new. */
        add_proc(f, 10, 900, "sleep", "sleep 100", 111);
        add_proc(f, 20, 600, "python3", "python3 app.py", 111);
        add_proc(f, 40, 950, "cat", "cat", 111);
        assert_int_equal(cycle(f, NULL, 3000, &st, NULL), 1);
        assert_int_equal(f->generation, 2);
        assert_int_equal(st.processes_inserted, 2);
        assert_int_equal(st.processes_updated, 1);
        assert_int_equal(st.processes_exec, 1);
        assert_int_equal(st.processes_deleted, 1);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_processes WHERE pid = 10"), 3000);
        assert_int_equal(query_int(f, "SELECT start_ticks FROM scan_processes WHERE pid = 10"), 900);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_processes WHERE pid = 20"), 1000);
        assert_int_equal(query_int(f, "SELECT last_seen FROM scan_processes WHERE pid = 20"), 3000);
        assert_int_equal(query_int(f, "SELECT changed_generation FROM scan_processes WHERE pid = 20"), 2);
        query_text(f, "SELECT cmdline FROM scan_processes WHERE pid = 20", "python3 app.py");
        query_text(f, "SELECT comm FROM scan_processes WHERE pid = 20", "python3");
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_processes WHERE pid = 30"), 0);

        /* A new Store on the same database (a restart) remembers first_seen and writes nothing. */
        f->store = store_free(f->store);
        assert_int_equal(store_new(f->db, &f->store), 0);
        add_proc(f, 10, 900, "sleep", "sleep 100", 111);
        add_proc(f, 20, 600, "python3", "python3 app.py", 111);
        add_proc(f, 40, 950, "cat", "cat", 111);
        assert_int_equal(cycle(f, NULL, 4000, &st, &changes), 0);
        assert_int_equal(changes, 0);
}

static void test_rollback(void **state) {
        Fixture *f = *state;
        StoreStats st;

        add_proc(f, 10, 500, "a", "a", 111);
        assert_int_equal(cycle(f, NULL, 1000, &st, NULL), 1);

        /* A cycle that is rolled back: the store must forget what it applied. */
        add_proc(f, 10, 500, "a", "a", 111);
        add_proc(f, 11, 501, "b", "b", 111);
        proc_table_sort(&f->procs);
        assert_int_equal(db_begin(f->db), 0);
        assert_int_equal(store_apply(f->store, &f->procs, NULL, 2000, f->generation + 1, &st), 1);
        db_rollback(f->db);
        store_forget(f->store);
        proc_table_clear(&f->procs);

        add_proc(f, 10, 500, "a", "a", 111);
        add_proc(f, 11, 501, "b", "b", 111);
        assert_int_equal(cycle(f, NULL, 3000, &st, NULL), 1);
        assert_int_equal(st.processes_inserted, 1);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_processes WHERE pid = 11"), 3000);
}

static void test_netns(void **state) {
        Fixture *f = *state;
        StoreStats st;

        /* First sight in pid order: 300 (pid 5) gets 1, 100 (pid 6) 2, 200 (pid 9) 3. */
        add_proc(f, 5, 1, "a", "a", 300);
        add_proc(f, 6, 1, "b", "b", 100);
        add_proc(f, 7, 1, "c", "c", 300);
        add_proc(f, 8, 1, "k", "", 0);
        add_proc(f, 9, 1, "d", "d", 200);
        assert_int_equal(cycle(f, NULL, 1000, &st, NULL), 1);
        assert_int_equal(st.netns_inserted, 3);
        assert_int_equal(query_int(f, "SELECT idx FROM scan_netns WHERE inode = 300"), 1);
        assert_int_equal(query_int(f, "SELECT idx FROM scan_netns WHERE inode = 100"), 2);
        assert_int_equal(query_int(f, "SELECT idx FROM scan_netns WHERE inode = 200"), 3);

        /* 100 gone (deleted); 200 (the highest index) gone but kept; 400 new gets 4, never 2 or 3. */
        add_proc(f, 5, 1, "a", "a", 300);
        add_proc(f, 10, 1, "e", "e", 400);
        assert_int_equal(cycle(f, NULL, 2000, &st, NULL), 1);
        assert_int_equal(st.netns_deleted, 1);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_netns WHERE inode = 100"), 0);
        assert_int_equal(query_int(f, "SELECT idx FROM scan_netns WHERE inode = 400"), 4);
        assert_int_equal(query_int(f, "SELECT idx FROM scan_netns WHERE inode = 300"), 1);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_netns WHERE inode = 300"), 1000);

        /* 200 is no longer the highest: now it goes. 100 coming back is a new namespace: 5. */
        add_proc(f, 5, 1, "a", "a", 300);
        add_proc(f, 10, 1, "e", "e", 400);
        add_proc(f, 11, 1, "f", "f", 100);
        assert_int_equal(cycle(f, NULL, 3000, &st, NULL), 1);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_netns WHERE inode = 200"), 0);
        assert_int_equal(query_int(f, "SELECT idx FROM scan_netns WHERE inode = 100"), 5);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_netns"), 3);

        /* Restart: indexes continue from the database. */
        f->store = store_free(f->store);
        assert_int_equal(store_new(f->db, &f->store), 0);
        add_proc(f, 5, 1, "a", "a", 300);
        add_proc(f, 12, 1, "g", "g", 500);
        assert_int_equal(cycle(f, NULL, 4000, &st, NULL), 1);
        assert_int_equal(query_int(f, "SELECT idx FROM scan_netns WHERE inode = 500"), 6);
}

static ScannedSocket mksock(uint64_t netns, uint64_t inode, bool udp, const char *state, const char *local,
                            uint16_t lport, const char *remote, uint16_t rport, bool server,
                            const pid_t *pids, size_t n_pids) {
        ScannedSocket s = {
                .udp = udp,
                .family = strchr(local, ':') ? 6 : 4,
                .server = server,
                .local_port = lport,
                .remote_port = rport,
                .inode = inode,
                .netns_inode = netns,
                .pids = pids,
                .n_pids = n_pids,
        };

        snprintf(s.state, sizeof(s.state), "%s", state);
        snprintf(s.local_addr, sizeof(s.local_addr), "%s", local);
        snprintf(s.remote_addr, sizeof(s.remote_addr), "%s", remote);
        return s;
}

static void test_sockets(void **state) {
        Fixture *f = *state;
        static const pid_t p10[] = { 10 }, p10_11[] = { 10, 11 }, p11[] = { 11 }, p12[] = { 12 };
        ScannedSocket socks[4];
        SocketScan scan = { .sockets = socks };
        StoreStats st;
        int changes;

        socks[0] = mksock(111, 1000, false, "listen", "0.0.0.0", 80, "0.0.0.0", 0, true, p10_11, 2);
        socks[1] = mksock(111, 1001, false, "established", "127.0.0.1", 80, "127.0.0.1", 5000, true, p11, 1);
        socks[2] = mksock(111, 1002, true, "connected", "::1", 6000, "::1", 53, false, p12, 1);
        scan.n_sockets = 3;
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, &scan, 1000, &st, NULL), 1);
        assert_int_equal(st.sockets_inserted, 3);
        assert_int_equal(st.owners_inserted, 4);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_socket_owners o JOIN scan_sockets s ON "
                                      "s.id = o.socket_id WHERE s.inode = 1000"),
                         2);
        query_text(
                f,
                "SELECT proto || ' ' || family || ' ' || state || ' ' || local_addr || ':' || local_port || "
                "' ' || remote_addr || ':' || remote_port || ' ' || role FROM scan_sockets WHERE inode = "
                "1002",
                "udp 6 connected ::1:6000 ::1:53 client");

        /* Same sockets: nothing written. A cycle without a socket scan leaves them alone too. */
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, &scan, 2000, &st, &changes), 0);
        assert_int_equal(changes, 0);
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, NULL, 2500, &st, &changes), 0);
        assert_int_equal(changes, 0);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_sockets"), 3);

        /* 1000 loses owner 11 and gains 12, 1001 gone, 1002 gets another remote port, 1003 new. */
        static const pid_t p10_12[] = { 10, 12 };
        socks[0] = mksock(111, 1000, false, "listen", "0.0.0.0", 80, "0.0.0.0", 0, true, p10_12, 2);
        socks[1] = mksock(111, 1002, true, "connected", "::1", 6000, "::1", 54, false, p12, 1);
        socks[2] = mksock(222, 1003, false, "established", "10.0.0.1", 4000, "10.0.0.2", 80, false, p10, 1);
        scan.n_sockets = 3;
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, &scan, 3000, &st, NULL), 1);
        assert_int_equal(st.sockets_inserted, 1);
        assert_int_equal(st.sockets_updated, 1);
        assert_int_equal(st.sockets_deleted, 1);
        assert_int_equal(st.owners_inserted, 2);
        assert_int_equal(st.owners_deleted, 1);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_sockets WHERE inode = 1000"), 1000);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_sockets WHERE inode = 1002"), 1000);
        assert_int_equal(query_int(f, "SELECT last_seen FROM scan_sockets WHERE inode = 1002"), 3000);
        assert_int_equal(query_int(f, "SELECT remote_port FROM scan_sockets WHERE inode = 1002"), 54);
        assert_int_equal(query_int(f, "SELECT first_seen FROM scan_sockets WHERE inode = 1003"), 3000);
        query_text(f,
                   "SELECT group_concat(pid, ',') FROM (SELECT pid FROM scan_socket_owners o JOIN "
                   "scan_sockets s "
                   "ON s.id = o.socket_id WHERE s.inode = 1000 ORDER BY pid)",
                   "10,12");
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_socket_owners"), 4);

        /* A restart reloads sockets and owners: the same scan writes nothing. */
        f->store = store_free(f->store);
        assert_int_equal(store_new(f->db, &f->store), 0);
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, &scan, 4000, &st, &changes), 0);
        assert_int_equal(changes, 0);

        /* Duplicates in the scan are kept once; an empty scan empties the tables. */
        socks[3] = socks[2];
        scan.n_sockets = 4;
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, &scan, 5000, &st, &changes), 0);
        assert_int_equal(st.sockets_duplicate, 1);
        scan.n_sockets = 0;
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, &scan, 6000, &st, NULL), 1);
        assert_int_equal(st.sockets_deleted, 3);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_sockets"), 0);
        assert_int_equal(query_int(f, "SELECT count(*) FROM scan_socket_owners"), 0);
}

static const char *owners_of(Fixture *f, uint64_t inode) {
        static char sql[256];

        snprintf(sql, sizeof(sql),
                 "SELECT COALESCE(group_concat(pid, ','), '') FROM (SELECT pid FROM scan_socket_owners o "
                 "JOIN scan_sockets s ON s.id = o.socket_id WHERE s.inode = %llu ORDER BY pid)",
                 (unsigned long long) inode);
        return sql;
}

/* A cycle without a socket scan drops the owners that are no longer processes (gone, or the pid reused),
 * in the rows and in what the store remembers for the next socket scan. */
static void test_owners_of_gone_processes(void **state) {
        Fixture *f = *state;
        static const pid_t p10_11_12[] = { 10, 11, 12 };
        ScannedSocket socks[1];
        SocketScan scan = { .sockets = socks, .n_sockets = 1 };
        StoreStats st;

        socks[0] = mksock(111, 1000, false, "listen", "0.0.0.0", 80, "0.0.0.0", 0, true, p10_11_12, 3);
        add_proc(f, 10, 1, "a", "a", 111);
        add_proc(f, 11, 1, "b", "b", 111);
        add_proc(f, 12, 1, "c", "c", 111);
        assert_int_equal(cycle(f, &scan, 1000, &st, NULL), 1);
        query_text(f, owners_of(f, 1000), "10,11,12");

        /* 11 gone, 12 is another process now: processes only. */
        add_proc(f, 10, 1, "a", "a", 111);
        add_proc(f, 12, 7, "c", "c", 111);
        assert_int_equal(cycle(f, NULL, 2000, &st, NULL), 1);
        assert_int_equal(st.owners_deleted, 2);
        query_text(f, owners_of(f, 1000), "10");

        /* The next socket scan: the new 12 holds the socket (inherited), 11 still listed by the scan is
         * not there (the scan would not list a pid it did not scan; the store writes what it is given). */
        add_proc(f, 10, 1, "a", "a", 111);
        add_proc(f, 12, 7, "c", "c", 111);
        assert_int_equal(cycle(f, &scan, 3000, &st, NULL), 1);
        assert_int_equal(st.owners_inserted, 2);
        assert_int_equal(st.owners_deleted, 0);
        query_text(f, owners_of(f, 1000), "10,11,12");

        /* After a restart (the set read back from the rows) the same holds: 12 goes. */
        f->store = store_free(f->store);
        assert_int_equal(store_new(f->db, &f->store), 0);
        add_proc(f, 10, 1, "a", "a", 111);
        assert_int_equal(cycle(f, NULL, 4000, &st, NULL), 1);
        assert_int_equal(st.owners_deleted, 1);
        query_text(f, owners_of(f, 1000), "10,11");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_processes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_netns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sockets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_owners_of_gone_processes, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
