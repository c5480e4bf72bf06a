/* libFuzzer harness of the text socket table parser (scanner/net-table.h): the fallback source of sockets,
 * read from <os-proc-root>/<pid>/net/{tcp,tcp6,udp,udp6}, which need not be the kernel's /proc.
 *
 * Input: one selector byte, then the table. The selector's bit 0 picks IPv6, bit 1 UDP, so the seeds start
 * with a readable '0' (tcp), '1' (tcp6), '2' (udp) or '3' (udp6). Rows go where the scanner puts them
 * (socket_list_add(), then the roles), so that address formatting and the role search see parsed rows
 * too. Every row the parser accepts must carry the family and protocol it was asked for. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "net-table.h"
#include "socket-list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Sink {
        bool udp;
        int family;
        SocketListAdd add;
} Sink;

static int on_row(const SocketRaw *raw, void *userdata) {
        Sink *k = userdata;

        if (raw->udp != k->udp || raw->family != k->family)
                abort();
        return socket_list_add_cb(raw, &k->add);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SocketList list = {};
        Sink k = { .add = { .list = &list, .netns_inode = 4026531840 } };
        int r;

        if (size < 1)
                return 0;
        k.family = data[0] & 1 ? AF_INET6 : AF_INET;
        k.udp = data[0] & 2;
        r = net_table_parse((const char *) data + 1, size - 1, k.udp, k.family, on_row, &k);
        if (r == -ENOMEM)
                abort();
        if (socket_list_set_roles(&list) < 0)
                abort();
        for (size_t i = 0; i < list.n; i++)
                if (list.items[i].family != 4 && list.items[i].family != 6)
                        abort();
        socket_list_done(&list);
        return 0;
}
