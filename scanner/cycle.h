/* One scanner cycle: scan the processes (always) and the sockets (when due), then write what changed in one
 * BEGIN IMMEDIATE transaction together with the heartbeat row, so that readers see data and generation
 * change at once. The Scanner keeps what survives between cycles: the process scanner (read buffers,
 * boot time), the store (the last committed state) and the two process tables it alternates. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "macro.h"
#include "proc-scan.h"
#include "socket-scan.h"
#include "store.h"

typedef struct CycleFigures {
        ProcScanStats procs;
        bool sockets_scanned;
        SocketScan sockets; /* only the figures (sockets/owner_pids are NULL) */
        StoreStats store;
        bool changed;
        uint64_t generation;
        uint64_t scan_ms, socket_ms, write_ms, total_ms;
} CycleFigures;

typedef struct Scanner Scanner;

/* Sets up from d->config (os-proc-root, intervals). Fails when os-proc-root cannot be opened or has no
 * btime in its stat file. */
int scanner_new(Daemon *d, Scanner **ret);
Scanner *scanner_free(Scanner *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Scanner *, scanner_free);

/* After a successful reload: picks up a new os-proc-root (a new process scanner; the stored state stays,
 * so unchanged processes are not rewritten). On failure the old root stays in use. */
int scanner_reconfigure(Scanner *s);

/* Runs one cycle. `sockets`: scan the sockets this cycle. With os-proc-socket-sync-interval 0 the socket
 * tables are kept empty instead. The heartbeat is written either way (with last_error when the cycle
 * failed). Returns 0, or -errno of a failed cycle (the database state is then unchanged); -ENOTRECOVERABLE
 * when the process could not return to its own network namespace: the caller must exit. */
int scanner_cycle(Scanner *s, bool sockets, CycleFigures *ret);
