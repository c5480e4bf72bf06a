/* Parser of the kernel's text socket tables /proc/<pid>/net/{tcp,tcp6,udp,udp6} (proc_net_tcp(5)), from
 * buffers, and a streaming reader of one table file. The fallback source of sockets when netlink cannot be
 * used (os-proc-root is not the live /proc, or sock_diag is refused). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "socket-list.h"

typedef int (*socket_row_cb)(const SocketRaw *raw, void *userdata);

/* Parses one data line (without its newline): "sl: LOCAL REMOTE ST TX:RX TR:WHEN RETR UID TIMEOUT INODE
 * ...". Addresses are hex words in host byte order (IPv4: one word; IPv6: four), ports hex. family is
 * AF_INET or AF_INET6. Returns 0 or -EBADMSG. */
int net_table_parse_line(const char *line, size_t len, bool udp, int family, SocketRaw *ret);

/* Parses a whole table (a header line, then one socket per line) and calls cb for every row; stops at the
 * first error cb returns. Returns 0, -EBADMSG or cb's error. */
int net_table_parse(const char *buf, size_t len, bool udp, int family, socket_row_cb cb, void *userdata);

/* Reads and parses the table `name` ("tcp", "tcp6", "udp", "udp6") of the directory dir_fd (an open
 * <root>/<pid>/net). Returns 0, -ENOENT when the table does not exist (no IPv6, or the process is gone:
 * the caller tells them apart), other -errno. */
int net_table_read(int dir_fd, const char *name, socket_row_cb cb, void *userdata);
