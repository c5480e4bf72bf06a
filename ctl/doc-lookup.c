/* See doc-lookup.h. Addresses are compared as the canonical text inet_ntop() writes, which is also how the
 * scanner stores them, so "::0001" finds "::1" and "[::ffff:10.0.0.1]" finds "10.0.0.1". Each direction
 * is one indexed-by-nothing scan of scan_sockets; a host has thousands of sockets at most, and the
 * benchmark (bench/api) shows that this is far below the HTTP cost. */
#include "doc-lookup.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "doc-db.h"
#include "doc-processes.h"
#include "doc-sockets.h"

static int parse_port(const char *s, uint16_t *ret) {
        unsigned v = 0;

        if (!*s || strlen(s) > 5)
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (*p - '0');
        }
        if (v > 65535)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

int lookup_endpoint_parse(const char *s, LookupEndpoint *ret) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *port;
        LookupEndpoint e = {};
        size_t len;

        if (!s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                len = (size_t) (close - s - 1);
                port = close + 2;
                if (len == 0 || len >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, len);
                host[len] = 0;
        } else {
                const char *colon = strrchr(s, ':');

                if (!colon || memchr(s, ':', (size_t) (colon - s)))
                        return -EINVAL;
                len = (size_t) (colon - s);
                port = colon + 1;
                if (len == 0 || len >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s, len);
                host[len] = 0;
        }
        if (parse_port(port, &e.port) < 0)
                return -EINVAL;

        if (s[0] != '[') {
                struct in_addr a4;

                if (inet_pton(AF_INET, host, &a4) != 1)
                        return -EINVAL;
                e.family = 4;
                (void) inet_ntop(AF_INET, &a4, e.addr, sizeof(e.addr));
        } else {
                struct in6_addr a6;

                if (inet_pton(AF_INET6, host, &a6) != 1)
                        return -EINVAL;
                if (IN6_IS_ADDR_V4MAPPED(&a6)) {
                        e.family = 4;
                        (void) inet_ntop(AF_INET, &a6.s6_addr[12], e.addr, sizeof(e.addr));
                } else {
                        e.family = 6;
                        (void) inet_ntop(AF_INET6, &a6, e.addr, sizeof(e.addr));
                }
        }
        *ret = e;
        return 0;
}

static json_t *endpoint_json(const LookupEndpoint *e) {
        return doc_json_endpoint(e->family, e->addr, e->port);
}

/* The connected sockets that are the `near` end of a flow to `far`. */
#define QUERY_EXACT                                                                                         \
        "SELECT " DOC_SOCKET_COLUMNS " FROM scan_sockets s "                                                \
        "WHERE s.proto = ?1 AND s.state IN ('established', 'connected') "                                   \
        "AND s.local_addr = ?2 AND s.local_port = ?3 AND s.remote_addr = ?4 AND s.remote_port = ?5 "        \
        "ORDER BY s.netns_inode, s.inode"
/* UDP sockets bound to near's port on near's address or the any address (?4, ?5 are bound but unused:
 * SQLITE_RANGE is ignored). */
#define QUERY_UDP_BOUND                                                                                     \
        "SELECT " DOC_SOCKET_COLUMNS " FROM scan_sockets s "                                                \
        "WHERE ?1 = 'udp' AND s.proto = 'udp' AND s.state = 'bound' AND s.local_port = ?3 "                 \
        "AND (s.local_addr = ?2 OR s.local_addr IN ('0.0.0.0', '::')) "                                     \
        "ORDER BY s.netns_inode, s.inode"

static int find_side(sqlite3 *db, const char *query, const char *proto, const LookupEndpoint *near,
                     const LookupEndpoint *far, const char *side, json_t *matches) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = db_prepare(db, query, &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, proto, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, near->addr, -1, SQLITE_STATIC);
        (void) sqlite3_bind_int(st, 3, near->port);
        (void) sqlite3_bind_text(st, 4, far->addr, -1, SQLITE_STATIC);
        (void) sqlite3_bind_int(st, 5, far->port);

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_auto_t *m = json_object(), *sock = NULL, *procs = NULL;
                _cleanup_free_ int64_t *pids = NULL;
                json_t *owners, *v;
                size_t i;

                if (!m)
                        return -ENOMEM;
                r = doc_socket_from_row(st, 0, &sock);
                if (r < 0)
                        return r;
                owners = json_object_get(sock, "pids");
                pids = calloc(json_array_size(owners) + 1, sizeof(int64_t));
                if (!pids)
                        return -ENOMEM;
                json_array_foreach(owners, i, v) {
                        pids[i] = json_integer_value(v);
                }
                r = doc_processes_by_pid(db, pids, json_array_size(owners), &procs);
                if (r < 0)
                        return r;

                r = doc_set(m, "side", json_string(side));
                r = r ?: doc_set(m, "socket", TAKE_PTR(sock));
                r = r ?: doc_set(m, "processes", TAKE_PTR(procs));
                if (r < 0)
                        return r;
                if (json_array_append(matches, m) < 0)
                        return -ENOMEM;
        }
        if (rc != SQLITE_DONE)
                return doc_sqlite_error(rc);
        return 0;
}

int doc_lookup(sqlite3 *db, const char *proto, const LookupEndpoint *local, const LookupEndpoint *remote,
               json_t **ret) {
        json_auto_t *root = json_object(), *matches = json_array();
        int r;

        if (!root || !matches)
                return -ENOMEM;
        if (!streq(proto, "tcp") && !streq(proto, "udp"))
                return -EINVAL;

        r = find_side(db, QUERY_EXACT, proto, local, remote, "local", matches);
        r = r ?: find_side(db, QUERY_EXACT, proto, remote, local, "remote", matches);
        /* Only a guess when the flow itself is not known: a bound socket on the any address would otherwise
         * "match" the far end of every flow to that port elsewhere (8.8.8.8:53 is not this host's). */
        if (r == 0 && json_array_size(matches) == 0) {
                r = find_side(db, QUERY_UDP_BOUND, proto, local, remote, "local", matches);
                r = r ?: find_side(db, QUERY_UDP_BOUND, proto, remote, local, "remote", matches);
        }
        if (r < 0)
                return r;

        r = doc_set(root, "proto", json_string(proto));
        r = r ?: doc_set(root, "local", endpoint_json(local));
        r = r ?: doc_set(root, "remote", endpoint_json(remote));
        r = r ?: doc_set(root, "matches", TAKE_PTR(matches));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(root);
        return 0;
}
