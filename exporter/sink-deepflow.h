/* The deepflow sink (`sink_deepflow_ops`, declared in sink.h): GenesisSync and GPIDSync to a DeepFlow
 * controller over gRPC. See sink-deepflow.c and the README section "DeepFlow sink". */
#pragma once

#include "sink-deepflow-rpc.h"
#include "sink.h"

#define DEEPFLOW_DEFAULT_PORT       30035
#define DEEPFLOW_DEFAULT_AGENT_TYPE 3 /* TT_PUBLIC_CLOUD */

#define DEEPFLOW_METHOD_GENESIS_SYNC "/agent.Synchronizer/GenesisSync"
#define DEEPFLOW_METHOD_GPID_SYNC    "/agent.Synchronizer/GPIDSync"

/* sink_deepflow_ops.open() with the internal timeouts overridden (tests; NULL = the defaults, 5 s to
 * connect and 30 s per request as the reference agent). */
int sink_deepflow_open_with(const ConfigSink *cfg, const DeepflowRpcOptions *opts, void **ret_impl,
                            char **ret_error);

/* Releases gRPC core (initialized by the first open) once every deepflow sink is closed: call at exit so
 * leak checkers see a clean process. */
void sink_deepflow_global_done(void);
