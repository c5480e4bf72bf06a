/* The owner walk: which processes hold which socket. Reads <root>/<pid>/fd/ of every given pid and
 * records (socket index, pid) for every fd that is "socket:[INODE]" with INODE in the map. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "socket-inode-map.h"

typedef struct FdOwner {
        uint32_t index; /* the value of the socket's inode in the map */
        pid_t pid;
} FdOwner;

typedef struct FdWalk {
        FdOwner *owners; /* in walk order; a pid holding a socket in several fds appears once per fd */
        size_t n_owners, allocated;
        size_t n_fds;      /* fd entries read */
        unsigned n_denied; /* pids whose fd/ or fd links could not be read (EACCES/EPERM) */
} FdWalk;

/* proc_root_fd: an open directory fd of the proc root. A pid that is gone (ENOENT/ESRCH) is skipped
 * silently, as is an fd closed while the walk reads it. Returns 0 or -ENOMEM (other errors of a single
 * pid are skipped: one odd process never hides every owner). */
int fd_walk(int proc_root_fd, const pid_t *pids, size_t n_pids, const InodeMap *map, FdWalk *ret);

void fd_walk_done(FdWalk *w);

/* Appends one (index, pid) to w->owners (also for the other owner source, owner-bpf.c). 0 or -ENOMEM. */
int fd_walk_append(FdWalk *w, uint32_t index, pid_t pid);
