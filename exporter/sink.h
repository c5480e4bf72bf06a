/* A sink: one destination of the sync state (DESIGN.md "Sinks"). The exporter owns the timers, the retry
 * backoff and the durable per-sink state in export_sinks; a sink only talks to its receiver.
 *
 * Contract of push(): `acked_version` is the version the exporter believes the receiver holds (from
 * state.db; 0 = nothing or unknown). The sink sends whatever its protocol needs so that the receiver ends
 * up holding `st->version` — a heartbeat when it already does, the full state otherwise (or when the
 * receiver answers that it lost it) — and returns in *ret_acked_version the version the receiver now
 * holds. On failure it returns -errno and a malloc'd one-line reason in *ret_error; the exporter retries
 * with backoff. A sink never blocks longer than its own timeout. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "sync-state.h"

typedef struct SinkGpid {
        uint32_t pid;
        uint32_t gpid;
} SinkGpid;

typedef struct SinkSocketGpid {
        uint64_t netns_inode;
        uint64_t inode;
        uint32_t local_gpid;
        uint32_t remote_gpid;
} SinkSocketGpid;

typedef struct SinkSocketResult {
        SinkGpid *process_gpids;        /* malloc'd */
        size_t n_process_gpids;
        SinkSocketGpid *socket_gpids;   /* malloc'd */
        size_t n_socket_gpids;
} SinkSocketResult;

void sink_socket_result_done(SinkSocketResult *r);

typedef struct SinkOps {
        SinkType type;
        /* Creates the sink from its config; no network I/O yet. */
        int (*open)(const ConfigSink *cfg, void **ret_impl, char **ret_error);
        void (*close)(void *impl);
        int (*push)(void *impl, const SyncState *st, uint64_t acked_version, uint64_t *ret_acked_version,
                    char **ret_error);
        /* Optional (NULL for sinks without a socket protocol): sends the socket list, every
         * os-proc-socket-sync-interval (DeepFlow GPIDSync), and returns the server-assigned gpids. */
        int (*push_sockets)(void *impl, const SyncState *st, SinkSocketResult *ret, char **ret_error);
        /* Optional: reopen files etc. on SIGHUP. */
        int (*reopen)(void *impl);
} SinkOps;

extern const SinkOps sink_deepflow_ops;
extern const SinkOps sink_http_ops;
extern const SinkOps sink_file_ops;
