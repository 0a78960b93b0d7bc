// The gRPC front's refusals as Prometheus families (herald_grpc_*).
#pragma once

#include "frontends/grpc/grpc_options.h"
#include "server/metric_table.h"

namespace herald::server {

void AddGrpcMetrics(const grpcfront::GrpcStats& s, MetricTable& t);

}  // namespace herald::server
