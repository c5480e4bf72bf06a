/* Parser of /proc/<pid>/stat (proc(5)), from a buffer. Shared by the scanner (every process) and by the
 * daemons and procctl (a pid's start time, to check that a pid from a heartbeat row still names the same
 * process before signalling it). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROC_COMM_MAX 64 /* the kernel's TASK_COMM_LEN is 16; keep room for odd kernels */
#define PROC_PF_KTHREAD 0x00200000u /* ProcStat.flags: a kernel thread (PF_KTHREAD, include/linux/sched.h) */

typedef struct ProcStat {
        pid_t pid;
        char comm[PROC_COMM_MAX]; /* without the parentheses; may contain spaces and ')' */
        char state;
        pid_t ppid;
        uint32_t flags;           /* field 9: the kernel's PF_* task flags */
        uint64_t start_ticks;     /* field 22: start time in clock ticks after boot */
} ProcStat;

/* The comm is everything between the first '(' and the LAST ')' (comm may contain both). Returns -EBADMSG
 * on malformed input. */
int proc_stat_parse(const char *buf, size_t len, ProcStat *ret);

/* Reads and parses "<proc_root>/<pid>/stat" (pid 0 = "self"). -ENOENT/-ESRCH when the process is gone. */
int proc_stat_read(const char *proc_root, pid_t pid, ProcStat *ret);
