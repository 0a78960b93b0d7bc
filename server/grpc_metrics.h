// The gRPC front's refusals as Prometheus families (herald_grpc_*).
#pragma once

#include "frontends/grpc/grpc_options.h"
#include "server/prometheus_writer.h"

namespace herald::server {

void WriteGrpcMetrics(const grpcfront::GrpcStats& s, PrometheusWriter& w);

}  // namespace herald::server
