/* One configured sink at run time: its implementation (sink.h), its durable row (export-db.h) and its
 * timers. The exporter loop asks each sink whether it is due and lets it push; this module records every
 * outcome in export_sinks and schedules the next attempt (push_interval after a success, the backoff of
 * backoff.h after a failure). */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>

#include "config.h"
#include "export-db.h"
#include "sink.h"
#include "sync-state.h"
#include "time-util.h"

typedef struct ExportSink {
        char *name;
        SinkType type;
        char *fingerprint;     /* every config field: a reload that changes one recreates the sink */
        char *target;          /* where it delivers: a change forgets what the old receiver acknowledged */
        const ConfigSink *cfg; /* into the active Config; refreshed on reload */
        const SinkOps *ops;    /* NULL: this build lacks the type */
        void *impl;            /* NULL until opened (an open that failed is retried with backoff) */
        ExportSinkRow row;
        usec_t next_push;    /* CLOCK_MONOTONIC of the next push (heartbeat or retry); 0 = now */
        usec_t next_sockets; /* CLOCK_MONOTONIC of the next push_sockets */
        uint64_t socket_failures;
        uint64_t pushed_version; /* the state version of the last successful push */
        bool failed;             /* the last push (or push_sockets) failed */
} ExportSink;

/* Creates the run-time sink and loads (or creates) its row. Never fails because the receiver or the
 * implementation is unavailable: that becomes the row's last_error. */
int export_sink_new(sqlite3 *db, const ConfigSink *cfg, ExportSink **ret);
ExportSink *export_sink_free(ExportSink *s);

/* The identity strings of a sink config (see fields above); malloc'd. The target is also what /v1/status
 * shows: the url, the path, or "HOST:PORT, ... as agent CTRL_IP|CTRL_MAC" ("auto" where detected). */
char *export_sink_fingerprint(const ConfigSink *cfg);
char *export_sink_target(const ConfigSink *cfg);

/* Due now: its timer passed, or a version it has not pushed yet is waiting and it is not in backoff. */
bool export_sink_due(const ExportSink *s, const SyncState *st, usec_t now);
bool export_sink_sockets_due(const ExportSink *s, const SyncState *st, usec_t socket_interval, usec_t now);

/* One push (and its bookkeeping in export_sinks). Returns 0 when the receiver acknowledged, the sink's
 * error otherwise (already recorded and logged; -EINTR, a push cut short by shutdown, is not recorded);
 * *ret_acked_changed tells whether acked_version moved. */
int export_sink_push(ExportSink *s, sqlite3 *db, const SyncState *st, bool *ret_acked_changed);

/* One push_sockets; the gpids of the answer are stored in export_gpids / export_socket_gpids. */
int export_sink_push_sockets(ExportSink *s, sqlite3 *db, const SyncState *st, usec_t socket_interval);

/* The earliest CLOCK_MONOTONIC time this sink needs the loop again (USEC_INFINITY: never). */
usec_t export_sink_next_wakeup(const ExportSink *s, usec_t socket_interval, bool have_state);

/* SIGHUP: reopen files. */
void export_sink_reopen(ExportSink *s);
