#include "server/http_metrics.h"

#include <string>

namespace herald::server {

void WriteHttpMetrics(const http::HttpStats& s, PrometheusWriter& w) {
  auto get = [](const auto& a) { return static_cast<uint64_t>(a.load(std::memory_order_relaxed)); };
  const int64_t open = s.connections_open.load(std::memory_order_relaxed);
  w.Gauge("herald_http_connections_open", "Open HTTP connections (including upgraded ones).",
          static_cast<uint64_t>(open < 0 ? 0 : open));
  w.Counter("herald_http_connections_total", "HTTP connections accepted.",
            get(s.connections_total));
  w.Counter("herald_http_requests_total", "HTTP requests parsed.", get(s.requests_total));
  w.Counter("herald_http_upgrades_total", "Connections upgraded to another protocol.",
            get(s.upgrades_total));
  w.Counter("herald_connections_output_paused_total",
            "Times a connection (HTTP, SSE or WebSocket) stopped reading because it owed too "
            "much output (http max_output_backlog_bytes, websocket max_outbound_bytes).",
            get(s.output_gate->pauses_total));
  const int64_t paused = s.output_gate->paused.load(std::memory_order_relaxed);
  w.Gauge("herald_connections_output_paused",
          "Connections not reading right now because they owe too much output.",
          static_cast<uint64_t>(paused < 0 ? 0 : paused));
  w.Family("herald_http_responses_total", "counter", "HTTP responses by status class.");
  for (size_t i = 0; i < s.responses_by_class.size(); ++i) {
    const std::string label = "code=\"" + std::to_string(i + 1) + "xx\"";
    w.Sample("herald_http_responses_total", label, get(s.responses_by_class[i]));
  }
  w.Family("herald_http_rejects_total", "counter",
           "Requests or connections refused by a limit, by reason.");
  for (size_t i = 0; i < http::kRejectReasonCount; ++i) {
    const std::string label =
        "reason=\"" + std::string(http::RejectReasonName(static_cast<http::RejectReason>(i))) +
        "\"";
    w.Sample("herald_http_rejects_total", label, get(s.rejects[i]));
  }
}

}  // namespace herald::server
