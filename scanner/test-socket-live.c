/* Live test of socket_scan() on the real /proc, as root, in private network namespaces:
 *
 *   netns M  the test process itself (unshared first, so the host's netns is never looked at): one TCP
 *            listener — the own-netns netlink path, no setns();
 *   netns A  process a1 and its forked child a2: a TCP listener shared by both, two clients (a2) and the
 *            two accepted sockets (a1), a bound UDP socket (a1) and a connected one (a2), an IPv6 loopback
 *            listener with a client and the accepted socket, and a dual-stack listener whose accepted
 *            socket has v4-mapped addresses (shown as IPv4);
 *   netns B  process b1: a listener, a client bound to local port 5000 (a listening port in A, not in B:
 *            client here, so roles are per netns) and the accepted socket.
 *
 * The processes write the exact row they expect for each socket (ports and inodes from getsockname() and
 * fstat(), owners and roles from what the test built) into shared memory; the scan through netlink and the
 * scan through the text tables (live_proc=false) must each produce exactly these rows, so they are also
 * identical to each other. Without CAP_SYS_ADMIN (setns() refused) the foreign netns fall back to the tables
 * with the same rows. A pid that has exited before the scan is in the list too. Exits 77 when not
 * root or when network namespaces cannot be created. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "test-socket-util.h"

#define MAX_RECORDS 64
#define MIN(a, b)   ((a) < (b) ? (a) : (b))
#define MAX(a, b)   ((a) > (b) ? (a) : (b))

typedef struct Record {
        uint64_t netns;
        uint64_t inode;
        char row[192];
} Record;

typedef struct Shared {
        pid_t a2;
        unsigned n;
        Record records[MAX_RECORDS];
} Shared;

static Shared *shared;
static int ready_fd = -EBADF; /* write end: one byte per process when its records are written */
static bool have_ipv6;

static _noreturn_ void child_fail(const char *what) {
        fprintf(stderr, "child %d: %s: %m\n", (int) getpid(), what);
        (void) !write(ready_fd, "E", 1);
        _exit(1);
}

static void lo_up(void) {
        struct ifreq ifr = {};
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                child_fail("socket");
        strcpy(ifr.ifr_name, "lo");
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                child_fail("SIOCGIFFLAGS");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                child_fail("SIOCSIFFLAGS");
}

static uint64_t own_netns(void) {
        struct stat st;

        if (stat("/proc/self/ns/net", &st) < 0)
                child_fail("stat ns/net");
        return (uint64_t) st.st_ino;
}

static void format_addr(const struct sockaddr_storage *ss, bool v4, char *buf, uint16_t *port) {
        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *) ss;

                inet_ntop(AF_INET, &a->sin_addr, buf, INET6_ADDRSTRLEN);
                *port = ntohs(a->sin_port);
        } else if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ss;

                if (v4)
                        inet_ntop(AF_INET, a->sin6_addr.s6_addr + 12, buf, INET6_ADDRSTRLEN);
                else
                        inet_ntop(AF_INET6, &a->sin6_addr, buf, INET6_ADDRSTRLEN);
                *port = ntohs(a->sin6_port);
        } else {
                strcpy(buf, v4 ? "0.0.0.0" : "::");
                *port = 0;
        }
}

/* Writes the row this socket must have. kind: "tcp4 listen", "udp6 connected", ... */
static void record(int fd, const char *kind, bool server, pid_t p1, pid_t p2) {
        struct sockaddr_storage local = {}, remote = {};
        socklen_t ll = sizeof(local), rl = sizeof(remote);
        char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN], pids[32];
        bool v4 = kind[3] == '4';
        uint16_t lp, rp;
        struct stat st;
        unsigned i;

        if (fstat(fd, &st) < 0 || getsockname(fd, (struct sockaddr *) &local, &ll) < 0)
                child_fail("fstat/getsockname");
        if (getpeername(fd, (struct sockaddr *) &remote, &rl) < 0) {
                if (errno != ENOTCONN)
                        child_fail("getpeername");
                remote.ss_family = AF_UNSPEC;
        }
        format_addr(&local, v4, la, &lp);
        format_addr(&remote, v4, ra, &rp);
        if (p2 == 0)
                snprintf(pids, sizeof(pids), "%d", (int) p1);
        else
                snprintf(pids, sizeof(pids), "%d,%d", (int) MIN(p1, p2), (int) MAX(p1, p2));

        i = __atomic_fetch_add(&shared->n, 1, __ATOMIC_SEQ_CST);
        if (i >= MAX_RECORDS)
                child_fail("too many records");
        shared->records[i].netns = own_netns();
        shared->records[i].inode = (uint64_t) st.st_ino;
        snprintf(shared->records[i].row, sizeof(shared->records[i].row),
                 "%s %s:%u %s:%u %s inode=%llu pids=%s", kind, la, (unsigned) lp, ra, (unsigned) rp,
                 server ? "server" : "client", (unsigned long long) st.st_ino, pids);
}

static int tcp_listen(int family, const char *addr, uint16_t port, int v6only) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        int fd, one = 1;

        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                child_fail("socket");
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
                child_fail("IPV6_V6ONLY");
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *) &ss;

                a->sin_family = AF_INET;
                a->sin_port = htons(port);
                inet_pton(AF_INET, addr, &a->sin_addr);
                len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;

                a->sin6_family = AF_INET6;
                a->sin6_port = htons(port);
                inet_pton(AF_INET6, addr, &a->sin6_addr);
                len = sizeof(*a);
        }
        if (bind(fd, (struct sockaddr *) &ss, len) < 0)
                child_fail("bind");
        if (listen(fd, 16) < 0)
                child_fail("listen");
        return fd;
}

/* A TCP (SOCK_STREAM) or UDP (SOCK_DGRAM) socket connected to addr:port, bound first to bind_port if set. */
static int connect_to(int type, int family, const char *addr, uint16_t port, uint16_t bind_port) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        int fd;

        fd = socket(family, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                child_fail("socket");
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *) &ss;

                a->sin_family = AF_INET;
                inet_pton(AF_INET, addr, &a->sin_addr);
                len = sizeof(*a);
                if (bind_port) {
                        a->sin_port = htons(bind_port);
                        if (bind(fd, (struct sockaddr *) &ss, len) < 0)
                                child_fail("bind");
                }
                a->sin_port = htons(port);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;

                a->sin6_family = AF_INET6;
                inet_pton(AF_INET6, addr, &a->sin6_addr);
                a->sin6_port = htons(port);
                len = sizeof(*a);
        }
        if (connect(fd, (struct sockaddr *) &ss, len) < 0)
                child_fail("connect");
        return fd;
}

static int udp_bind(uint16_t port) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0)
                child_fail("udp bind");
        return fd;
}

static int accept_one(int lfd) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0)
                child_fail("accept");
        return fd;
}

static _noreturn_ void hold(void) {
        (void) !write(ready_fd, "R", 1);
        for (;;)
                pause();
}

static _noreturn_ void run_a1(void) {
        int l, u1, l6 = -1, ld = -1;
        pid_t a1 = getpid(), a2;

        if (unshare(CLONE_NEWNET) < 0)
                child_fail("unshare");
        lo_up();
        l = tcp_listen(AF_INET, "0.0.0.0", 5000, 0);
        u1 = udp_bind(5300);
        if (have_ipv6) {
                l6 = tcp_listen(AF_INET6, "::1", 5001, 1);
                ld = tcp_listen(AF_INET6, "::", 5002, 0);
        }

        a2 = fork();
        if (a2 < 0)
                child_fail("fork");
        if (a2 == 0) {
                int c1, c2, u2, c6, cm;

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != a1)
                        _exit(1);
                /* a2 keeps the listener l (shared with a1) and nothing else of a1's. */
                close(u1);
                if (have_ipv6) {
                        close(l6);
                        close(ld);
                }
                a2 = getpid();
                shared->a2 = a2;
                c1 = connect_to(SOCK_STREAM, AF_INET, "127.0.0.1", 5000, 0);
                c2 = connect_to(SOCK_STREAM, AF_INET, "127.0.0.1", 5000, 0);
                u2 = connect_to(SOCK_DGRAM, AF_INET, "127.0.0.1", 5300, 0);
                record(c1, "tcp4 established", false, a2, 0);
                record(c2, "tcp4 established", false, a2, 0);
                record(u2, "udp4 connected", false, a2, 0);
                if (have_ipv6) {
                        c6 = connect_to(SOCK_STREAM, AF_INET6, "::1", 5001, 0);
                        cm = connect_to(SOCK_STREAM, AF_INET, "127.0.0.1", 5002, 0);
                        record(c6, "tcp6 established", false, a2, 0);
                        record(cm, "tcp4 established", false, a2, 0);
                }
                hold();
        }

        record(l, "tcp4 listen", true, a1, a2);
        record(u1, "udp4 bound", true, a1, 0);
        record(accept_one(l), "tcp4 established", true, a1, 0);
        record(accept_one(l), "tcp4 established", true, a1, 0);
        if (have_ipv6) {
                record(l6, "tcp6 listen", true, a1, 0);
                record(ld, "tcp6 listen", true, a1, 0);
                record(accept_one(l6), "tcp6 established", true, a1, 0);
                /* a v4 client on a dual-stack listener: v4-mapped addresses, shown as IPv4 */
                record(accept_one(ld), "tcp4 established", true, a1, 0);
        }
        hold();
}

static _noreturn_ void run_b1(void) {
        pid_t b1 = getpid();
        int l, c;

        if (unshare(CLONE_NEWNET) < 0)
                child_fail("unshare");
        lo_up();
        l = tcp_listen(AF_INET, "127.0.0.1", 6000, 0);
        c = connect_to(SOCK_STREAM, AF_INET, "127.0.0.1", 6000, 5000);
        record(l, "tcp4 listen", true, b1, 0);
        record(c, "tcp4 established", false, b1, 0);
        record(accept_one(l), "tcp4 established", true, b1, 0);
        hold();
}

static pid_t spawn(void (*fn)(void)) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                fn();
                _exit(0);
        }
        return pid;
}

static int record_cmp(const void *a, const void *b) {
        const Record *x = a, *y = b;

        if (x->netns != y->netns)
                return x->netns < y->netns ? -1 : 1;
        return (x->inode > y->inode) - (x->inode < y->inode);
}

static void assert_rows(const SocketScan *s, const Record *expected, size_t n) {
        for (size_t i = 0; i < s->n_sockets; i++) {
                char *row = test_socket_row(&s->sockets[i], true);

                printf("  %llu %s\n", (unsigned long long) s->sockets[i].netns_inode, row);
                free(row);
        }
        assert_int_equal(s->n_sockets, n);
        for (size_t i = 0; i < n; i++) {
                char *row = test_socket_row(&s->sockets[i], true);

                assert_string_equal(row, expected[i].row);
                assert_int_equal(s->sockets[i].netns_inode, expected[i].netns);
                free(row);
        }
        assert_int_equal(s->n_netns, 3);
        assert_int_equal(s->n_netns_failed, 0);
        assert_int_equal(s->n_fd_denied, 0);
}

static void test_live(void **state) {
        _cleanup_close_ int ready_read = -EBADF;
        _cleanup_close_ int lm = -EBADF;
        SocketScan vianetlink = {}, viatables = {};
        SocketScanPid pids[5] = {};
        Record expected[MAX_RECORDS];
        pid_t a1, b1, gone;
        int p[2], status;
        unsigned got = 0;
        size_t n;

        shared = mmap(NULL, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        assert_true(shared != MAP_FAILED);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        ready_read = p[0];
        ready_fd = p[1];

        a1 = spawn(run_a1);
        b1 = spawn(run_b1);
        ready_fd = safe_close(ready_fd);

        /* a1, a2 and b1 each report once. */
        while (got < 3) {
                struct pollfd pfd = {.fd = ready_read, .events = POLLIN};
                char c;

                assert_int_equal(poll(&pfd, 1, 20000), 1);
                assert_int_equal(read(ready_read, &c, 1), 1);
                assert_int_equal(c, 'R');
                got++;
        }

        /* The test's own socket, created after the forks so that no child holds it. */
        lm = tcp_listen(AF_INET, "127.0.0.1", 7000, 0);
        record(lm, "tcp4 listen", true, getpid(), 0);

        gone = fork();
        assert_true(gone >= 0);
        if (gone == 0)
                _exit(0);
        assert_int_equal(waitpid(gone, &status, 0), gone);

        /* The pids of the process scan (a2 reported its own pid). */
        pids[0].pid = getpid();
        pids[1].pid = a1;
        pids[2].pid = shared->a2;
        pids[3].pid = b1;
        pids[4].pid = gone;
        assert_true(pids[2].pid > 0);

        n = shared->n;
        memcpy(expected, shared->records, n * sizeof(Record));
        qsort(expected, n, sizeof(Record), record_cmp);

        assert_int_equal(socket_proc_root_is_live("/proc"), 1);

        printf("netlink:\n");
        assert_int_equal(socket_scan("/proc", true, NULL, pids, ELEMENTSOF(pids), &vianetlink), 0);
        assert_rows(&vianetlink, expected, n);
        assert_int_equal(vianetlink.n_netlink, 3);
        assert_int_equal(vianetlink.n_table, 0);

        printf("tables:\n");
        assert_int_equal(socket_scan("/proc", false, NULL, pids, ELEMENTSOF(pids), &viatables), 0);
        assert_rows(&viatables, expected, n);
        assert_int_equal(viatables.n_netlink, 0);
        assert_int_equal(viatables.n_table, 3);

        /* Identical in every field, owners included (assert_rows compared both to the same rows). */
        assert_int_equal(vianetlink.n_sockets, viatables.n_sockets);
        for (size_t i = 0; i < n; i++) {
                const ScannedSocket *x = &vianetlink.sockets[i], *y = &viatables.sockets[i];

                assert_int_equal(x->n_pids, y->n_pids);
                assert_memory_equal(x->pids, y->pids, x->n_pids * sizeof(pid_t));
        }

        /* Without CAP_SYS_ADMIN, setns() is refused: A and B fall back to the tables, M (no setns()
         * needed) stays on netlink, and the rows are the same. */
        {
                pid_t pid = fork();

                assert_true(pid >= 0);
                if (pid == 0) {
                        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
                        struct __user_cap_data_struct d[2] = {};
                        SocketScan s = {};
                        bool ok;

                        if (syscall(SYS_capget, &h, d) < 0)
                                _exit(2);
                        d[0].effective &= ~(1U << CAP_SYS_ADMIN);
                        if (syscall(SYS_capset, &h, d) < 0)
                                _exit(3);
                        if (socket_scan("/proc", true, NULL, pids, ELEMENTSOF(pids), &s) < 0)
                                _exit(4);
                        ok = s.n_netlink == 1 && s.n_table == 2 && s.n_sockets == n;
                        for (size_t i = 0; ok && i < n; i++) {
                                char *row = test_socket_row(&s.sockets[i], true);

                                ok = streq(row, expected[i].row);
                                free(row);
                        }
                        if (!ok)
                                fprintf(stderr, "without CAP_SYS_ADMIN: netlink=%u table=%u sockets=%zu\n",
                                        s.n_netlink, s.n_table, s.n_sockets);
                        socket_scan_done(&s);
                        _exit(ok ? 0 : 1);
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 0);
        }

        socket_scan_done(&vianetlink);
        socket_scan_done(&viatables);
        assert_int_equal(kill(a1, SIGKILL), 0);
        assert_int_equal(kill(b1, SIGKILL), 0);
        assert_int_equal(waitpid(a1, &status, 0), a1);
        assert_int_equal(waitpid(b1, &status, 0), b1);
        munmap(shared, sizeof(Shared));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_live),
        };
        int fd;

        if (geteuid() != 0) {
                printf("SKIP: needs root (network namespaces, setns(), other processes' fds)\n");
                return 77;
        }
        /* The test's own private netns first: the host's sockets are never part of the test. */
        if (unshare(CLONE_NEWNET) < 0) {
                printf("SKIP: cannot create a network namespace: %m\n");
                return 77;
        }
        {
                pid_t pid = fork();
                int status;

                /* lo of the test's own netns, brought up in a child because lo_up() reports through
                 * child_fail(). */
                if (pid == 0) {
                        lo_up();
                        _exit(0);
                }
                if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
                    WEXITSTATUS(status) != 0) {
                        printf("failed to bring up lo\n");
                        return 1;
                }
        }
        /* IPv6 loopback, unless the kernel has no IPv6 or new namespaces get it disabled. */
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
                struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};

                have_ipv6 = bind(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
                close(fd);
        }
        if (!have_ipv6)
                printf("note: no IPv6 loopback here, the IPv6 sockets are left out\n");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
