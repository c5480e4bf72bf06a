/* `procctl reload [--timeout DURATION]`: SIGHUP to the daemons, and what came of it.
 *
 * procsync-scanner, -matcher and -exporter are found by their heartbeat rows (read-only database), each pid
 * checked against its start time before it is signalled through a pidfd (heartbeat.h). procsync-api writes
 * no heartbeat: it is found as the peer of a connection to its unix: listen socket (SO_PEERCRED names the
 * process that listens) and signalled if that process is procsync-api. Under socket activation the peer is
 * the service manager, which is said, and nothing is sent.
 *
 * Before signalling, procctl checks in /proc/<pid>/status that the process handles SIGHUP (a daemon still
 * early in its start-up would die of it).
 *
 * The outcome: a daemon takes SIGHUP from its signalfd between cycles, loads the file again and records in
 * its row config_ok and, when the file is invalid, config_error ("FILE:LINE:COL: message"). So procctl
 * waits (up to --timeout, 5 s by default; 0 does not wait) until the signal is no longer pending in
 * /proc/<pid>/status, then reads the row. The row says whether the config is good, not when it was loaded;
 * procctl loaded the same file itself first and knows what to expect, and waits at most a second more for
 * the row to agree before reporting what it says. For the API there is no row: procctl reports that it took
 * the signal.
 *
 * An invalid config is reported before anything is signalled, and then nothing is (the daemons would keep
 * their current config anyway), unless --state-dir is given, because without the config procctl does not
 * know where the state is.
 *
 * Exit status: 1 when no daemon could be signalled, or one kept its old config or exited; else 0 (also when
 * a daemon took longer than --timeout to answer: it was signalled, and says so). */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "ctl.h"
#include "db.h"
#include "heartbeat.h"
#include "log.h"
#include "proc-signals.h"
#include "proc-stat.h"

#define RELOAD_DEFAULT_TIMEOUT (5 * USEC_PER_SEC)
/* After a daemon has taken the signal: how long the row may take to show the expected outcome. */
#define RELOAD_SETTLE           (1 * USEC_PER_SEC)
#define RELOAD_POLL_INTERVAL_MS 20

typedef enum TargetState {
        TARGET_SKIPPED,   /* not running, or could not be signalled: reported already */
        TARGET_SIGNALLED,
        TARGET_TAKEN,     /* SIGHUP no longer pending: it is reloading or has reloaded */
        TARGET_DONE,
} TargetState;

typedef struct Target {
        const char *name; /* "scanner", "matcher", "exporter", "api" */
        bool has_row;     /* false for the API: no outcome to read */
        Heartbeat h;      /* its row, when has_row */
        pid_t pid;
        int pidfd;
        TargetState state;
        usec_t taken_at;
        bool failed; /* kept the old config, or exited */
} Target;

/* Finds a heartbeat daemon by its row. Prints why when it cannot be signalled. */
static int locate_by_row(sqlite3 *db, const char *state_dir, Target *t) {
        int r;

        r = heartbeat_read(db, t->h.kind, &t->h);
        if (r == -ENOENT) {
                printf("%s: not running (it never ran with the state directory '%s')\n", t->name, state_dir);
                return r;
        }
        if (r < 0) {
                printf("%s: cannot read its heartbeat: %s\n", t->name, strerror(-r));
                return r;
        }
        t->pid = t->h.pid;
        r = heartbeat_open_pidfd(&t->h, &t->pidfd);
        if (r == -ESRCH)
                printf("%s: not running (stale heartbeat, pid %d is gone)\n", t->name, (int) t->pid);
        else if (r == -ESTALE)
                printf("%s: not running (stale heartbeat, pid %d is another process)\n", t->name, (int) t->pid);
        else if (r < 0)
                printf("%s (pid %d): cannot check it: %s\n", t->name, (int) t->pid, strerror(-r));
        return r;
}

/* Finds procsync-api as the listener of its first unix: address. */
static int locate_api(char **listen, Target *t) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = NULL;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        ProcStat st;
        int r;

        for (char **a = listen; a && *a && !path; a++)
                if (strneq(*a, "unix:", 5))
                        path = *a + 5;
        if (!path) {
                printf("api: not signalled: it has no unix: listen address to be found by\n");
                return -ENOENT;
        }
        if (strlen(path) >= sizeof(sa.sun_path)) {
                printf("api: not signalled: its socket path '%s' is too long\n", path);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path));

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                r = negative_errno();
                printf("api: cannot look for it: %s\n", strerror(-r));
                return r;
        }
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = negative_errno();
                printf("api: not running (nothing answers on '%s': %s)\n", path, strerror(-r));
                return r;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                r = negative_errno();
                printf("api: cannot tell who listens on '%s': %s\n", path, strerror(-r));
                return r;
        }

        t->pid = cred.pid;
        t->pidfd = pidfd_open(cred.pid, 0);
        if (t->pidfd < 0) {
                r = negative_errno();
                printf("api: not signalled: pid %d, which listens on '%s', is gone\n", (int) cred.pid, path);
                return r;
        }
        /* The pidfd is open: the comm read now is that process's. */
        r = proc_stat_read("/proc", cred.pid, &st);
        if (r < 0) {
                printf("api (pid %d): cannot check it: %s\n", (int) cred.pid, strerror(-r));
                return r;
        }
        if (!streq(st.comm, "procsync-api")) {
                printf("api: not signalled: '%s' belongs to pid %d ('%s'), not procsync-api (socket activation? "
                       "then reload it through its service manager)\n",
                       path, (int) cred.pid, st.comm);
                return -ESRCH;
        }
        return 0;
}

/* Sends SIGHUP if the process handles it. */
static void send_sighup(Target *t) {
        ProcSignals s;
        int r;

        /* Before a daemon blocks SIGHUP (early in its start-up), SIGHUP would kill it. */
        r = proc_signals_read("/proc", t->pid, &s);
        if (r < 0 || !proc_signals_handles(&s, SIGHUP)) {
                printf("%s (pid %d): not signalled: %s\n", t->name, (int) t->pid,
                       r < 0 ? strerror(-r) : "it does not handle SIGHUP (yet: is it still starting?)");
                return;
        }
        if (pidfd_send_signal(t->pidfd, SIGHUP, NULL, 0) < 0) {
                printf("%s (pid %d): cannot signal it: %s%s\n", t->name, (int) t->pid, strerror(errno),
                       errno == EPERM ? " (run procctl as root or as the daemons' user)" : "");
                return;
        }
        t->state = TARGET_SIGNALLED;
}

static bool exited(const Target *t) {
        struct pollfd p = { .fd = t->pidfd, .events = POLLIN };

        return poll(&p, 1, 0) > 0;
}

/* One look at a signalled daemon. */
static void follow_one(sqlite3 *db, Target *t, bool expect_ok, usec_t now) {
        _cleanup_(heartbeat_done) Heartbeat row = {};
        ProcSignals s;
        int r;

        if (exited(t)) {
                printf("%s (pid %d): exited after the signal\n", t->name, (int) t->pid);
                t->state = TARGET_DONE;
                t->failed = true;
                return;
        }
        if (t->state == TARGET_SIGNALLED) {
                r = proc_signals_read("/proc", t->pid, &s);
                if (r < 0 || proc_signals_is_pending(&s, SIGHUP))
                        return;
                t->state = TARGET_TAKEN;
                t->taken_at = now;
        }
        if (!t->has_row) {
                printf("%s (pid %d): took the signal (no heartbeat row to read the outcome from)\n", t->name,
                       (int) t->pid);
                t->state = TARGET_DONE;
                return;
        }
        r = heartbeat_read(db, t->h.kind, &row);
        if (r < 0 || (row.config_ok != expect_ok && now - t->taken_at < RELOAD_SETTLE))
                return;
        t->state = TARGET_DONE;
        if (row.config_ok)
                printf("%s (pid %d): reloaded\n", t->name, (int) t->pid);
        else {
                printf("%s (pid %d): kept the old config: %s\n", t->name, (int) t->pid,
                       strempty(row.config_error));
                t->failed = true;
        }
}

static bool waiting(const Target *t) {
        return t->state == TARGET_SIGNALLED || t->state == TARGET_TAKEN;
}

/* Follows the signalled daemons until each has answered or the timeout passed. */
static void follow_all(sqlite3 *db, Target *targets, size_t n, bool expect_ok, usec_t timeout) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;

        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC);
                size_t left = 0;

                for (size_t i = 0; i < n; i++) {
                        Target *t = &targets[i];

                        if (timeout == 0 && waiting(t)) {
                                printf("%s (pid %d): signalled\n", t->name, (int) t->pid);
                                t->state = TARGET_DONE;
                        }
                        if (waiting(t))
                                follow_one(db, t, expect_ok, now);
                        left += waiting(t);
                }
                if (left == 0)
                        return;
                if (now >= deadline)
                        break;
                (void) poll(NULL, 0, RELOAD_POLL_INTERVAL_MS);
        }

        for (size_t i = 0; i < n; i++)
                if (waiting(&targets[i]))
                        printf("%s (pid %d): signalled; %s within %.1f s (a daemon reloads between cycles)\n",
                               targets[i].name, (int) targets[i].pid,
                               targets[i].state == TARGET_SIGNALLED ? "it did not take the signal"
                                                                    : "its heartbeat did not confirm the reload",
                               (double) timeout / USEC_PER_SEC);
}

static void targets_done(Target (*targets)[_DAEMON_KIND_MAX + 1]) {
        for (size_t i = 0; i < ELEMENTSOF(*targets); i++) {
                heartbeat_done(&(*targets)[i].h);
                safe_close((*targets)[i].pidfd);
        }
}

int verb_reload(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *error = NULL, *default_api = NULL;
        _cleanup_db_ sqlite3 *db = NULL;
        _cleanup_(targets_done) Target targets[_DAEMON_KIND_MAX + 1] = {};
        usec_t timeout = RELOAD_DEFAULT_TIMEOUT;
        char *default_listen[2] = {};
        const char *state_dir, *v;
        size_t n_signalled = 0, n_failed = 0;
        bool config_ok = true;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(targets); i++)
                targets[i].pidfd = -EBADF;

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
                /* The API's default address; one set in the broken file is not known. */
                if (asprintf(&default_api, "unix:%s/api.sock", ctx->state_dir) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory.");
                default_listen[0] = default_api;
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
                Target *t = &targets[i];

                if (i < _DAEMON_KIND_MAX) {
                        t->h.kind = (DaemonKind) i;
                        t->name = daemon_kind_to_string(t->h.kind);
                        t->has_row = true;
                        r = locate_by_row(db, state_dir, t);
                } else {
                        t->name = "api";
                        r = locate_api(c ? c->api_listen : default_listen, t);
                }
                if (r >= 0)
                        send_sighup(t);
                n_signalled += t->state == TARGET_SIGNALLED;
        }

        follow_all(db, targets, ELEMENTSOF(targets), config_ok, timeout);

        for (size_t i = 0; i < ELEMENTSOF(targets); i++)
                n_failed += targets[i].failed;
        if (n_signalled == 0) {
                log_error("No daemon could be signalled.");
                return CTL_EXIT_FAILURE;
        }
        return n_failed == 0 && config_ok ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}
