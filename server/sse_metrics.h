// The SSE front's counters as Prometheus metric families (herald_sse_*).
#pragma once

#include "frontends/sse/sse_options.h"
#include "server/prometheus_writer.h"

namespace herald::server {

void WriteSseMetrics(const sse::SseStats& s, PrometheusWriter& w);

}  // namespace herald::server
