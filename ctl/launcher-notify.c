/* The receiving end of sd_notify(3) for `procctl run` (see launcher.h).
 *
 * Each daemon gets its own socket, so the socket a message arrives on says which daemon it is about; the
 * sender's pid, which the kernel attaches with SO_PASSCRED, must then be that daemon's own pid (a message
 * from anyone else who found the address, or from a daemon's child, is ignored by the caller). The address
 * is abstract and chosen by the kernel (autobind), so nothing is left in the file system and two launchers
 * never collide. The protocol is systemd's: one datagram of newline-separated KEY=VALUE lines, at most
 * 4 KiB (systemd's own limit). */
#include "launcher.h"

#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#define NOTIFY_MESSAGE_MAX 4096

void notify_message_done(NotifyMessage *m) {
        if (!m)
                return;
        free(m->status);
        *m = (NotifyMessage) {};
}

int notify_parse(const char *buf, size_t len, NotifyMessage *ret) {
        NotifyMessage m = {};
        const char *end = buf + len;

        for (const char *line = buf; line < end;) {
                const char *eol = memchr(line, '\n', (size_t) (end - line)) ?: end;
                size_t n = (size_t) (eol - line);

                if (n == 7 && strneq(line, "READY=1", 7))
                        m.ready = true;
                else if (n == 11 && strneq(line, "RELOADING=1", 11))
                        m.reloading = true;
                else if (n == 10 && strneq(line, "STOPPING=1", 10))
                        m.stopping = true;
                else if (n >= 7 && strneq(line, "STATUS=", 7)) {
                        char *s = strndup(line + 7, n - 7);

                        if (!s) {
                                notify_message_done(&m);
                                return -ENOMEM;
                        }
                        /* Printed on the launcher's terminal: no escape sequences, no NULs. */
                        for (char *p = s; *p; p++)
                                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                        *p = ' ';
                        free(m.status);
                        m.status = s;
                }
                line = eol < end ? eol + 1 : end;
        }
        *ret = m;
        return 0;
}

int notify_socket_open(int *ret_fd, char **ret_address) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t salen = sizeof(sa_family_t);
        char *address;
        int one = 1;

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        /* An address of just the family asks the kernel for a unique abstract name (unix(7) "Autobind"). */
        if (bind(fd, (struct sockaddr *) &sa, salen) < 0)
                return negative_errno();
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return negative_errno();
        salen = sizeof(sa);
        if (getsockname(fd, (struct sockaddr *) &sa, &salen) < 0)
                return negative_errno();
        if (salen <= offsetof(struct sockaddr_un, sun_path) + 1 || sa.sun_path[0] != 0)
                return -EPROTO;
        /* "@" stands for the leading NUL of an abstract name, as sd_notify() expects. */
        if (asprintf(&address, "@%.*s", (int) (salen - offsetof(struct sockaddr_un, sun_path) - 1),
                     sa.sun_path + 1) < 0)
                return -ENOMEM;
        *ret_fd = TAKE_FD(fd);
        *ret_address = address;
        return 0;
}

static void close_passed_fds(struct msghdr *mh) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                const int *fds = (const int *) CMSG_DATA(c);

                for (size_t i = 0; i < n; i++) {
                        int fd;

                        memcpy(&fd, &fds[i], sizeof(fd));
                        safe_close(fd);
                }
        }
}

int notify_receive(int fd, NotifyMessage *ret) {
        char buf[NOTIFY_MESSAGE_MAX + 1];
        /* Room for the credentials and a few fds someone may send (FDSTORE=1), which are closed. */
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct ucred cred = {};
        bool have_cred = false;
        ssize_t n;
        int r;

        for (;;) {
                n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
                if (n >= 0)
                        break;
                if (errno == EAGAIN)
                        return 0;
                if (errno != EINTR)
                        return negative_errno();
        }
        close_passed_fds(&mh);

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                    c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                        have_cred = true;
                }

        if (!have_cred || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t) n > NOTIFY_MESSAGE_MAX) {
                *ret = (NotifyMessage) {};
                return 1;
        }
        r = notify_parse(buf, (size_t) n, ret);
        if (r < 0)
                return r;
        ret->sender = cred.pid;
        return 1;
}
