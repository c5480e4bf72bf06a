/* The process half of procsync-scanner: one snapshot of every process under os-proc-root.
 *
 * proc_scanner_run() lists the root once and reads each process's files relative to an fd of its
 * directory: stat (ppid, comm, start ticks), status (real uid), cmdline, cgroup (container id), the exe
 * and ns/net links, and the user name of its uid from the process's own root. A ProcScanner keeps the
 * read buffer and the boot time between cycles; the passwd cache lives for one cycle. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "proc-parse.h"
#include "proc-stat.h"

typedef struct ScanProcess {
        pid_t pid;
        pid_t ppid;
        uid_t uid;
        uint64_t start_ticks;         /* clock ticks after boot: with pid, the identity of the process */
        int64_t start_time;           /* epoch seconds: boot time + start_ticks / CLK_TCK */
        uint64_t netns_inode;         /* 0 when the ns/net link cannot be read (no permission) */
        char comm[PROC_COMM_MAX * 3]; /* valid UTF-8 (repaired) */
        char container_id[PROC_CONTAINER_ID_LEN + 1];
        const char *cmdline; /* args joined by spaces; "" for kernel threads and zombies */
        const char *exe;     /* "" when unreadable (kernel threads, no permission) */
        const char *user;    /* passwd name, or the uid as text */
        char *strings;       /* owns cmdline, exe and user */

        /* Kept by the store (not by the scan): when the row was first written and in which scan generation
         * it last changed. */
        int64_t first_seen;
        uint64_t changed_generation;
} ScanProcess;

/* A set of processes sorted by pid. */
typedef struct ProcTable {
        ScanProcess *items;
        size_t n;
        size_t allocated;
} ProcTable;

/* Empties the table (frees the strings) and keeps the array for the next cycle. */
void proc_table_clear(ProcTable *t);
void proc_table_done(ProcTable *t);
/* Appends a process; takes the strings (cmdline, exe, user) by copy into one allocation. */
int proc_table_add(ProcTable *t, const ScanProcess *p, const char *cmdline, const char *exe,
                   const char *user);
/* Sorts by pid (the scan lists in pid order already; tests and the database load may not). */
void proc_table_sort(ProcTable *t);
/* The process with this pid, or NULL. The table must be sorted. */
ScanProcess *proc_table_find(const ProcTable *t, pid_t pid);
/* Swaps two tables (the store keeps the last committed one and the scan fills the other). */
void proc_table_swap(ProcTable *a, ProcTable *b);

typedef struct ProcScanStats {
        unsigned n_processes;
        unsigned n_kernel_threads; /* PF_KTHREAD in stat's flags */
        unsigned n_vanished;       /* listed, then gone before all their files were read */
        unsigned n_malformed;      /* stat or status unreadable (hidepid=) or unparsable: skipped */
        unsigned n_denied;         /* processes with a link we may not read (exe, ns/net, root) */
        unsigned n_passwd_files;   /* distinct process roots whose /etc/passwd was read */
} ProcScanStats;

typedef struct ProcScanner ProcScanner;

/* Opens `proc_root` (kept open: every cycle lists it again) and reads the boot time from <root>/stat. */
int proc_scanner_new(const char *proc_root, ProcScanner **ret);
ProcScanner *proc_scanner_free(ProcScanner *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProcScanner *, proc_scanner_free);

/* The boot time used for start_time (epoch seconds). */
uint64_t proc_scanner_boot_time(const ProcScanner *s);

/* Fills `t` (cleared first) with every process, sorted by pid. A process that exits during the scan is
 * skipped and counted, never an error. Fails only on the root itself (-errno) or -ENOMEM. */
int proc_scanner_run(ProcScanner *s, ProcTable *t, ProcScanStats *ret_stats);
