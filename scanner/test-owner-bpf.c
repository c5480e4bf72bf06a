/* The BPF owner iterator (owner-bpf.h) against the /proc fd walk (fd-walk.h) on the live system: both must
 * give exactly the same owner map. As root, in private PID, mount and network namespaces (with their own
 * /proc, so only what the test starts is scanned):
 *
 *   - the test process and its forked child c1 share a TCP listener, a client, the accepted socket, a UDP
 *     socket and a unix socket pair (all created before the fork); c1 also has a socket of its own;
 *   - g, a process in a nested pid namespace (pid 1 there): the iterator must report it under its pid in
 *     ours; from there, /proc is not its namespace's, so owner_bpf_new() must refuse (-ENOTSUP);
 *   - c3, whose second thread unshared its files table (unshare(CLONE_FILES)) and opened a socket there:
 *     /proc/<pid>/fd shows the leader's table only, so neither map may list that socket;
 *   - the raw maps (every socket inode the test itself finds by readlink() of every /proc/<pid>/fd/N, plus
 *     the thread's) and the whole socket_scan() rows with owners, fd walk vs BPF, must be identical;
 *   - processes that exit during the scan: a churn process keeps forking children that open a socket and
 *     exit, while 20 scan pairs run with every pid of /proc listed beforehand: every scan succeeds, and the
 *     owners of the stable processes are identical between the two sources;
 *   - loading needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (which implies both): it works without
 *     CAP_SYS_ADMIN, fails without all three, and fails without CAP_PERFMON and CAP_SYS_ADMIN; without
 *     CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH (the walk would see fewer processes) it is refused.
 *
 * Exits 77 when not root, when the namespaces cannot be created, or when this kernel refuses the iterator
 * (no BTF, BPF disabled): the reason is printed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-walk.h"
#include "macro.h"
#include "owner-bpf.h"
#include "socket-inode-map.h"
#include "socket-scan.h"
#include "test-socket-util.h"

#define MAX_PIDS    4096
#define MAX_INODES  65536
#define CHURN_SCANS 20
#define MAX(a, b)   ((a) > (b) ? (a) : (b))

typedef struct Pair {
        pid_t pid;
        uint64_t inode;
} Pair;

static OwnerBpf *bpf;
static uint64_t inode_of[MAX_INODES]; /* map index → inode, for the maps map_all_sockets() builds */

static uint64_t fd_inode(int fd) {
        struct stat st;

        assert_int_equal(fstat(fd, &st), 0);
        return (uint64_t) st.st_ino;
}

static int tcp_listener(void) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 16) < 0)
                return -1;
        return fd;
}

static int tcp_connect(int listener) {
        struct sockaddr_in a;
        socklen_t l = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || getsockname(listener, (struct sockaddr *) &a, &l) < 0 ||
            connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0)
                return -1;
        return fd;
}

static void lo_up(void) {
        struct ifreq ifr = {};
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        strcpy(ifr.ifr_name, "lo");
        assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
        ifr.ifr_flags |= IFF_UP;
        assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
}

/* Every pid of /proc, ascending. */
static size_t list_pids(pid_t *pids) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        size_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)) && n < MAX_PIDS) {
                char *end;
                long v = strtol(de->d_name, &end, 10);

                if (*end == 0 && v > 0)
                        pids[n++] = (pid_t) v;
        }
        closedir(d);
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && pids[j - 1] > pids[j]; j--) {
                        pid_t t = pids[j];

                        pids[j] = pids[j - 1];
                        pids[j - 1] = t;
                }
        return n;
}

/* Every socket inode any fd of `pids` points at, found by the test's own readlink(), into map. */
static void map_all_sockets(const pid_t *pids, size_t n, InodeMap *map) {
        for (size_t i = 0; i < n; i++) {
                char path[64];
                DIR *d;
                struct dirent *de;

                snprintf(path, sizeof(path), "/proc/%d/fd", (int) pids[i]);
                d = opendir(path);
                if (!d)
                        continue;
                while ((de = readdir(d))) {
                        char link[64];
                        unsigned long long ino;
                        ssize_t l = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);

                        if (l < 0)
                                continue;
                        link[l] = 0;
                        if (sscanf(link, "socket:[%llu]", &ino) == 1) {
                                uint32_t index = (uint32_t) map->n_keys;
                                int r = inode_map_put(map, ino, index);

                                assert_true(r == 0 || r == -EEXIST);
                                if (r == 0)
                                        inode_of[index] = ino;
                        }
                }
                closedir(d);
        }
}

static int pair_cmp(const void *a, const void *b) {
        const Pair *x = a, *y = b;

        if (x->pid != y->pid)
                return x->pid < y->pid ? -1 : 1;
        return (x->inode > y->inode) - (x->inode < y->inode);
}

/* The walk's (pid, inode) pairs, sorted, without repeats (a socket in two fds of one pid). */
static size_t walk_pairs(const FdWalk *w, const InodeMap *map, Pair *out) {
        size_t n = 0, k = 0;

        for (size_t i = 0; i < w->n_owners; i++) {
                assert_true(w->owners[i].index < map->n_keys);
                out[n++] = (Pair){w->owners[i].pid, inode_of[w->owners[i].index]};
        }
        qsort(out, n, sizeof(Pair), pair_cmp);
        for (size_t i = 0; i < n; i++)
                if (k == 0 || pair_cmp(&out[k - 1], &out[i]) != 0)
                        out[k++] = out[i];
        return k;
}

static bool has_pair(const Pair *p, size_t n, pid_t pid, uint64_t inode) {
        for (size_t i = 0; i < n; i++)
                if (p[i].pid == pid && p[i].inode == inode)
                        return true;
        return false;
}

/* socket_scan() rows through both sources, owners included: identical, and each says its source. */
static void assert_scans_equal(const SocketScanPid *pids, size_t n, const pid_t *stable, size_t n_stable) {
        SocketScan walk = {}, viabpf = {};

        assert_int_equal(socket_scan("/proc", true, NULL, pids, n, &walk), 0);
        assert_int_equal(socket_scan("/proc", true, bpf, pids, n, &viabpf), 0);
        assert_int_equal(walk.owner_source, SOCKET_OWNER_SOURCE_FD_WALK);
        assert_int_equal(viabpf.owner_source, SOCKET_OWNER_SOURCE_BPF);
        assert_string_equal(socket_owner_source_to_string(viabpf.owner_source), "bpf");

        /* Rows of sockets owned by a stable process, with their owners among the stable ones. */
        for (int pass = 0; pass < 2; pass++) {
                const SocketScan *a = pass ? &viabpf : &walk, *b = pass ? &walk : &viabpf;

                for (size_t i = 0; i < a->n_sockets; i++) {
                        const ScannedSocket *x = &a->sockets[i];
                        char want[512] = "", got[512] = "";
                        bool found = false;

                        for (size_t k = 0; k < x->n_pids; k++)
                                for (size_t s = 0; s < n_stable; s++)
                                        if (x->pids[k] == stable[s])
                                                snprintf(want + strlen(want), sizeof(want) - strlen(want),
                                                         "%d,", (int) x->pids[k]);
                        if (want[0] == 0)
                                continue;
                        for (size_t j = 0; j < b->n_sockets; j++) {
                                const ScannedSocket *y = &b->sockets[j];

                                if (y->inode != x->inode)
                                        continue;
                                found = true;
                                for (size_t k = 0; k < y->n_pids; k++)
                                        for (size_t s = 0; s < n_stable; s++)
                                                if (y->pids[k] == stable[s])
                                                        snprintf(got + strlen(got),
                                                                 sizeof(got) - strlen(got), "%d,",
                                                                 (int) y->pids[k]);
                                {
                                        _cleanup_free_ char *rx = test_socket_row(x, false),
                                                            *ry = test_socket_row(y, false);

                                        assert_string_equal(rx, ry);
                                }
                        }
                        if (!found)
                                fprintf(stderr, "socket %llu of %s only in the %s scan\n",
                                        (unsigned long long) x->inode, want, pass ? "bpf" : "fd walk");
                        assert_true(found);
                        assert_string_equal(want, got);
                }
        }
        socket_scan_done(&walk);
        socket_scan_done(&viabpf);
}

typedef struct ThreadArgs {
        int ready; /* write end */
        int done;  /* read end: EOF ends the thread */
} ThreadArgs;

static void *files_thread(void *p) {
        ThreadArgs *a = p;
        uint64_t inode;
        char c;
        int fd;

        if (unshare(CLONE_FILES) < 0)
                _exit(10);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                _exit(11);
        inode = fd_inode(fd);
        if (write(a->ready, &inode, sizeof(inode)) != sizeof(inode))
                _exit(12);
        (void) !read(a->done, &c, 1);
        return NULL;
}

static void test_same_owners(void **state) {
        _cleanup_close_ int l = -EBADF, cl = -EBADF, ac = -EBADF, udp = -EBADF,
                            proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int sp[2], to_parent[2], from_g[2], hold[2];
        pid_t c1, c2, c3, g = 0, pids[MAX_PIDS];
        uint64_t c1_own, g_inode, thread_inode;
        int g_new = 0;
        _cleanup_free_ Pair *a = calloc(MAX_INODES, sizeof(Pair)), *b = calloc(MAX_INODES, sizeof(Pair));
        _cleanup_(inode_map_done) InodeMap map = {};
        _cleanup_(fd_walk_done) FdWalk walk = {}, viabpf = {};
        SocketScanPid scan_pids[MAX_PIDS];
        size_t n, na, nb;
        int status;

        (void) state;
        assert_non_null(a);
        assert_non_null(b);
        lo_up();
        assert_true((l = tcp_listener()) >= 0);
        assert_true((cl = tcp_connect(l)) >= 0);
        assert_true((ac = accept4(l, NULL, NULL, SOCK_CLOEXEC)) >= 0);
        assert_true((udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(pipe2(to_parent, O_CLOEXEC), 0);
        assert_int_equal(pipe2(from_g, O_CLOEXEC), 0);
        assert_int_equal(pipe2(hold, O_CLOEXEC), 0); /* children live until the write end closes */

        /* c1: shares every socket above, and has one of its own. */
        c1 = fork();
        assert_true(c1 >= 0);
        if (c1 == 0) {
                int own = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                uint64_t inode;
                char c;

                if (own < 0)
                        own = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                inode = fd_inode(own);
                close(hold[1]);
                if (write(to_parent[1], &inode, sizeof(inode)) != sizeof(inode))
                        _exit(1);
                (void) !read(hold[0], &c, 1);
                _exit(0);
        }
        assert_int_equal(read(to_parent[0], &c1_own, sizeof(c1_own)), sizeof(c1_own));

        /* c2 unshares a pid namespace for its child g: g is pid 1 there. */
        c2 = fork();
        assert_true(c2 >= 0);
        if (c2 == 0) {
                pid_t child;

                close(hold[1]);
                if (unshare(CLONE_NEWPID) < 0)
                        _exit(20);
                child = fork();
                if (child < 0)
                        _exit(21);
                if (child == 0) {
                        OwnerBpf *nested = NULL;
                        int fd = tcp_listener(), r;
                        uint64_t inode;
                        char c;

                        if (fd < 0 || getpid() != 1)
                                _exit(22);
                        r = owner_bpf_new("/proc", &nested);
                        owner_bpf_free(nested);
                        inode = fd_inode(fd);
                        if (write(from_g[1], &inode, sizeof(inode)) != sizeof(inode) ||
                            write(from_g[1], &r, sizeof(r)) != sizeof(r))
                                _exit(23);
                        (void) !read(hold[0], &c, 1);
                        _exit(0);
                }
                /* child is g's pid in c2's namespace, which is the test's. */
                if (write(to_parent[1], &child, sizeof(child)) != sizeof(child))
                        _exit(24);
                waitpid(child, NULL, 0);
                _exit(0);
        }
        assert_int_equal(read(to_parent[0], &g, sizeof(g)), sizeof(g));
        assert_int_equal(read(from_g[0], &g_inode, sizeof(g_inode)), sizeof(g_inode));
        assert_int_equal(read(from_g[0], &g_new, sizeof(g_new)), sizeof(g_new));
        assert_int_equal(g_new, -ENOTSUP);

        /* c3: a second thread with its own files table and a socket in it. */
        c3 = fork();
        assert_true(c3 >= 0);
        if (c3 == 0) {
                ThreadArgs t = {.ready = to_parent[1], .done = hold[0]};
                pthread_t th;

                close(hold[1]);
                if (pthread_create(&th, NULL, files_thread, &t) != 0)
                        _exit(30);
                pthread_join(th, NULL);
                _exit(0);
        }
        assert_int_equal(read(to_parent[0], &thread_inode, sizeof(thread_inode)), sizeof(thread_inode));

        n = list_pids(pids);
        assert_int_equal(inode_map_init(&map, MAX_INODES / 2), 0);
        map_all_sockets(pids, n, &map);
        assert_int_equal(inode_map_put(&map, thread_inode, (uint32_t) map.n_keys), 0);
        assert_true(map.n_keys >= 8);

        assert_true(proc_fd >= 0);
        assert_int_equal(fd_walk(proc_fd, pids, n, &map, &walk), 0);
        assert_int_equal(owner_bpf_walk(bpf, pids, n, &map, &viabpf), 0);
        na = walk_pairs(&walk, &map, a);
        nb = walk_pairs(&viabpf, &map, b);
        for (size_t i = 0; i < MAX(na, nb); i++)
                if (i >= na || i >= nb || pair_cmp(&a[i], &b[i]) != 0)
                        fprintf(stderr, "pair %zu: fd walk %d:%llu, bpf %d:%llu\n", i,
                                i < na ? (int) a[i].pid : 0, i < na ? (unsigned long long) a[i].inode : 0,
                                i < nb ? (int) b[i].pid : 0, i < nb ? (unsigned long long) b[i].inode : 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof(Pair));
        printf("owner pairs: %zu, identical (fd walk: %zu fds read, bpf: %zu socket fds)\n", na, walk.n_fds,
               viabpf.n_fds);

        /* What the pairs must hold, and not hold. */
        assert_true(has_pair(b, nb, getpid(), fd_inode(l)));
        assert_true(has_pair(b, nb, c1, fd_inode(l)));
        assert_true(has_pair(b, nb, c1, fd_inode(sp[0])));
        assert_true(has_pair(b, nb, c1, c1_own));
        assert_false(has_pair(b, nb, getpid(), c1_own));
        assert_true(has_pair(b, nb, g, g_inode));
        assert_false(has_pair(b, nb, c3, thread_inode));
        for (size_t i = 0; i < nb; i++)
                assert_true(b[i].inode != thread_inode);

        /* The whole scan, rows and owners. */
        for (size_t i = 0; i < n; i++)
                scan_pids[i] = (SocketScanPid){pids[i], 0};
        {
                pid_t stable[] = {getpid(), c1, c2, g, c3};

                assert_scans_equal(scan_pids, n, stable, ELEMENTSOF(stable));
        }

        /* Processes that exit during the scans. */
        {
                pid_t churn = fork(), stable[] = {getpid(), c1, c2, g, c3};

                assert_true(churn >= 0);
                if (churn == 0) {
                        close(hold[1]);
                        for (;;) {
                                pid_t p = fork();
                                char c;

                                if (p == 0) {
                                        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

                                        (void) fd;
                                        _exit(0);
                                }
                                if (p > 0)
                                        waitpid(p, NULL, 0);
                                /* Stop when the test closes hold (poll without blocking). */
                                if (fcntl(hold[0], F_SETFL, O_NONBLOCK) == 0 && read(hold[0], &c, 1) == 0)
                                        _exit(0);
                        }
                }
                for (int i = 0; i < CHURN_SCANS; i++) {
                        n = list_pids(pids);
                        for (size_t k = 0; k < n; k++)
                                scan_pids[k] = (SocketScanPid){pids[k], 0};
                        assert_scans_equal(scan_pids, n, stable, ELEMENTSOF(stable));
                }
                printf("%d scan pairs while processes came and went: owners of the stable processes "
                       "identical\n",
                       CHURN_SCANS);
                close(hold[1]);
                assert_int_equal(waitpid(churn, &status, 0), churn);
        }
        close(hold[0]);
        assert_int_equal(waitpid(c1, &status, 0), c1);
        assert_int_equal(waitpid(c2, &status, 0), c2);
        assert_int_equal(waitpid(c3, &status, 0), c3);
        close(sp[0]);
        close(sp[1]);
        close(to_parent[0]);
        close(to_parent[1]);
        close(from_g[0]);
        close(from_g[1]);
}

/* owner_bpf_new() in a child with these effective capabilities dropped: 0 when it loaded, else -errno. */
static int load_without(uint64_t drop) {
        pid_t pid;
        int status;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
                struct __user_cap_data_struct d[2] = {};
                OwnerBpf *b = NULL;
                int r;

                if (syscall(SYS_capget, &h, d) < 0)
                        _exit(200);
                d[0].effective &= ~(uint32_t) drop;
                d[1].effective &= ~(uint32_t) (drop >> 32);
                if (syscall(SYS_capset, &h, d) < 0)
                        _exit(201);
                r = owner_bpf_new("/proc", &b);
                owner_bpf_free(b);
                _exit(r < 0 ? (-r & 0x7f) : 0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) < 200);
        return -WEXITSTATUS(status);
}

/* CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN, which implies both) are what loading needs: without all of
 * them it fails, and the scanner walks /proc. */
static void test_capabilities(void **state) {
        const uint64_t bpf_caps = UINT64_C(1) << CAP_BPF | UINT64_C(1) << CAP_PERFMON,
                       sys_admin = UINT64_C(1) << CAP_SYS_ADMIN;
        int r;

        (void) state;
        assert_int_equal(load_without(sys_admin), 0);
        r = load_without(bpf_caps | sys_admin);
        printf("without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: %s\n", strerror(-r));
        assert_true(r < 0);
        r = load_without(UINT64_C(1) << CAP_PERFMON | sys_admin);
        printf("without CAP_PERFMON and CAP_SYS_ADMIN: %s\n", strerror(-r));
        assert_true(r < 0);
        /* Without what the walk needs to read every process's fds, the iterator is not used either. */
        assert_int_equal(load_without(UINT64_C(1) << CAP_SYS_PTRACE), -ENOTSUP);
        assert_int_equal(load_without(UINT64_C(1) << CAP_DAC_READ_SEARCH), -ENOTSUP);
        assert_true(owner_bpf_new("/nonexistent-procsync", &(OwnerBpf *){NULL}) < 0);
}

static int run_in_namespaces(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same_owners),
                cmocka_unit_test(test_capabilities),
        };
        int r;

        r = owner_bpf_new("/proc", &bpf);
        if (r < 0) {
                printf("SKIP: the BPF owner iterator does not load here (the scanner uses the fd walk): "
                       "%s\n",
                       strerror(-r));
                return 77;
        }
        r = cmocka_run_group_tests(tests, NULL, NULL);
        bpf = owner_bpf_free(bpf);
        return r;
}

/* The namespaces are created in a child (a process that unshared CLONE_NEWPID cannot start the thread
 * LeakSanitizer stops the world with), whose own child is pid 1 in them and mounts /proc; the tests run in
 * pid 1's child, ending with exit() so that LeakSanitizer checks it. Not in pid 1 itself: the kernel
 * ignores a pid namespace init's own SIGABRT, so a failing check (abort_on_error) would spin there. When
 * pid 1 exits, the kernel kills whatever a failed test left behind. */
int main(void) {
        pid_t pid;
        int status;

        if (geteuid() != 0) {
                printf("SKIP: needs root (namespaces, BPF)\n");
                return 77;
        }
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                pid_t inner;

                if (unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET) < 0) {
                        printf("SKIP: cannot create PID, mount and network namespaces: %m\n");
                        fflush(stdout);
                        _exit(77);
                }
                inner = fork();
                if (inner < 0)
                        _exit(1);
                if (inner == 0) {
                        pid_t tests;

                        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
                                printf("SKIP: cannot mount a private /proc: %m\n");
                                fflush(stdout);
                                _exit(77);
                        }
                        tests = fork();
                        if (tests < 0)
                                _exit(1);
                        if (tests == 0)
                                exit(run_in_namespaces());
                        if (waitpid(tests, &status, 0) != tests)
                                _exit(1);
                        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
                }
                if (waitpid(inner, &status, 0) != inner)
                        _exit(1);
                _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
        }
        if (waitpid(pid, &status, 0) != pid)
                return 1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
