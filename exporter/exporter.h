/* procsync-exporter's main loop: builds the sync state when the matcher's or the scanner's output changed
 * (or a sink's timer needs a fresh one), stores its version, and lets every sink push it. See
 * README "procsync-exporter". */
#pragma once

#include "daemon.h"
#include "export-sink.h"
#include "sync-state.h"

typedef struct Exporter {
        Daemon *daemon; /* not owned */
        ExportSink **sinks;
        size_t n_sinks;
        SyncState *state;   /* the last state built and committed (NULL before the first) */
        usec_t state_built; /* CLOCK_MONOTONIC of that build */
        usec_t build_retry; /* the last build failed: CLOCK_MONOTONIC of the next try; 0 otherwise */
        uint64_t seen_match_generation;
        uint64_t seen_scan_generation;
        uint64_t generation; /* ours: +1 when the version or an acknowledged version moves */
        uint64_t build_ms;
        char *last_error; /* of the last build; NULL when it went well */
        usec_t last_heartbeat;
        bool watching;     /* daemon_watch_state() works: commits wake us */
        bool idle_logged;
} Exporter;

int exporter_new(Daemon *d, Exporter **ret);
Exporter *exporter_free(Exporter *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Exporter *, exporter_free);

/* Runs until SIGTERM/SIGINT (returns 0) or, with --once, for one cycle that builds the state and pushes
 * it to every sink once (returns -EIO when the build or a sink failed). */
int exporter_run(Exporter *e);
