/* Test helper: one ScannedSocket as one line, so tests compare whole rows exactly:
 * "tcp4 established 127.0.0.1:5000 127.0.0.1:41000 server inode=7 pids=10,11". */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "socket-scan.h"

static inline char *test_socket_row(const ScannedSocket *s, bool with_owners) {
        char *row = NULL, *pids = strdup("");
        int r;

        for (size_t i = 0; pids && i < s->n_pids; i++) {
                char *n = NULL;

                if (asprintf(&n, "%s%s%d", pids, i ? "," : "", (int) s->pids[i]) < 0)
                        n = NULL;
                free(pids);
                pids = n;
        }
        if (!pids)
                abort();
        if (with_owners)
                r = asprintf(&row, "%s%u %s %s:%u %s:%u %s inode=%llu pids=%s", s->udp ? "udp" : "tcp",
                             (unsigned) s->family, s->state, s->local_addr, (unsigned) s->local_port,
                             s->remote_addr, (unsigned) s->remote_port, s->server ? "server" : "client",
                             (unsigned long long) s->inode, pids);
        else
                r = asprintf(&row, "%s%u %s %s:%u %s:%u inode=%llu", s->udp ? "udp" : "tcp",
                             (unsigned) s->family, s->state, s->local_addr, (unsigned) s->local_port,
                             s->remote_addr, (unsigned) s->remote_port, (unsigned long long) s->inode);
        free(pids);
        if (r < 0)
                abort();
        return row;
}
