/* The sync state: what every sink delivers (see sync-state.h).
 *
 * Built in ONE read transaction so that the processes, their decisions and the sockets come from the same
 * snapshot of state.db (the scanner and the matcher commit whole cycles; a half-old, half-new state would
 * list sockets of processes that are not there). A decision counts only for the process instance it was
 * made for (same pid AND start_ticks): a pid reused since the matcher last ran is not synced under the old
 * decision. Sockets are kept when they are old enough and have at least one synced owner; only synced
 * owners are listed.
 *
 * The digest is SHA-256 over a canonical serialization: every field in a fixed order, integers as 8
 * little-endian bytes, strings and arrays prefixed by their length, so two different states can never
 * serialize alike (a tag "a:b" + "c" is not "a" + "b:c"). It covers every field a sink may send, so a
 * rename, a cmdline, user or tag change, or any socket change makes a new version. */
#include "sync-state.h"

#include <jansson.h>
#include <stdio.h>

#include "db.h"
#include "sha256.h"

static void sync_process_done(SyncProcess *p) {
        free(p->name);
        free(p->process_name);
        free(p->cmdline);
        free(p->user);
        free(p->container_id);
        for (size_t i = 0; i < p->n_tags; i++) {
                free(p->tags[i].key);
                free(p->tags[i].value);
        }
        free(p->tags);
}

SyncState *sync_state_free(SyncState *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_processes; i++)
                sync_process_done(&s->processes[i]);
        free(s->processes);
        for (size_t i = 0; i < s->n_sockets; i++)
                free(s->sockets[i].pids);
        free(s->sockets);
        free(s->hostname);
        free(s);
        return NULL;
}

static int column_strdup(sqlite3_stmt *st, int col, char **ret) {
        const unsigned char *t = sqlite3_column_text(st, col);
        char *s = strdup(t ? (const char *) t : "");

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* Copies a text column into a fixed field; a value that does not fit is a malformed row. */
static int column_copy(sqlite3_stmt *st, int col, char *buf, size_t size) {
        const unsigned char *t = sqlite3_column_text(st, col);
        size_t n = t ? (size_t) sqlite3_column_bytes(st, col) : 0;

        if (n >= size)
                return -EBADMSG;
        memcpy(buf, t ? (const char *) t : "", n);
        buf[n] = '\0';
        return 0;
}

static int tag_compare(const void *a, const void *b) {
        const SyncTag *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        return c != 0 ? c : strcmp(x->value, y->value);
}

/* match_decisions.tags: a JSON object {"key": "value", ...}. */
static int parse_tags(const char *text, SyncTag **ret, size_t *ret_n) {
        json_t *obj, *v;
        SyncTag *tags = NULL;
        const char *k;
        size_t n = 0;
        int r = 0;

        obj = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, NULL);
        if (!obj || !json_is_object(obj)) {
                json_decref(obj);
                return -EBADMSG;
        }
        if (json_object_size(obj) > 0) {
                tags = calloc(json_object_size(obj), sizeof(SyncTag));
                if (!tags) {
                        json_decref(obj);
                        return -ENOMEM;
                }
        }
        json_object_foreach(obj, k, v) {
                if (!json_is_string(v)) {
                        r = -EBADMSG;
                        break;
                }
                tags[n].key = strdup(k);
                tags[n].value = strdup(json_string_value(v));
                n++;
                if (!tags[n - 1].key || !tags[n - 1].value) {
                        r = -ENOMEM;
                        break;
                }
        }
        json_decref(obj);
        if (r < 0) {
                for (size_t i = 0; i < n; i++) {
                        free(tags[i].key);
                        free(tags[i].value);
                }
                free(tags);
                return r;
        }
        if (n > 1)
                qsort(tags, n, sizeof(SyncTag), tag_compare);
        *ret = tags;
        *ret_n = n;
        return 0;
}

static int grow(void **array, size_t *allocated, size_t need, size_t element_size) {
        size_t a;
        void *p;

        if (need <= *allocated)
                return 0;
        a = *allocated ? *allocated * 2 : 64;
        if (a < need)
                a = need;
        if (a > SIZE_MAX / element_size)
                return -ENOMEM;
        p = realloc(*array, a * element_size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *allocated = a;
        return 0;
}

static int read_match_generation(sqlite3 *db, uint64_t *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r, rc;

        r = db_prepare(db, "SELECT generation FROM match_daemon WHERE id = 1", &st);
        if (r < 0)
                return r;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = (uint64_t) sqlite3_column_int64(st, 0);
        else if (rc == SQLITE_DONE)
                *ret = 0;
        else
                return db_errno(rc);
        return 0;
}

static int read_processes(sqlite3 *db, SyncState *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        size_t allocated = 0;
        int r, rc;

        r = db_prepare(db,
                       "SELECT p.pid, p.ppid, p.start_time, d.name, p.comm, p.cmdline, p.user, p.uid, "
                       "       p.netns_inode, COALESCE(n.idx, 0), p.container_id, d.tags, d.rule "
                       "FROM match_decisions d "
                       "JOIN scan_processes p ON p.pid = d.pid AND p.start_ticks = d.start_ticks "
                       "LEFT JOIN scan_netns n ON n.inode = p.netns_inode "
                       "WHERE d.synced = 1 "
                       "ORDER BY p.pid",
                       &st);
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                SyncProcess *p;

                r = grow((void **) &s->processes, &allocated, s->n_processes + 1, sizeof(SyncProcess));
                if (r < 0)
                        return r;
                p = &s->processes[s->n_processes++];
                *p = (SyncProcess){
                        .pid = (uint32_t) sqlite3_column_int64(st, 0),
                        .ppid = (uint32_t) sqlite3_column_int64(st, 1),
                        .start_time = (uint64_t) sqlite3_column_int64(st, 2),
                        .uid = (uint32_t) sqlite3_column_int64(st, 7),
                        .netns_inode = (uint64_t) sqlite3_column_int64(st, 8),
                        .netns_idx = (uint32_t) sqlite3_column_int64(st, 9),
                        .rule = (uint32_t) sqlite3_column_int64(st, 12),
                };
                if ((r = column_strdup(st, 3, &p->name)) < 0 ||
                    (r = column_strdup(st, 4, &p->process_name)) < 0 ||
                    (r = column_strdup(st, 5, &p->cmdline)) < 0 ||
                    (r = column_strdup(st, 6, &p->user)) < 0 ||
                    (r = column_strdup(st, 10, &p->container_id)) < 0)
                        return r;
                r = parse_tags((const char *) sqlite3_column_text(st, 11), &p->tags, &p->n_tags);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

static int socket_add_pid(SyncSocket *k, uint32_t pid) {
        uint32_t *p = realloc(k->pids, (k->n_pids + 1) * sizeof(uint32_t));

        if (!p)
                return -ENOMEM;
        k->pids = p;
        k->pids[k->n_pids++] = pid;
        return 0;
}

/* One row per (socket, synced owner), ordered so that a socket's rows are adjacent and its owners come in
 * ascending pid order. */
static int read_sockets(sqlite3 *db, int64_t oldest_first_seen, SyncState *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int64_t last_id = -1;
        size_t allocated = 0;
        int r, rc;

        r = db_prepare(
                db,
                "SELECT s.id, s.proto, s.family, s.state, s.local_addr, s.local_port, s.remote_addr, "
                "       s.remote_port, s.role, s.netns_inode, COALESCE(n.idx, 0), s.inode, s.first_seen, "
                "       o.pid "
                "FROM scan_sockets s "
                "JOIN scan_socket_owners o ON o.socket_id = s.id "
                "JOIN match_decisions d ON d.pid = o.pid AND d.synced = 1 "
                "JOIN scan_processes p ON p.pid = d.pid AND p.start_ticks = d.start_ticks "
                "LEFT JOIN scan_netns n ON n.inode = s.netns_inode "
                "WHERE s.first_seen <= ?1 "
                "ORDER BY COALESCE(n.idx, 0), s.netns_inode, s.proto, s.family, s.local_addr, s.local_port, "
                "         s.remote_addr, s.remote_port, s.inode, o.pid",
                &st);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(st, 1, oldest_first_seen);
        if (rc != SQLITE_OK)
                return db_errno(rc);

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int64_t id = sqlite3_column_int64(st, 0);
                const unsigned char *proto = sqlite3_column_text(st, 1), *role = sqlite3_column_text(st, 8);
                int64_t family = sqlite3_column_int64(st, 2), lport = sqlite3_column_int64(st, 5),
                        rport = sqlite3_column_int64(st, 7);
                SyncSocket *k;

                if (id != last_id) {
                        r = grow((void **) &s->sockets, &allocated, s->n_sockets + 1, sizeof(SyncSocket));
                        if (r < 0)
                                return r;
                        if (!proto || !role || (family != 4 && family != 6) || lport < 0 || lport > 65535 ||
                            rport < 0 || rport > 65535)
                                return -EBADMSG;
                        k = &s->sockets[s->n_sockets++];
                        *k = (SyncSocket){
                                .udp = streq((const char *) proto, "udp"),
                                .family = (uint8_t) family,
                                .local_port = (uint16_t) lport,
                                .remote_port = (uint16_t) rport,
                                .role = streq((const char *) role, "server") ? SYNC_ROLE_SERVER
                                                                             : SYNC_ROLE_CLIENT,
                                .netns_inode = (uint64_t) sqlite3_column_int64(st, 9),
                                .netns_idx = (uint32_t) sqlite3_column_int64(st, 10),
                                .inode = (uint64_t) sqlite3_column_int64(st, 11),
                                .first_seen = sqlite3_column_int64(st, 12),
                        };
                        if ((r = column_copy(st, 3, k->state, sizeof(k->state))) < 0 ||
                            (r = column_copy(st, 4, k->local_addr, sizeof(k->local_addr))) < 0 ||
                            (r = column_copy(st, 6, k->remote_addr, sizeof(k->remote_addr))) < 0)
                                return r;
                        last_id = id;
                }
                k = &s->sockets[s->n_sockets - 1];
                r = socket_add_pid(k, (uint32_t) sqlite3_column_int64(st, 13));
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : db_errno(rc);
}

int sync_state_build(sqlite3 *db, const SyncBuildParams *p, SyncState **ret) {
        _cleanup_sync_state_ SyncState *s = NULL;
        int64_t min_ms = (int64_t) (p->socket_min_lifetime / USEC_PER_MSEC);
        int r;

        s = calloc(1, sizeof(SyncState));
        if (!s)
                return -ENOMEM;
        s->hostname = strdup(strempty(p->hostname));
        if (!s->hostname)
                return -ENOMEM;
        s->built_at = p->now_ms;

        /* A deferred BEGIN: the snapshot is taken at the first SELECT and held until COMMIT. */
        r = db_exec(db, "BEGIN");
        if (r < 0)
                return r;
        r = read_match_generation(db, &s->match_generation);
        if (r >= 0)
                r = read_processes(db, s);
        if (r >= 0)
                r = read_sockets(db, p->now_ms - min_ms, s);
        if (r < 0) {
                db_rollback(db);
                return r;
        }
        r = db_commit(db);
        if (r < 0) {
                db_rollback(db);
                return r;
        }

        sync_state_compute_digest(s);
        *ret = TAKE_PTR(s);
        return 0;
}

static void put_u64(Sha256 *h, uint64_t v) {
        uint8_t b[8];

        for (unsigned i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (8 * i));
        sha256_update(h, b, sizeof(b));
}

static void put_str(Sha256 *h, const char *s) {
        size_t n = strlen(strempty(s));

        put_u64(h, n);
        sha256_update(h, strempty(s), n);
}

void sync_state_compute_digest(SyncState *st) {
        uint8_t d[SHA256_DIGEST_SIZE];
        Sha256 h;

        /* The format tag changes whenever the serialization does, so old digests never match new ones. */
        sha256_init(&h);
        put_str(&h, "procsync-sync-state/1");
        put_str(&h, st->hostname);

        put_u64(&h, st->n_processes);
        for (size_t i = 0; i < st->n_processes; i++) {
                const SyncProcess *p = &st->processes[i];

                put_u64(&h, p->pid);
                put_u64(&h, p->ppid);
                put_u64(&h, p->start_time);
                put_str(&h, p->name);
                put_str(&h, p->process_name);
                put_str(&h, p->cmdline);
                put_str(&h, p->user);
                put_u64(&h, p->uid);
                put_u64(&h, p->netns_inode);
                put_u64(&h, p->netns_idx);
                put_str(&h, p->container_id);
                put_u64(&h, p->n_tags);
                for (size_t t = 0; t < p->n_tags; t++) {
                        put_str(&h, p->tags[t].key);
                        put_str(&h, p->tags[t].value);
                }
                put_u64(&h, p->rule);
        }

        put_u64(&h, st->n_sockets);
        for (size_t i = 0; i < st->n_sockets; i++) {
                const SyncSocket *k = &st->sockets[i];

                put_u64(&h, k->udp);
                put_u64(&h, k->family);
                put_str(&h, k->state);
                put_str(&h, k->local_addr);
                put_u64(&h, k->local_port);
                put_str(&h, k->remote_addr);
                put_u64(&h, k->remote_port);
                put_u64(&h, k->role);
                put_u64(&h, k->n_pids);
                for (size_t j = 0; j < k->n_pids; j++)
                        put_u64(&h, k->pids[j]);
                put_u64(&h, k->netns_inode);
                put_u64(&h, k->netns_idx);
                put_u64(&h, k->inode);
                put_u64(&h, (uint64_t) k->first_seen);
        }

        sha256_final(&h, d);
        sha256_to_hex(d, st->digest);
}
