/* See exporter.h.
 *
 * One thread, one loop, sinks served one after the other. Each push is bounded by its sink's own timeout
 * (curl's total timeout for http, a deadline per call for deepflow, local I/O for file), and a failing sink
 * goes into backoff, so a receiver that hangs costs the others at most one timeout per backoff step and
 * never blocks them; at most CONFIG_MAX_SINKS sinks exist. That keeps the exporter free of threads and of
 * a second event loop (curl multi would be one), which is what lets a push never overlap a database write
 * and keeps the ordering "store the version, send, store the acknowledgement" obvious.
 *
 * When to build: the matcher's or the scanner's generation moved (a commit wakes daemon_wait()), a reload
 * happened, or a sink is about to push on its timer and the last build is older than BUILD_MIN_AGE — the
 * last case catches sockets that have just reached os-proc-socket-min-lifetime without any commit. A
 * build whose digest equals the stored one keeps the version; one that differs makes version + 1, which
 * is stored before any sink sees it. A build that fails (a malformed row, an unreadable database) is
 * retried after BUILD_RETRY or on the next new generation, never at every wake-up: the heartbeat it causes
 * is a commit that would wake us again at once. Meanwhile sinks keep pushing the last good state.
 *
 * A commit wakes us (daemon_wait()) once it is visible, so the generations read then are the new ones.
 *
 * The heartbeat row is written after a cycle that did something, and at least every HEARTBEAT_INTERVAL
 * otherwise. Never after a wake-up that did nothing: our own commit wakes us too, and a heartbeat there
 * would wake us again forever. */
#include "exporter.h"

#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>

#include "export-db.h"
#include "log.h"

#define BUILD_MIN_AGE      (1 * USEC_PER_SEC)
#define BUILD_RETRY        (5 * USEC_PER_SEC)
#define HEARTBEAT_INTERVAL (10 * USEC_PER_SEC)
#define POLL_INTERVAL      (1 * USEC_PER_SEC) /* without inotify, how often generations are read */

static void sinks_free(ExportSink **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                export_sink_free(l[i]);
        free(l);
}

Exporter *exporter_free(Exporter *e) {
        if (!e)
                return NULL;
        sinks_free(e->sinks, e->n_sinks);
        sync_state_free(e->state);
        free(e->last_error);
        free(e);
        return NULL;
}

/* (Re)creates the sinks from the active config: a sink whose config did not change is kept (and
 * reopened), one that changed is recreated, forgetting what it acknowledged if its receiver changed
 * (export_sink_load() compares the stored target, so this holds across restarts too). */
static int sinks_setup(Exporter *e) {
        const Config *c = e->daemon->config;
        sqlite3 *db = e->daemon->db;
        ExportSink **l;
        int r;

        l = calloc(c->n_sinks ?: 1, sizeof(ExportSink *));
        if (!l)
                return log_error_errno(-ENOMEM, "Out of memory");

        for (size_t i = 0; i < c->n_sinks; i++) {
                const ConfigSink *cfg = &c->sinks[i];
                _cleanup_free_ char *fp = export_sink_fingerprint(cfg);
                ExportSink *old = NULL;

                if (!fp) {
                        sinks_free(l, i);
                        return log_error_errno(-ENOMEM, "Out of memory");
                }
                for (size_t j = 0; j < e->n_sinks; j++)
                        if (e->sinks[j] && streq(e->sinks[j]->name, cfg->name)) {
                                old = TAKE_PTR(e->sinks[j]);
                                break;
                        }
                if (old && streq(old->fingerprint, fp)) {
                        old->cfg = cfg;
                        export_sink_reopen(old);
                        l[i] = old;
                        continue;
                }
                /* export_sink_new() resets the row when the target changed. */
                export_sink_free(old);

                r = export_sink_new(db, cfg, &l[i]);
                if (r < 0) {
                        sinks_free(l, i);
                        return log_error_errno(r, "Failed to set up sink '%s': %m", cfg->name);
                }
                log_info("Sink '%s' (%s) ready", cfg->name, sink_type_to_string(cfg->type));
        }

        sinks_free(e->sinks, e->n_sinks);
        e->sinks = l;
        e->n_sinks = c->n_sinks;

        r = export_sinks_prune(db, c->sinks, c->n_sinks);
        if (r < 0)
                log_warning_errno(r, "Failed to forget removed sinks, ignoring: %m");
        return 0;
}

int exporter_new(Daemon *d, Exporter **ret) {
        _cleanup_(exporter_freep) Exporter *e = NULL;
        int r;

        e = calloc(1, sizeof(Exporter));
        if (!e)
                return log_error_errno(-ENOMEM, "Out of memory");
        e->daemon = d;
        e->generation = d->generation;

        r = daemon_watch_state(d);
        if (r < 0)
                log_warning_errno(r, "Cannot watch the state directory, polling every second instead: %m");
        e->watching = r >= 0;

        r = sinks_setup(e);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

static int read_generations(Exporter *e, uint64_t *ret_match, uint64_t *ret_scan) {
        int r;

        r = daemon_read_generation(e->daemon->db, "matcher", ret_match);
        if (r == -ENOENT)
                *ret_match = 0;
        else if (r < 0)
                return r;
        r = daemon_read_generation(e->daemon->db, "scanner", ret_scan);
        if (r == -ENOENT)
                *ret_scan = 0;
        else if (r < 0)
                return r;
        return 0;
}

static void set_last_error(Exporter *e, int r, const char *what) {
        free(e->last_error);
        if (asprintf(&e->last_error, "%s: %s", what, strerror(-r)) < 0)
                e->last_error = NULL;
}

static int build(Exporter *e) {
        const Daemon *d = e->daemon;
        _cleanup_sync_state_ SyncState *st = NULL;
        char hostname[HOST_NAME_MAX + 1] = "";
        SyncBuildParams p;
        usec_t start = now_usec(CLOCK_MONOTONIC);
        bool is_new = false;
        int r;

        if (gethostname(hostname, sizeof(hostname) - 1) < 0)
                log_warning_errno(-errno, "gethostname() failed, ignoring: %m");
        p = (SyncBuildParams){
                .hostname = hostname,
                .now_ms = now_epoch_ms(),
                .socket_min_lifetime = d->config->min_lifetime,
        };
        e->build_retry = start + BUILD_RETRY;
        r = sync_state_build(d->db, &p, &st);
        if (r < 0) {
                set_last_error(e, r, "cannot build the sync state");
                return log_error_errno(r, "Failed to build the sync state, retrying in %" PRIu64 " s: %m",
                                       BUILD_RETRY / USEC_PER_SEC);
        }
        r = export_state_commit(d->db, st, (uint64_t) (d->started_at / 1000), &is_new);
        if (r < 0) {
                set_last_error(e, r, "cannot store the sync state's version");
                return log_error_errno(
                        r, "Failed to store the sync state's version, retrying in %" PRIu64 " s: %m",
                        BUILD_RETRY / USEC_PER_SEC);
        }
        e->build_retry = 0;
        e->build_ms = (now_usec(CLOCK_MONOTONIC) - start) / USEC_PER_MSEC;
        if (is_new) {
                log_info("Version %" PRIu64 ": %zu processes, %zu sockets (built in %" PRIu64 " ms)",
                         st->version, st->n_processes, st->n_sockets, e->build_ms);
                e->generation++;
        }
        free(e->last_error);
        e->last_error = NULL;
        sync_state_free(e->state);
        e->state = TAKE_PTR(st);
        e->state_built = now_usec(CLOCK_MONOTONIC);
        return 0;
}

static bool any_sink_due(Exporter *e, usec_t now) {
        usec_t interval = e->daemon->config->socket_sync_interval;

        for (size_t i = 0; i < e->n_sinks; i++)
                if (export_sink_due(e->sinks[i], e->state, now) ||
                    export_sink_sockets_due(e->sinks[i], e->state, interval, now))
                        return true;
        return false;
}

/* One pass. *ret_did tells whether anything was built or pushed. With once, every sink pushes whatever
 * its timers say, and the result is -EIO if the build or any sink failed. */
static int cycle(Exporter *e, bool force, bool once, bool *ret_did) {
        const Config *c = e->daemon->config;
        uint64_t match_gen = 0, scan_gen = 0;
        bool failed = false, did = false, need;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (!c->sync_enabled) {
                if (!e->idle_logged)
                        log_notice("Sync is disabled (os-proc-sync-enabled: false): nothing is exported");
                *ret_did = !e->idle_logged;
                e->idle_logged = true;
                return 0;
        }
        e->idle_logged = false;

        r = read_generations(e, &match_gen, &scan_gen);
        if (r < 0) {
                /* Treated as a failed build: the database is the problem, retry on the build timer. */
                if (e->build_retry == 0 || now >= e->build_retry) {
                        did = true;
                        e->build_retry = now + BUILD_RETRY;
                        set_last_error(e, r, "cannot read the other daemons' generations");
                        log_error_errno(r, "Failed to read the other daemons' generations: %m");
                }
                failed = true;
                need = false;
        } else {
                bool changed = match_gen != e->seen_match_generation || scan_gen != e->seen_scan_generation;

                log_debug("Generations: matcher %" PRIu64 " (had %" PRIu64 "), scanner %" PRIu64
                          " (had %" PRIu64 ")",
                          match_gen, e->seen_match_generation, scan_gen, e->seen_scan_generation);

                if (e->build_retry > 0)
                        need = force || changed || now >= e->build_retry;
                else
                        need = force || changed || !e->state ||
                               (any_sink_due(e, now) && now - e->state_built >= BUILD_MIN_AGE);
        }
        if (need) {
                did = true;
                /* Handled even when the build fails: a retry comes from the timer, not from these. */
                e->seen_match_generation = match_gen;
                e->seen_scan_generation = scan_gen;
                r = build(e);
                if (r < 0)
                        failed = true;
        }

        for (size_t i = 0; i < e->n_sinks && e->state; i++) {
                ExportSink *s = e->sinks[i];
                bool acked_changed = false;

                if (!once && !export_sink_due(s, e->state, now_usec(CLOCK_MONOTONIC)))
                        continue;
                did = true;
                r = export_sink_push(s, e->daemon->db, e->state, &acked_changed);
                if (r < 0)
                        failed = true;
                if (acked_changed)
                        e->generation++;
                daemon_keepalive(e->daemon);
        }
        for (size_t i = 0; i < e->n_sinks && e->state; i++) {
                ExportSink *s = e->sinks[i];

                if (once ? !(s->impl && s->ops->push_sockets && c->socket_sync_interval > 0)
                         : !export_sink_sockets_due(s, e->state, c->socket_sync_interval,
                                                    now_usec(CLOCK_MONOTONIC)))
                        continue;
                did = true;
                r = export_sink_push_sockets(s, e->daemon->db, e->state, c->socket_sync_interval);
                if (r < 0)
                        failed = true;
                daemon_keepalive(e->daemon);
        }

        *ret_did = did;
        return once && (failed || !e->state) ? -EIO : 0;
}

static char *stats_json(Exporter *e) {
        const Config *c = e->daemon->config;
        json_t *o = NULL;
        size_t failing = 0;
        char *s;

        for (size_t i = 0; i < e->n_sinks; i++)
                if (e->sinks[i]->row.failures > 0 || e->sinks[i]->failed)
                        failing++;
        if (!c->sync_enabled)
                o = json_pack("{s:b, s:s}", "sync_enabled", 0, "state", "disabled");
        else if (e->state)
                o = json_pack("{s:b, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I}", "sync_enabled", 1, "state",
                              "syncing", "version", (json_int_t) e->state->version, "digest",
                              e->state->digest, "processes", (json_int_t) e->state->n_processes, "sockets",
                              (json_int_t) e->state->n_sockets, "build_ms", (json_int_t) e->build_ms,
                              "sinks", (json_int_t) e->n_sinks, "sinks_failing", (json_int_t) failing);
        else
                o = json_pack("{s:b, s:s, s:I, s:I}", "sync_enabled", 1, "state", "no-state", "sinks",
                              (json_int_t) e->n_sinks, "sinks_failing", (json_int_t) failing);
        if (!o)
                return NULL;
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

static void heartbeat(Exporter *e, uint64_t cycle_ms) {
        _cleanup_free_ char *stats = stats_json(e);
        int r;

        r = daemon_heartbeat(e->daemon, cycle_ms, e->generation, stats, e->last_error);
        if (r < 0)
                log_warning_errno(r, "Failed to write the heartbeat, ignoring: %m");
        e->last_heartbeat = now_usec(CLOCK_MONOTONIC);
}

static usec_t next_wakeup(Exporter *e) {
        const Config *c = e->daemon->config;
        usec_t t = e->last_heartbeat + HEARTBEAT_INTERVAL;

        if (!c->sync_enabled)
                return t;
        if (e->build_retry > 0 && e->build_retry < t)
                t = e->build_retry;
        for (size_t i = 0; i < e->n_sinks; i++) {
                usec_t w = export_sink_next_wakeup(e->sinks[i], c->socket_sync_interval, e->state);

                if (w < t)
                        t = w;
        }
        if (!e->watching && now_usec(CLOCK_MONOTONIC) + POLL_INTERVAL < t)
                t = now_usec(CLOCK_MONOTONIC) + POLL_INTERVAL;
        return t;
}

static void reload(Exporter *e) {
        _cleanup_(config_diags_done) ConfigDiags diags = {};
        _cleanup_free_ char *error = NULL;
        const Config *old = e->daemon->config;
        int r;

        r = daemon_reload(e->daemon, &diags, &error);
        config_diags_print(&diags, stderr);
        if (e->daemon->config == old) {
                log_error_errno(r, "Reload failed, keeping the previous configuration: %s", strempty(error));
                /* Files are reopened all the same: log rotation must not depend on a valid config. */
                for (size_t i = 0; i < e->n_sinks; i++)
                        export_sink_reopen(e->sinks[i]);
                return;
        }
        if (r < 0)
                log_warning_errno(r, "Configuration reloaded, but: %s", strempty(error));
        else
                log_info("Configuration reloaded");
        (void) sinks_setup(e);
}

int exporter_run(Exporter *e) {
        Daemon *d = e->daemon;
        bool force = true;
        int r;

        for (;;) {
                usec_t start = now_usec(CLOCK_MONOTONIC), next, now;
                DaemonEvent ev;
                bool did = false;

                r = cycle(e, force, d->once, &did);
                force = false;
                now = now_usec(CLOCK_MONOTONIC);
                if (did || d->once || now - e->last_heartbeat >= HEARTBEAT_INTERVAL)
                        heartbeat(e, (now - start) / USEC_PER_MSEC);
                if (d->once)
                        return r;

                next = next_wakeup(e);
                now = now_usec(CLOCK_MONOTONIC);
                r = daemon_wait(d, next > now ? next - now : 0, &ev);
                if (r < 0)
                        return log_error_errno(r, "Failed to wait for events: %m");
                log_debug("Woken up: %s", daemon_event_to_string(ev));
                switch (ev) {
                case DAEMON_EVENT_TERMINATE:
                        log_info("Terminating");
                        return 0;
                case DAEMON_EVENT_RELOAD:
                        reload(e);
                        force = true;
                        break;
                default:
                        break;
                }
        }
}
