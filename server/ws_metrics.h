// The WebSocket front's counters as Prometheus metric families (herald_ws_*).
#pragma once

#include "frontends/ws/ws_stats.h"
#include "server/prometheus_writer.h"

namespace herald::server {

void WriteWsMetrics(const ws::WsStats& s, PrometheusWriter& w);

}  // namespace herald::server
