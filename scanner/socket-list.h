/* A socket as the kernel reports it (sock_diag netlink or a /proc/net text table), the filter that keeps
 * it, and the growing list of kept sockets. Both sources go through socket_list_add(), so what is kept
 * and how addresses are written never depends on where a socket came from. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "socket-scan.h"

/* Kernel socket states (include/net/tcp_states.h); UDP uses ESTABLISHED (connected) and CLOSE. */
enum {
        SOCKET_KSTATE_ESTABLISHED = 1,
        SOCKET_KSTATE_CLOSE = 7,
        SOCKET_KSTATE_LISTEN = 10,
};

typedef struct SocketRaw {
        bool udp;
        int family;        /* AF_INET or AF_INET6 */
        uint8_t state;     /* SOCKET_KSTATE_* or any other kernel state */
        uint8_t local[16]; /* network byte order; IPv4 in the first 4 bytes */
        uint8_t remote[16];
        uint16_t local_port; /* host byte order */
        uint16_t remote_port;
        uint64_t inode;
} SocketRaw;

typedef struct SocketList {
        ScannedSocket *items;
        size_t n, allocated;
        size_t n_no_inode; /* kept sockets without an inode (not yet accept()ed): nobody can own them */
} SocketList;

/* Keeps TCP listen/established, UDP connected/bound (see socket-scan.h); appends the kept socket with
 * role client and no owners. Returns 1 when appended, 0 when not kept, -ENOMEM. */
int socket_list_add(SocketList *l, const SocketRaw *raw, uint64_t netns_inode);

/* The same with the signature of a row callback (userdata: SocketListAdd). */
typedef struct SocketListAdd {
        SocketList *list;
        uint64_t netns_inode;
} SocketListAdd;
int socket_list_add_cb(const SocketRaw *raw, void *userdata);

void socket_list_done(SocketList *l);

/* Sets `server` on every socket of the list (rule in socket-scan.h). */
int socket_list_set_roles(SocketList *l);
