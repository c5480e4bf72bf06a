/* See owner-bpf.h. The skeleton (owner-iter.skel.h, generated at build time by `bpftool gen skeleton` from
 * owner-iter.bpf.c) embeds the BPF object; owner_bpf_new() sets the target pid namespace in its read-only
 * data, loads it (libbpf relocates it against /sys/kernel/btf/vmlinux and the kernel verifies it) and
 * attaches the iterator once: that costs ~15 ms, mostly libbpf parsing the kernel's BTF, so the daemon does
 * it once at start-up, not per cycle. Each walk then opens a fresh iterator instance (bpf_iter_create())
 * and reads it to the end; the program runs inside those read() calls.
 *
 * The records come in task order, which is ascending pid of the reader's namespace; they are filtered
 * (pid among the given ones, inode in the map) and, should that order ever change, sorted by pid, because
 * attach_owners() in socket-scan.c relies on it. */
#include "owner-bpf.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/types.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "log.h"
#include "owner-iter.skel.h"
#include "owner-record.h"

#define READ_BUFFER (64 * 1024) /* a multiple of the record size */

struct OwnerBpf {
        struct owner_iter *skel;
        struct bpf_link *link;
};

static int libbpf_log(enum libbpf_print_level level, const char *format, va_list ap) {
        char buf[512];
        size_t n;

        (void) level;
        if (log_get_max_level() < LOG_LEVEL_DEBUG)
                return 0;
        vsnprintf(buf, sizeof(buf), format, ap);
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = 0;
        log_debug("libbpf: %s", buf);
        return 0;
}

/* The inode of the pid namespace that numbers proc_root's pids, when it is ours: NSpid in
 * <root>/self/status lists self's pid from the mount's namespace down to our own, so exactly one number
 * means they are the same. -ENOTSUP when they differ (or the kernel predates NSpid, 4.1). */
static int own_pidns_inode(const char *proc_root, __u32 *ret) {
        _cleanup_close_ int root_fd = -EBADF, fd = -EBADF;
        char buf[4096], *line, *end;
        struct stat st;
        ssize_t n;
        unsigned numbers = 0;

        root_fd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return negative_errno();
        fd = openat(root_fd, "self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = 0;
        line = strstr(buf, "\nNSpid:");
        if (!line)
                return -ENOTSUP;
        line += strlen("\nNSpid:");
        end = strchrnul(line, '\n');
        for (char *p = line; p < end; p++)
                if (*p >= '0' && *p <= '9' && (p == line || p[-1] == ' ' || p[-1] == '\t'))
                        numbers++;
        if (numbers != 1)
                return -ENOTSUP;
        if (fstatat(root_fd, "self/ns/pid", &st, 0) < 0)
                return negative_errno();
        *ret = (__u32) st.st_ino;
        return 0;
}

/* The iterator sees every process's files; the walk only those its ptrace and permission checks let it
 * read. So that both give the same owners, the iterator is only used when the walk could read them all. */
static bool can_walk_every_process(void) {
        struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
        uint64_t effective;

        if (syscall(SYS_capget, &header, data) < 0)
                return false;
        effective = data[0].effective | (uint64_t) data[1].effective << 32;
        return (effective & (UINT64_C(1) << CAP_SYS_PTRACE)) &&
               (effective & (UINT64_C(1) << CAP_DAC_READ_SEARCH));
}

OwnerBpf *owner_bpf_free(OwnerBpf *b) {
        if (!b)
                return NULL;
        bpf_link__destroy(b->link);
        owner_iter__destroy(b->skel);
        free(b);
        return NULL;
}

int owner_bpf_new(const char *proc_root, OwnerBpf **ret) {
        _cleanup_(owner_bpf_freep) OwnerBpf *b = NULL;
        __u32 pidns;
        int r;

        if (RUNNING_ON_VALGRIND || !can_walk_every_process())
                return -ENOTSUP;
        r = own_pidns_inode(proc_root, &pidns);
        if (r < 0)
                return r;

        libbpf_set_print(libbpf_log);
        b = calloc(1, sizeof(OwnerBpf));
        if (!b)
                return -ENOMEM;
        b->skel = owner_iter__open();
        if (!b->skel)
                return negative_errno();
        b->skel->rodata->target_pidns_inum = pidns;
        r = owner_iter__load(b->skel);
        if (r < 0)
                return r;
        b->link = bpf_program__attach_iter(b->skel->progs.owner_iter, NULL);
        if (!b->link)
                return negative_errno();
        *ret = TAKE_PTR(b);
        return 0;
}

static int pid_cmp(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

        return (x > y) - (x < y);
}

static int owner_cmp(const void *a, const void *b) {
        const FdOwner *x = a, *y = b;

        return (x->pid > y->pid) - (x->pid < y->pid);
}

int owner_bpf_walk(OwnerBpf *b, const pid_t *pids, size_t n_pids, const InodeMap *map, FdWalk *ret) {
        _cleanup_(fd_walk_done) FdWalk w = {};
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t have = 0;
        bool sorted = true;
        int r;

        if (!b || !ret || (n_pids > 0 && !pids))
                return -EINVAL;
        buf = malloc(READ_BUFFER);
        if (!buf)
                return -ENOMEM;
        fd = bpf_iter_create(bpf_link__fd(b->link));
        if (fd < 0)
                return fd;

        for (;;) {
                ssize_t n = read(fd, buf + have, READ_BUFFER - have);
                size_t off = 0;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                have += (size_t) n;
                for (; have - off >= sizeof(struct owner_record); off += sizeof(struct owner_record)) {
                        struct owner_record rec;
                        pid_t pid;
                        uint32_t index;

                        memcpy(&rec, buf + off, sizeof(rec));
                        w.n_fds++;
                        pid = (pid_t) rec.pid;
                        index = inode_map_get(map, rec.inode);
                        if (index == INODE_MAP_NONE || !bsearch(&pid, pids, n_pids, sizeof(pid_t), pid_cmp))
                                continue;
                        if (w.n_owners > 0 && w.owners[w.n_owners - 1].pid > pid)
                                sorted = false;
                        r = fd_walk_append(&w, index, pid);
                        if (r < 0)
                                return r;
                }
                /* The kernel hands out whole records; keep a partial one for the next read all the same. */
                memmove(buf, buf + off, have - off);
                have -= off;
        }
        if (have != 0)
                return -EBADMSG;
        if (!sorted)
                qsort(w.owners, w.n_owners, sizeof(FdOwner), owner_cmp);
        *ret = w;
        w = (FdWalk){};
        return 0;
}
