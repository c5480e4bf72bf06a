/* See net-table.h. The tables print every address word with "%08X" of a __be32 taken as a host integer,
 * so a word parsed back as an integer and stored in host order gives the original network-order bytes
 * (on any endianness). Lines are parsed in place with a hand-written hex reader: a busy host has tens of
 * thousands of rows and every row has seven numbers. The reader streams the file through one buffer. */
#include "net-table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "parse-util.h"

#define NET_TABLE_CHUNK    (64 * 1024)
#define NET_TABLE_LINE_MAX 4096 /* rows are ~150 bytes; anything longer is not a socket table */

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Exactly n hex digits (n <= 16). */
static int parse_hex_fixed(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++) {
                int d = hexval(s[i]);

                if (d < 0)
                        return -EBADMSG;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return 0;
}

/* "0100007F:0CEA" (IPv4) or 32 hex digits ":" 4 hex digits (IPv6). */
static int parse_endpoint(const char *s, const char *end, int family, uint8_t addr[16], uint16_t *ret_port) {
        size_t words = family == AF_INET ? 1 : 4;
        uint64_t v;
        int r;

        if ((size_t) (end - s) != words * 8 + 1 + 4 || s[words * 8] != ':')
                return -EBADMSG;
        memset(addr, 0, 16);
        for (size_t i = 0; i < words; i++) {
                uint32_t w;

                r = parse_hex_fixed(s + i * 8, 8, &v);
                if (r < 0)
                        return r;
                w = (uint32_t) v;
                memcpy(addr + i * 4, &w, 4);
        }
        r = parse_hex_fixed(s + words * 8 + 1, 4, &v);
        if (r < 0)
                return r;
        *ret_port = (uint16_t) v;
        return 0;
}

int net_table_parse_line(const char *line, size_t len, bool udp, int family, SocketRaw *ret) {
        const char *p = line, *end = line + len, *tok[10], *tok_end[10];
        SocketRaw raw = {.udp = udp, .family = family};
        uint64_t v;
        int r;

        if (family != AF_INET && family != AF_INET6)
                return -EINVAL;

        /* Tokens: 0 "sl:", 1 local, 2 remote, 3 st, 4 tx:rx, 5 tr:when, 6 retrnsmt, 7 uid, 8 timeout,
         * 9 inode; what follows the inode differs between TCP and UDP and is not needed. */
        for (size_t n = 0; n < ELEMENTSOF(tok); n++) {
                while (p < end && *p == ' ')
                        p++;
                if (p >= end)
                        return -EBADMSG;
                tok[n] = p;
                while (p < end && *p != ' ')
                        p++;
                tok_end[n] = p;
        }

        r = parse_endpoint(tok[1], tok_end[1], family, raw.local, &raw.local_port);
        if (r < 0)
                return r;
        r = parse_endpoint(tok[2], tok_end[2], family, raw.remote, &raw.remote_port);
        if (r < 0)
                return r;
        if (tok_end[3] - tok[3] != 2 || parse_hex_fixed(tok[3], 2, &v) < 0)
                return -EBADMSG;
        raw.state = (uint8_t) v;
        if (parse_u64_span(tok[9], tok_end[9], &raw.inode) < 0)
                return -EBADMSG; /* a malformed line, whatever is wrong with it */

        *ret = raw;
        return 0;
}

/* Calls cb for every data line of buf; *header says the first line (the column titles) is still to be
 * skipped. Only complete lines are parsed: returns the number of bytes consumed. */
static int parse_lines(const char *buf, size_t len, bool final, bool *header, bool udp, int family,
                       socket_row_cb cb, void *userdata, size_t *ret_consumed) {
        const char *p = buf, *end = buf + len;
        int r;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *eol = nl ?: end;
                SocketRaw raw;

                if (!nl && !final)
                        break;
                if (*header)
                        *header = false;
                else if (eol > p) {
                        r = net_table_parse_line(p, (size_t) (eol - p), udp, family, &raw);
                        if (r < 0)
                                return r;
                        r = cb(&raw, userdata);
                        if (r < 0)
                                return r;
                }
                p = nl ? nl + 1 : end;
        }
        *ret_consumed = (size_t) (p - buf);
        return 0;
}

int net_table_parse(const char *buf, size_t len, bool udp, int family, socket_row_cb cb, void *userdata) {
        bool header = true;
        size_t consumed;

        return parse_lines(buf, len, true, &header, udp, family, cb, userdata, &consumed);
}

int net_table_read(int dir_fd, const char *name, socket_row_cb cb, void *userdata) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        bool udp, header = true;
        size_t have = 0;
        int family, r;

        if (streq(name, "tcp") || streq(name, "udp"))
                family = AF_INET;
        else if (streq(name, "tcp6") || streq(name, "udp6"))
                family = AF_INET6;
        else
                return -EINVAL;
        udp = name[0] == 'u';

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();

        buf = malloc(NET_TABLE_CHUNK);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                size_t consumed;
                ssize_t n;

                n = read(fd, buf + have, NET_TABLE_CHUNK - have);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                have += (size_t) n;
                r = parse_lines(buf, have, n == 0, &header, udp, family, cb, userdata, &consumed);
                if (r < 0)
                        return r;
                if (n == 0)
                        return 0;
                memmove(buf, buf + consumed, have - consumed);
                have -= consumed;
                if (have > NET_TABLE_LINE_MAX)
                        return -EBADMSG;
        }
}
