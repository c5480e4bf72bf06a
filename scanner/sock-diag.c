/* See sock-diag.h. One request per (family, protocol), NLM_F_DUMP, read until NLMSG_DONE. The kernel fills
 * each dump datagram up to the size of our previous receives (capped at 32 KiB), so the receive buffer
 * starts at 256 KiB and each datagram's size is peeked first (MSG_PEEK|MSG_TRUNC): a bigger one grows the
 * buffer instead of being cut. TCP states are filtered in the kernel (idiag_states), so a host with many
 * TIME_WAIT sockets costs nothing; UDP is asked in every state and filtered by socket_list_add(), whose
 * rule (a remote end = connected, else a local port = bound) is the same for netlink and the tables. */
#include "sock-diag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"

#define SOCK_DIAG_BUFFER     (256 * 1024)
#define SOCK_DIAG_BUFFER_MAX (16 * 1024 * 1024)

int sock_diag_open(void) {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

        return fd < 0 ? negative_errno() : fd;
}

int sock_diag_open_in_netns(int netns_fd, int orig_netns_fd) {
        int fd;

        if (setns(netns_fd, CLONE_NEWNET) < 0)
                return negative_errno();
        fd = sock_diag_open();
        if (setns(orig_netns_fd, CLONE_NEWNET) < 0) {
                safe_close(fd);
                return -ENOTRECOVERABLE;
        }
        return fd;
}

typedef struct DumpBuffer {
        uint8_t *data;
        size_t size;
} DumpBuffer;

/* Receives one datagram whole; returns its length. */
static ssize_t recv_datagram(int fd, DumpBuffer *b) {
        ssize_t n;

        for (;;) {
                n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                break;
        }
        if ((size_t) n > b->size) {
                size_t size = b->size;
                uint8_t *d;

                while (size < (size_t) n)
                        size *= 2;
                if (size > SOCK_DIAG_BUFFER_MAX)
                        return -EMSGSIZE;
                d = realloc(b->data, size);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->size = size;
        }
        for (;;) {
                struct iovec iov = {.iov_base = b->data, .iov_len = b->size};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

                n = recvmsg(fd, &mh, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                if (mh.msg_flags & MSG_TRUNC)
                        return -EMSGSIZE;
                return n;
        }
}

static int dump_one(int fd, DumpBuffer *b, uint32_t seq, int family, int protocol, uint32_t states,
                    socket_row_cb cb, void *userdata) {
        struct {
                struct nlmsghdr nlh;
                struct inet_diag_req_v2 req;
        } msg = {};
        struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
        int r;

        msg.nlh.nlmsg_len = sizeof(msg);
        msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
        msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        msg.nlh.nlmsg_seq = seq;
        msg.req.sdiag_family = (uint8_t) family;
        msg.req.sdiag_protocol = (uint8_t) protocol;
        msg.req.idiag_states = states;

        for (;;) {
                ssize_t n = sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *) &kernel, sizeof(kernel));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return negative_errno();
                break;
        }

        for (;;) {
                ssize_t n = recv_datagram(fd, b);
                size_t len;

                if (n < 0)
                        return (int) n;
                len = (size_t) n;
                for (struct nlmsghdr *h = (struct nlmsghdr *) b->data; NLMSG_OK(h, len);
                     h = NLMSG_NEXT(h, len)) {
                        const struct inet_diag_msg *m;
                        SocketRaw raw;

                        if (h->nlmsg_seq != seq)
                                continue;
                        if (h->nlmsg_type == NLMSG_DONE) {
                                /* A dump can end with an error (the kernel puts it in the DONE payload). */
                                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
                                        int e;

                                        memcpy(&e, NLMSG_DATA(h), sizeof(e));
                                        if (e < 0)
                                                return e;
                                }
                                return 0;
                        }
                        if (h->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *e = NLMSG_DATA(h);

                                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                                        return -EBADMSG;
                                /* ENOENT: this kernel has no diag handler for the protocol (udp_diag not
                                 * built or loadable), which is "netlink cannot do it" for the caller. */
                                if (e->error == -ENOENT)
                                        return -EPROTONOSUPPORT;
                                return e->error < 0 ? e->error : -EBADMSG;
                        }
                        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
                                continue;

                        m = NLMSG_DATA(h);
                        raw = (SocketRaw){
                                .udp = protocol == IPPROTO_UDP,
                                .family = m->idiag_family,
                                .state = m->idiag_state,
                                .local_port = ntohs(m->id.idiag_sport),
                                .remote_port = ntohs(m->id.idiag_dport),
                                .inode = m->idiag_inode,
                        };
                        memcpy(raw.local, m->id.idiag_src, sizeof(raw.local));
                        memcpy(raw.remote, m->id.idiag_dst, sizeof(raw.remote));
                        if (raw.family == AF_INET) {
                                memset(raw.local + 4, 0, 12);
                                memset(raw.remote + 4, 0, 12);
                        }
                        r = cb(&raw, userdata);
                        if (r < 0)
                                return r;
                }
        }
}

int sock_diag_dump(int fd, socket_row_cb cb, void *userdata) {
        static const struct {
                int family, protocol;
                uint32_t states;
        } dumps[] = {
                {AF_INET, IPPROTO_TCP, 1U << SOCKET_KSTATE_LISTEN | 1U << SOCKET_KSTATE_ESTABLISHED},
                {AF_INET6, IPPROTO_TCP, 1U << SOCKET_KSTATE_LISTEN | 1U << SOCKET_KSTATE_ESTABLISHED},
                {AF_INET, IPPROTO_UDP, UINT32_MAX},
                {AF_INET6, IPPROTO_UDP, UINT32_MAX},
        };
        DumpBuffer b = {.size = SOCK_DIAG_BUFFER};
        int r = 0;

        b.data = malloc(b.size);
        if (!b.data)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(dumps); i++) {
                r = dump_one(fd, &b, (uint32_t) i + 1, dumps[i].family, dumps[i].protocol, dumps[i].states,
                             cb, userdata);
                if (r < 0)
                        break;
        }
        free(b.data);
        return r;
}
