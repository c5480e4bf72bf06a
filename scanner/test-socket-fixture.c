/* socket_scan() on the fake proc tree tests/fixtures/net-proc (see its README): the table path end to end,
 * netns grouping (a pid without tables passes the turn, a netns without tcp6/udp6, a netns whose pids are
 * all gone), roles, and the owner walk (a socket shared by two pids, a socket in two fds of one pid, fds
 * that are not sockets, a socket fd whose socket is not in any table, an unowned listener). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-walk.h"
#include "macro.h"
#include "test-socket-util.h"

static const char *fixture_root(void) {
        static char path[4096];
        const char *dir = getenv("PROCSYNC_FIXTURES");

        snprintf(path, sizeof(path), "%s/net-proc", dir ?: "tests/fixtures");
        return path;
}

static const char *const expected_a[] = {
        "tcp4 listen 0.0.0.0:5432 0.0.0.0:0 server inode=1001 pids=100,101",
        "tcp4 established 127.0.0.1:40000 127.0.0.1:5432 client inode=1002 pids=102",
        "tcp4 established 127.0.0.1:5432 127.0.0.1:40000 server inode=1003 pids=100",
        "udp4 bound 0.0.0.0:53 0.0.0.0:0 server inode=1010 pids=100",
        "udp4 connected 127.0.0.1:40001 127.0.0.1:53 client inode=1011 pids=102",
        "tcp6 listen :::8080 :::0 server inode=1020 pids=100",
        "tcp4 established 127.0.0.1:8080 127.0.0.1:40002 server inode=1021 pids=100",
        "tcp4 established 127.0.0.1:40002 127.0.0.1:8080 client inode=1022 pids=102",
        "udp6 bound ::1:5353 :::0 server inode=1040 pids=101",
};

static const char *const expected_b[] = {
        "tcp4 listen 10.0.0.2:80 0.0.0.0:0 server inode=2001 pids=200",
        "tcp4 established 10.0.0.2:80 10.0.0.9:50000 server inode=2002 pids=200",
        "tcp4 established 10.0.0.2:41000 10.0.0.9:443 client inode=2003 pids=200",
        /* local port 80 but on another address than the listener's: client */
        "tcp4 established 10.0.0.3:80 10.0.0.9:50001 client inode=2004 pids=200",
        "udp4 bound 10.0.0.2:5000 0.0.0.0:0 server inode=2010 pids=200",
        /* connected UDP answering from a bound port: server */
        "udp4 connected 10.0.0.2:5000 10.0.0.9:6000 server inode=2011 pids=200",
        "udp4 connected 10.0.0.2:47000 10.0.0.9:53 client inode=2012 pids=200",
};

static void assert_scan(const SocketScan *s) {
        size_t na = ELEMENTSOF(expected_a), nb = ELEMENTSOF(expected_b);

        for (size_t i = 0; i < s->n_sockets; i++) {
                char *row = test_socket_row(&s->sockets[i], true);

                printf("%llu %s\n", (unsigned long long) s->sockets[i].netns_inode, row);
                free(row);
        }
        assert_int_equal(s->n_sockets, na + nb);
        for (size_t i = 0; i < s->n_sockets; i++) {
                char *row = test_socket_row(&s->sockets[i], true);

                assert_string_equal(row, i < na ? expected_a[i] : expected_b[i - na]);
                assert_int_equal(s->sockets[i].netns_inode, i < na ? 4026532001 : 4026532002);
                free(row);
        }
        assert_int_equal(s->n_netns, 3);
        assert_int_equal(s->n_table, 2);
        assert_int_equal(s->n_netlink, 0);
        assert_int_equal(s->n_netns_failed, 1);
        /* listener 1030 (no fd points at it) and an established socket still in the accept queue */
        assert_int_equal(s->n_unowned, 2);
        assert_int_equal(s->n_fd_denied, 0);
        assert_int_equal(s->n_fds, 8 + 3 + 5 + 8);
}

static void test_scan_netns_read(void **state) {
        /* pid 400 does not exist at all: skipped silently. */
        static const SocketScanPid pids[] = {
                {200, 0}, {102, 0}, {101, 0}, {100, 0}, {99, 0}, {300, 0}, {400, 0},
        };
        SocketScan s = {};

        assert_int_equal(socket_scan(fixture_root(), false, NULL, pids, ELEMENTSOF(pids), &s), 0);
        assert_scan(&s);
        socket_scan_done(&s);
        socket_scan_done(&s);
}

static void test_scan_netns_given(void **state) {
        static const SocketScanPid pids[] = {
                {99, 4026532001},  {100, 4026532001}, {101, 4026532001},
                {102, 4026532001}, {200, 4026532002}, {300, 4026532003},
        };
        SocketScan s = {};

        assert_int_equal(socket_scan(fixture_root(), false, NULL, pids, ELEMENTSOF(pids), &s), 0);
        assert_scan(&s);
        socket_scan_done(&s);
}

static void test_scan_empty_and_invalid(void **state) {
        SocketScan s = {};

        assert_int_equal(socket_scan(fixture_root(), false, NULL, NULL, 0, &s), 0);
        assert_int_equal(s.n_sockets, 0);
        assert_int_equal(s.n_netns, 0);
        socket_scan_done(&s);

        assert_int_equal(socket_scan(fixture_root(), false, NULL, NULL, 1, &s), -EINVAL);
        assert_int_equal(socket_scan("/nonexistent-procsync", false, NULL, NULL, 0, &s), -ENOENT);
}

static void test_netns_inode(void **state) {
        uint64_t ino = 0;

        assert_int_equal(socket_read_netns_inode(fixture_root(), 200, &ino), 0);
        assert_int_equal(ino, 4026532002);
        assert_int_equal(socket_read_netns_inode(fixture_root(), 400, &ino), -ENOENT);
        assert_int_equal(socket_proc_root_is_live(fixture_root()), 0);
        assert_int_equal(socket_proc_root_is_live("/proc"), 1);
}

static void test_fd_walk(void **state) {
        _cleanup_(inode_map_done) InodeMap map = {};
        _cleanup_close_ int root_fd = -EBADF;
        static const pid_t pids[] = {100, 101, 102, 400};
        FdWalk w = {};

        root_fd = open(fixture_root(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(root_fd >= 0);
        assert_int_equal(inode_map_init(&map, 3), 0);
        assert_int_equal(inode_map_put(&map, 1001, 0), 0);
        assert_int_equal(inode_map_put(&map, 1002, 1), 0);
        assert_int_equal(inode_map_put(&map, 1040, 2), 0);
        assert_int_equal(inode_map_put(&map, 1040, 5), -EEXIST);
        assert_int_equal(inode_map_put(&map, 0, 5), -EINVAL);

        assert_int_equal(fd_walk(root_fd, pids, ELEMENTSOF(pids), &map, &w), 0);
        /* directory order is the filesystem's: compare as a set, in walk order per pid */
        assert_int_equal(w.n_owners, 5);
        {
                unsigned seen[3][103] = {};

                for (size_t i = 0; i < w.n_owners; i++) {
                        assert_true(w.owners[i].index < 3 && w.owners[i].pid <= 102);
                        seen[w.owners[i].index][w.owners[i].pid]++;
                }
                assert_int_equal(seen[0][100], 1);
                assert_int_equal(seen[0][101], 1);
                assert_int_equal(seen[1][102], 2); /* the same socket in fds 3 and 5 */
                assert_int_equal(seen[2][101], 1);
        }
        assert_int_equal(w.n_fds, 8 + 3 + 5);
        fd_walk_done(&w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_scan_netns_read),
                cmocka_unit_test(test_scan_netns_given),
                cmocka_unit_test(test_scan_empty_and_invalid),
                cmocka_unit_test(test_netns_inode),
                cmocka_unit_test(test_fd_walk),
        };

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
        printf("SKIP: the fixture tables are written for a little-endian host\n");
        return 77;
#endif
        return cmocka_run_group_tests(tests, NULL, NULL);
}
