// The HTTP layer's counters as Prometheus metric families (herald_http_*).
#pragma once

#include "frontends/http/http_options.h"
#include "server/metric_table.h"

namespace herald::server {

void AddHttpMetrics(const http::HttpStats& s, MetricTable& t);

}  // namespace herald::server
