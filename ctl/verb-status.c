/* `procctl status`: at a glance, whether each daemon is alive and reporting, its last cycle, the counts,
 * the tag command and every sink; with --json exactly `GET /v1/status` (both from doc_status()). Exits 1
 * when the suite is not healthy or anything needs a look (the document's health.problems and
 * health.warnings), so scripts and monitoring can use it. */
#include <stdio.h>

#include "ctl.h"
#include "db.h"
#include "doc-status.h"
#include "log.h"
#include "table.h"
#include "time-util.h"

static const char *sget(const json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

static long long iget(const json_t *o, const char *k) {
        return (long long) json_integer_value(json_object_get(o, k));
}

/* "3s ago", "2m ago", "never" into buf. */
static const char *ago(const json_t *ms, int64_t now_ms, char *buf, size_t size) {
        long long d;

        if (!json_is_integer(ms))
                return "never";
        d = (now_ms - json_integer_value(ms)) / 1000;
        if (d < 0)
                d = 0;
        if (d < 120)
                snprintf(buf, size, "%llds ago", d);
        else if (d < 7200)
                snprintf(buf, size, "%lldm ago", d / 60);
        else
                snprintf(buf, size, "%lldh ago", d / 3600);
        return buf;
}

static int print_daemons(const json_t *doc, int64_t now_ms) {
        static const char *const headers[] = {"DAEMON", "PID",        "ALIVE", "LAST CYCLE",
                                              "TOOK",   "GENERATION", "STATE"};
        _cleanup_(table_freep) Table *t = table_new(ELEMENTSOF(headers), headers);

        if (!t)
                return -ENOMEM;
        for (DaemonKind k = 0; k < _DAEMON_KIND_MAX; k++) {
                const json_t *d = json_object_get(doc, daemon_kind_to_string(k));
                char pid[32] = "-", took[32] = "-", gen[32] = "-", when[32];
                const char *state;

                if (json_is_integer(json_object_get(d, "pid")))
                        snprintf(pid, sizeof(pid), "%lld", iget(d, "pid"));
                if (json_is_integer(json_object_get(d, "last_cycle_ms")))
                        snprintf(took, sizeof(took), "%lldms", iget(d, "last_cycle_ms"));
                if (json_is_integer(json_object_get(d, "generation")))
                        snprintf(gen, sizeof(gen), "%lld", iget(d, "generation"));
                if (json_is_null(json_object_get(d, "pid")))
                        state = "never started";
                else if (!json_is_true(json_object_get(d, "fresh")))
                        state = "NOT REPORTING";
                else if (sget(d, "last_error"))
                        state = sget(d, "last_error");
                else if (json_is_false(json_object_get(d, "config_ok")))
                        state = "reload failed";
                else
                        state = "ok";

                const char *cells[] = {daemon_kind_to_string(k),
                                       pid,
                                       json_is_true(json_object_get(d, "alive")) ? "yes" : "no",
                                       ago(json_object_get(d, "last_cycle_at"), now_ms, when, sizeof(when)),
                                       took,
                                       gen,
                                       state};
                if (table_add_row(t, cells) < 0)
                        return -ENOMEM;
        }
        table_set_shrink_column(t, ELEMENTSOF(headers) - 1);
        return table_print(t, stdout, ctl_terminal_width());
}

static void print_counts(const json_t *doc) {
        const json_t *sc = json_object_get(json_object_get(doc, "scanner"), "counts");
        const json_t *mc = json_object_get(json_object_get(doc, "matcher"), "counts");

        printf("\nProcesses: %lld scanned, %lld synced, %lld dropped, %lld not yet eligible\n",
               iget(sc, "processes"), iget(mc, "synced"), iget(mc, "dropped"), iget(mc, "not_eligible"));
        printf("Sockets:   %lld in %lld network namespace%s\n", iget(sc, "sockets"), iget(sc, "netns"),
               iget(sc, "netns") == 1 ? "" : "s");
}

static void print_tag_exec(const json_t *doc, int64_t now_ms) {
        const json_t *te = json_object_get(json_object_get(doc, "matcher"), "tag_exec");
        char when[32];

        printf("Tag command: ");
        if (!json_is_true(json_object_get(te, "configured")))
                printf("not configured\n");
        else if (json_is_null(json_object_get(te, "ok")))
                printf("not run yet\n");
        else if (json_is_true(json_object_get(te, "ok")))
                printf("ok, last run %s, %lld entries\n",
                       ago(json_object_get(te, "last_run"), now_ms, when, sizeof(when)),
                       iget(te, "entries"));
        else
                printf("FAILING since %s: %s (%lld failures; the last good tags stay)\n",
                       ago(json_object_get(te, "last_ok"), now_ms, when, sizeof(when)),
                       strempty(sget(te, "error")), iget(te, "failures"));
}

static int print_sinks(const json_t *doc, int64_t now_ms) {
        static const char *const headers[] = {"SINK",    "TYPE",   "ACKED VERSION", "IN SYNC",
                                              "LAST OK", "ERRORS", "LAST ERROR"};
        const json_t *ex = json_object_get(doc, "exporter");
        const json_t *sinks = json_object_get(ex, "sinks");
        _cleanup_(table_freep) Table *t = NULL;
        const json_t *s;
        size_t i;

        if (json_array_size(sinks) == 0) {
                printf("Sinks: none\n");
                return 0;
        }
        printf("\nExport version %lld\n", iget(ex, "version"));
        t = table_new(ELEMENTSOF(headers), headers);
        if (!t)
                return -ENOMEM;
        json_array_foreach(sinks, i, s) {
                char acked[32], errors[32], when[32];

                snprintf(acked, sizeof(acked), "%lld", iget(s, "acked_version"));
                snprintf(errors, sizeof(errors), "%lld", iget(s, "errors_total"));
                const char *cells[] = {sget(s, "name"),
                                       sget(s, "type"),
                                       acked,
                                       json_is_true(json_object_get(s, "in_sync")) ? "yes" : "no",
                                       ago(json_object_get(s, "last_ok_at"), now_ms, when, sizeof(when)),
                                       errors,
                                       sget(s, "last_error")};
                if (table_add_row(t, cells) < 0)
                        return -ENOMEM;
        }
        table_set_shrink_column(t, ELEMENTSOF(headers) - 1);
        return table_print(t, stdout, ctl_terminal_width());
}

int verb_status(const CtlContext *ctx, int argc, char *argv[]) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_db_ sqlite3 *db = NULL;
        json_auto_t *doc = NULL;
        const json_t *health, *v;
        int64_t now_ms = now_epoch_ms();
        size_t i;
        int r;

        if (argc > 1) {
                log_error("Unknown argument '%s' for 'status'.", argv[1]);
                return CTL_EXIT_USAGE;
        }
        r = ctl_open_state(ctx, &c, &db);
        if (r < 0)
                return r;
        r = doc_status(db, c, now_ms, &doc);
        if (r < 0)
                return log_error_errno(r, "Failed to read the status: %m");
        health = json_object_get(doc, "health");
        if (ctx->json) {
                if (ctl_print_json(doc) < 0)
                        return CTL_EXIT_FAILURE;
        } else {
                const json_t *cfg = json_object_get(doc, "config");

                printf("procsync %s on %s, config %s (%s)\n\n", sget(doc, "version"), sget(doc, "hostname"),
                       sget(cfg, "path") ?: "embedded default",
                       json_is_true(json_object_get(cfg, "ok")) ? "ok" : "a reload failed");
                if (print_daemons(doc, now_ms) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory.");
                print_counts(doc);
                print_tag_exec(doc, now_ms);
                if (print_sinks(doc, now_ms) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory.");

                printf("\n%s\n",
                       json_is_true(json_object_get(health, "healthy")) ? "Healthy." : "UNHEALTHY:");
                json_array_foreach(json_object_get(health, "problems"), i, v)
                        printf("  problem: %s\n", json_string_value(v));
                json_array_foreach(json_object_get(health, "warnings"), i, v)
                        printf("  warning: %s\n", json_string_value(v));
        }
        return json_array_size(json_object_get(health, "problems")) == 0 &&
                               json_array_size(json_object_get(health, "warnings")) == 0
                       ? CTL_EXIT_OK
                       : CTL_EXIT_FAILURE;
}
