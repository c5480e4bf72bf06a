/* The socket half of procsync-scanner: every kept TCP/UDP socket of every network namespace seen by the
 * process scan, with all its owning pids and its role.
 *
 * One scan: the pids of the process scan are grouped by network namespace; each netns is dumped once,
 * through one of its pids — sock_diag netlink on a live /proc (setns into the netns to open the netlink
 * socket, then back), else the text tables <root>/<pid>/net/{tcp,tcp6,udp,udp6}. Then socket inodes are
 * mapped to their owners by one read of the BPF task_file iterator (owner-bpf.h) when the caller loaded
 * it, else by one walk of <root>/<pid>/fd/ of every given pid; both give the same owners.
 *
 * Kept: TCP LISTEN ("listen") and ESTABLISHED ("established"); UDP connected ("connected": a remote
 * address) and bound listeners ("bound": local port != 0, no remote). IPv4 and IPv6; v4-mapped v6
 * addresses (::ffff:a.b.c.d) are reported as IPv4 with family 4. A socket nobody owns (no fd of any given
 * pid points at it: not yet accept()ed, or its owner is invisible) is not reported (counted in
 * n_unowned).
 *
 * Role (`server`): true when the socket's local port is a listening port of its netns — a TCP listener
 * for TCP sockets, a bound UDP socket for UDP sockets — on the any address (0.0.0.0 or ::) or on the
 * socket's own local address. Listeners and bound UDP sockets are servers themselves. A connected UDP
 * socket is a client unless its local port is a bound UDP port as above (a UDP server answering from a
 * connected socket); the DeepFlow sink treats all UDP as client anyway ("UDP is always client").
 *
 * Not thread-safe (setns() changes the calling thread's netns; the scanner has no threads). */
#pragma once

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One process of the process scan. */
typedef struct SocketScanPid {
        pid_t pid;
        uint64_t netns_inode; /* inode of <root>/<pid>/ns/net; 0 = unknown, socket_scan() reads it */
} SocketScanPid;

typedef struct ScannedSocket {
        bool udp;                          /* else TCP */
        uint8_t family;                    /* 4 or 6 (v4-mapped v6 is 4) */
        char state[16];                    /* "listen", "established", "bound" or "connected" */
        bool server;                       /* role: server, else client */
        char local_addr[INET6_ADDRSTRLEN]; /* "127.0.0.1", "::1", "0.0.0.0", "::" */
        uint16_t local_port;
        char remote_addr[INET6_ADDRSTRLEN]; /* "0.0.0.0" / "::" when there is no remote end */
        uint16_t remote_port;               /* 0 when there is no remote end */
        uint64_t inode;                     /* socket inode (socket:[N]) */
        uint64_t netns_inode;
        const pid_t *pids; /* every owner, ascending, no duplicates; n_pids >= 1 */
        size_t n_pids;     /* (points into memory owned by the SocketScan) */
} ScannedSocket;

typedef struct OwnerBpf OwnerBpf;

typedef enum SocketOwnerSource {
        SOCKET_OWNER_SOURCE_NONE,    /* no owner lookup ran (no sockets, or an error before it) */
        SOCKET_OWNER_SOURCE_FD_WALK, /* the /proc/<pid>/fd walk (fd-walk.h) */
        SOCKET_OWNER_SOURCE_BPF,     /* the BPF task_file iterator (owner-bpf.h) */
} SocketOwnerSource;

typedef struct SocketScan {
        ScannedSocket *sockets; /* sorted by (netns_inode, inode) */
        size_t n_sockets;

        /* Figures of the scan, for the scanner's status/stats. */
        unsigned n_netns;        /* distinct network namespaces among the given pids */
        unsigned n_netlink;      /* netns dumped with sock_diag netlink */
        unsigned n_table;        /* netns read from the text tables */
        unsigned n_netns_failed; /* netns none of whose pids could be dumped (all exited, refused) */
        size_t n_unowned;        /* kept sockets dropped because no given pid owns them */
        size_t n_fds;            /* fd entries read by the owner walk; socket fds the BPF iterator gave */
        unsigned n_fd_denied;    /* pids whose fd/ could not be read (EACCES/EPERM: missing capability) */

        /* Where the owners came from. */
        SocketOwnerSource owner_source;

        pid_t *owner_pids; /* storage of every ScannedSocket.pids */
} SocketScan;

/* Scans the sockets of every network namespace of `pids` (the processes of this cycle's process scan, in
 * any order) under `proc_root` (e.g. "/proc"). `live_proc` says proc_root is this host's live procfs
 * (see socket_proc_root_is_live()): only then is netlink used, and the owners are read from `owner_bpf`
 * when it is not NULL (owner_bpf_new(); a failed read falls back to the fd walk). A process that exits
 * during the scan is skipped silently; a netns whose pids all fail is counted in n_netns_failed, not an
 * error. Returns 0 and fills *ret (free with socket_scan_done()), or -errno (-ENOMEM, -EINVAL, or when the
 * original netns cannot be restored after a setns(), -errno of that: the caller must then exit). */
int socket_scan(const char *proc_root, bool live_proc, OwnerBpf *owner_bpf, const SocketScanPid *pids,
                size_t n_pids, SocketScan *ret);

/* "fdwalk", "bpf" or "none": the owner_source figure of the scanner's stats. */
const char *socket_owner_source_to_string(SocketOwnerSource s);

/* Frees what socket_scan() allocated and zeroes *s. Accepts a zeroed SocketScan. */
void socket_scan_done(SocketScan *s);

/* 1 when proc_root is the live procfs of this process's pid namespace (a procfs whose "self" is our
 * pid), 0 when not (a copied tree, a fixture, another pid namespace's procfs), -errno on failure. */
int socket_proc_root_is_live(const char *proc_root);

/* Reads the network namespace inode of a process from the link "<proc_root>/<pid>/ns/net"
 * ("net:[4026531840]"). -ENOENT/-ESRCH when the process is gone, -EBADMSG on a malformed link. */
int socket_read_netns_inode(const char *proc_root, pid_t pid, uint64_t *ret);
