#include "server/grpc_metrics.h"

namespace herald::server {

void AddGrpcMetrics(const grpcfront::GrpcStats& s, MetricTable& t) {
  t.Counter(
      "herald_grpc_unauthenticated_total", "gRPC calls refused without a valid token.",
      [&s](const MetricSnapshot&) { return Get(s.unauthenticated); }, Trip::kYes);
  t.Counter(
      "herald_grpc_permission_denied_total",
      "gRPC calls, stream messages and Connect commands outside the caller's grants.",
      [&s](const MetricSnapshot&) { return Get(s.permission_denied); }, Trip::kYes);
  t.Counter(
      "herald_grpc_user_limit_refusals_total",
      "gRPC streams refused past [auth] max_connections_per_user.",
      [&s](const MetricSnapshot&) { return Get(s.user_limit_refusals); }, Trip::kYes);
  t.Counter(
      "herald_grpc_commands_rate_limited_total",
      "Connect commands refused over [grpc] max_commands_per_second.",
      [&s](const MetricSnapshot&) { return Get(s.commands_rate_limited); }, Trip::kYes);
  t.Counter(
      "herald_grpc_rate_limit_ends_total",
      "Connect sessions ended for going on past the command rate limit.",
      [&s](const MetricSnapshot&) { return Get(s.rate_limit_ends); }, Trip::kYes);
  t.Counter("herald_grpc_publish_refused_total", "PublishStream messages refused.",
            [&s](const MetricSnapshot&) { return Get(s.publish_refused); });
  t.Counter("herald_grpc_publish_refusals_coalesced_total",
            "PublishStream refusals answered by an earlier StreamError of their run.",
            [&s](const MetricSnapshot&) { return Get(s.refusals_coalesced); });
  t.Counter(
      "herald_grpc_publish_stream_requests_cut_total",
      "PublishStream requests not published past [grpc] max_refusals_per_request.",
      [&s](const MetricSnapshot&) { return Get(s.requests_cut); }, Trip::kYes);
  t.Gauge("herald_grpc_publish_stream_answers_queued",
          "PublishStream answers waiting to be written, over every stream.",
          [&s](const MetricSnapshot&) { return Get(s.answers_queued); });
}

}  // namespace herald::server
