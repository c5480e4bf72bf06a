/* `procctl reload [--timeout DURATION]`: SIGHUP to procsync-scanner, -matcher and -exporter, and what came
 * of it.
 *
 * The daemons are found by their heartbeat rows (read-only database), each pid checked against its start
 * time before it is signalled through a pidfd (heartbeat.h). procsync-api writes no heartbeat and is not
 * signalled: it reads the config at start-up, so restart it (procctl run restarts it on SIGHUP).
 *
 * The outcome: a daemon takes SIGHUP from its signalfd between cycles, loads the file again and records
 * in its row config_ok and, when the file is invalid, config_error ("FILE:LINE:COL: message"). So procctl
 * waits (up to --timeout, 5 s by default; 0 does not wait) until the signal is no longer pending in
 * /proc/<pid>/status, then reads the row. The row says whether the config is good, not when it was loaded;
 * procctl loaded the same file itself first and knows what to expect, and waits at most a second more for
 * the row to agree before reporting what it says.
 *
 * An invalid config is reported before anything is signalled, and then nothing is (the daemons would
 * keep their current config anyway), unless --state-dir is given, because without the config procctl does
 * not know where the state is.
 *
 * Exit status: 1 when no daemon could be signalled, or one kept its old config or exited; else 0 (also when
 * a daemon took longer than --timeout to answer: it was signalled, and says so). */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/pidfd.h>

#include "ctl.h"
#include "db.h"
#include "heartbeat.h"
#include "log.h"
#include "proc-signals.h"

#define RELOAD_DEFAULT_TIMEOUT (5 * USEC_PER_SEC)
/* After a daemon has taken the signal: how long the row may take to show the expected outcome. */
#define RELOAD_SETTLE           (1 * USEC_PER_SEC)
#define RELOAD_POLL_INTERVAL_MS 20

typedef enum TargetState {
        TARGET_SKIPPED, /* not running, or could not be signalled: reported already */
        TARGET_SIGNALLED,
        TARGET_TAKEN, /* SIGHUP no longer pending: it is reloading or has reloaded */
        TARGET_DONE,
} TargetState;

typedef struct Target {
        Heartbeat h;
        int pidfd;
        TargetState state;
        usec_t taken_at;
} Target;

static const char *name_of(const Target *t) {
        return daemon_kind_to_string(t->h.kind);
}

/* Reads the row, checks the pid, sends SIGHUP. Prints a line for every daemon that is not signalled. */
static void signal_one(sqlite3 *db, const char *state_dir, Target *t) {
        ProcSignals s;
        int r;

        r = heartbeat_read(db, t->h.kind, &t->h);
        if (r == -ENOENT) {
                printf("%s: not running (it never ran with the state directory '%s')\n", name_of(t),
                       state_dir);
                return;
        }
        if (r < 0) {
                printf("%s: cannot read its heartbeat: %s\n", name_of(t), strerror(-r));
                return;
        }
        r = heartbeat_open_pidfd(&t->h, &t->pidfd);
        if (r == -ESRCH) {
                printf("%s: not running (stale heartbeat, pid %d is gone)\n", name_of(t), (int) t->h.pid);
                return;
        }
        if (r == -ESTALE) {
                printf("%s: not running (stale heartbeat, pid %d is another process)\n", name_of(t),
                       (int) t->h.pid);
                return;
        }
        if (r < 0) {
                printf("%s (pid %d): cannot check it: %s\n", name_of(t), (int) t->h.pid, strerror(-r));
                return;
        }

        /* Before a daemon blocks SIGHUP (early in its start-up), SIGHUP would kill it. */
        r = proc_signals_read("/proc", t->h.pid, &s);
        if (r < 0 || !proc_signals_handles(&s, SIGHUP)) {
                printf("%s (pid %d): not signalled: %s\n", name_of(t), (int) t->h.pid,
                       r < 0 ? strerror(-r) : "it does not handle SIGHUP (yet: is it still starting?)");
                return;
        }
        if (pidfd_send_signal(t->pidfd, SIGHUP, NULL, 0) < 0) {
                printf("%s (pid %d): cannot signal it: %s%s\n", name_of(t), (int) t->h.pid, strerror(errno),
                       errno == EPERM ? " (run procctl as root or as the daemons' user)" : "");
                return;
        }
        t->state = TARGET_SIGNALLED;
}

static bool exited(const Target *t) {
        struct pollfd p = { .fd = t->pidfd, .events = POLLIN };

        return poll(&p, 1, 0) > 0;
}

static void report_outcome(Target *t, const Heartbeat *row) {
        t->state = TARGET_DONE;
        if (row->config_ok)
                printf("%s (pid %d): reloaded\n", name_of(t), (int) t->h.pid);
        else
                printf("%s (pid %d): kept the old config: %s\n", name_of(t), (int) t->h.pid,
                       strempty(row->config_error));
        t->h.config_ok = row->config_ok;
}

/* One look at a signalled daemon. */
static void follow_one(sqlite3 *db, Target *t, bool expect_ok, usec_t now) {
        _cleanup_(heartbeat_done) Heartbeat row = {};
        ProcSignals s;
        int r;

        if (exited(t)) {
                printf("%s (pid %d): exited after the signal\n", name_of(t), (int) t->h.pid);
                t->state = TARGET_DONE;
                t->h.config_ok = false;
                return;
        }
        if (t->state == TARGET_SIGNALLED) {
                r = proc_signals_read("/proc", t->h.pid, &s);
                if (r < 0 || proc_signals_is_pending(&s, SIGHUP))
                        return;
                t->state = TARGET_TAKEN;
                t->taken_at = now;
        }
        r = heartbeat_read(db, t->h.kind, &row);
        if (r < 0)
                return;
        if (row.config_ok == expect_ok || now - t->taken_at >= RELOAD_SETTLE)
                report_outcome(t, &row);
}

int verb_reload(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_db_ sqlite3 *db = NULL;
        Target targets[_DAEMON_KIND_MAX] = {};
        usec_t timeout = RELOAD_DEFAULT_TIMEOUT, deadline;
        const char *state_dir, *v;
        size_t n_signalled = 0, n_failed = 0;
        bool config_ok = true;
        int r;

        for (int i = 1; i < argc; i++) {
                r = ctl_option_value("--timeout", argc, argv, &i, &v);
                if (r < 0)
                        return CTL_EXIT_USAGE;
                if (r > 0) {
                        log_error("Unexpected argument '%s' for 'reload'.", argv[i]);
                        return CTL_EXIT_USAGE;
                }
                if (parse_duration(v, &timeout) < 0) {
                        log_error("--timeout '%s' is not a duration (e.g. 5s, 500ms).", v);
                        return CTL_EXIT_USAGE;
                }
        }

        r = ctl_load_config(ctx, &c);
        if (r == -EINVAL && ctx->state_dir) {
                log_warning("Signalling the daemons anyway: they will keep their current configuration.");
                config_ok = false;
        } else if (r == -EINVAL) {
                log_error("Not signalling the daemons: they would keep their current configuration. Fix the "
                          "file (procctl config check), or give --state-dir to signal them anyway.");
                return CTL_EXIT_FAILURE;
        } else if (r < 0)
                return r;
        state_dir = c ? c->state_dir : ctx->state_dir;

        r = db_open(state_dir, DB_READ_ONLY, &db, &error);
        if (r < 0)
                return log_error_errno(r, "Cannot read the daemons' heartbeats: %s", error ?: strerror(-r));

        for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                targets[i] = (Target) { .h.kind = (DaemonKind) i, .pidfd = -EBADF };
                signal_one(db, state_dir, &targets[i]);
                if (targets[i].state == TARGET_SIGNALLED)
                        n_signalled++;
        }

        deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                size_t waiting = 0;

                for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                        Target *t = &targets[i];

                        if (timeout == 0 && t->state == TARGET_SIGNALLED) {
                                printf("%s (pid %d): signalled\n", name_of(t), (int) t->h.pid);
                                t->state = TARGET_DONE;
                        }
                        if (t->state == TARGET_SIGNALLED || t->state == TARGET_TAKEN) {
                                follow_one(db, t, config_ok, now);
                                if (t->state == TARGET_DONE && !t->h.config_ok)
                                        n_failed++;
                        }
                        if (t->state == TARGET_SIGNALLED || t->state == TARGET_TAKEN)
                                waiting++;
                }
                if (waiting == 0)
                        break;
                if (now >= deadline) {
                        for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                                Target *t = &targets[i];

                                if (t->state != TARGET_SIGNALLED && t->state != TARGET_TAKEN)
                                        continue;
                                printf("%s (pid %d): signalled; %s within %.1f s (a daemon reloads between "
                                       "cycles)\n",
                                       name_of(t), (int) t->h.pid,
                                       t->state == TARGET_SIGNALLED
                                               ? "it did not take the signal"
                                               : "its heartbeat did not confirm the reload",
                                       (double) timeout / USEC_PER_SEC);
                        }
                        break;
                }
                (void) poll(NULL, 0, RELOAD_POLL_INTERVAL_MS);
        }

        for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                heartbeat_done(&targets[i].h);
                safe_close(targets[i].pidfd);
        }
        if (n_signalled == 0) {
                log_error("No daemon could be signalled.");
                return CTL_EXIT_FAILURE;
        }
        return n_failed == 0 && config_ok ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}
