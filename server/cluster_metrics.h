// The cluster's state for operators: Prometheus families (herald_cluster_*,
// one sample per peer link) for /metrics, and the JSON of GET /cluster.
#pragma once

#include <string>
#include <string_view>

#include "cluster/cluster.h"
#include "herald/history_store.h"
#include "server/metric_table.h"

namespace herald::server {

// Read from MetricSnapshot::cluster (rows with no samples when it is empty).
void AddClusterMetrics(MetricTable& t);
// `store`: the node's history store, when it has one (its reachability
// shows there too: a cluster on a shared store depends on it).
std::string ClusterJson(const cluster::ClusterStats& s, const HistoryStoreStats* store);
std::string JsonQuoted(std::string_view s);

}  // namespace herald::server
