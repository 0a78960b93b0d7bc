// The SSE front's counters as Prometheus metric families (herald_sse_*).
#pragma once

#include "frontends/sse/sse_options.h"
#include "server/metric_table.h"

namespace herald::server {

void AddSseMetrics(const sse::SseStats& s, MetricTable& t);

}  // namespace herald::server
