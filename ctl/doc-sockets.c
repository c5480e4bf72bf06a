/* See doc-sockets.h. Owners come aggregated from the same SELECT (group_concat) and are sorted here:
 * SQLite does not promise an order inside group_concat. */
#include "doc-sockets.h"

#include <inttypes.h>
#include <stdio.h>

#include "doc-db.h"

enum {
        SCOL_PROTO,
        SCOL_STATE,
        SCOL_FAMILY,
        SCOL_LOCAL_ADDR,
        SCOL_LOCAL_PORT,
        SCOL_REMOTE_ADDR,
        SCOL_REMOTE_PORT,
        SCOL_ROLE,
        SCOL_NETNS_ID,
        SCOL_INODE,
        SCOL_FIRST_SEEN,
        SCOL_OWNERS,
};

static int cmp_int64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return x < y ? -1 : x > y;
}

/* "12,7,9" -> [7, 9, 12]. */
static json_t *owners_array(const char *text) {
        _cleanup_free_ int64_t *pids = NULL;
        json_auto_t *a = json_array();
        size_t n = 0, cap = 0;

        if (!a)
                return NULL;
        for (const char *p = text; p && *p;) {
                char *end;
                long long v;

                errno = 0;
                v = strtoll(p, &end, 10);
                if (errno != 0 || end == p)
                        break;
                if (n == cap) {
                        int64_t *m = reallocarray(pids, cap ? cap * 2 : 8, sizeof(int64_t));
                        if (!m)
                                return NULL;
                        pids = m;
                        cap = cap ? cap * 2 : 8;
                }
                pids[n++] = v;
                p = *end == ',' ? end + 1 : end;
        }
        if (n > 0)
                qsort(pids, n, sizeof(int64_t), cmp_int64);
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(a, json_integer(pids[i])) < 0)
                        return NULL;
        return TAKE_PTR(a);
}

int doc_socket_from_row(sqlite3_stmt *st, int first, json_t **ret) {
        json_auto_t *o = json_object();
        const char *state = doc_column_text(st, first + SCOL_STATE);
        int family = sqlite3_column_int(st, first + SCOL_FAMILY);
        bool has_remote = !streq(state, "listen") && !streq(state, "bound");
        int r = 0;

        if (!o)
                return -ENOMEM;
        r = r ?: doc_set(o, "proto", doc_column_string(st, first + SCOL_PROTO));
        r = r ?: doc_set(o, "state", doc_column_string(st, first + SCOL_STATE));
        r = r
                    ?: doc_set(o, "local",
                               doc_json_endpoint(family, doc_column_text(st, first + SCOL_LOCAL_ADDR),
                                                 sqlite3_column_int64(st, first + SCOL_LOCAL_PORT)));
        r = r
                    ?: doc_set(o, "remote",
                               has_remote ? doc_json_endpoint(
                                                    family, doc_column_text(st, first + SCOL_REMOTE_ADDR),
                                                    sqlite3_column_int64(st, first + SCOL_REMOTE_PORT))
                                          : json_null());
        r = r ?: doc_set(o, "role", doc_column_string(st, first + SCOL_ROLE));
        r = r
                    ?: doc_set(o, "pids",
                               owners_array((const char *) sqlite3_column_text(st, first + SCOL_OWNERS)));
        r = r ?: doc_set(o, "netns_id", doc_column_integer(st, first + SCOL_NETNS_ID));
        r = r ?: doc_set(o, "inode", doc_column_integer(st, first + SCOL_INODE));
        r = r ?: doc_set(o, "first_seen", doc_column_integer(st, first + SCOL_FIRST_SEEN));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int read_scanner_generation(sqlite3 *db, int64_t *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        r = db_prepare(db, "SELECT generation FROM scan_daemon WHERE id = 1", &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return doc_sqlite_error(rc);
        *ret = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        return 0;
}

int doc_sockets(sqlite3 *db, pid_t pid, json_t **ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        json_auto_t *root = json_object(), *list = json_array();
        int64_t generation = 0;
        int rc, r;

        if (!root || !list)
                return -ENOMEM;
        r = read_scanner_generation(db, &generation);
        if (r < 0)
                return r;
        r = db_prepare(db,
                       "SELECT " DOC_SOCKET_COLUMNS " FROM scan_sockets s "
                       "WHERE ?1 = 0 OR s.id IN (SELECT socket_id FROM scan_socket_owners WHERE pid = ?1) "
                       "ORDER BY s.proto, s.local_port, s.local_addr, s.remote_addr, s.remote_port, s.inode",
                       &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_int64(st, 1, pid);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                json_t *s = NULL;

                r = doc_socket_from_row(st, 0, &s);
                if (r < 0)
                        return r;
                if (json_array_append_new(list, s) < 0)
                        return -ENOMEM;
        }
        if (rc != SQLITE_DONE)
                return doc_sqlite_error(rc);

        r = doc_set(root, "generation", json_integer(generation));
        r = r ?: doc_set(root, "sockets", TAKE_PTR(list));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(root);
        return 0;
}
