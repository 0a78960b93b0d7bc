// /metrics rows of readiness (server/readiness.h): herald_ready, and per
// canary target ("local", or a peer's node id) its last latency, its probes
// and its failures.
#pragma once

#include "server/metric_table.h"
#include "server/readiness.h"

namespace herald::server {

void AddReadinessMetrics(const Readiness& r, MetricTable& t);

}  // namespace herald::server
