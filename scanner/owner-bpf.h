/* The accelerated owner map: which processes hold which socket, from a BPF task_file iterator
 * (owner-iter.bpf.c) instead of the /proc/<pid>/fd walk (fd-walk.h). One read() of the iterator lists
 * (pid, socket inode) for every socket fd of every process in a few milliseconds, where the walk costs a
 * getdents64() per process and a readlinkat() per fd.
 *
 * It gives exactly the owners the fd walk gives, on the condition that the walk reads the live /proc of
 * the scanner's own pid namespace with the scanner's capabilities (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH:
 * every process's fds are readable): the same processes (thread-group leaders, numbered in that
 * namespace), the same files (the leader's files table), the same inodes. owner_bpf_new() refuses
 * anything else, and the caller then uses the walk:
 *   - proc_root is not the live procfs of our pid namespace (checked through <root>/self/status: NSpid
 *     has exactly one number when the mount's namespace is ours);
 *   - loading is refused or fails: no CAP_BPF/CAP_PERFMON (or the seccomp filter forbids bpf()), no
 *     kernel BTF (/sys/kernel/btf/vmlinux), a kernel without task_file iterators (< 5.8);
 *   - the scanner lacks CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH: the walk then cannot read other users'
 *     fds, and the iterator, which would, must not give more owners than the walk;
 *   - the process runs under valgrind, whose memcheck does not know most bpf() commands.
 * A failure of one read (owner_bpf_walk) is reported to the caller, which walks /proc for that cycle. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "fd-walk.h"
#include "macro.h"
#include "socket-inode-map.h"

typedef struct OwnerBpf OwnerBpf;

/* Loads and attaches the iterator for the live procfs `proc_root` (see socket_proc_root_is_live()).
 * Returns 0 and *ret, or -errno: -ENOTSUP for a proc_root of another pid namespace, without the walk's
 * capabilities or under valgrind, else what libbpf or the kernel said (-EPERM without CAP_BPF and
 * CAP_PERFMON, -ENOENT without BTF, ...). libbpf's own messages go to the debug log. */
int owner_bpf_new(const char *proc_root, OwnerBpf **ret);

OwnerBpf *owner_bpf_free(OwnerBpf *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(OwnerBpf *, owner_bpf_free);

/* fd_walk()'s contract from the iterator: (map index, pid) for every socket fd whose inode is in `map`, of
 * every pid of `pids` (ascending, as fd_walk() is given them), ordered by pid. n_fds counts the socket fds
 * the iterator reported (not every fd, as the walk does), n_denied stays 0. -ENOMEM, or -errno of the
 * read (the caller then uses fd_walk()). */
int owner_bpf_walk(OwnerBpf *b, const pid_t *pids, size_t n_pids, const InodeMap *map, FdWalk *ret);
