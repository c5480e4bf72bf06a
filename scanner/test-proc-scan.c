/* The process scan over the fake proc tree tests/fixtures/proc-basic (its path is argv[1]): exact fields of
 * every process, kernel threads kept, half-present processes skipped, users from each process's own root
 * (including an absolute symlink that must resolve inside that root), container ids of each runtime, UTF-8
 * repair, and the boot time + ticks arithmetic (btime 1700000000, CLK_TCK 100). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "proc-scan.h"

#define ID1        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID2        "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define ID3        "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define HOST_NETNS 4026531840u

static const char *fixture;

typedef struct Want {
        pid_t pid, ppid;
        uid_t uid;
        uint64_t start_ticks;
        int64_t start_time;
        uint64_t netns;
        const char *comm, *cmdline, *exe, *user, *container_id;
} Want;

static const Want wants[] = {
        { 1, 0, 0, 10, 1700000000, HOST_NETNS, "systemd", "/sbin/init splash", "/usr/lib/systemd/systemd",
          "root", "" },
        { 2, 0, 0, 11, 1700000000, HOST_NETNS, "kthreadd", "", "", "root", "" },
        { 3, 2, 0, 12, 1700000000, HOST_NETNS, "kworker/0:1-events", "", "", "root", "" },
        { 100, 1, 1000, 12345, 1700000123, HOST_NETNS, "(a) b)", "/usr/bin/my prog --flag a b",
          "/usr/bin/my prog", "alice", "" },
        { 200, 1, 101, 20000, 1700000200, 4026532001u, "nginx", "nginx: master process nginx -g daemon off;",
          "/usr/sbin/nginx", "nginx", ID1 },
        { 201, 200, 4000123, 20001, 1700000200, 4026532001u, "nginx", "nginx: worker process",
          "/usr/sbin/nginx", "4000123", ID1 },
        { 300, 1, 1000, 30000, 1700000300, 4026532002u, "java app", "java -jar /app/app.jar",
          "/usr/lib/jvm/bin/java", "inside", ID2 },
        { 301, 1, 0, 30001, 1700000300, 4026532002u, "caf\xef\xbf\xbd", "caf\xef\xbf\xbd x",
          "/opt/caf\xc3\xa9", "root", ID3 },
};

static void test_fixture(void **state) {
        ProcScanner *s = NULL;
        ProcTable t = {};
        ProcScanStats st;

        assert_int_equal(proc_scanner_new(fixture, &s), 0);
        assert_int_equal(proc_scanner_boot_time(s), 1700000000);

        /* Twice: the second cycle reuses buffers and must give the same answer. */
        for (int round = 0; round < 2; round++) {
                assert_int_equal(proc_scanner_run(s, &t, &st), 0);
                assert_int_equal(t.n, ELEMENTSOF(wants));
                for (size_t i = 0; i < ELEMENTSOF(wants); i++) {
                        const Want *w = &wants[i];
                        const ScanProcess *p = proc_table_find(&t, w->pid);

                        assert_non_null(p);
                        assert_ptr_equal(p, &t.items[i]); /* sorted by pid */
                        assert_int_equal(p->ppid, w->ppid);
                        assert_int_equal(p->uid, w->uid);
                        assert_int_equal(p->start_ticks, w->start_ticks);
                        assert_int_equal(p->start_time, w->start_time);
                        assert_int_equal(p->netns_inode, w->netns);
                        assert_string_equal(p->comm, w->comm);
                        assert_string_equal(p->cmdline, w->cmdline);
                        assert_string_equal(p->exe, w->exe);
                        assert_string_equal(p->user, w->user);
                        assert_string_equal(p->container_id, w->container_id);
                }
                assert_null(proc_table_find(&t, 400)); /* status missing: exited mid-read */
                assert_null(proc_table_find(&t, 401)); /* empty directory */
                assert_int_equal(st.n_processes, ELEMENTSOF(wants));
                assert_int_equal(st.n_vanished, 2);
                assert_int_equal(st.n_malformed, 0);
                assert_int_equal(st.n_kernel_threads, 2);
                assert_int_equal(st.n_passwd_files, 3); /* rootfs-host, rootfs-c1, rootfs-c2 */
        }

        proc_table_done(&t);
        proc_scanner_free(s);
}

static void test_missing_root(void **state) {
        ProcScanner *s = NULL;

        assert_int_equal(proc_scanner_new("/nonexistent-procsync-root", &s), -ENOENT);
        assert_null(s);
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fixture),
                cmocka_unit_test(test_missing_root),
        };

        if (argc < 2) {
                fprintf(stderr, "usage: %s FIXTURE-PROC-ROOT\n", argv[0]);
                return 2;
        }
        fixture = argv[1];
        return cmocka_run_group_tests(tests, NULL, NULL);
}
