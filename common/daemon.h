/* The runtime shared by procsync-scanner, procsync-matcher and procsync-exporter: the common command line,
 * start-up (config, state dir, database, signals, heartbeat row, READY=1), the one wait primitive of the
 * main loop (signals, commits of other daemons, timeout, systemd watchdog), reload and the heartbeat.
 *
 * A daemon's main() is then:
 *
 *         _cleanup_(daemon_args_done) DaemonArgs args = {};
 *         _cleanup_(config_diags_done) ConfigDiags diags = {};
 *         _cleanup_(daemon_freep) Daemon *d = NULL;
 *         _cleanup_free_ char *error = NULL;
 *
 *         r = daemon_parse_args(argc, argv, &args, &error);       usage error: print, exit 2
 *         if (args.action == DAEMON_ARGS_HELP) ...                 daemon_print_help(stdout, ...)
 *         r = daemon_new(DAEMON_MATCHER, &args, &diags, &d, &error);
 *         config_diags_print(&diags, stderr);                      warnings even on success
 *         if (r < 0) return log_error_errno(r, "%s", error);
 *         (void) daemon_watch_state(d);                            matcher/exporter: wake on commits
 *         for (;;) {
 *                 run a cycle; daemon_heartbeat(d, ...);
 *                 if (args.once) break;
 *                 r = daemon_wait(d, interval, &ev);
 *                 TERMINATE: break; RELOAD: daemon_reload(); DB_CHANGED: daemon_read_generation(), ...
 *         }
 *
 * Like everything in common/, this module never logs: it returns -errno and, where a user needs to know
 * more, a malloc'd message in *ret_error. Nothing here is thread-safe; one Daemon per process. */
#pragma once

#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "macro.h"
#include "time-util.h"

typedef enum DaemonKind {
        DAEMON_SCANNER,
        DAEMON_MATCHER,
        DAEMON_EXPORTER,
        _DAEMON_KIND_MAX,
} DaemonKind;

/* "scanner", "matcher", "exporter": the `name` column of the `daemons` view. */
const char *daemon_kind_to_string(DaemonKind k);
int daemon_kind_from_string(const char *s); /* -EINVAL when unknown */
/* "scan_daemon", "match_daemon", "export_daemon": the heartbeat table the daemon writes. */
const char *daemon_kind_to_table(DaemonKind k);

/* ---- Command line ---------------------------------------------------------------------------------- */

typedef enum DaemonArgsAction {
        DAEMON_ARGS_RUN,
        DAEMON_ARGS_HELP,    /* --help: print daemon_print_help() to stdout, exit 0 */
        DAEMON_ARGS_VERSION, /* --version: print PROCSYNC_VERSION, exit 0 */
} DaemonArgsAction;

typedef struct DaemonArgs {
        DaemonArgsAction action;
        char *config_path; /* -c FILE / --config FILE; NULL: $PROCSYNC_CONFIG, then the default path */
        char *state_dir;   /* --state-dir DIR; NULL: the config's procsync.state_dir */
        bool once;         /* --once: run one cycle and exit */
} DaemonArgs;

/* Parses `-c FILE` (`--config FILE`), `--state-dir DIR`, `--once`, `--help` (`-h`), `--version` with
 * getopt_long (which it resets first, so it may be called more than once). An unknown option, a missing
 * or empty argument, or a positional argument is -EINVAL with *ret_error set ("unknown option '--x'"); the
 * caller prints it with a hint to --help and exits with status 2. *ret is written only on success. */
int daemon_parse_args(int argc, char *argv[], DaemonArgs *ret, char **ret_error);
void daemon_args_done(DaemonArgs *a);

/* Writes the usage text for `program` ("procsync-scanner") with a one-line summary to f. */
void daemon_print_help(FILE *f, const char *program, const char *summary);

/* ---- The daemon ------------------------------------------------------------------------------------- */

typedef struct Daemon {
        /* Read-only for callers. */
        DaemonKind kind;
        Config *config;    /* the active config; replaced by a successful daemon_reload() */
        char *config_path; /* -c as given, or NULL (config_load()'s lookup order); reused on reload */
        char *state_dir;   /* --state-dir, else config->state_dir at start-up (never changes) */
        sqlite3 *db;       /* read-write connection to <state_dir>/state.db, migrated */
        bool once;         /* --once */
        pid_t pid;         /* getpid() and its start time (/proc/self/stat field 22), as in the row */
        uint64_t pid_start_ticks;
        int64_t started_at;  /* epoch ms */
        uint64_t generation; /* this daemon's generation: as stored in its heartbeat row at start-up
                              * (kept across restarts, so it never goes back), then the last value
                              * passed to a successful daemon_heartbeat() */

        /* Private. */
        sigset_t saved_sigmask;
        bool sigmask_saved;
        int signal_fd;
        int inotify_fd;
        int commit_fd; /* <state_dir>/DB_COMMIT_FILENAME, touched after each commit (WAL hook) */
        usec_t watchdog_usec; /* 0: no watchdog */
        usec_t watchdog_last; /* CLOCK_MONOTONIC of the last WATCHDOG=1 */
        bool ready;           /* READY=1 was sent: daemon_free() sends STOPPING=1 */
        bool config_failed;   /* the last reload failed: STATUS= says so until one succeeds */
} Daemon;

/* Start-up, in this order:
 *   1. config_load(args->config_path): diagnostics (errors and warnings, with FILE:LINE:COL) go to *diags
 *      (may be NULL), which the caller prints either way and releases with config_diags_done(). An invalid
 *      config fails (-EINVAL; *ret_error sums up the errors): a daemon never starts on an invalid file.
 *   2. state dir: args->state_dir, else config->state_dir.
 *   3. blocks SIGHUP, SIGTERM and SIGINT (pthread_sigmask, so threads created later inherit it; children
 *      that exec must unblock them) and creates a signalfd for them;
 *   4. db_open(state_dir, DB_READ_WRITE): creates and migrates state.db;
 *   5. records this process in its heartbeat row (scan_daemon / match_daemon / export_daemon): pid,
 *      pid_start_ticks, started_at, config_path, config_ok = 1; keeps generation and the last cycle's
 *      figures of the previous run;
 *   6. sd_notify READY=1 with a STATUS= line (a no-op without $NOTIFY_SOCKET) and reads the watchdog
 *      interval (sd_watchdog_enabled(), $WATCHDOG_USEC/$WATCHDOG_PID).
 * args is copied; it may be freed afterwards. On failure everything done is undone (the signal mask too),
 * the error is returned and *ret_error (if given) explains it. Call it before creating any thread (gRPC's
 * included) so that every thread inherits the blocked signals. */
int daemon_new(DaemonKind kind, const DaemonArgs *args, ConfigDiags *diags, Daemon **ret, char **ret_error);

/* Closes the database and fds, frees the config, restores the signal mask, sends STOPPING=1. NULL is fine;
 * returns NULL. */
Daemon *daemon_free(Daemon *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Daemon *, daemon_free);

/* Optional: watch the state directory (inotify) so that daemon_wait() returns DAEMON_EVENT_DB_CHANGED
 * promptly when a daemon commits to state.db: every daemon's connection touches DB_COMMIT_FILENAME after
 * each commit, once it is visible (another writer, a test or a tool, does the same after committing:
 * `touch state.db-commit`). Used by the matcher
 * (new scan generation) and the exporter (new match generation). The event says only "look again": it
 * also fires for this daemon's own commits, so the caller compares the other daemon's generation
 * (daemon_read_generation()) with the last one it handled. Events are coalesced: one wake-up for a burst
 * of writes. Call it before the first daemon_read_generation(), so that no commit can fall between the
 * read and the watch. Failure (e.g. the inotify instance limit) is not fatal: the caller logs it and
 * relies on its timer. Calling it twice is a no-op. */
int daemon_watch_state(Daemon *d);

typedef enum DaemonEvent {
        DAEMON_EVENT_TIMEOUT,    /* the timeout passed */
        DAEMON_EVENT_RELOAD,     /* SIGHUP: call daemon_reload(); sinks reopen files */
        DAEMON_EVENT_TERMINATE,  /* SIGTERM or SIGINT: leave the loop, exit 0 */
        DAEMON_EVENT_DB_CHANGED, /* state.db was written (only after daemon_watch_state()) */
        _DAEMON_EVENT_MAX,
} DaemonEvent;

const char *daemon_event_to_string(DaemonEvent e);

/* Waits at most `timeout` (relative, CLOCK_MONOTONIC; USEC_INFINITY: no timeout; 0: only collects what
 * is already pending) for the first event. Everything pending is collected at once and the most
 * important event returned: TERMINATE, then RELOAD, then DB_CHANGED, then TIMEOUT; the others collected
 * with it are dropped (a RELOAD or DB_CHANGED does not matter once TERMINATE is known; a DB_CHANGED
 * dropped for a RELOAD is covered because the caller runs a cycle after reloading). While it waits it
 * sends WATCHDOG=1 every half watchdog interval, so a daemon waiting on a long timer is never killed.
 * Returns 0 and writes *ret; -errno on a failing poll/read (EINTR is retried). */
int daemon_wait(Daemon *d, usec_t timeout, DaemonEvent *ret);

/* Sends WATCHDOG=1 if half the watchdog interval has passed since the last one (no-op without a
 * watchdog). daemon_wait() and daemon_heartbeat() call it; call it too inside a long cycle. */
void daemon_keepalive(Daemon *d);

/* Loads the config again with the same lookup as at start-up (diagnostics to *diags if given, else they
 * are discarded; errors are also summarised in *ret_error). On error the old config stays active and the
 * heartbeat row gets config_ok = 0 and config_error = the errors' text ("FILE:LINE:COL: message", joined
 * by "; "); returns the error (-EINVAL for an invalid file). On success the new config replaces
 * d->config (the caller re-reads what it uses from it; the state dir and database never change on
 * reload) and the row gets config_ok = 1, config_error = NULL, the new config_path; if only that
 * database update fails, the new config is active all the same and the database error is returned with
 * *ret_error saying so. Sends RELOADING=1 first and READY=1 after, as systemd expects around a reload.
 * *diags is replaced (it may hold the previous call's items; it is released first). */
int daemon_reload(Daemon *d, ConfigDiags *diags, char **ret_error);

/* The heartbeat at the end of a cycle: sets last_cycle_at = now, last_cycle_ms, generation, stats (a JSON
 * object as text, or NULL) and last_error (NULL: the cycle went well) in this daemon's row, then sends
 * STATUS=... and a watchdog keep-alive. It is one UPDATE statement: outside a transaction it is its own
 * (atomic) transaction; inside the caller's open transaction (db_begin() ... db_commit() of its cycle) it
 * becomes part of it, and the caller's commit publishes output and generation together. Returns -ENOENT
 * if the row is gone. On a full disk (-ENOSPC) outside a transaction it checkpoints the WAL and tries once
 * more (the WAL then restarts in space it already has); if the UPDATE still fails, STATUS= says so. */
int daemon_heartbeat(Daemon *d, uint64_t cycle_ms, uint64_t generation, const char *stats_json,
                     const char *last_error);

/* The SQL of daemon_heartbeat() alone, for tools and tests: no notification, no Daemon needed. */
int daemon_heartbeat_sql(sqlite3 *db, DaemonKind kind, int64_t now_ms, uint64_t cycle_ms,
                         uint64_t generation, const char *stats_json, const char *last_error);

/* Reads the `generation` of daemon `name` ("scanner", "matcher", "exporter") from the `daemons` view.
 * -ENOENT when that daemon has never started (no row), -EINVAL for an unknown name. Runs in the caller's
 * transaction if one is open (so a read transaction sees generation and output consistently). */
int daemon_read_generation(sqlite3 *db, const char *name, uint64_t *ret);
