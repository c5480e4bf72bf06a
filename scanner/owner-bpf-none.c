/* owner-bpf.h for a build without the BPF owner iterator (meson -Dbpf=disabled, or no libbpf, bpftool or
 * kernel BTF on the build machine): nothing loads, and the scanner walks /proc/<pid>/fd as it does when
 * loading fails at run time. */
#include "owner-bpf.h"

#include <errno.h>

int owner_bpf_new(const char *proc_root, OwnerBpf **ret) {
        (void) proc_root;
        (void) ret;
        return -EOPNOTSUPP;
}

OwnerBpf *owner_bpf_free(OwnerBpf *b) {
        (void) b;
        return NULL;
}

int owner_bpf_walk(OwnerBpf *b, const pid_t *pids, size_t n_pids, const InodeMap *map, FdWalk *ret) {
        (void) b;
        (void) pids;
        (void) n_pids;
        (void) map;
        (void) ret;
        return -EOPNOTSUPP;
}
