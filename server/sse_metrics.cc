#include "server/sse_metrics.h"

namespace herald::server {

void AddSseMetrics(const sse::SseStats& s, MetricTable& t) {
  t.Gauge("herald_sse_streams_open", "Open Server-Sent Events streams.",
          [&s](const MetricSnapshot&) { return Get(s.streams_open); });
  t.Counter("herald_sse_streams_total", "SSE streams opened.",
            [&s](const MetricSnapshot&) { return Get(s.streams_total); });
  t.Counter(
      "herald_sse_rejects_total", "SSE requests refused (4xx/5xx).",
      [&s](const MetricSnapshot&) { return Get(s.rejects); }, Trip::kYes);
  t.Counter("herald_sse_events_total", "Message events queued to SSE clients.",
            [&s](const MetricSnapshot&) { return Get(s.events_sent); });
  t.Counter("herald_sse_gaps_total", "Gap events queued to SSE clients.",
            [&s](const MetricSnapshot&) { return Get(s.gaps_sent); });
  t.Counter("herald_sse_heartbeats_total", "Heartbeat comments sent on idle SSE streams.",
            [&s](const MetricSnapshot&) { return Get(s.heartbeats_sent); });
  t.Counter(
      "herald_sse_slow_consumer_closes_total", "SSE streams closed because they could not keep up.",
      [&s](const MetricSnapshot&) { return Get(s.slow_consumer_closes); }, Trip::kYes);
  t.Counter("herald_sse_id_hashes_resolved_total",
            "Topics a Last-Event-ID named by hash, resumed at once from the node's names.",
            [&s](const MetricSnapshot&) { return Get(s.id_hashes_resolved); });
  t.Counter("herald_sse_id_hashes_resolved_live_total",
            "Topics a Last-Event-ID named by hash, named later by the topic's next message.",
            [&s](const MetricSnapshot&) { return Get(s.id_hashes_resolved_live); });
  t.Counter("herald_sse_resumes_incomplete_total",
            "SSE resumes from an id that left topics out (announced with a gap event).",
            [&s](const MetricSnapshot&) { return Get(s.resumes_incomplete); });
  t.Gauge("herald_sse_id_topic_names", "Long topic names remembered for SSE event ids.",
          [&s](const MetricSnapshot&) { return Get(s.id_topic_names); });
}

}  // namespace herald::server
