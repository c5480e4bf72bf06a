/* The socket document: `GET /v1/sockets` (procctl sockets --json), and the socket entries of /v1/lookup.
 *
 *   {"generation": N, "sockets": [SOCKET, ...]}
 *   SOCKET = {"proto": "tcp"|"udp", "state": "listen"|"established"|"bound"|"connected",
 *             "local": "IP:PORT", "remote": "IP:PORT"|null, "role": "server"|"client",
 *             "pids": [N, ...], "netns_id": N, "inode": N, "first_seen": MS}
 *
 * generation is the scanner's. IPv6 endpoints are "[addr]:port"; v4-mapped addresses are stored as IPv4
 * already. remote is null for a socket without a far end (TCP listen, UDP bound). pids are every owner,
 * ascending. Sorted by proto, local port, local address, remote, inode. */
#pragma once

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

/* pid 0: every socket; else only those the process holds. */
int doc_sockets(sqlite3 *db, pid_t pid, json_t **ret);

/* The SELECT list a SOCKET is built from (table alias s), for other documents' queries. */
#define DOC_SOCKET_COLUMNS                                                                                  \
        "s.proto, s.state, s.family, s.local_addr, s.local_port, s.remote_addr, s.remote_port, s.role, "    \
        "COALESCE((SELECT idx FROM scan_netns WHERE inode = s.netns_inode), 0), s.inode, s.first_seen, "    \
        "(SELECT group_concat(pid) FROM scan_socket_owners WHERE socket_id = s.id)"

/* A SOCKET from the DOC_SOCKET_COLUMNS starting at column `first`. */
int doc_socket_from_row(sqlite3_stmt *st, int first, json_t **ret);
