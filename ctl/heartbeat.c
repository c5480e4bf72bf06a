/* See heartbeat.h. */
#include "heartbeat.h"

#include <sys/pidfd.h>

#include "db.h"
#include "proc-stat.h"

void heartbeat_done(Heartbeat *h) {
        if (!h)
                return;
        free(h->config_error);
        *h = (Heartbeat) {};
}

int heartbeat_read(sqlite3 *db, DaemonKind kind, Heartbeat *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        const unsigned char *error;
        Heartbeat h = { .kind = kind };
        int r, rc;

        r = db_prepare(db,
                       "SELECT pid, pid_start_ticks, config_ok, config_error FROM daemons WHERE name = ?1",
                       &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, daemon_kind_to_string(kind), -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return db_errno(rc) ?: -EIO;

        h.pid = (pid_t) sqlite3_column_int64(st, 0);
        h.pid_start_ticks = (uint64_t) sqlite3_column_int64(st, 1);
        h.config_ok = sqlite3_column_int64(st, 2) != 0;
        error = sqlite3_column_text(st, 3);
        if (!h.config_ok && error && !(h.config_error = strdup((const char *) error)))
                return -ENOMEM;
        *ret = h;
        return 0;
}

int heartbeat_open_pidfd(const Heartbeat *h, int *ret_pidfd) {
        _cleanup_close_ int fd = -EBADF;
        ProcStat st;
        int r;

        if (h->pid <= 0)
                return -ESRCH;
        fd = pidfd_open(h->pid, 0);
        if (fd < 0)
                return negative_errno();
        /* The daemons live on this host's /proc, whatever os-proc-root says. */
        r = proc_stat_read("/proc", h->pid, &st);
        if (r < 0)
                return r;
        if (st.start_ticks != h->pid_start_ticks)
                return -ESTALE;
        *ret_pidfd = TAKE_FD(fd);
        return 0;
}
