// The HTTP layer's counters as Prometheus metric families (herald_http_*).
#pragma once

#include "frontends/http/http_options.h"
#include "server/prometheus_writer.h"

namespace herald::server {

void WriteHttpMetrics(const http::HttpStats& s, PrometheusWriter& w);

}  // namespace herald::server
