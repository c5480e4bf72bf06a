/* Least privilege for procsync-scanner: keep only the capabilities the scan needs, drop every other one
 * from the effective, permitted, inheritable, ambient and bounding sets, and set no_new_privs.
 *
 * What is kept, and why (also in the README):
 *   CAP_SYS_PTRACE       /proc/<pid>/{exe,root,ns/net,fd/N} of another user's process are behind ptrace
 *                        access checks (PTRACE_MODE_READ_FSCREDS): the exe path, the process's own root
 *                        (its /etc/passwd), its network namespace and its socket fds.
 *   CAP_DAC_READ_SEARCH  /proc/<pid>/fd/ is mode 0500 owned by the process's user; listing it needs
 *                        search permission. Also reads a container's /etc/passwd whatever its mode.
 *   CAP_SYS_ADMIN        setns(CLONE_NEWNET) into another network namespace to dump its sockets with
 *                        sock_diag netlink. Without it those namespaces are read from the text tables
 *                        <root>/<pid>/net/{tcp,tcp6,udp,udp6} instead (same rows, slower).
 *   CAP_BPF, CAP_PERFMON load the BPF task_file iterator that lists the socket owners (owner-bpf.h): a
 *                        tracing program needs both to load (CAP_BPF also for every bpf() call, with the
 *                        default kernel.unprivileged_bpf_disabled). Without them the owners come from the
 *                        /proc/<pid>/fd walk (same owners, slower).
 * The uid stays what it is (root under systemd), so the state directory keeps its owner. */
#pragma once

#include <stdbool.h>

typedef struct Privileges {
        bool had_any;     /* the process started with at least one capability */
        bool bounding;    /* the bounding set could be reduced (CAP_SETPCAP was there) */
        unsigned missing; /* bitmask of the five capabilities above that we never had */
} Privileges;

#define PRIVILEGE_SYS_PTRACE      (1u << 0)
#define PRIVILEGE_DAC_READ_SEARCH (1u << 1)
#define PRIVILEGE_SYS_ADMIN       (1u << 2)
#define PRIVILEGE_BPF             (1u << 3)
#define PRIVILEGE_PERFMON         (1u << 4)

/* Reduces the capability sets as described. Returns 0 and fills *ret, or -errno when the sets could not
 * be changed (which leaves the process with more than it needs: the caller must not run on). */
int privileges_drop(Privileges *ret);

/* "CAP_SYS_PTRACE CAP_SYS_ADMIN" for a `missing` mask, into a static string. */
const char *privileges_missing_to_string(unsigned missing);
