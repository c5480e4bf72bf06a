/* The flow lookup: `GET /v1/lookup?proto=tcp&local=IP:PORT&remote=IP:PORT`, the tag-injection service for
 * monitoring tools that see a flow and want to know which process (and which business tags) is behind it.
 *
 *   {"proto": P, "local": "IP:PORT", "remote": "IP:PORT",
 *    "matches": [{"side": "local"|"remote", "socket": SOCKET, "processes": [PROCESS, ...]}, ...]}
 *
 * A flow is looked for in both directions. side "local": a socket of this host has local = the given
 * local and remote = the given remote (the tool saw the flow from this host's point of view). side
 * "remote": it is the other way round (the tool saw it from the far end, or the far end is this host
 * too, as on loopback, where both sides match). When no connected socket has the exact pair in either
 * direction, a UDP socket bound to the port of either end (on that address or the any address) stands for
 * the flow: a UDP server answers from its one bound socket. (Only then: with an exact match known, a
 * bound socket on the any address would also "match" the far end of every flow to that port elsewhere.)
 * SOCKET is doc-sockets.h's, PROCESS the complete entry of doc-processes.h (synced or not: "synced" says).
 * No match is an empty list, not an error. */
#pragma once

#include <jansson.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdint.h>

typedef struct LookupEndpoint {
        int family;                  /* 4 or 6 */
        char addr[INET6_ADDRSTRLEN]; /* canonical text, as the scanner stores it (v4-mapped -> IPv4) */
        uint16_t port;
} LookupEndpoint;

/* "1.2.3.4:80", "[2001:db8::1]:443", "[::ffff:1.2.3.4]:80" (-> IPv4). Port 0..65535, decimal, no sign.
 * -EINVAL for anything else. */
int lookup_endpoint_parse(const char *s, LookupEndpoint *ret);

/* proto "tcp" or "udp" (-EINVAL otherwise). */
int doc_lookup(sqlite3 *db, const char *proto, const LookupEndpoint *local, const LookupEndpoint *remote,
               json_t **ret);
