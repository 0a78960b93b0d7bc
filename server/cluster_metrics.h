// The cluster's state for operators: Prometheus families (herald_cluster_*,
// one sample per peer link) for /metrics, and the JSON of GET /cluster.
#pragma once

#include <string>
#include <string_view>

#include "cluster/cluster.h"
#include "server/prometheus_writer.h"

namespace herald::server {

void WriteClusterMetrics(const cluster::ClusterStats& s, PrometheusWriter& w);
std::string ClusterJson(const cluster::ClusterStats& s);
std::string JsonQuoted(std::string_view s);

}  // namespace herald::server
