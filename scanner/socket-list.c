/* See socket-list.h. The keep filter looks at addresses and ports rather than at the kernel state for UDP:
 * the tables and netlink agree on those, and "connected" simply means the kernel has a remote end. Roles
 * are found with one sorted array of the listening sockets, searched by (netns, protocol, port). */
#include "socket-list.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool addr_is_v4_mapped(const uint8_t a[16]) {
        return memcmp(a, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

static bool addr_is_zero(const uint8_t *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (a[i])
                        return false;
        return true;
}

/* Writes an address of the socket's (possibly demoted) family: a v4-mapped v6 address as its IPv4 part,
 * the v6 any address as 0.0.0.0 when the socket is shown as IPv4. */
static void addr_format(int raw_family, bool as_v4, const uint8_t a[16], char buf[INET6_ADDRSTRLEN]) {
        if (raw_family == AF_INET)
                inet_ntop(AF_INET, a, buf, INET6_ADDRSTRLEN);
        else if (as_v4 && addr_is_v4_mapped(a))
                inet_ntop(AF_INET, a + 12, buf, INET6_ADDRSTRLEN);
        else if (as_v4 && addr_is_zero(a, 16))
                strcpy(buf, "0.0.0.0");
        else
                inet_ntop(AF_INET6, a, buf, INET6_ADDRSTRLEN);
}

int socket_list_add(SocketList *l, const SocketRaw *raw, uint64_t netns_inode) {
        size_t alen = raw->family == AF_INET ? 4 : 16;
        const char *state;
        ScannedSocket *s;
        bool as_v4;

        if (raw->family != AF_INET && raw->family != AF_INET6)
                return 0;

        if (!raw->udp) {
                if (raw->state == SOCKET_KSTATE_LISTEN)
                        state = "listen";
                else if (raw->state == SOCKET_KSTATE_ESTABLISHED)
                        state = "established";
                else
                        return 0;
        } else if (raw->remote_port != 0 || !addr_is_zero(raw->remote, alen))
                state = "connected";
        else if (raw->local_port != 0)
                state = "bound";
        else
                return 0;

        if (raw->inode == 0) {
                l->n_no_inode++;
                return 0;
        }

        if (l->n == l->allocated) {
                size_t na = l->allocated ? l->allocated * 2 : 256;
                ScannedSocket *ni = reallocarray(l->items, na, sizeof(ScannedSocket));

                if (!ni)
                        return -ENOMEM;
                l->items = ni;
                l->allocated = na;
        }

        /* A v6 socket talking IPv4 (a dual-stack socket) has v4-mapped addresses: shown as IPv4. The local
         * address decides; an unbound local end (::) follows the remote one. */
        as_v4 = raw->family == AF_INET || addr_is_v4_mapped(raw->local) ||
                (addr_is_zero(raw->local, 16) && addr_is_v4_mapped(raw->remote));

        s = &l->items[l->n++];
        *s = (ScannedSocket){
                .udp = raw->udp,
                .family = as_v4 ? 4 : 6,
                .local_port = raw->local_port,
                .remote_port = raw->remote_port,
                .inode = raw->inode,
                .netns_inode = netns_inode,
        };
        strcpy(s->state, state);
        addr_format(raw->family, as_v4, raw->local, s->local_addr);
        addr_format(raw->family, as_v4, raw->remote, s->remote_addr);
        return 1;
}

int socket_list_add_cb(const SocketRaw *raw, void *userdata) {
        SocketListAdd *a = userdata;

        return socket_list_add(a->list, raw, a->netns_inode);
}

void socket_list_done(SocketList *l) {
        free(l->items);
        *l = (SocketList){};
}

static bool socket_is_listening(const ScannedSocket *s) {
        return streq(s->state, s->udp ? "bound" : "listen");
}

static int listen_key_cmp(const ScannedSocket *a, const ScannedSocket *b) {
        if (a->netns_inode != b->netns_inode)
                return a->netns_inode < b->netns_inode ? -1 : 1;
        if (a->udp != b->udp)
                return a->udp ? 1 : -1;
        if (a->local_port != b->local_port)
                return a->local_port < b->local_port ? -1 : 1;
        return 0;
}

static int listener_cmp(const void *a, const void *b) {
        return listen_key_cmp(*(const ScannedSocket *const *) a, *(const ScannedSocket *const *) b);
}

int socket_list_set_roles(SocketList *l) {
        _cleanup_free_ const ScannedSocket **listeners = NULL;
        size_t n_listeners = 0;

        listeners = reallocarray(NULL, l->n ?: 1, sizeof(listeners[0]));
        if (!listeners)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++)
                if (socket_is_listening(&l->items[i]))
                        listeners[n_listeners++] = &l->items[i];
        qsort(listeners, n_listeners, sizeof(listeners[0]), listener_cmp);

        for (size_t i = 0; i < l->n; i++) {
                ScannedSocket *s = &l->items[i];
                size_t lo = 0, hi = n_listeners;

                s->server = false;
                /* Lower bound of the sockets listening on (netns, protocol, port). */
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;

                        if (listen_key_cmp(listeners[mid], s) < 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                for (; lo < n_listeners && listen_key_cmp(listeners[lo], s) == 0; lo++) {
                        const char *a = listeners[lo]->local_addr;

                        if (streq(a, "0.0.0.0") || streq(a, "::") || streq(a, s->local_addr)) {
                                s->server = true;
                                break;
                        }
                }
        }
        return 0;
}
