#include "server/http_metrics.h"

#include <string>

namespace herald::server {

void AddHttpMetrics(const http::HttpStats& s, MetricTable& t) {
  t.Gauge("herald_http_connections_open", "Open HTTP connections (including upgraded ones).",
          [&s](const MetricSnapshot&) { return Get(s.connections_open); });
  t.Counter("herald_http_connections_total", "HTTP connections accepted.",
            [&s](const MetricSnapshot&) { return Get(s.connections_total); });
  t.Counter("herald_http_requests_total", "HTTP requests parsed.",
            [&s](const MetricSnapshot&) { return Get(s.requests_total); });
  t.Counter("herald_http_upgrades_total", "Connections upgraded to another protocol.",
            [&s](const MetricSnapshot&) { return Get(s.upgrades_total); });
  t.Counter("herald_connections_output_paused_total",
            "Times a connection (HTTP, SSE or WebSocket) stopped reading because it owed too "
            "much output (http max_output_backlog_bytes, websocket max_outbound_bytes).",
            [&s](const MetricSnapshot&) { return Get(s.output_gate->pauses_total); });
  t.Counter("herald_http_pipeline_pauses_total",
            "Times an HTTP connection stopped reading at max_pipelined_requests.",
            [&s](const MetricSnapshot&) { return Get(s.pipeline_pauses); });
  t.Counter("herald_http_held_output_pauses_total",
            "Times an HTTP connection stopped reading because the answers it produced for "
            "pipelined requests, not yet sent, passed max_output_backlog_bytes.",
            [&s](const MetricSnapshot&) { return Get(s.held_output_pauses); });
  t.Gauge("herald_connections_output_paused",
          "Connections not reading right now because they owe too much output.",
          [&s](const MetricSnapshot&) { return Get(s.output_gate->paused); });
  t.Family("herald_http_responses_total", "counter", "HTTP responses by status class.",
           [&s](const MetricSnapshot&, std::vector<MetricSample>& out) {
             for (size_t i = 0; i < s.responses_by_class.size(); ++i) {
               out.push_back({"", "code=\"" + std::to_string(i + 1) + "xx\"",
                              static_cast<double>(Get(s.responses_by_class[i]))});
             }
           });
  t.Family(
      "herald_http_rejects_total", "counter",
      "Requests or connections refused by a limit, by reason.",
      [&s](const MetricSnapshot&, std::vector<MetricSample>& out) {
        for (size_t i = 0; i < http::kRejectReasonCount; ++i) {
          const auto reason = http::RejectReasonName(static_cast<http::RejectReason>(i));
          out.push_back({"", "reason=\"" + std::string(reason) + "\"",
                         static_cast<double>(Get(s.rejects[i]))});
        }
      },
      Trip::kYes);
}

}  // namespace herald::server
