#include "server/ws_metrics.h"

namespace herald::server {

void WriteWsMetrics(const ws::WsStats& s, PrometheusWriter& w) {
  auto get = [](const auto& a) { return static_cast<uint64_t>(a.load(std::memory_order_relaxed)); };
  const int64_t open = s.connections_open.load(std::memory_order_relaxed);
  w.Gauge("herald_ws_connections_open", "Open WebSocket connections.",
          static_cast<uint64_t>(open < 0 ? 0 : open));
  w.Counter("herald_ws_connections_total", "WebSocket connections upgraded.",
            get(s.connections_total));
  w.Counter("herald_ws_handshake_rejects_total", "WebSocket handshakes refused (4xx).",
            get(s.handshake_rejects));
  w.Counter("herald_ws_rate_limited_total",
            "WebSocket messages refused for the per-connection rate limit.", get(s.rate_limited));
  w.Counter("herald_ws_rate_limit_closes_total",
            "WebSocket connections closed (1008) for going on past the rate limit.",
            get(s.rate_limit_closes));
  w.Counter("herald_ws_messages_in_total", "WebSocket messages received from clients.",
            get(s.messages_in));
  w.Counter("herald_ws_bytes_in_total", "WebSocket message bytes received from clients.",
            get(s.bytes_in));
  w.Counter("herald_ws_frames_out_total", "WebSocket frames queued to clients.", get(s.frames_out));
  w.Counter("herald_ws_protocol_errors_total",
            "Connections closed for a protocol violation (1002, 1003, 1007, 1009).",
            get(s.protocol_errors));
  w.Counter("herald_ws_idle_timeouts_total", "Connections closed after the idle timeout.",
            get(s.idle_timeouts));
  w.Counter("herald_ws_slow_consumer_closes_total",
            "Connections closed because they could not keep up.", get(s.slow_consumer_closes));
}

}  // namespace herald::server
