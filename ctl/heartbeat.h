/* The daemons' heartbeat rows (the `daemons` view of state.db) as procctl uses them to find and signal the
 * daemons: `reload` sends them SIGHUP, `run` refuses to start a second set on the same state directory.
 *
 * A row's pid is only a hint: the daemon may have died and the pid been reused. The row also holds the
 * process's start time (pid_start_ticks), which names one process for the whole uptime of the host; the
 * pid is trusted only when /proc says the same, and the check is made after opening a pidfd, so the
 * process signalled through that pidfd is the one that was checked. */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"

typedef struct Heartbeat {
        DaemonKind kind;
        pid_t pid;
        uint64_t pid_start_ticks;
        bool config_ok;
        char *config_error; /* NULL when config_ok */
} Heartbeat;

void heartbeat_done(Heartbeat *h);

/* Reads the row of `kind`. -ENOENT when that daemon never ran with this database. */
int heartbeat_read(sqlite3 *db, DaemonKind kind, Heartbeat *ret);

/* Opens a pidfd on the heartbeat's pid if it still names that daemon. -ESRCH when the pid is gone,
 * -ESTALE when it now names another process (a different start time). */
int heartbeat_open_pidfd(const Heartbeat *h, int *ret_pidfd);
