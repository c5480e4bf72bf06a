/* The BPF half of the accelerated owner map (owner-bpf.h): a task_file iterator that writes one record
 * (pid, socket inode) for every open file that is a socket, of every thread-group leader, with the pid as
 * the scanner's pid namespace numbers it. Reading the iterator's fd runs it once over every task of the
 * reader's pid namespace; the kernel already skips the threads that share their leader's files table, and
 * the leader test below skips the ones that unshared it, because /proc/<pid>/fd shows the leader's table
 * only. The inode is the one "socket:[INODE]" names: SOCK_INODE(sock)->i_ino is file->f_inode->i_ino.
 *
 * CO-RE: built against vmlinux.h of the build machine, relocated by libbpf against the running kernel's
 * BTF at load time. */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "owner-record.h"

#define S_IFMT           00170000
#define S_IFSOCK         0140000
#define MAX_PID_NS_LEVEL 32 /* include/linux/pid_namespace.h */

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load: inode of the scanner's pid namespace (/proc/self/ns/pid). */
const volatile __u32 target_pidns_inum = 0;

SEC("iter/task_file")
int owner_iter(struct bpf_iter__task_file *ctx) {
        struct seq_file *seq = ctx->meta->seq;
        struct task_struct *task = ctx->task;
        struct file *file = ctx->file;
        struct owner_record rec = {};
        struct task_struct *me;
        struct inode *inode;
        struct upid upid;
        struct pid *pid;
        unsigned level;

        if (!task || !file) /* the last call, after every file */
                return 0;
        if (task->pid != task->tgid)
                return 0;
        inode = file->f_inode;
        if ((inode->i_mode & S_IFMT) != S_IFSOCK)
                return 0;

        /* The pid in the target namespace. numbers[i] is the pid in the namespace of level i, from the
         * initial one (0) to the task's own (pid->level); the target is the reader's (we run inside the
         * scanner's read(), and owner_bpf_new() checked that /proc is of that namespace), so its level is
         * the current task's and the number is at that index, when the task has one: a task of a parent
         * namespace has not (the iterator only visits tasks visible in the reader's namespace anyway).
         * Plain loads through the BTF pointers (the verifier turns them into faulting loads), one helper
         * read for the variable index. */
        pid = task->thread_pid;
        me = bpf_get_current_task_btf();
        if (!pid || !me->thread_pid)
                return 0;
        level = me->thread_pid->level;
        if (level > pid->level || level >= MAX_PID_NS_LEVEL)
                return 0;
        if (bpf_core_read(&upid, sizeof(upid), &((struct pid *) (unsigned long) pid)->numbers[level]) < 0)
                return 0;
        if (BPF_CORE_READ(upid.ns, ns.inum) != target_pidns_inum)
                return 0;
        rec.pid = (__u32) upid.nr;
        if (rec.pid == 0)
                return 0;
        rec.inode = inode->i_ino;
        bpf_seq_write(seq, &rec, sizeof(rec));
        return 0;
}
