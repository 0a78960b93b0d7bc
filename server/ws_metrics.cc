#include "server/ws_metrics.h"

namespace herald::server {

void AddWsMetrics(const ws::WsStats& s, MetricTable& t) {
  t.Gauge("herald_ws_connections_open", "Open WebSocket connections.",
          [&s](const MetricSnapshot&) { return Get(s.connections_open); });
  t.Counter("herald_ws_connections_total", "WebSocket connections upgraded.",
            [&s](const MetricSnapshot&) { return Get(s.connections_total); });
  t.Counter(
      "herald_ws_handshake_rejects_total", "WebSocket handshakes refused (4xx).",
      [&s](const MetricSnapshot&) { return Get(s.handshake_rejects); }, Trip::kYes);
  t.Counter(
      "herald_ws_rate_limited_total",
      "WebSocket messages refused for the per-connection rate limit.",
      [&s](const MetricSnapshot&) { return Get(s.rate_limited); }, Trip::kYes);
  t.Counter(
      "herald_ws_rate_limit_closes_total",
      "WebSocket connections closed (1008) for going on past the rate limit.",
      [&s](const MetricSnapshot&) { return Get(s.rate_limit_closes); }, Trip::kYes);
  t.Counter("herald_ws_messages_in_total", "WebSocket messages received from clients.",
            [&s](const MetricSnapshot&) { return Get(s.messages_in); });
  t.Counter("herald_ws_bytes_in_total", "WebSocket message bytes received from clients.",
            [&s](const MetricSnapshot&) { return Get(s.bytes_in); });
  t.Counter("herald_ws_frames_out_total", "WebSocket frames queued to clients.",
            [&s](const MetricSnapshot&) { return Get(s.frames_out); });
  t.Counter("herald_ws_protocol_errors_total",
            "Connections closed for a protocol violation (1002, 1003, 1007, 1008, 1009).",
            [&s](const MetricSnapshot&) { return Get(s.protocol_errors); });
  t.Counter(
      "herald_ws_limit_closes_total",
      "Of those, closed at a limit: max_message_bytes (1009) or max_empty_fragments (1008).",
      [&s](const MetricSnapshot&) { return Get(s.limit_closes); }, Trip::kYes);
  t.Counter(
      "herald_ws_idle_timeouts_total", "Connections closed after the idle timeout.",
      [&s](const MetricSnapshot&) { return Get(s.idle_timeouts); }, Trip::kYes);
  t.Counter(
      "herald_ws_slow_consumer_closes_total", "Connections closed because they could not keep up.",
      [&s](const MetricSnapshot&) { return Get(s.slow_consumer_closes); }, Trip::kYes);
}

}  // namespace herald::server
