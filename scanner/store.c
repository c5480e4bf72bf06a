/* See store.h.
 *
 * How: the remembered state and each new scan are both sorted by their key (processes by pid, sockets by
 * (netns_inode, inode), namespaces by inode), so one merge walk over the two finds the inserted, changed
 * and gone rows without a hash table. The new state is built beside the remembered one and replaces it
 * only after the caller's commit succeeded, so a rolled-back cycle cannot leave memory and database
 * disagreeing. All statements are prepared once (SQLITE_PREPARE_PERSISTENT) and reused; strings are bound
 * SQLITE_STATIC since they outlive each step. */
#include "store.h"

#include <stdio.h>

#include "db.h"
#include "macro.h"

typedef struct StoredNetns {
        uint64_t inode;
        int64_t idx;
        int64_t first_seen;
} StoredNetns;

typedef struct NetnsSet {
        StoredNetns *items; /* sorted by inode */
        size_t n, allocated;
        int64_t max_idx;
} NetnsSet;

typedef struct StoredSocket {
        ScannedSocket s; /* s.pids is unused: the owners are at pids_off in the set's pid pool */
        int64_t id;
        int64_t first_seen;
        size_t pids_off;
} StoredSocket;

typedef struct SocketSet {
        StoredSocket *items; /* sorted by (netns_inode, inode) */
        size_t n, allocated;
        pid_t *pids;
        size_t n_pids, allocated_pids;
} SocketSet;

struct Store {
        sqlite3 *db;
        sqlite3_stmt *proc_upsert, *proc_delete;
        sqlite3_stmt *netns_insert, *netns_delete;
        sqlite3_stmt *sock_insert, *sock_update, *sock_delete;
        sqlite3_stmt *owner_insert, *owner_delete;

        bool loaded;
        ProcTable procs;
        NetnsSet netns, pending_netns;
        SocketSet sockets, pending_sockets;
        bool pending_has_sockets;
};

static int grow(void **array, size_t *allocated, size_t want, size_t size) {
        size_t m;
        void *p;

        if (want <= *allocated)
                return 0;
        m = *allocated ? *allocated : 64;
        while (m < want)
                m *= 2;
        p = reallocarray(*array, m, size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *allocated = m;
        return 0;
}

static void netns_set_done(NetnsSet *n) {
        free(n->items);
        *n = (NetnsSet) {};
}

static void socket_set_clear(SocketSet *s) {
        s->n = 0;
        s->n_pids = 0;
}

static void socket_set_done(SocketSet *s) {
        free(s->items);
        free(s->pids);
        *s = (SocketSet) {};
}

static const pid_t *stored_pids(const SocketSet *set, const StoredSocket *x) {
        return set->pids + x->pids_off;
}

/* Appends a socket (copying its owners into the pool). */
static int socket_set_add(SocketSet *set, const ScannedSocket *s, const pid_t *pids, size_t n_pids,
                          int64_t id, int64_t first_seen) {
        StoredSocket *x;
        int r;

        r = grow((void **) &set->items, &set->allocated, set->n + 1, sizeof(StoredSocket));
        if (r < 0)
                return r;
        r = grow((void **) &set->pids, &set->allocated_pids, set->n_pids + n_pids, sizeof(pid_t));
        if (r < 0)
                return r;
        x = &set->items[set->n++];
        x->s = *s;
        x->s.pids = NULL;
        x->s.n_pids = n_pids;
        x->id = id;
        x->first_seen = first_seen;
        x->pids_off = set->n_pids;
        if (n_pids > 0)
                memcpy(set->pids + set->n_pids, pids, n_pids * sizeof(pid_t));
        set->n_pids += n_pids;
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        sqlite3_finalize(s->proc_upsert);
        sqlite3_finalize(s->proc_delete);
        sqlite3_finalize(s->netns_insert);
        sqlite3_finalize(s->netns_delete);
        sqlite3_finalize(s->sock_insert);
        sqlite3_finalize(s->sock_update);
        sqlite3_finalize(s->sock_delete);
        sqlite3_finalize(s->owner_insert);
        sqlite3_finalize(s->owner_delete);
        proc_table_done(&s->procs);
        netns_set_done(&s->netns);
        netns_set_done(&s->pending_netns);
        socket_set_done(&s->sockets);
        socket_set_done(&s->pending_sockets);
        free(s);
        return NULL;
}

int store_new(sqlite3 *db, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        int r;

        s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        s->db = db;

        const struct {
                sqlite3_stmt **stmt;
                const char *sql;
        } table[] = {
                /* clang-format off */
                { &s->proc_upsert,
                  "INSERT OR REPLACE INTO scan_processes (pid, start_ticks, start_time, ppid, comm, cmdline, "
                  "exe, uid, user, netns_inode, container_id, first_seen, last_seen, changed_generation) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)" },
                { &s->proc_delete, "DELETE FROM scan_processes WHERE pid = ?1" },
                { &s->netns_insert,
                  "INSERT OR REPLACE INTO scan_netns (inode, idx, first_seen, last_seen) "
                  "VALUES (?1, ?2, ?3, ?3)" },
                { &s->netns_delete, "DELETE FROM scan_netns WHERE inode = ?1" },
                { &s->sock_insert,
                  "INSERT INTO scan_sockets (netns_inode, inode, proto, family, state, local_addr, "
                  "local_port, remote_addr, remote_port, role, first_seen, last_seen) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)" },
                { &s->sock_update,
                  "UPDATE scan_sockets SET proto = ?3, family = ?4, state = ?5, local_addr = ?6, "
                  "local_port = ?7, remote_addr = ?8, remote_port = ?9, role = ?10, last_seen = ?11 "
                  "WHERE id = ?12" },
                { &s->sock_delete, "DELETE FROM scan_sockets WHERE id = ?1" },
                { &s->owner_insert, "INSERT INTO scan_socket_owners (socket_id, pid) VALUES (?1, ?2)" },
                { &s->owner_delete, "DELETE FROM scan_socket_owners WHERE socket_id = ?1 AND pid = ?2" },
                /* clang-format on */
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                r = db_prepare(db, table[i].sql, table[i].stmt);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* Runs a bound statement to completion and resets it for the next use. */
static int step_done(sqlite3_stmt *st) {
        int rc = sqlite3_step(st);

        (void) sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;
        return 0;
}

/* ---- Loading the remembered state --------------------------------------------------------------------- */

static void copy_text(char *dst, size_t size, const unsigned char *src) {
        snprintf(dst, size, "%s", src ? (const char *) src : "");
}

static const char *column_text(sqlite3_stmt *st, int i) {
        const unsigned char *t = sqlite3_column_text(st, i);

        return t ? (const char *) t : "";
}

static int load_processes(Store *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        proc_table_clear(&s->procs);
        r = db_prepare(
                s->db,
                "SELECT pid, start_ticks, start_time, ppid, comm, cmdline, exe, uid, user, netns_inode, "
                "container_id, first_seen, changed_generation FROM scan_processes ORDER BY pid",
                &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                ScanProcess p = {
                        .pid = (pid_t) sqlite3_column_int64(st, 0),
                        .start_ticks = (uint64_t) sqlite3_column_int64(st, 1),
                        .start_time = sqlite3_column_int64(st, 2),
                        .ppid = (pid_t) sqlite3_column_int64(st, 3),
                        .uid = (uid_t) sqlite3_column_int64(st, 7),
                        .netns_inode = (uint64_t) sqlite3_column_int64(st, 9),
                        .first_seen = sqlite3_column_int64(st, 11),
                        .changed_generation = (uint64_t) sqlite3_column_int64(st, 12),
                };

                copy_text(p.comm, sizeof(p.comm), sqlite3_column_text(st, 4));
                copy_text(p.container_id, sizeof(p.container_id), sqlite3_column_text(st, 10));
                r = proc_table_add(&s->procs, &p, column_text(st, 5), column_text(st, 6),
                                   column_text(st, 8));
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;
        proc_table_sort(&s->procs);
        return 0;
}

static int cmp_netns(const void *a, const void *b) {
        const StoredNetns *x = a, *y = b;

        return (x->inode > y->inode) - (x->inode < y->inode);
}

static int load_netns(Store *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc, r;

        s->netns.n = 0;
        s->netns.max_idx = 0;
        r = db_prepare(s->db, "SELECT inode, idx, first_seen FROM scan_netns ORDER BY inode", &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                StoredNetns *x;

                r = grow((void **) &s->netns.items, &s->netns.allocated, s->netns.n + 1,
                         sizeof(StoredNetns));
                if (r < 0)
                        return r;
                x = &s->netns.items[s->netns.n++];
                x->inode = (uint64_t) sqlite3_column_int64(st, 0);
                x->idx = sqlite3_column_int64(st, 1);
                x->first_seen = sqlite3_column_int64(st, 2);
                if (x->idx > s->netns.max_idx)
                        s->netns.max_idx = x->idx;
        }
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;
        return 0;
}

static int cmp_socket_key(uint64_t netns_a, uint64_t inode_a, uint64_t netns_b, uint64_t inode_b) {
        if (netns_a != netns_b)
                return netns_a < netns_b ? -1 : 1;
        return (inode_a > inode_b) - (inode_a < inode_b);
}

static int cmp_stored_socket(const void *a, const void *b) {
        const StoredSocket *x = a, *y = b;

        return cmp_socket_key(x->s.netns_inode, x->s.inode, y->s.netns_inode, y->s.inode);
}

static int load_sockets(Store *s) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL, *ot = NULL;
        size_t i = 0;
        int rc, r;

        socket_set_clear(&s->sockets);
        r = db_prepare(
                s->db,
                "SELECT id, netns_inode, inode, proto, family, state, local_addr, local_port, remote_addr, "
                "remote_port, role, first_seen FROM scan_sockets ORDER BY id",
                &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                ScannedSocket x = {
                        .netns_inode = (uint64_t) sqlite3_column_int64(st, 1),
                        .inode = (uint64_t) sqlite3_column_int64(st, 2),
                        .udp = streq(column_text(st, 3), "udp"),
                        .family = (uint8_t) sqlite3_column_int(st, 4),
                        .local_port = (uint16_t) sqlite3_column_int(st, 7),
                        .remote_port = (uint16_t) sqlite3_column_int(st, 9),
                        .server = streq(column_text(st, 10), "server"),
                };

                copy_text(x.state, sizeof(x.state), sqlite3_column_text(st, 5));
                copy_text(x.local_addr, sizeof(x.local_addr), sqlite3_column_text(st, 6));
                copy_text(x.remote_addr, sizeof(x.remote_addr), sqlite3_column_text(st, 8));
                r = socket_set_add(&s->sockets, &x, NULL, 0, sqlite3_column_int64(st, 0),
                                   sqlite3_column_int64(st, 11));
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;

        /* Owners in socket id order, like the sockets: one merge fills each socket's slice of the pool. */
        r = db_prepare(s->db, "SELECT socket_id, pid FROM scan_socket_owners ORDER BY socket_id, pid", &ot);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(ot)) == SQLITE_ROW) {
                int64_t id = sqlite3_column_int64(ot, 0);
                StoredSocket *x;

                while (i < s->sockets.n && s->sockets.items[i].id < id)
                        i++;
                if (i >= s->sockets.n || s->sockets.items[i].id != id)
                        continue;
                x = &s->sockets.items[i];
                /* Sockets are appended in id order with empty slices, so this one's slice ends the pool. */
                if (x->s.n_pids == 0)
                        x->pids_off = s->sockets.n_pids;
                r = grow((void **) &s->sockets.pids, &s->sockets.allocated_pids, s->sockets.n_pids + 1,
                         sizeof(pid_t));
                if (r < 0)
                        return r;
                s->sockets.pids[s->sockets.n_pids++] = (pid_t) sqlite3_column_int64(ot, 1);
                x->s.n_pids++;
        }
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;

        if (s->sockets.n > 1)
                qsort(s->sockets.items, s->sockets.n, sizeof(StoredSocket), cmp_stored_socket);
        return 0;
}

static int store_load(Store *s) {
        int r;

        r = load_processes(s);
        if (r < 0)
                return r;
        r = load_netns(s);
        if (r < 0)
                return r;
        return load_sockets(s);
}

void store_forget(Store *s) {
        s->loaded = false;
        proc_table_clear(&s->procs);
        s->netns.n = 0;
        s->pending_netns.n = 0;
        socket_set_clear(&s->sockets);
        socket_set_clear(&s->pending_sockets);
        s->pending_has_sockets = false;
}

/* ---- Processes ---------------------------------------------------------------------------------------- */

static int write_process(Store *s, const ScanProcess *p, int64_t now_ms) {
        sqlite3_stmt *st = s->proc_upsert;

        sqlite3_bind_int64(st, 1, p->pid);
        sqlite3_bind_int64(st, 2, (int64_t) p->start_ticks);
        sqlite3_bind_int64(st, 3, p->start_time);
        sqlite3_bind_int64(st, 4, p->ppid);
        sqlite3_bind_text(st, 5, p->comm, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, p->cmdline, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, p->exe, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, p->uid);
        sqlite3_bind_text(st, 9, p->user, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 10, (int64_t) p->netns_inode);
        sqlite3_bind_text(st, 11, p->container_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 12, p->first_seen);
        sqlite3_bind_int64(st, 13, now_ms);
        sqlite3_bind_int64(st, 14, (int64_t) p->changed_generation);
        return step_done(st);
}

static int delete_by_int(sqlite3_stmt *st, int64_t key) {
        sqlite3_bind_int64(st, 1, key);
        return step_done(st);
}

static bool exec_changed(const ScanProcess *a, const ScanProcess *b) {
        return !streq(a->comm, b->comm) || !streq(a->cmdline, b->cmdline) || !streq(a->exe, b->exe);
}

static bool process_changed(const ScanProcess *a, const ScanProcess *b) {
        return a->ppid != b->ppid || a->uid != b->uid || a->start_time != b->start_time ||
               a->netns_inode != b->netns_inode || exec_changed(a, b) || !streq(a->user, b->user) ||
               !streq(a->container_id, b->container_id);
}

static int drop_owners(Store *s, const pid_t *gone, size_t n_gone, StoreStats *stats);

static int apply_processes(Store *s, ProcTable *procs, int64_t now_ms, uint64_t generation,
                           StoreStats *stats) {
        const ProcTable *old = &s->procs;
        _cleanup_free_ pid_t *gone = NULL; /* ascending: the old table is in pid order */
        size_t i = 0, j = 0, n_gone = 0;
        int r;

        if (old->n > 0) {
                gone = reallocarray(NULL, old->n, sizeof(pid_t));
                if (!gone)
                        return -ENOMEM;
        }

        while (i < old->n || j < procs->n) {
                const ScanProcess *o = i < old->n ? &old->items[i] : NULL;
                ScanProcess *p = j < procs->n ? &procs->items[j] : NULL;

                if (o && (!p || o->pid < p->pid)) {
                        r = delete_by_int(s->proc_delete, o->pid);
                        if (r < 0)
                                return r;
                        stats->processes_deleted++;
                        gone[n_gone++] = o->pid;
                        i++;
                        continue;
                }
                if (!o || p->pid < o->pid || o->start_ticks != p->start_ticks) {
                        /* New, or a reused pid (new start time): a new process, with its own first_seen. */
                        if (o && p->pid == o->pid)
                                gone[n_gone++] = o->pid;
                        p->first_seen = now_ms;
                        p->changed_generation = generation;
                        r = write_process(s, p, now_ms);
                        if (r < 0)
                                return r;
                        stats->processes_inserted++;
                        if (o && p->pid == o->pid)
                                i++;
                        j++;
                        continue;
                }
                p->first_seen = o->first_seen;
                if (process_changed(o, p)) {
                        p->changed_generation = generation;
                        r = write_process(s, p, now_ms);
                        if (r < 0)
                                return r;
                        stats->processes_updated++;
                        if (exec_changed(o, p))
                                stats->processes_exec++;
                } else
                        p->changed_generation = o->changed_generation;
                i++;
                j++;
        }
        return drop_owners(s, gone, n_gone, stats);
}

/* ---- Network namespaces ------------------------------------------------------------------------------- */

static int apply_netns(Store *s, const ProcTable *procs, int64_t now_ms, StoreStats *stats) {
        const NetnsSet *old = &s->netns;
        NetnsSet *new = &s->pending_netns;
        _cleanup_free_ bool *seen = NULL;
        int r;

        new->n = 0;
        new->max_idx = old->max_idx;
        seen = calloc(old->n + 1, sizeof(bool));
        if (!seen)
                return -ENOMEM;

        /* Processes in pid order: a namespace's index follows the lowest pid that shows it first. */
        for (size_t i = 0; i < procs->n; i++) {
                uint64_t ino = procs->items[i].netns_inode;
                StoredNetns key = { .inode = ino }, *o;
                bool dup = false;

                if (ino == 0)
                        continue;
                o = old->n > 0 ? bsearch(&key, old->items, old->n, sizeof(StoredNetns), cmp_netns) : NULL;
                if (o) {
                        seen[o - old->items] = true;
                        continue;
                }
                for (size_t k = 0; k < new->n && !dup; k++)
                        dup = new->items[k].inode == ino;
                if (dup)
                        continue;
                r = grow((void **) &new->items, &new->allocated, new->n + 1, sizeof(StoredNetns));
                if (r < 0)
                        return r;
                new->items[new->n++] =
                        (StoredNetns) { .inode = ino, .idx = ++new->max_idx, .first_seen = now_ms };
        }

        for (size_t k = 0; k < new->n; k++) {
                sqlite3_stmt *st = s->netns_insert;

                sqlite3_bind_int64(st, 1, (int64_t) new->items[k].inode);
                sqlite3_bind_int64(st, 2, new->items[k].idx);
                sqlite3_bind_int64(st, 3, now_ms);
                r = step_done(st);
                if (r < 0)
                        return r;
                stats->netns_inserted++;
        }

        /* Gone namespaces: deleted, except the holder of the highest index (see store.h). */
        for (size_t k = 0; k < old->n; k++) {
                if (!seen[k] && old->items[k].idx != old->max_idx) {
                        r = delete_by_int(s->netns_delete, (int64_t) old->items[k].inode);
                        if (r < 0)
                                return r;
                        stats->netns_deleted++;
                        continue;
                }
                r = grow((void **) &new->items, &new->allocated, new->n + 1, sizeof(StoredNetns));
                if (r < 0)
                        return r;
                new->items[new->n++] = old->items[k];
        }
        if (new->n > 1)
                qsort(new->items, new->n, sizeof(StoredNetns), cmp_netns);
        stats->n_netns = (unsigned) new->n;
        return 0;
}

/* ---- Sockets ------------------------------------------------------------------------------------------ */

static void bind_socket_fields(sqlite3_stmt *st, const ScannedSocket *x, int64_t now_ms) {
        sqlite3_bind_text(st, 3, x->udp ? "udp" : "tcp", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, x->family);
        sqlite3_bind_text(st, 5, x->state, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, x->local_addr, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 7, x->local_port);
        sqlite3_bind_text(st, 8, x->remote_addr, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 9, x->remote_port);
        sqlite3_bind_text(st, 10, x->server ? "server" : "client", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 11, now_ms);
}

static bool socket_changed(const ScannedSocket *a, const ScannedSocket *b) {
        return a->udp != b->udp || a->family != b->family || a->server != b->server ||
               a->local_port != b->local_port || a->remote_port != b->remote_port ||
               !streq(a->state, b->state) || !streq(a->local_addr, b->local_addr) ||
               !streq(a->remote_addr, b->remote_addr);
}

static int owner_write(sqlite3_stmt *st, int64_t id, pid_t pid) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, pid);
        return step_done(st);
}

/* Writes the difference between two ascending owner lists. */
static int apply_owners(Store *s, int64_t id, const pid_t *old, size_t n_old, const pid_t *new, size_t n_new,
                        StoreStats *stats) {
        size_t i = 0, j = 0;
        int r;

        while (i < n_old || j < n_new) {
                if (j >= n_new || (i < n_old && old[i] < new[j])) {
                        r = owner_write(s->owner_delete, id, old[i++]);
                        if (r < 0)
                                return r;
                        stats->owners_deleted++;
                } else if (i >= n_old || new[j] < old[i]) {
                        r = owner_write(s->owner_insert, id, new[j++]);
                        if (r < 0)
                                return r;
                        stats->owners_inserted++;
                } else
                        i++, j++;
        }
        return 0;
}

static int cmp_pid(const void *a, const void *b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;

        return (x > y) - (x < y);
}

/* A process that is gone, or whose pid now names another process, owns no socket any more. Without this, a
 * cycle that scans processes but not sockets (os-proc-socket-sync-interval longer than
 * process_scan_interval) would keep its owner rows until the next socket scan: /v1/sockets would list a
 * pid that the processes of the same snapshot do not have, or that a new process now has. The remembered
 * set follows the rows, so the next socket scan compares with what the database holds (a rollback
 * forgets both). */
static int drop_owners(Store *s, const pid_t *gone, size_t n_gone, StoreStats *stats) {
        SocketSet *set = &s->sockets;
        int r;

        if (n_gone == 0)
                return 0;
        for (size_t i = 0; i < set->n; i++) {
                StoredSocket *x = &set->items[i];
                pid_t *p = set->pids + x->pids_off;
                size_t kept = 0;

                for (size_t k = 0; k < x->s.n_pids; k++) {
                        if (!bsearch(&p[k], gone, n_gone, sizeof(pid_t), cmp_pid)) {
                                p[kept++] = p[k];
                                continue;
                        }
                        r = owner_write(s->owner_delete, x->id, p[k]);
                        if (r < 0)
                                return r;
                        stats->owners_deleted++;
                }
                x->s.n_pids = kept;
        }
        return 0;
}

static int cmp_socket_ptr(const void *a, const void *b) {
        const ScannedSocket *x = *(const ScannedSocket *const *) a, *y = *(const ScannedSocket *const *) b;

        return cmp_socket_key(x->netns_inode, x->inode, y->netns_inode, y->inode);
}

static int apply_sockets(Store *s, const SocketScan *scan, int64_t now_ms, StoreStats *stats) {
        const SocketSet *old = &s->sockets;
        SocketSet *new = &s->pending_sockets;
        _cleanup_free_ const ScannedSocket **order = NULL;
        size_t i = 0, j = 0;
        int r;

        socket_set_clear(new);

        /* socket_scan() returns them sorted; sort a view if that ever stops being true. */
        order = reallocarray(NULL, scan->n_sockets + 1, sizeof(ScannedSocket *));
        if (!order)
                return -ENOMEM;
        for (size_t k = 0; k < scan->n_sockets; k++)
                order[k] = &scan->sockets[k];
        for (size_t k = 1; k < scan->n_sockets; k++)
                if (cmp_socket_ptr(&order[k - 1], &order[k]) > 0) {
                        qsort(order, scan->n_sockets, sizeof(ScannedSocket *), cmp_socket_ptr);
                        break;
                }

        while (i < old->n || j < scan->n_sockets) {
                const StoredSocket *o = i < old->n ? &old->items[i] : NULL;
                const ScannedSocket *x = j < scan->n_sockets ? order[j] : NULL;
                int c;

                if (x && j > 0 &&
                    cmp_socket_key(order[j - 1]->netns_inode, order[j - 1]->inode, x->netns_inode,
                                   x->inode) == 0) {
                        stats->sockets_duplicate++;
                        j++;
                        continue;
                }
                c = !o   ? 1
                    : !x ? -1
                         : cmp_socket_key(o->s.netns_inode, o->s.inode, x->netns_inode, x->inode);
                if (c < 0) {
                        /* Gone: its owners go with it (ON DELETE CASCADE). */
                        r = delete_by_int(s->sock_delete, o->id);
                        if (r < 0)
                                return r;
                        stats->sockets_deleted++;
                        i++;
                } else if (c > 0) {
                        sqlite3_stmt *st = s->sock_insert;
                        int64_t id;

                        sqlite3_bind_int64(st, 1, (int64_t) x->netns_inode);
                        sqlite3_bind_int64(st, 2, (int64_t) x->inode);
                        bind_socket_fields(st, x, now_ms);
                        r = step_done(st);
                        if (r < 0)
                                return r;
                        id = sqlite3_last_insert_rowid(s->db);
                        r = apply_owners(s, id, NULL, 0, x->pids, x->n_pids, stats);
                        if (r < 0)
                                return r;
                        r = socket_set_add(new, x, x->pids, x->n_pids, id, now_ms);
                        if (r < 0)
                                return r;
                        stats->sockets_inserted++;
                        j++;
                } else {
                        if (socket_changed(&o->s, x)) {
                                sqlite3_stmt *st = s->sock_update;

                                bind_socket_fields(st, x, now_ms);
                                sqlite3_bind_int64(st, 12, o->id);
                                r = step_done(st);
                                if (r < 0)
                                        return r;
                                stats->sockets_updated++;
                        }
                        r = apply_owners(s, o->id, stored_pids(old, o), o->s.n_pids, x->pids, x->n_pids,
                                         stats);
                        if (r < 0)
                                return r;
                        r = socket_set_add(new, x, x->pids, x->n_pids, o->id, o->first_seen);
                        if (r < 0)
                                return r;
                        i++;
                        j++;
                }
        }
        stats->n_sockets = (unsigned) new->n;
        return 0;
}

/* ---- The cycle ---------------------------------------------------------------------------------------- */

int store_apply(Store *s, ProcTable *procs, const SocketScan *sockets, int64_t now_ms, uint64_t generation,
                StoreStats *ret_stats) {
        StoreStats stats = {};
        int r;

        if (!s->loaded) {
                r = store_load(s);
                if (r < 0) {
                        store_forget(s);
                        return r;
                }
                s->loaded = true;
        }

        r = apply_processes(s, procs, now_ms, generation, &stats);
        if (r >= 0)
                r = apply_netns(s, procs, now_ms, &stats);
        if (r >= 0 && sockets)
                r = apply_sockets(s, sockets, now_ms, &stats);
        if (r < 0)
                return r;
        s->pending_has_sockets = sockets;
        if (!sockets)
                stats.n_sockets = (unsigned) s->sockets.n;

        if (ret_stats)
                *ret_stats = stats;
        return stats.processes_inserted + stats.processes_updated + stats.processes_deleted > 0 ||
               stats.netns_inserted + stats.netns_deleted > 0 ||
               stats.sockets_inserted + stats.sockets_updated + stats.sockets_deleted > 0 ||
               stats.owners_inserted + stats.owners_deleted > 0;
}

void store_committed(Store *s, ProcTable *procs) {
        NetnsSet tn;

        proc_table_swap(&s->procs, procs);
        tn = s->netns;
        s->netns = s->pending_netns;
        s->pending_netns = tn;
        s->pending_netns.n = 0;
        if (s->pending_has_sockets) {
                SocketSet ts = s->sockets;

                s->sockets = s->pending_sockets;
                s->pending_sockets = ts;
                socket_set_clear(&s->pending_sockets);
        }
        s->pending_has_sockets = false;
}
