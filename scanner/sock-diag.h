/* sock_diag netlink (NETLINK_SOCK_DIAG, inet_diag_req_v2): dumps the TCP and UDP sockets, IPv4 and IPv6,
 * of the network namespace a netlink socket was created in. */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "net-table.h"

/* Opens a NETLINK_SOCK_DIAG socket in the calling thread's network namespace. Returns the fd or -errno. */
int sock_diag_open(void);

/* Opens a NETLINK_SOCK_DIAG socket in the network namespace netns_fd (an open ns/net file): setns() into
 * it, create the socket (which stays bound to that namespace), setns() back into orig_netns_fd. Returns
 * the fd, -errno of setns()/socket() (the calling thread is back in its namespace), or -ENOTRECOVERABLE
 * when it could not go back (the thread is stuck in the foreign namespace: the caller must stop). */
int sock_diag_open_in_netns(int netns_fd, int orig_netns_fd);

/* Dumps TCP (LISTEN and ESTABLISHED, filtered by the kernel) and UDP (every state) sockets of both
 * families from the netlink socket fd, calling cb for each. Returns 0, -errno, or cb's error. */
int sock_diag_dump(int fd, socket_row_cb cb, void *userdata);

/* Whether an error of socket()/setns()/the dump means "netlink is not available here, use the tables". */
static inline bool sock_diag_refused(int r) {
        return r == -EPERM || r == -EACCES || r == -EPROTONOSUPPORT || r == -EAFNOSUPPORT;
}
