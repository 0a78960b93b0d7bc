// The broker core's counters as Prometheus metric families (herald_*).
#pragma once

#include "herald/broker_stats.h"
#include "server/metric_table.h"

namespace herald::server {

void AddBrokerMetrics(MetricTable& t);

}  // namespace herald::server
