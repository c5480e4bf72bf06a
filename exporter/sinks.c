/* See sinks.h. */
#include "sinks.h"

static const SinkOps *const sink_table[_SINK_TYPE_MAX] = {
        [SINK_DEEPFLOW] = &sink_deepflow_ops,
        [SINK_HTTP] = &sink_http_ops,
        [SINK_FILE] = &sink_file_ops,
};

const SinkOps *sink_ops_for(SinkType type) {
        return type < _SINK_TYPE_MAX ? sink_table[type] : NULL;
}

void sink_socket_result_done(SinkSocketResult *r) {
        if (!r)
                return;
        free(r->process_gpids);
        free(r->socket_gpids);
        *r = (SinkSocketResult){};
}
