/* A unary gRPC client on gRPC core's C API: one long-lived insecure channel to one controller and a
 * pluck completion queue, used by the deepflow sink for GenesisSync and GPIDSync. Messages go in and out
 * as already serialized bytes (protobuf-c does the encoding).
 *
 * gRPC core starts its own threads at grpc_init(), which happens at the first deepflow_rpc_new(): nothing
 * may fork after that without exec (the exporter never forks). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

#define DEEPFLOW_RPC_CONNECT_TIMEOUT_DEFAULT (5 * USEC_PER_SEC)
#define DEEPFLOW_RPC_REQUEST_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
/* Reconnect backoff of the channel: short, so that a restarted controller is reached again within
 * about two seconds (the connect timeout bounds each attempt). */
#define DEEPFLOW_RPC_BACKOFF_INITIAL_MS 100
#define DEEPFLOW_RPC_BACKOFF_MAX_MS     2000
/* The largest answer accepted (a GPIDSync answer for 20,000 sockets is under 1 MiB). */
#define DEEPFLOW_RPC_MAX_RECEIVE (64 * 1024 * 1024)

typedef struct DeepflowRpcOptions {
        usec_t connect_timeout; /* 0: default; clamped to [1 ms, INT_MAX - 1000 ms] */
        usec_t request_timeout; /* 0: default */
} DeepflowRpcOptions;

typedef struct DeepflowRpc DeepflowRpc;

/* Creates the channel to host:port (an IPv4 or IPv6 literal, or a DNS name); no I/O yet. */
int deepflow_rpc_new(const char *host, uint16_t port, const DeepflowRpcOptions *opts, DeepflowRpc **ret);
DeepflowRpc *deepflow_rpc_free(DeepflowRpc *r);

/* The target as "host:port" for messages. */
const char *deepflow_rpc_target(const DeepflowRpc *r);

/* One unary call of `method` (the full name, "/agent.Synchronizer/GenesisSync"). Waits at most the connect
 * timeout for a connection, then at most the request timeout for the answer. On failure returns -errno
 * (-ECONNREFUSED: cannot connect, -ETIMEDOUT: a timeout, -EPROTO: a gRPC error status) and a malloc'd
 * one-line reason in *ret_error. */
int deepflow_rpc_call(DeepflowRpc *r, const char *method, const uint8_t *req, size_t req_len,
                      uint8_t **ret_resp, size_t *ret_resp_len, char **ret_error);

/* Releases gRPC core if it was initialized (tests and a daemon's exit; no channel may be alive). */
void deepflow_rpc_global_done(void);
