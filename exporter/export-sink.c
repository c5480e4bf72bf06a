/* See export-sink.h.
 *
 * Ordering that makes delivery durable: the version a sink is asked to deliver is already in export_state
 * (export_state_commit() runs before any push), and the acknowledgement is written to export_sinks only
 * after the sink returned it. A crash between the two leaves the old acked_version in the database; the
 * next process pushes again and the sink's protocol (heartbeat probe, or the file's last line) notices
 * the receiver already holds it. A failure to write the row is logged and retried with the next push; it
 * never loses a version, at worst it costs one redundant exchange. */
#include "export-sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "log.h"
#include "sinks.h"

#define MISMATCH_RETRY (1 * USEC_PER_SEC)

static void put_field(FILE *f, const char *key, const char *value) {
        /* Length-prefixed so that no value can imitate a separator. */
        fprintf(f, "%s=%zu:%s;", key, strlen(strempty(value)), strempty(value));
}

static void put_strv(FILE *f, const char *key, char **l) {
        size_t n = 0;

        for (char **i = l; i && *i; i++)
                n++;
        fprintf(f, "%s=%zu[", key, n);
        for (char **i = l; i && *i; i++)
                put_field(f, "", *i);
        fputs("];", f);
}

char *export_sink_fingerprint(const ConfigSink *c) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        put_field(f, "name", c->name);
        fprintf(f,
                "type=%d;push_interval=%" PRIu64 ";port=%u;agent_id=%" PRIu32 ";agent_type=%" PRIu32
                ";timeout=%" PRIu64 ";tls_verify=%d;",
                (int) c->type, (uint64_t) c->push_interval, (unsigned) c->controller_port, c->agent_id,
                c->agent_type, (uint64_t) c->timeout, c->tls_verify);
        put_strv(f, "controller_ips", c->controller_ips);
        put_field(f, "team_id", c->team_id);
        put_field(f, "ctrl_ip", c->ctrl_ip);
        put_field(f, "ctrl_mac", c->ctrl_mac);
        put_field(f, "url", c->url);
        put_strv(f, "headers", c->headers);
        put_field(f, "path", c->path);
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* A controller address as gRPC is given it, "HOST:PORT" ("[v6]:PORT"), with ',', ' ' and '%' percent-encoded
 * so that the joined list cannot be read two ways (such an entry is no valid address anyway). */
static void put_controller(FILE *f, const char *host, unsigned port) {
        bool v6 = strchr(host, ':') && host[0] != '[';

        fputs(v6 ? "[" : "", f);
        for (const char *p = host; *p; p++)
                if (strchr(",% ", *p))
                        fprintf(f, "%%%02X", (unsigned char) *p);
                else
                        fputc(*p, f);
        fprintf(f, "%s:%u", v6 ? "]" : "", port);
}

char *export_sink_target(const ConfigSink *c) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        switch (c->type) {
        case SINK_DEEPFLOW:
                /* The server knows an agent by "CTRL_IP|CTRL_MAC": another pair is another agent to it. */
                for (char **i = c->controller_ips; i && *i; i++) {
                        fputs(i == c->controller_ips ? "" : ", ", f);
                        put_controller(f, *i, c->controller_port);
                }
                fprintf(f, " as agent %s|%s", isempty(c->ctrl_ip) ? "auto" : c->ctrl_ip,
                        isempty(c->ctrl_mac) ? "auto" : c->ctrl_mac);
                break;
        case SINK_HTTP:
                fputs(strempty(c->url), f);
                break;
        default:
                fputs(strempty(c->path), f);
                break;
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

ExportSink *export_sink_free(ExportSink *s) {
        if (!s)
                return NULL;
        if (s->impl)
                s->ops->close(s->impl);
        export_sink_row_done(&s->row);
        free(s->name);
        free(s->fingerprint);
        free(s->target);
        free(s);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ExportSink *, export_sink_free);

/* A socket sync retries with the backoff but never later than its regular interval (socket_interval,
 * 0 for a push): the delay logged is the one applied. */
static void record_error(ExportSink *s, sqlite3 *db, int error, char *message, bool sockets,
                         usec_t socket_interval) {
        usec_t delay;
        uint64_t n;

        /* The row keeps one error text; a message-less error still needs one. */
        if (!message && asprintf(&message, "%s", strerror(error < 0 ? -error : error)) < 0)
                message = NULL;
        free(s->row.last_error);
        s->row.last_error = message;
        s->row.errors_total++;
        s->failed = true;

        n = sockets ? ++s->socket_failures : ++s->row.failures;
        delay = backoff_delay(n, backoff_random());
        if (sockets && socket_interval > 0 && delay > socket_interval)
                delay = socket_interval;
        if (sockets)
                s->next_sockets = now_usec(CLOCK_MONOTONIC) + delay;
        else {
                s->next_push = now_usec(CLOCK_MONOTONIC) + delay;
                s->row.next_attempt_at = now_epoch_ms() + (int64_t) (delay / USEC_PER_MSEC);
        }
        log_warning("Sink '%s'%s failed (%" PRIu64 " in a row): %s; retrying in %.1f s", s->name,
                    sockets ? " socket sync" : "", n, strempty(s->row.last_error),
                    (double) delay / USEC_PER_SEC);
}

static void save_row(ExportSink *s, sqlite3 *db) {
        int r;

        r = export_sink_save(db, s->name, &s->row);
        if (r < 0)
                log_warning_errno(r, "Failed to store the state of sink '%s', ignoring: %m", s->name);
}

static int ensure_open(ExportSink *s, sqlite3 *db) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (s->impl)
                return 0;
        if (!s->ops) {
                s->row.last_attempt_at = now_epoch_ms();
                record_error(s, db, -EOPNOTSUPP,
                             strdup("this build of procsync-exporter has no sink of this type"), false, 0);
                save_row(s, db);
                return -EOPNOTSUPP;
        }
        r = s->ops->open(s->cfg, &s->impl, &error);
        if (r < 0) {
                s->row.last_attempt_at = now_epoch_ms();
                record_error(s, db, r, TAKE_PTR(error), false, 0);
                save_row(s, db);
                return r;
        }
        return 0;
}

int export_sink_new(sqlite3 *db, const ConfigSink *cfg, ExportSink **ret) {
        _cleanup_(export_sink_freep) ExportSink *s = NULL;
        int r;

        s = calloc(1, sizeof(ExportSink));
        if (!s)
                return -ENOMEM;
        s->name = strdup(cfg->name);
        s->fingerprint = export_sink_fingerprint(cfg);
        s->target = export_sink_target(cfg);
        if (!s->name || !s->fingerprint || !s->target)
                return -ENOMEM;
        s->type = cfg->type;
        s->cfg = cfg;
        s->ops = sink_ops_for(cfg->type);

        r = export_sink_load(db, s->name, s->type, s->target, &s->row);
        if (r < 0)
                return r;
        /* A fresh process tries at once, whatever backoff the previous one was in. */
        s->row.failures = 0;

        if (s->type == SINK_HTTP && !cfg->tls_verify)
                log_warning("Sink '%s': TLS certificate verification is off (tls_verify: false)", s->name);
        (void) ensure_open(s, db);
        *ret = TAKE_PTR(s);
        return 0;
}

bool export_sink_due(const ExportSink *s, const SyncState *st, usec_t now) {
        if (!st || !s->ops)
                return false;
        if (now >= s->next_push)
                return true;
        /* Not merely "acked != version": a receiver that answers success but holds another version (a
         * DeepFlow server may) is asked again on the mismatch timer below, not in a tight loop. */
        return s->impl && s->row.failures == 0 && s->row.acked_version != st->version &&
               s->pushed_version != st->version;
}

bool export_sink_sockets_due(const ExportSink *s, const SyncState *st, usec_t socket_interval, usec_t now) {
        return st && s->impl && s->ops->push_sockets && socket_interval > 0 && now >= s->next_sockets;
}

int export_sink_push(ExportSink *s, sqlite3 *db, const SyncState *st, bool *ret_acked_changed) {
        _cleanup_free_ char *error = NULL;
        uint64_t acked = 0;
        int64_t now_ms;
        usec_t interval = s->cfg->push_interval > 0 ? s->cfg->push_interval : 10 * USEC_PER_SEC;
        bool was_failing;
        int r;

        *ret_acked_changed = false;
        r = ensure_open(s, db);
        if (r < 0)
                return r;

        was_failing = s->row.failures > 0;
        r = s->ops->push(s->impl, st, s->row.acked_version, &acked, &error);
        now_ms = now_epoch_ms();
        if (r == -EINTR) {
                /* Interrupted by shutdown: not the receiver's failure, nothing to record. */
                log_debug("Sink '%s': push interrupted", s->name);
                return r;
        }
        s->row.last_attempt_at = now_ms;
        if (r < 0) {
                record_error(s, db, r, TAKE_PTR(error), false, 0);
                save_row(s, db);
                return r;
        }

        if (was_failing)
                log_notice("Sink '%s' delivers again (version %" PRIu64 ")", s->name, acked);
        else if (acked != s->row.acked_version)
                log_info("Sink '%s' holds version %" PRIu64, s->name, acked);
        *ret_acked_changed = acked != s->row.acked_version;
        s->row.acked_version = acked;
        s->row.last_ok_at = now_ms;
        free(s->row.last_error);
        s->row.last_error = NULL;
        s->row.failures = 0;
        s->failed = false;
        s->pushed_version = st->version;
        /* The receiver took the push but holds another version: ask again soon (the reference agent waits
         * 1 s after a version mismatch), not at the next heartbeat. */
        if (acked != st->version && interval > MISMATCH_RETRY)
                interval = MISMATCH_RETRY;
        s->next_push = now_usec(CLOCK_MONOTONIC) + interval;
        s->row.next_attempt_at = now_ms + (int64_t) (interval / USEC_PER_MSEC);
        save_row(s, db);
        return 0;
}

int export_sink_push_sockets(ExportSink *s, sqlite3 *db, const SyncState *st, usec_t socket_interval) {
        _cleanup_(sink_socket_result_done) SinkSocketResult res = {};
        _cleanup_free_ char *error = NULL;
        int r;

        r = s->ops->push_sockets(s->impl, st, &res, &error);
        if (r < 0) {
                record_error(s, db, r, TAKE_PTR(error), true, socket_interval);
                save_row(s, db);
                return r;
        }
        s->socket_failures = 0;
        s->next_sockets = now_usec(CLOCK_MONOTONIC) + socket_interval;
        r = export_gpids_store(db, s->name, &res);
        if (r < 0)
                log_warning_errno(r, "Failed to store the gpids of sink '%s', ignoring: %m", s->name);
        return 0;
}

usec_t export_sink_next_wakeup(const ExportSink *s, usec_t socket_interval, bool have_state) {
        usec_t t = USEC_INFINITY;

        if (!s->ops || !have_state)
                return t;
        t = s->next_push;
        if (s->impl && s->ops->push_sockets && socket_interval > 0 && s->next_sockets < t)
                t = s->next_sockets;
        return t;
}

void export_sink_reopen(ExportSink *s) {
        int r;

        if (!s->impl || !s->ops->reopen)
                return;
        r = s->ops->reopen(s->impl);
        if (r < 0)
                log_warning_errno(r, "Sink '%s': reopen failed, ignoring: %m", s->name);
}
