// The broker core's counters as Prometheus metric families (herald_*).
#pragma once

#include "herald/broker_stats.h"
#include "server/prometheus_writer.h"

namespace herald::server {

void WriteBrokerMetrics(const BrokerStats& s, PrometheusWriter& w);

}  // namespace herald::server
