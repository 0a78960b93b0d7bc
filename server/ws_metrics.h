// The WebSocket front's counters as Prometheus metric families (herald_ws_*).
#pragma once

#include "frontends/ws/ws_stats.h"
#include "server/metric_table.h"

namespace herald::server {

void AddWsMetrics(const ws::WsStats& s, MetricTable& t);

}  // namespace herald::server
