/* The table of sink implementations, by SinkType, in one file (sinks.c): a build without a sink is one
 * line away, and the exporter reports a configured type it lacks instead of failing to start. */
#pragma once

#include "sink.h"

/* The ops of a sink type, or NULL when this build lacks it. */
const SinkOps *sink_ops_for(SinkType type);
