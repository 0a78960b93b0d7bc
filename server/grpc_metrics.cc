#include "server/grpc_metrics.h"

namespace herald::server {

void WriteGrpcMetrics(const grpcfront::GrpcStats& s, PrometheusWriter& w) {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  w.Counter("herald_grpc_unauthenticated_total", "gRPC calls refused without a valid token.",
            get(s.unauthenticated));
  w.Counter("herald_grpc_permission_denied_total",
            "gRPC calls, stream messages and Connect commands outside the caller's grants.",
            get(s.permission_denied));
  w.Counter("herald_grpc_user_limit_refusals_total",
            "gRPC streams refused past [auth] max_connections_per_user.",
            get(s.user_limit_refusals));
  w.Counter("herald_grpc_commands_rate_limited_total",
            "Connect commands refused over [grpc] max_commands_per_second.",
            get(s.commands_rate_limited));
  w.Counter("herald_grpc_rate_limit_ends_total",
            "Connect sessions ended for going on past the command rate limit.",
            get(s.rate_limit_ends));
}

}  // namespace herald::server
