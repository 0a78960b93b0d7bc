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
  w.Counter("herald_grpc_publish_refused_total", "PublishStream messages refused.",
            get(s.publish_refused));
  w.Counter("herald_grpc_publish_refusals_coalesced_total",
            "PublishStream refusals answered by an earlier StreamError of their run.",
            get(s.refusals_coalesced));
  w.Counter("herald_grpc_publish_stream_requests_cut_total",
            "PublishStream requests not published past [grpc] max_refusals_per_request.",
            get(s.requests_cut));
  const int64_t queued = s.answers_queued.load(std::memory_order_relaxed);
  w.Gauge("herald_grpc_publish_stream_answers_queued",
          "PublishStream answers waiting to be written, over every stream.",
          static_cast<uint64_t>(queued < 0 ? 0 : queued));
}

}  // namespace herald::server
