/* The daemon runtime (see daemon.h): command line, start-up, the main loop's wait, reload, heartbeat.
 *
 * Signals are blocked and read from a signalfd, so the loop sees them as events at a well-defined point
 * and no handler runs in the middle of an SQLite call. Wake-ups on other daemons' commits come from
 * inotify on the state directory, on DB_COMMIT_FILENAME: each daemon's connection has an SQLite WAL hook,
 * which runs after every commit once it is visible to readers, and touches that file (futimens: no data,
 * no disk space needed, so it works on a full disk too). Watching the WAL file itself would wake a reader
 * at the writer's first write(), before the commit is published in the -shm index, and make it miss the
 * change. The hook replaces SQLite's default autocheckpoint hook, so it checkpoints as that one does.
 * The systemd watchdog is fed from inside the wait, by bounding each poll at the next keep-alive. */
#include "daemon.h"

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "db.h"
#include "parse-util.h"
#include "proc-stat.h"

/* What sqlite3_wal_autocheckpoint() does by default, which our WAL hook replaces: a passive checkpoint
 * once the WAL holds this many frames. */
#define WAL_AUTOCHECKPOINT_FRAMES 1000

static const char *const kind_names[_DAEMON_KIND_MAX] = {
        [DAEMON_SCANNER] = "scanner",
        [DAEMON_MATCHER] = "matcher",
        [DAEMON_EXPORTER] = "exporter",
};

static const char *const kind_tables[_DAEMON_KIND_MAX] = {
        [DAEMON_SCANNER] = "scan_daemon",
        [DAEMON_MATCHER] = "match_daemon",
        [DAEMON_EXPORTER] = "export_daemon",
};

static const char *const event_names[_DAEMON_EVENT_MAX] = {
        [DAEMON_EVENT_TIMEOUT] = "timeout",
        [DAEMON_EVENT_RELOAD] = "reload",
        [DAEMON_EVENT_TERMINATE] = "terminate",
        [DAEMON_EVENT_DB_CHANGED] = "db-changed",
};

const char *daemon_kind_to_string(DaemonKind k) {
        return k < _DAEMON_KIND_MAX ? kind_names[k] : NULL;
}

int daemon_kind_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < _DAEMON_KIND_MAX; i++)
                if (streq(kind_names[i], s))
                        return (int) i;
        return -EINVAL;
}

const char *daemon_kind_to_table(DaemonKind k) {
        return k < _DAEMON_KIND_MAX ? kind_tables[k] : NULL;
}

const char *daemon_event_to_string(DaemonEvent e) {
        return e < _DAEMON_EVENT_MAX ? event_names[e] : NULL;
}

/* ---- Command line ---------------------------------------------------------------------------------- */

void daemon_args_done(DaemonArgs *a) {
        if (!a)
                return;
        free(a->config_path);
        free(a->state_dir);
        *a = (DaemonArgs){};
}

static int set_arg(char **dst, const char *opt, const char *value, char **ret_error) {
        char *v;

        if (isempty(value)) {
                error_set(ret_error, "option '%s' needs a non-empty argument", opt);
                return -EINVAL;
        }
        v = strdup(value);
        if (!v)
                return -ENOMEM;
        free(*dst);
        *dst = v;
        return 0;
}

int daemon_parse_args(int argc, char *argv[], DaemonArgs *ret, char **ret_error) {
        enum {
                ARG_STATE_DIR = 0x100,
                ARG_ONCE,
                ARG_VERSION,
        };
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"state-dir", required_argument, NULL, ARG_STATE_DIR},
                {"once", no_argument, NULL, ARG_ONCE},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, ARG_VERSION},
                {},
        };
        _cleanup_(daemon_args_done) DaemonArgs a = {};
        int c, r;

        /* optind = 0 makes glibc re-initialise getopt completely (a second parse in the same process);
         * the leading ':' reports a missing argument as ':' rather than '?', and opterr = 0 keeps getopt
         * from printing: the caller prints *ret_error. */
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hc:", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        r = set_arg(&a.config_path, "-c", optarg, ret_error);
                        if (r < 0)
                                return r;
                        break;
                case ARG_STATE_DIR:
                        r = set_arg(&a.state_dir, "--state-dir", optarg, ret_error);
                        if (r < 0)
                                return r;
                        break;
                case ARG_ONCE:
                        a.once = true;
                        break;
                case 'h':
                        a.action = DAEMON_ARGS_HELP;
                        break;
                case ARG_VERSION:
                        if (a.action != DAEMON_ARGS_HELP)
                                a.action = DAEMON_ARGS_VERSION;
                        break;
                case ':':
                        if (optopt > 0 && optopt < 0x100)
                                error_set(ret_error, "option '-%c' needs an argument", optopt);
                        else
                                error_set(ret_error, "option '%s' needs an argument", argv[optind - 1]);
                        return -EINVAL;
                default:
                        if (optopt > 0 && optopt < 0x100)
                                error_set(ret_error, "unknown option '-%c'", optopt);
                        else
                                error_set(ret_error, "unknown option '%s'", argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                error_set(ret_error, "unexpected argument '%s'", argv[optind]);
                return -EINVAL;
        }

        *ret = a;
        a = (DaemonArgs){};
        return 0;
}

void daemon_print_help(FILE *f, const char *program, const char *summary) {
        fprintf(f,
                "%s [OPTIONS]\n\n"
                "%s\n\n"
                "  -c, --config FILE   configuration file (default: $" CONFIG_ENV
                ", then " CONFIG_DEFAULT_PATH ",\n"
                "                      else the embedded default)\n"
                "      --state-dir DIR state directory (overrides procsync.state_dir)\n"
                "      --once          run one cycle and exit\n"
                "  -h, --help          show this help and exit\n"
                "      --version       show the version and exit\n",
                program, summary);
}

/* ---- Configuration ---------------------------------------------------------------------------------- */

/* Loads the config into *ret with the diagnostics in *diags (replaced), or a summary in *ret_error. */
static int load_config(const char *config_path, Config **ret, ConfigDiags *diags, char **ret_error) {
        ConfigDiags local = {};
        Config *c = NULL;
        int r;

        r = config_load(config_path, &c, &local);
        if (r < 0) {
                config_free(c);
                if (ret_error)
                        *ret_error = config_diags_summary(&local, config_path, r);
        } else
                *ret = c;
        if (diags) {
                config_diags_done(diags);
                *diags = local;
        } else
                config_diags_done(&local);
        return r;
}

/* ---- Heartbeat row ---------------------------------------------------------------------------------- */

/* The pid and its start time (the pair procctl checks before signalling); the own process is read from
 * the live /proc whatever os-proc-root says. Upsert: a restart keeps generation and the last cycle's
 * figures, so a generation never goes back. */
/* A full disk: the WAL cannot grow by the frame a one-row update needs. A passive checkpoint copies the
 * WAL into state.db (no new space when its frames only rewrite pages the file has, as heartbeats do); once
 * every frame is in, the next write starts the WAL again from its beginning, in space the file already
 * holds. True when the caller may try its write once more. Never inside a transaction (it rolls back). */
static bool wal_restart_for_space(sqlite3 *db) {
        int n_log = -1, n_ckpt = -1;

        return sqlite3_get_autocommit(db) &&
               sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_ckpt) == SQLITE_OK &&
               n_ckpt == n_log;
}

static int heartbeat_register_once(Daemon *d) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *sql = NULL;
        int rc;

        if (asprintf(&sql,
                     "INSERT INTO %1$s (id, pid, pid_start_ticks, started_at, config_path, config_ok, "
                     "config_error) "
                     "VALUES (1, ?1, ?2, ?3, ?4, 1, NULL) "
                     "ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, pid_start_ticks = "
                     "excluded.pid_start_ticks, "
                     "started_at = excluded.started_at, config_path = excluded.config_path, config_ok = 1, "
                     "config_error = NULL "
                     "RETURNING generation",
                     kind_tables[d->kind]) < 0)
                return -ENOMEM;
        rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_errno(rc);
        sqlite3_bind_int64(st, 1, (sqlite3_int64) d->pid);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) d->pid_start_ticks);
        sqlite3_bind_int64(st, 3, (sqlite3_int64) d->started_at);
        if (d->config->path)
                sqlite3_bind_text(st, 4, d->config->path, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return db_errno(rc) ?: -EIO;
        d->generation = (uint64_t) sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : (db_errno(rc) ?: -EIO);
}

/* A daemon (re)started while the disk is full can still register when the WAL can restart in place. */
static int heartbeat_register(Daemon *d) {
        int r = heartbeat_register_once(d);

        if (r == -ENOSPC && wal_restart_for_space(d->db))
                r = heartbeat_register_once(d);
        return r;
}

static int heartbeat_set_config(Daemon *d, bool ok, const char *error) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *sql = NULL;
        int rc;

        /* On error the path in use stays the old one: the row describes the active config. */
        if (asprintf(&sql,
                     ok ? "UPDATE %s SET config_ok = 1, config_error = NULL, config_path = ?1 WHERE id = 1"
                        : "UPDATE %s SET config_ok = 0, config_error = ?2 WHERE id = 1",
                     kind_tables[d->kind]) < 0)
                return -ENOMEM;
        rc = sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_errno(rc);
        if (ok && d->config->path)
                sqlite3_bind_text(st, 1, d->config->path, -1, SQLITE_STATIC);
        if (!ok)
                sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;
        return sqlite3_changes(d->db) > 0 ? 0 : -ENOENT;
}

int daemon_heartbeat_sql(sqlite3 *db, DaemonKind kind, int64_t now_ms, uint64_t cycle_ms,
                         uint64_t generation, const char *stats_json, const char *last_error) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        _cleanup_free_ char *sql = NULL;
        int rc;

        if (kind >= _DAEMON_KIND_MAX || generation > INT64_MAX || cycle_ms > INT64_MAX)
                return -EINVAL;
        if (asprintf(&sql,
                     "UPDATE %s SET last_cycle_at = ?1, last_cycle_ms = ?2, generation = ?3, stats = ?4, "
                     "last_error = ?5 WHERE id = 1",
                     kind_tables[kind]) < 0)
                return -ENOMEM;
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_errno(rc);
        sqlite3_bind_int64(st, 1, now_ms);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) cycle_ms);
        sqlite3_bind_int64(st, 3, (sqlite3_int64) generation);
        if (stats_json)
                sqlite3_bind_text(st, 4, stats_json, -1, SQLITE_STATIC);
        if (last_error)
                sqlite3_bind_text(st, 5, last_error, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return db_errno(rc) ?: -EIO;
        return sqlite3_changes(db) > 0 ? 0 : -ENOENT;
}

int daemon_read_generation(sqlite3 *db, const char *name, uint64_t *ret) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int rc;

        if (daemon_kind_from_string(name) < 0)
                return -EINVAL;
        rc = sqlite3_prepare_v2(db, "SELECT generation FROM daemons WHERE name = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return db_errno(rc);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return db_errno(rc) ?: -EIO;
        *ret = (uint64_t) sqlite3_column_int64(st, 0);
        return 0;
}

/* ---- sd_notify ------------------------------------------------------------------------------------ */

/* STATUS= text from strings that may come from users (config errors, a sink's answer): the notify
 * protocol is newline-separated assignments, so a newline would smuggle in another one ("MAINPID=").
 * Control characters become spaces and the text is bounded. */
static char *status_text(const char *fmt, ...) _printf_(1, 2);
static char *status_text(const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return NULL;
        for (char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = ' ';
        if (n > 1024)
                memcpy(s + 1020, "...", 4);
        return s;
}

/* Sends "<prefix>STATUS=<status>"; sd_notify() is a no-op without $NOTIFY_SOCKET and its errors do not
 * matter to the daemon (the manager may be gone during shutdown). */
static void notify_status(const char *prefix, const char *status) {
        if (status)
                (void) sd_notifyf(0, "%sSTATUS=%s", prefix, status);
        else if (!isempty(prefix))
                (void) sd_notify(0, prefix);
}

void daemon_keepalive(Daemon *d) {
        usec_t now;

        if (!d || d->watchdog_usec == 0)
                return;
        now = now_usec(CLOCK_MONOTONIC);
        if (now - d->watchdog_last < d->watchdog_usec / 2)
                return;
        (void) sd_notify(0, "WATCHDOG=1");
        d->watchdog_last = now;
}

/* ---- Life cycle ------------------------------------------------------------------------------------- */

/* Reads and discards whatever signals are queued, so that unblocking them in daemon_free() does not kill
 * the process with a SIGTERM that arrived during shutdown. */
static void drain_signals(int fd) {
        struct signalfd_siginfo si;

        if (fd < 0)
                return;
        while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si))
                ;
}

/* ---- Commit notifications ------------------------------------------------------------------------ */

/* SQLite's WAL hook: called after each commit of this connection, once readers can see it. */
static int on_commit(void *userdata, sqlite3 *db, const char *schema, int n_frames) {
        Daemon *d = userdata;

        if (n_frames >= WAL_AUTOCHECKPOINT_FRAMES)
                (void) sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        (void) futimens(d->commit_fd, NULL);
        return SQLITE_OK;
}

static int commit_notify_setup(Daemon *d, char **ret_error) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", d->state_dir, DB_COMMIT_FILENAME) < 0)
                return -ENOMEM;
        d->commit_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (d->commit_fd < 0) {
                int r = negative_errno();
                error_set(ret_error, "cannot open %s: %s", path, strerror(-r));
                return r;
        }
        (void) sqlite3_wal_hook(d->db, on_commit, d);
        return 0;
}

Daemon *daemon_free(Daemon *d) {
        if (!d)
                return NULL;
        if (d->ready)
                (void) sd_notify(0, "STOPPING=1");
        if (d->db)
                (void) sqlite3_close_v2(d->db);
        drain_signals(d->signal_fd);
        if (d->sigmask_saved)
                (void) pthread_sigmask(SIG_SETMASK, &d->saved_sigmask, NULL);
        safe_close(d->signal_fd);
        safe_close(d->inotify_fd);
        safe_close(d->commit_fd);
        config_free(d->config);
        free(d->config_path);
        free(d->state_dir);
        free(d);
        return NULL;
}

int daemon_new(DaemonKind kind, const DaemonArgs *args, ConfigDiags *diags, Daemon **ret, char **ret_error) {
        _cleanup_(daemon_freep) Daemon *d = NULL;
        _cleanup_free_ char *status = NULL;
        ProcStat self;
        sigset_t mask;
        uint64_t wd = 0;
        int r;

        if (kind >= _DAEMON_KIND_MAX || !args || !ret)
                return -EINVAL;

        d = calloc(1, sizeof(Daemon));
        if (!d)
                return -ENOMEM;
        d->kind = kind;
        d->signal_fd = -EBADF;
        d->inotify_fd = -EBADF;
        d->commit_fd = -EBADF;
        d->once = args->once;
        if (args->config_path && !(d->config_path = strdup(args->config_path)))
                return -ENOMEM;

        r = load_config(d->config_path, &d->config, diags, ret_error);
        if (r < 0)
                return r;

        d->state_dir = strdup(args->state_dir ?: strempty(d->config->state_dir));
        if (!d->state_dir)
                return -ENOMEM;
        if (isempty(d->state_dir)) {
                error_set(ret_error,
                          "no state directory: neither --state-dir nor procsync.state_dir is set");
                return -EINVAL;
        }

        /* Blocked before anything slow, so a SIGTERM during start-up waits for the first daemon_wait()
         * instead of killing the process half-way through a migration. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        r = pthread_sigmask(SIG_BLOCK, &mask, &d->saved_sigmask);
        if (r != 0)
                return -r;
        d->sigmask_saved = true;
        d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (d->signal_fd < 0) {
                r = negative_errno();
                error_set(ret_error, "cannot create signalfd: %s", strerror(-r));
                return r;
        }

        r = db_open(d->state_dir, DB_READ_WRITE, &d->db, ret_error);
        if (r < 0)
                return r;
        r = commit_notify_setup(d, ret_error);
        if (r < 0)
                return r;

        r = proc_stat_read("/proc", 0, &self);
        if (r < 0) {
                error_set(ret_error, "cannot read /proc/self/stat: %s", strerror(-r));
                return r;
        }
        d->pid = getpid();
        d->pid_start_ticks = self.start_ticks;
        d->started_at = now_epoch_ms();

        r = heartbeat_register(d);
        if (r < 0) {
                error_set(ret_error, "%s/%s: cannot record the %s in table %s: %s", d->state_dir,
                          DB_FILENAME, kind_names[kind], kind_tables[kind], sqlite3_errmsg(d->db));
                return r;
        }

        if (sd_watchdog_enabled(0, &wd) > 0 && wd > 0) {
                d->watchdog_usec = wd;
                d->watchdog_last = now_usec(CLOCK_MONOTONIC);
        }
        status = status_text("Running, generation %" PRIu64 ", state in %s", d->generation, d->state_dir);
        notify_status(d->watchdog_usec > 0 ? "READY=1\nWATCHDOG=1\n" : "READY=1\n", status);
        d->ready = true;

        *ret = TAKE_PTR(d);
        return 0;
}

int daemon_watch_state(Daemon *d) {
        _cleanup_close_ int fd = -EBADF;

        if (!d)
                return -EINVAL;
        if (d->inotify_fd >= 0)
                return 0;
        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (inotify_add_watch(fd, d->state_dir, IN_ATTRIB | IN_ONLYDIR) < 0)
                return negative_errno();
        d->inotify_fd = TAKE_FD(fd);
        return 0;
}

/* ---- The wait --------------------------------------------------------------------------------------- */

static int read_signals(Daemon *d, bool *terminate, bool *reload) {
        struct signalfd_siginfo si;

        for (;;) {
                ssize_t n = read(d->signal_fd, &si, sizeof(si));

                if (n < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n != (ssize_t) sizeof(si))
                        return -EIO;
                if (si.ssi_signo == SIGHUP)
                        *reload = true;
                else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                        *terminate = true;
        }
}

/* Drains the inotify queue; a burst of commits is one wake-up. A queue overflow may have hidden a commit,
 * so it counts as one. */
static int read_inotify(Daemon *d, bool *changed) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

        if (d->inotify_fd < 0)
                return 0;
        for (;;) {
                ssize_t n = read(d->inotify_fd, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EAGAIN)
                                return 0;
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;

                        if ((e->mask & IN_Q_OVERFLOW) || (e->len > 0 && streq(e->name, DB_COMMIT_FILENAME)))
                                *changed = true;
                        p += sizeof(struct inotify_event) + e->len;
                }
        }
}

static usec_t usec_add(usec_t a, usec_t b) {
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

int daemon_wait(Daemon *d, usec_t timeout, DaemonEvent *ret) {
        usec_t deadline, now;
        int r;

        if (!d || !ret)
                return -EINVAL;
        now = now_usec(CLOCK_MONOTONIC);
        deadline = usec_add(now, timeout);

        for (;;) {
                struct pollfd p[2] = {
                        {.fd = d->signal_fd, .events = POLLIN},
                        {.fd = d->inotify_fd, .events = POLLIN},
                };
                bool terminate = false, reload = false, changed = false;
                usec_t until = deadline;
                struct timespec ts, *tsp = NULL;

                if (d->watchdog_usec > 0) {
                        usec_t next = usec_add(d->watchdog_last, d->watchdog_usec / 2);
                        if (next < until)
                                until = next;
                }
                if (until != USEC_INFINITY) {
                        usec_t left = until > now ? until - now : 0;
                        ts = (struct timespec){
                                .tv_sec = (time_t) (left / USEC_PER_SEC),
                                .tv_nsec = (long) (left % USEC_PER_SEC * NSEC_PER_USEC),
                        };
                        tsp = &ts;
                }

                /* A negative fd (no inotify watch) is ignored by poll. */
                r = ppoll(p, ELEMENTSOF(p), tsp, NULL);
                if (r < 0 && errno != EINTR)
                        return negative_errno();

                r = read_signals(d, &terminate, &reload);
                if (r < 0)
                        return r;
                r = read_inotify(d, &changed);
                if (r < 0)
                        return r;
                daemon_keepalive(d);

                if (terminate || reload || changed) {
                        *ret = terminate ? DAEMON_EVENT_TERMINATE
                               : reload  ? DAEMON_EVENT_RELOAD
                                         : DAEMON_EVENT_DB_CHANGED;
                        return 0;
                }
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline) {
                        *ret = DAEMON_EVENT_TIMEOUT;
                        return 0;
                }
        }
}

/* ---- Reload and heartbeat ------------------------------------------------------------------------- */

int daemon_reload(Daemon *d, ConfigDiags *diags, char **ret_error) {
        _cleanup_free_ char *error = NULL, *status = NULL;
        Config *c = NULL;
        int r, q;

        if (!d)
                return -EINVAL;
        (void) sd_notify(0, "RELOADING=1\nSTATUS=Reloading the configuration");

        r = load_config(d->config_path, &c, diags, &error);
        if (r < 0) {
                /* The old config stays; the row says the file on disk is broken. */
                d->config_failed = true;
                q = heartbeat_set_config(d, false, strempty(error));
                status = status_text("Configuration error, keeping the previous one: %s", strempty(error));
                notify_status("READY=1\n", status);
                if (ret_error) {
                        if (q < 0)
                                error_set(ret_error, "%s (and cannot record it in the database: %s)",
                                          strempty(error), sqlite3_errmsg(d->db));
                        else
                                *ret_error = TAKE_PTR(error);
                }
                return r;
        }

        config_free(d->config);
        d->config = c;
        d->config_failed = false;
        q = heartbeat_set_config(d, true, NULL);
        status = status_text("Running, generation %" PRIu64 ", configuration reloaded", d->generation);
        notify_status("READY=1\n", status);
        if (q < 0) {
                error_set(ret_error, "configuration reloaded, but cannot record it in the database: %s",
                          sqlite3_errmsg(d->db));
                return q;
        }
        return 0;
}

int daemon_heartbeat(Daemon *d, uint64_t cycle_ms, uint64_t generation, const char *stats_json,
                     const char *last_error) {
        _cleanup_free_ char *status = NULL;
        int r;

        if (!d)
                return -EINVAL;
        r = daemon_heartbeat_sql(d->db, d->kind, now_epoch_ms(), cycle_ms, generation, stats_json,
                                 last_error);
        /* On a full disk the row can still say why the cycle failed. */
        if (r == -ENOSPC && wal_restart_for_space(d->db))
                r = daemon_heartbeat_sql(d->db, d->kind, now_epoch_ms(), cycle_ms, generation, stats_json,
                                         last_error);
        if (r < 0) {
                /* Typically a full disk, where the row cannot take the error it should carry: the service
                 * manager still hears it (systemctl status), and readers see the row go stale. The
                 * generation stays, as the row does. */
                if (last_error)
                        status = status_text("Last cycle failed: %s (cannot record it in %s: %s)", last_error,
                                             DB_FILENAME, sqlite3_errmsg(d->db));
                else
                        status = status_text("Cannot write the heartbeat to %s: %s", DB_FILENAME,
                                             sqlite3_errmsg(d->db));
                notify_status("", status);
                daemon_keepalive(d);
                return r;
        }
        d->generation = generation;

        if (last_error)
                status = status_text(
                        "Last cycle failed (generation %" PRIu64 "): %s%s", generation, last_error,
                        d->config_failed ? "; configuration error, running on the previous one" : "");
        else
                status = status_text(
                        "Running, generation %" PRIu64 ", last cycle %" PRIu64 " ms%s", generation, cycle_ms,
                        d->config_failed ? "; configuration error, running on the previous one" : "");
        notify_status("", status);
        daemon_keepalive(d);
        return 0;
}
