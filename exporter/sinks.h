/* The table of sink implementations, by SinkType. Kept in one file (sinks.c) so that a build without a
 * sink (the deepflow one until it is merged) is one line away. */
#pragma once

#include "sink.h"

/* The ops of a sink type, or NULL when this build lacks it. */
const SinkOps *sink_ops_for(SinkType type);
