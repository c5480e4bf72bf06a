/* See cycle.h.
 *
 * The scans run before the transaction opens: the write lock on state.db is held only for the writes
 * (milliseconds when little changed), never across the /proc walk. A cycle whose writes fail is rolled back
 * and the store forgets what it remembered, so the next cycle compares with what the database really holds.
 * The heartbeat of a failed cycle is written on its own, outside the rolled-back transaction, with the
 * error in last_error. */
#include "cycle.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "db.h"
#include "log.h"
#include "owner-bpf.h"
#include "time-util.h"

struct Scanner {
        Daemon *daemon;
        char *proc_root;
        bool live;
        OwnerBpf *owner_bpf; /* NULL: socket owners from the fd walk */
        bool owner_bpf_tried;
        ProcScanner *proc_scanner;
        Store *store;
        ProcTable procs;
        SocketScanPid *pids;
        size_t allocated_pids;
};

static int open_root(const char *proc_root, ProcScanner **ret_scanner, bool *ret_live) {
        _cleanup_(proc_scanner_freep) ProcScanner *ps = NULL;
        int r, live;

        r = proc_scanner_new(proc_root, &ps);
        if (r < 0)
                return log_error_errno(
                        r,
                        "Cannot use os-proc-root '%s' (it must be a procfs with a btime line in "
                        "its stat file): %m",
                        proc_root);
        live = socket_proc_root_is_live(proc_root);
        if (live < 0) {
                log_warning_errno(live,
                                  "Cannot tell whether '%s' is the live procfs, reading socket tables: %m",
                                  proc_root);
                live = 0;
        }
        *ret_scanner = TAKE_PTR(ps);
        *ret_live = live;
        return 0;
}

Scanner *scanner_free(Scanner *s) {
        if (!s)
                return NULL;
        free(s->proc_root);
        owner_bpf_free(s->owner_bpf);
        proc_scanner_free(s->proc_scanner);
        store_free(s->store);
        proc_table_done(&s->procs);
        free(s->pids);
        free(s);
        return NULL;
}

int scanner_new(Daemon *d, Scanner **ret) {
        _cleanup_(scanner_freep) Scanner *s = NULL;
        int r;

        s = calloc(1, sizeof(Scanner));
        if (!s)
                return log_error_errno(-ENOMEM, "Out of memory");
        s->daemon = d;
        s->proc_root = strdup(d->config->proc_root);
        if (!s->proc_root)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = open_root(s->proc_root, &s->proc_scanner, &s->live);
        if (r < 0)
                return r;
        /* The scanner writes every few seconds for the life of the host: leave the WAL file in place and
         * do not checkpoint when the connection closes. Deleting and re-creating the WAL costs a header, a
         * directory and a checkpoint fsync per start; SQLite's auto-checkpoint (every 1000 pages) keeps the
         * file bounded either way, and readers find the WAL they need to open the database. */
        (void) sqlite3_db_config(d->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        {
                int persist = 1;
                (void) sqlite3_file_control(d->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
        }

        r = store_new(d->db, &s->store);
        if (r < 0)
                return log_error_errno(r, "Cannot prepare the scanner's statements: %s",
                                       sqlite3_errmsg(d->db));
        log_info("Scanning '%s' (%s procfs), processes every %" PRIu64 " ms, sockets %s", s->proc_root,
                 s->live ? "live" : "not the live", d->config->process_scan_interval / USEC_PER_MSEC,
                 d->config->socket_sync_interval > 0 ? "on" : "off");
        *ret = TAKE_PTR(s);
        return 0;
}

int scanner_reconfigure(Scanner *s) {
        ProcScanner *ps = NULL;
        char *root;
        bool live;
        int r;

        if (streq(s->proc_root, s->daemon->config->proc_root))
                return 0;
        root = strdup(s->daemon->config->proc_root);
        if (!root)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = open_root(root, &ps, &live);
        if (r < 0) {
                free(root);
                return log_warning_errno(r, "Keeping os-proc-root '%s'", s->proc_root);
        }
        log_info("os-proc-root is now '%s'", root);
        proc_scanner_free(s->proc_scanner);
        free(s->proc_root);
        s->proc_scanner = ps;
        s->proc_root = root;
        s->live = live;
        return 0;
}

static uint64_t ms_since(usec_t start) {
        return (now_usec(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC;
}

/* The owner source, chosen once, before the first socket scan (not at start-up: a scanner that never scans
 * sockets does not load BPF): the BPF iterator when it loads, else the fd walk (see owner-bpf.h for when
 * it does not). Either way one debug line; the stats say which (socket_figures.owner_source). */
static void load_owner_bpf(Scanner *s) {
        int r;

        s->owner_bpf_tried = true;
        if (!s->live)
                return;
        r = owner_bpf_new(s->proc_root, &s->owner_bpf);
        if (r < 0)
                log_debug_errno(r, "Socket owners from the /proc fd walk (no BPF iterator: %m)");
        else
                log_debug("Socket owners from the BPF task_file iterator");
}

static int scan_sockets(Scanner *s, SocketScan *ret) {
        int r;

        if (!s->owner_bpf_tried)
                load_owner_bpf(s);

        if (s->procs.n > s->allocated_pids) {
                SocketScanPid *p = reallocarray(s->pids, s->procs.n, sizeof(SocketScanPid));

                if (!p)
                        return -ENOMEM;
                s->pids = p;
                s->allocated_pids = s->procs.n;
        }
        for (size_t i = 0; i < s->procs.n; i++)
                s->pids[i] = (SocketScanPid) { s->procs.items[i].pid, s->procs.items[i].netns_inode };
        r = socket_scan(s->proc_root, s->live, s->owner_bpf, s->pids, s->procs.n, ret);
        return r;
}

/* The `stats` column and STATUS= figures of a cycle, as one JSON object. */
static char *figures_json(const CycleFigures *f) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        const StoreStats *st = &f->store;

        /* clang-format off */
        o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                      "processes", (json_int_t) f->procs.n_processes,
                      "kernel_threads", (json_int_t) f->procs.n_kernel_threads,
                      "vanished", (json_int_t) f->procs.n_vanished,
                      "malformed", (json_int_t) f->procs.n_malformed,
                      "denied", (json_int_t) f->procs.n_denied,
                      "passwd_files", (json_int_t) f->procs.n_passwd_files,
                      "netns", (json_int_t) st->n_netns,
                      "sockets", (json_int_t) st->n_sockets,
                      "scan_ms", (json_int_t) f->scan_ms,
                      "socket_ms", (json_int_t) f->socket_ms,
                      "write_ms", (json_int_t) f->write_ms,
                      "changed", (json_int_t) f->changed);
        /* clang-format on */
        if (!o)
                return NULL;
        if (json_object_set_new(o, "socket_scan", json_boolean(f->sockets_scanned)) < 0)
                return NULL;
        if (f->sockets_scanned) {
                /* clang-format off */
                json_t *so = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
                                       "netns", (json_int_t) f->sockets.n_netns,
                                       "netlink", (json_int_t) f->sockets.n_netlink,
                                       "tables", (json_int_t) f->sockets.n_table,
                                       "netns_failed", (json_int_t) f->sockets.n_netns_failed,
                                       "unowned", (json_int_t) f->sockets.n_unowned,
                                       "fds", (json_int_t) f->sockets.n_fds,
                                       "fd_denied", (json_int_t) f->sockets.n_fd_denied,
                                       "owner_source", socket_owner_source_to_string(f->sockets.owner_source));
                /* clang-format on */
                if (!so || json_object_set_new(o, "socket_figures", so) < 0)
                        return NULL;
        }
        {
                /* clang-format off */
                json_t *w = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                                      "processes_inserted", (json_int_t) st->processes_inserted,
                                      "processes_updated", (json_int_t) st->processes_updated,
                                      "processes_exec", (json_int_t) st->processes_exec,
                                      "processes_deleted", (json_int_t) st->processes_deleted,
                                      "netns_inserted", (json_int_t) st->netns_inserted,
                                      "netns_deleted", (json_int_t) st->netns_deleted,
                                      "sockets_inserted", (json_int_t) st->sockets_inserted,
                                      "sockets_updated", (json_int_t) st->sockets_updated,
                                      "sockets_deleted", (json_int_t) st->sockets_deleted,
                                      "owners_inserted", (json_int_t) st->owners_inserted,
                                      "owners_deleted", (json_int_t) st->owners_deleted);
                /* clang-format on */
                if (!w || json_object_set_new(o, "writes", w) < 0)
                        return NULL;
        }
        return json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* Records a failed cycle in the heartbeat row (its own transaction) and returns r. */
static int cycle_failed(Scanner *s, int r, const char *what, usec_t start) {
        _cleanup_free_ char *msg = NULL;
        Daemon *d = s->daemon;
        int q;

        if (asprintf(&msg, "%s: %s", what, strerror(-r)) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        log_error("Cycle failed: %s", msg);
        q = daemon_heartbeat(d, ms_since(start), d->generation, NULL, msg);
        if (q < 0)
                log_warning_errno(q, "Cannot record the failed cycle in the heartbeat row: %m");
        return r;
}

int scanner_cycle(Scanner *s, bool sockets, CycleFigures *ret) {
        _cleanup_(socket_scan_done) SocketScan scan = {};
        _cleanup_free_ char *stats = NULL;
        Daemon *d = s->daemon;
        CycleFigures f = {};
        const SocketScan *to_store = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC), t;
        int r, changed;

        r = proc_scanner_run(s->proc_scanner, &s->procs, &f.procs);
        if (r < 0)
                return cycle_failed(s, r, "process scan", start);
        f.scan_ms = ms_since(start);

        if (sockets && d->config->socket_sync_interval > 0) {
                t = now_usec(CLOCK_MONOTONIC);
                r = scan_sockets(s, &scan);
                if (r == -ENOTRECOVERABLE)
                        return log_error_errno(
                                r, "Stuck in a foreign network namespace after a socket dump: %m");
                if (r < 0)
                        return cycle_failed(s, r, "socket scan", start);
                f.socket_ms = ms_since(t);
                f.sockets_scanned = true;
                f.sockets = scan;
                f.sockets.sockets = NULL;
                f.sockets.owner_pids = NULL;
                to_store = &scan;
        } else if (d->config->socket_sync_interval == 0)
                to_store = &scan; /* socket sync off: keep the socket tables empty */

        daemon_keepalive(d);
        t = now_usec(CLOCK_MONOTONIC);
        r = db_begin(d->db);
        if (r < 0)
                return cycle_failed(s, r, "cannot lock state.db", start);
        changed = store_apply(s->store, &s->procs, to_store, now_epoch_ms(), d->generation + 1, &f.store);
        if (changed < 0) {
                r = changed;
                log_error("Writing the scan failed: %s", sqlite3_errmsg(d->db));
                goto rollback;
        }
        f.changed = changed > 0;
        f.generation = d->generation + (changed > 0);
        f.write_ms = ms_since(t);
        f.total_ms = ms_since(start);
        stats = figures_json(&f);
        if (!stats) {
                r = -ENOMEM;
                goto rollback;
        }
        r = daemon_heartbeat(d, f.total_ms, f.generation, stats, NULL);
        if (r < 0)
                goto rollback;
        r = db_commit(d->db);
        if (r < 0)
                goto rollback;
        store_committed(s->store, &s->procs);

        if (ret)
                *ret = f;
        return 0;

rollback:
        db_rollback(d->db);
        store_forget(s->store);
        return cycle_failed(s, r, "writing state.db", start);
}
