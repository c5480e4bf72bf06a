/* See proc-scan.h.
 *
 * One opendir of the root per cycle; each numeric entry is opened as a directory fd (O_PATH) and every file
 * of the process is read relative to it, so the path is resolved once and all reads refer to the same
 * process even if its pid is reused meanwhile (the old directory then answers ENOENT/ESRCH, never another
 * process's data). A process that disappears between two reads is dropped as a whole and counted: a
 * half-read row would be worse than none, and the next cycle sees it (or not) again.
 *
 * The comm comes from stat (it is the same kernel field as the comm file), which saves one file per
 * process. Every string is repaired to valid UTF-8 before it is stored. */
#include "proc-scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "macro.h"
#include "proc-read.h"
#include "proc-user.h"

/* cgroup and status are a few hundred bytes; a bound keeps a pathological file from costing memory. */
#define PROC_SMALL_FILE_MAX (64 * 1024)
#define PROC_STAT_FILE_MAX  4096
#define LINK_MAX_SIZE       4096

struct ProcScanner {
        char *proc_root;
        int root_fd;
        uint64_t boot_time;
        long clk_tck;
        ReadBuf buf;
        UserCache *users;
        char *cmdline; /* PROC_TEXT_REPAIRED_SIZE(PROC_CMDLINE_MAX) */
        char *exe;     /* PROC_TEXT_REPAIRED_SIZE(LINK_MAX_SIZE) */
        char link[LINK_MAX_SIZE + 1];
};

void proc_table_clear(ProcTable *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->items[i].strings);
        t->n = 0;
}

void proc_table_done(ProcTable *t) {
        proc_table_clear(t);
        free(t->items);
        *t = (ProcTable) {};
}

int proc_table_add(ProcTable *t, const ScanProcess *p, const char *cmdline, const char *exe,
                   const char *user) {
        size_t lc = strlen(cmdline), le = strlen(exe), lu = strlen(user);
        ScanProcess *e;
        char *s;

        if (t->n >= t->allocated) {
                size_t m = t->allocated ? t->allocated * 2 : 256;
                ScanProcess *q = reallocarray(t->items, m, sizeof(ScanProcess));

                if (!q)
                        return -ENOMEM;
                t->items = q;
                t->allocated = m;
        }
        s = malloc(lc + le + lu + 3);
        if (!s)
                return -ENOMEM;
        e = &t->items[t->n++];
        *e = *p;
        e->strings = s;
        e->cmdline = memcpy(s, cmdline, lc + 1);
        e->exe = memcpy(s + lc + 1, exe, le + 1);
        e->user = memcpy(s + lc + le + 2, user, lu + 1);
        return 0;
}

static int cmp_pid(const void *a, const void *b) {
        const ScanProcess *x = a, *y = b;

        return (x->pid > y->pid) - (x->pid < y->pid);
}

void proc_table_sort(ProcTable *t) {
        for (size_t i = 1; i < t->n; i++)
                if (t->items[i - 1].pid >= t->items[i].pid) {
                        qsort(t->items, t->n, sizeof(ScanProcess), cmp_pid);
                        return;
                }
}

ScanProcess *proc_table_find(const ProcTable *t, pid_t pid) {
        ScanProcess key = { .pid = pid };

        return t->n > 0 ? bsearch(&key, t->items, t->n, sizeof(ScanProcess), cmp_pid) : NULL;
}

void proc_table_swap(ProcTable *a, ProcTable *b) {
        ProcTable tmp = *a;

        *a = *b;
        *b = tmp;
}

ProcScanner *proc_scanner_free(ProcScanner *s) {
        if (!s)
                return NULL;
        free(s->proc_root);
        safe_close(s->root_fd);
        read_buf_done(&s->buf);
        user_cache_free(s->users);
        free(s->cmdline);
        free(s->exe);
        free(s);
        return NULL;
}

uint64_t proc_scanner_boot_time(const ProcScanner *s) {
        return s->boot_time;
}

int proc_scanner_new(const char *proc_root, ProcScanner **ret) {
        _cleanup_(proc_scanner_freep) ProcScanner *s = NULL;
        ssize_t n;
        int r;

        s = calloc(1, sizeof(ProcScanner));
        if (!s)
                return -ENOMEM;
        s->root_fd = -EBADF;
        s->proc_root = strdup(proc_root);
        s->cmdline = malloc(PROC_TEXT_REPAIRED_SIZE(PROC_CMDLINE_MAX));
        s->exe = malloc(PROC_TEXT_REPAIRED_SIZE(LINK_MAX_SIZE));
        if (!s->proc_root || !s->cmdline || !s->exe)
                return -ENOMEM;
        r = user_cache_new(&s->users);
        if (r < 0)
                return r;

        s->root_fd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0)
                return negative_errno();

        s->clk_tck = sysconf(_SC_CLK_TCK);
        if (s->clk_tck <= 0)
                return -EINVAL;

        /* The boot time is read once: the kernel derives btime from the wall clock minus uptime, so it can
         * move by a second after a clock adjustment, and every start_time would flap with it. */
        n = read_at(s->root_fd, "stat", &s->buf, PROC_SMALL_FILE_MAX);
        if (n < 0)
                return (int) n;
        r = proc_stat_parse_btime(s->buf.data, (size_t) n, &s->boot_time);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

static bool is_gone(int r) {
        return r == -ENOENT || r == -ESRCH;
}

/* Reads a link relative to the pid directory into s->link. Returns its length, or -errno. */
static ssize_t read_link(ProcScanner *s, int pid_fd, const char *name) {
        ssize_t n = readlinkat(pid_fd, name, s->link, sizeof(s->link) - 1);

        if (n < 0)
                return negative_errno();
        s->link[n] = 0;
        return n;
}

/* A failed read of a file every process has: -ENOMEM stops the scan, anything else (gone, hidden by
 * hidepid=, malformed) drops the process. */
static int read_required(ProcScanner *s, int pid_fd, const char *name, size_t max) {
        ssize_t n = read_at(pid_fd, name, &s->buf, max);

        if (n == -ENOMEM)
                return -ENOMEM;
        if (n < 0)
                return is_gone((int) n) ? -ESRCH : -EBADMSG;
        return (int) n;
}

/* Reads one process. Returns 0 when added, -ESRCH when it vanished, -EBADMSG when a file every process has
 * was unreadable or malformed, -ENOMEM. */
static int scan_one(ProcScanner *s, pid_t pid, int pid_fd, ProcTable *t, ProcScanStats *stats) {
        ScanProcess p = { .pid = pid };
        ProcStat st;
        const char *user;
        bool denied = false, user_denied, kthread;
        ssize_t n;
        int r;

        r = read_required(s, pid_fd, "stat", PROC_STAT_FILE_MAX);
        if (r == 0)
                r = -ESRCH; /* an empty stat: the task is being torn down */
        if (r < 0)
                return r;
        if (proc_stat_parse(s->buf.data, (size_t) r, &st) < 0)
                return -EBADMSG;
        p.ppid = st.ppid;
        p.start_ticks = st.start_ticks;
        p.start_time = (int64_t) (s->boot_time + st.start_ticks / (uint64_t) s->clk_tck);
        (void) text_repair_utf8(st.comm, strlen(st.comm), p.comm);

        /* A kernel thread has uid 0, no cmdline, no exe and the root cgroup: only its namespace is worth
         * a read. Kernel threads are a fifth of the processes of a small host and more on a big one. */
        kthread = st.flags & PROC_PF_KTHREAD;
        s->cmdline[0] = 0;
        if (!kthread) {
                r = read_required(s, pid_fd, "status", PROC_SMALL_FILE_MAX);
                if (r < 0)
                        return r;
                if (proc_status_parse_uid(s->buf.data, (size_t) r, &p.uid) < 0)
                        return r == 0 ? -ESRCH : -EBADMSG;

                r = read_required(s, pid_fd, "cmdline", PROC_CMDLINE_MAX);
                if (r < 0)
                        return r;
                (void) proc_cmdline_join(s->buf.data, (size_t) r, s->cmdline);

                r = read_required(s, pid_fd, "cgroup", PROC_SMALL_FILE_MAX);
                if (r == -ENOMEM || r == -ESRCH)
                        return r;
                (void) proc_cgroup_container_id(s->buf.data, r < 0 ? 0 : (size_t) r, p.container_id);
        }

        /* exe and ns/net need ptrace access to the process; without it they stay empty. A kernel thread or
         * a zombie has no exe (ENOENT) while its directory is still there. */
        s->exe[0] = 0;
        n = kthread ? -ENOENT : read_link(s, pid_fd, "exe");
        if (n >= 0)
                (void) text_repair_utf8(s->link, (size_t) n, s->exe);
        else if (n == -EACCES || n == -EPERM)
                denied = true;

        n = read_link(s, pid_fd, "ns/net");
        if (n >= 0)
                (void) proc_ns_link_parse(s->link, (size_t) n, "net", &p.netns_inode);
        else if (n == -EACCES || n == -EPERM)
                denied = true;

        r = user_cache_lookup(s->users, pid_fd, p.uid, &user, &user_denied);
        if (r < 0)
                return r;

        /* The process may have exited after its last read succeeded; that is fine, it existed during the
         * scan. What is dropped is only a process we could not read completely. */
        r = proc_table_add(t, &p, s->cmdline, s->exe, user);
        if (r < 0)
                return r;
        if (denied || user_denied)
                stats->n_denied++;
        if (kthread)
                stats->n_kernel_threads++;
        return 0;
}

static bool parse_pid(const char *name, pid_t *ret) {
        uint64_t v = 0;

        if (*name == 0 || *name == '0')
                return false;
        for (const char *p = name; *p; p++) {
                if (*p < '0' || *p > '9')
                        return false;
                v = v * 10 + (uint64_t) (*p - '0');
                if (v > INT32_MAX)
                        return false;
        }
        *ret = (pid_t) v;
        return true;
}

int proc_scanner_run(ProcScanner *s, ProcTable *t, ProcScanStats *ret_stats) {
        ProcScanStats stats = {};
        struct dirent *de;
        DIR *d;
        int fd, r = 0;

        proc_table_clear(t);
        user_cache_reset(s->users);

        /* A fresh directory stream on the kept root fd: procfs lists the pids alive now. */
        fd = openat(s->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                r = negative_errno();
                safe_close(fd);
                return r;
        }

        while ((errno = 0, de = readdir(d))) {
                _cleanup_close_ int pid_fd = -EBADF;
                pid_t pid;

                if (!parse_pid(de->d_name, &pid))
                        continue;
                pid_fd = openat(dirfd(d), de->d_name, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (pid_fd < 0) {
                        if (errno == ENOENT || errno == ESRCH)
                                stats.n_vanished++;
                        else if (errno != ENOTDIR)
                                stats.n_denied++;
                        continue;
                }
                r = scan_one(s, pid, pid_fd, t, &stats);
                if (r == -ENOMEM)
                        break;
                if (r == -ESRCH)
                        stats.n_vanished++;
                else if (r < 0)
                        stats.n_malformed++;
                else
                        stats.n_processes++;
                r = 0;
        }
        if (r == 0 && errno != 0)
                r = negative_errno();
        closedir(d);
        if (r < 0) {
                proc_table_clear(t);
                return r;
        }

        proc_table_sort(t);
        stats.n_passwd_files = user_cache_n_files(s->users);
        if (ret_stats)
                *ret_stats = stats;
        return 0;
}
