/* See socket-scan.h. The scan in four steps:
 *   1. group the given pids by netns inode (sorted copy; a pid's own inode read when the caller gave 0);
 *   2. dump each netns once through the first of its pids that works: netlink on the live /proc (in our
 *      own netns directly, in another one through setns() and back), else, or when netlink is refused,
 *      the four text tables; a pid that fails (exited, pid reused into another netns) passes the turn to
 *      the next pid of the group;
 *   3. sort by (netns, inode), drop duplicates (a dump racing with socket creation may repeat a row), set
 *      roles;
 *   4. list the owners — from the BPF iterator when the caller loaded one (owner-bpf.h), else (or when its
 *      read fails) by walking the fds of every pid in ascending pid order — then bucket the (socket, pid)
 *      pairs by socket with a counting sort: the pids of each socket come out ascending without sorting
 *      them, and all owner lists share one array. Sockets no pid owns are dropped. */
#include "socket-scan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-walk.h"
#include "log.h"
#include "macro.h"
#include "net-table.h"
#include "owner-bpf.h"
#include "sock-diag.h"
#include "socket-inode-map.h"
#include "socket-list.h"

typedef struct ScanContext {
        const char *proc_root;
        int root_fd;
        bool live;
        OwnerBpf *owner_bpf;
        int orig_netns_fd; /* our own netns, to come back to after a setns(); live only */
        uint64_t own_netns_inode;
        SocketList list;
        SocketScan *figures;
} ScanContext;

static int pid_netns_cmp(const void *a, const void *b) {
        const SocketScanPid *x = a, *y = b;

        if (x->netns_inode != y->netns_inode)
                return x->netns_inode < y->netns_inode ? -1 : 1;
        return (x->pid > y->pid) - (x->pid < y->pid);
}

static int pid_cmp(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

        return (x > y) - (x < y);
}

static int socket_cmp(const void *a, const void *b) {
        const ScannedSocket *x = a, *y = b;

        if (x->netns_inode != y->netns_inode)
                return x->netns_inode < y->netns_inode ? -1 : 1;
        return (x->inode > y->inode) - (x->inode < y->inode);
}

static int scan_netlink(ScanContext *c, pid_t pid, uint64_t netns_inode) {
        SocketListAdd add = {.list = &c->list, .netns_inode = netns_inode};
        _cleanup_close_ int fd = -EBADF;

        if (netns_inode == c->own_netns_inode)
                fd = sock_diag_open();
        else {
                _cleanup_close_ int ns_fd = -EBADF;
                char path[64];
                struct stat st;

                snprintf(path, sizeof(path), "%d/ns/net", (int) pid);
                ns_fd = openat(c->root_fd, path, O_RDONLY | O_CLOEXEC);
                if (ns_fd < 0)
                        return negative_errno();
                /* The pid may have been reused since the process scan: only dump the netns we were asked. */
                if (fstat(ns_fd, &st) < 0)
                        return negative_errno();
                if ((uint64_t) st.st_ino != netns_inode)
                        return -ESTALE;
                fd = sock_diag_open_in_netns(ns_fd, c->orig_netns_fd);
        }
        if (fd < 0)
                return fd;
        return sock_diag_dump(fd, socket_list_add_cb, &add);
}

static int scan_tables(ScanContext *c, pid_t pid, uint64_t netns_inode) {
        static const char *const tables[] = {"tcp", "tcp6", "udp", "udp6"};
        SocketListAdd add = {.list = &c->list, .netns_inode = netns_inode};
        _cleanup_close_ int dir_fd = -EBADF;
        bool missing = false;
        char path[64];
        int r;

        snprintf(path, sizeof(path), "%d/net", (int) pid);
        dir_fd = openat(c->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                return negative_errno();

        for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
                r = net_table_read(dir_fd, tables[i], socket_list_add_cb, &add);
                if (r == -ENOENT) {
                        missing = true; /* a kernel or netns without IPv6 (or UDP): not an error */
                        continue;
                }
                if (r < 0)
                        return r;
        }
        /* A table that vanished may also mean that the process exited between two reads: then the rows
         * are incomplete, and the next pid of the netns gets the turn. */
        snprintf(path, sizeof(path), "%d", (int) pid);
        if (missing && faccessat(c->root_fd, path, F_OK, 0) < 0)
                return -ESRCH;
        return 0;
}

/* The pid no longer names a process of this netns: exited, or reused by a process of another netns. */
static bool pid_is_gone(int r) {
        return r == -ENOENT || r == -ESRCH || r == -ESTALE;
}

/* Dumps one netns through the first of its pids that works. Returns 0, -ESRCH when none did, -ENOMEM or
 * -ENOTRECOVERABLE (stuck in a foreign netns). */
static int scan_netns(ScanContext *c, const SocketScanPid *group, size_t n) {
        for (size_t i = 0; i < n; i++) {
                size_t mark = c->list.n, mark_no_inode = c->list.n_no_inode;
                int r;

                if (c->live) {
                        r = scan_netlink(c, group[i].pid, group[i].netns_inode);
                        if (r >= 0) {
                                c->figures->n_netlink++;
                                return 0;
                        }
                        c->list.n = mark;
                        c->list.n_no_inode = mark_no_inode;
                        if (r == -ENOMEM || r == -ENOTRECOVERABLE)
                                return r;
                        if (pid_is_gone(r))
                                continue;
                        /* Refused (see sock_diag_refused()) or failed: the tables still work. */
                        if (!sock_diag_refused(r))
                                log_debug_errno(r,
                                                "sock_diag dump through pid %d failed, using the tables: %m",
                                                (int) group[i].pid);
                }
                r = scan_tables(c, group[i].pid, group[i].netns_inode);
                if (r >= 0) {
                        c->figures->n_table++;
                        return 0;
                }
                c->list.n = mark;
                c->list.n_no_inode = mark_no_inode;
                if (r == -ENOMEM)
                        return r;
        }
        return -ESRCH;
}

/* Fills the owners of every socket of the (sorted, deduplicated) list; drops the unowned ones. */
static int attach_owners(ScanContext *c, const SocketScanPid *pids, size_t n_pids, SocketScan *s) {
        _cleanup_free_ pid_t *walk_pids = NULL, *storage = NULL;
        _cleanup_free_ size_t *count = NULL;
        _cleanup_(inode_map_done) InodeMap map = {};
        _cleanup_(fd_walk_done) FdWalk walk = {};
        size_t n_walk = 0, n_unique = 0, kept = 0;
        ScannedSocket *items = c->list.items;
        int r;

        r = inode_map_init(&map, c->list.n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->list.n; i++) {
                r = inode_map_put(&map, items[i].inode, (uint32_t) i);
                if (r < 0 && r != -EEXIST)
                        return r;
        }

        walk_pids = reallocarray(NULL, n_pids ?: 1, sizeof(pid_t));
        if (!walk_pids)
                return -ENOMEM;
        for (size_t i = 0; i < n_pids; i++)
                if (pids[i].pid > 0)
                        walk_pids[n_walk++] = pids[i].pid;
        qsort(walk_pids, n_walk, sizeof(pid_t), pid_cmp);

        r = -ENOTSUP;
        if (c->owner_bpf) {
                r = owner_bpf_walk(c->owner_bpf, walk_pids, n_walk, &map, &walk);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_debug_errno(r, "Reading the BPF owner iterator failed, walking /proc: %m");
                else
                        s->owner_source = SOCKET_OWNER_SOURCE_BPF;
        }
        if (r < 0) {
                r = fd_walk(c->root_fd, walk_pids, n_walk, &map, &walk);
                if (r < 0)
                        return r;
                s->owner_source = SOCKET_OWNER_SOURCE_FD_WALK;
        }
        s->n_fds = walk.n_fds;
        s->n_fd_denied = walk.n_denied;

        /* Counting sort by socket index; walk order is ascending pid, so each bucket is too, and a pid
         * holding a socket in several fds is adjacent to itself. */
        count = calloc(c->list.n + 1, sizeof(size_t));
        if (!count)
                return -ENOMEM;
        for (size_t i = 0; i < walk.n_owners; i++)
                count[walk.owners[i].index + 1]++;
        for (size_t i = 1; i <= c->list.n; i++)
                count[i] += count[i - 1];
        storage = reallocarray(NULL, walk.n_owners ?: 1, sizeof(pid_t));
        if (!storage)
                return -ENOMEM;
        for (size_t i = 0; i < walk.n_owners; i++)
                storage[count[walk.owners[i].index]++] = walk.owners[i].pid;
        /* count[i] is now the end of bucket i; compact buckets in place, dropping repeated pids. */
        for (size_t i = 0, start = 0; i < c->list.n; i++) {
                size_t end = count[i], first = n_unique;

                for (size_t k = start; k < end; k++)
                        if (n_unique == first || storage[n_unique - 1] != storage[k])
                                storage[n_unique++] = storage[k];
                start = end;
                items[i].n_pids = n_unique - first;
                items[i].pids = storage + first;
        }

        for (size_t i = 0; i < c->list.n; i++) {
                if (items[i].n_pids == 0) {
                        s->n_unowned++;
                        continue;
                }
                items[kept++] = items[i];
        }
        c->list.n = kept;
        s->owner_pids = TAKE_PTR(storage);
        return 0;
}

int socket_scan(const char *proc_root, bool live_proc, OwnerBpf *owner_bpf, const SocketScanPid *pids,
                size_t n_pids, SocketScan *ret) {
        _cleanup_close_ int root_fd = -EBADF, orig_netns_fd = -EBADF;
        _cleanup_free_ SocketScanPid *sorted = NULL;
        SocketScan s = {};
        ScanContext c;
        size_t n = 0;
        int r;

        if (!proc_root || !ret || (n_pids > 0 && !pids))
                return -EINVAL;

        root_fd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return negative_errno();

        sorted = reallocarray(NULL, n_pids ?: 1, sizeof(SocketScanPid));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n_pids; i++) {
                SocketScanPid p = pids[i];

                if (p.pid <= 0)
                        continue;
                if (p.netns_inode == 0 && socket_read_netns_inode(proc_root, p.pid, &p.netns_inode) < 0)
                        continue; /* gone, or its netns is not ours to see: it owns nothing we can find */
                sorted[n++] = p;
        }
        qsort(sorted, n, sizeof(SocketScanPid), pid_netns_cmp);

        c = (ScanContext){
                .proc_root = proc_root,
                .root_fd = root_fd,
                .live = live_proc,
                .owner_bpf = live_proc ? owner_bpf : NULL,
                .orig_netns_fd = -EBADF,
                .figures = &s,
        };
        if (live_proc) {
                struct stat st;

                orig_netns_fd = openat(root_fd, "self/ns/net", O_RDONLY | O_CLOEXEC);
                if (orig_netns_fd < 0)
                        return negative_errno();
                if (fstat(orig_netns_fd, &st) < 0)
                        return negative_errno();
                c.orig_netns_fd = orig_netns_fd;
                c.own_netns_inode = (uint64_t) st.st_ino;
        }

        for (size_t i = 0; i < n;) {
                size_t j = i + 1;

                while (j < n && sorted[j].netns_inode == sorted[i].netns_inode)
                        j++;
                s.n_netns++;
                r = scan_netns(&c, sorted + i, j - i);
                if (r == -ESRCH)
                        s.n_netns_failed++;
                else if (r < 0)
                        goto fail;
                i = j;
        }

        if (c.list.n > 0)
                qsort(c.list.items, c.list.n, sizeof(ScannedSocket), socket_cmp);
        {
                size_t k = 0;

                for (size_t i = 0; i < c.list.n; i++)
                        if (k == 0 || socket_cmp(&c.list.items[k - 1], &c.list.items[i]) != 0)
                                c.list.items[k++] = c.list.items[i];
                c.list.n = k;
        }

        r = socket_list_set_roles(&c.list);
        if (r < 0)
                goto fail;
        r = attach_owners(&c, sorted, n, &s);
        if (r < 0)
                goto fail;

        s.n_unowned += c.list.n_no_inode;
        s.sockets = c.list.items;
        s.n_sockets = c.list.n;
        *ret = s;
        return 0;

fail:
        socket_list_done(&c.list);
        socket_scan_done(&s);
        return r;
}

void socket_scan_done(SocketScan *s) {
        if (!s)
                return;
        free(s->sockets);
        free(s->owner_pids);
        *s = (SocketScan){};
}

const char *socket_owner_source_to_string(SocketOwnerSource s) {
        switch (s) {
        case SOCKET_OWNER_SOURCE_FD_WALK:
                return "fdwalk";
        case SOCKET_OWNER_SOURCE_BPF:
                return "bpf";
        default:
                return "none";
        }
}
