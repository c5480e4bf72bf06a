/* The scanner's writes to state.db: scan_processes, scan_netns, scan_sockets and scan_socket_owners.
 *
 * A cycle is written incrementally. The store remembers what it last committed (loaded from the database
 * on the first cycle, so first_seen and netns indexes survive restarts), compares each new scan with it
 * and writes only the differences: new rows, changed rows, gone rows. A cycle in which nothing changed
 * writes nothing here (the caller then only updates its heartbeat row).
 *
 * The caller owns the transaction:
 *
 *         db_begin(db);
 *         r = store_apply(store, &procs, sockets_or_NULL, now_ms, generation + 1, &stats);
 *         ... heartbeat with generation + 1 when r > 0, else generation ...
 *         if (db_commit(db) >= 0)
 *                 store_committed(store, &procs);
 *         else {
 *                 db_rollback(db);
 *                 store_forget(store);
 *         }
 *
 * What the columns mean (also in the README):
 *   - first_seen: when the row was first written for this identity (a process is (pid, start_ticks), a
 *     socket (netns_inode, inode), a namespace its inode). It survives restarts of the scanner.
 *   - last_seen: when the row was last written (inserted or changed), NOT the last cycle that saw it:
 *     rewriting every row every cycle would defeat the incremental writes. Every row present was seen by
 *     the last cycle, whose time is scan_daemon.last_cycle_at.
 *   - scan_processes.changed_generation: the scan generation that last inserted or changed the row.
 *   - scan_netns.idx: 1, 2, 3, ... in first-sight order (lowest pid first within a cycle), never reused: a
 *     gone namespace's row is deleted, except the one holding the highest index, which stays so that the
 *     next index is always max(idx) + 1. */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "macro.h"
#include "proc-scan.h"
#include "socket-scan.h"

typedef struct StoreStats {
        unsigned processes_inserted; /* includes a reused pid (new start_ticks): a new process */
        unsigned processes_updated;  /* same identity, changed fields (exec, reparenting, ...) */
        unsigned processes_exec;     /* of those: comm, cmdline or exe changed */
        unsigned processes_deleted;
        unsigned netns_inserted;
        unsigned netns_deleted;
        unsigned sockets_inserted;
        unsigned sockets_updated;
        unsigned sockets_deleted;
        unsigned sockets_duplicate; /* a (netns, inode) the socket scan reported twice: kept once */
        unsigned owners_inserted;
        unsigned owners_deleted;
        unsigned n_netns;   /* namespaces in the table after the cycle */
        unsigned n_sockets; /* sockets in the table after the cycle */
} StoreStats;

typedef struct Store Store;

/* Prepares the statements (reused every cycle). Nothing is read until the first store_apply(). */
int store_new(sqlite3 *db, Store **ret);
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);

/* Writes the differences between the last committed state and this cycle's scans into the caller's open
 * write transaction. `procs` (sorted by pid) gets first_seen and changed_generation filled in. `sockets`
 * NULL leaves the socket tables as they are (no socket scan this cycle); an empty scan empties them.
 * `generation` is what changed rows record (the caller's next generation). Returns 1 when anything was
 * written, 0 when nothing changed, -errno on failure (the caller rolls back and calls store_forget()). */
int store_apply(Store *s, ProcTable *procs, const SocketScan *sockets, int64_t now_ms, uint64_t generation,
                StoreStats *ret_stats);

/* After a successful commit: what store_apply() wrote becomes the state the next cycle compares with. The
 * store takes the rows of `procs` and hands back the previous table's in it (to be cleared and refilled by
 * the next scan). */
void store_committed(Store *s, ProcTable *procs);

/* After a rollback (or any doubt): forget the remembered state; the next store_apply() reloads it from the
 * database. */
void store_forget(Store *s);
