#include "server/sse_metrics.h"

namespace herald::server {

void WriteSseMetrics(const sse::SseStats& s, PrometheusWriter& w) {
  auto get = [](const auto& a) { return static_cast<uint64_t>(a.load(std::memory_order_relaxed)); };
  const int64_t open = s.streams_open.load(std::memory_order_relaxed);
  w.Gauge("herald_sse_streams_open", "Open Server-Sent Events streams.",
          static_cast<uint64_t>(open < 0 ? 0 : open));
  w.Counter("herald_sse_streams_total", "SSE streams opened.", get(s.streams_total));
  w.Counter("herald_sse_rejects_total", "SSE requests refused (4xx/5xx).", get(s.rejects));
  w.Counter("herald_sse_events_total", "Message events queued to SSE clients.", get(s.events_sent));
  w.Counter("herald_sse_gaps_total", "Gap events queued to SSE clients.", get(s.gaps_sent));
  w.Counter("herald_sse_heartbeats_total", "Heartbeat comments sent on idle SSE streams.",
            get(s.heartbeats_sent));
  w.Counter("herald_sse_slow_consumer_closes_total",
            "SSE streams closed because they could not keep up.", get(s.slow_consumer_closes));
  w.Counter("herald_sse_id_hashes_resolved_total",
            "Topics a Last-Event-ID named by hash, resumed at once from the node's names.",
            get(s.id_hashes_resolved));
  w.Counter("herald_sse_id_hashes_resolved_live_total",
            "Topics a Last-Event-ID named by hash, named later by the topic's next message.",
            get(s.id_hashes_resolved_live));
  w.Counter("herald_sse_resumes_incomplete_total",
            "SSE resumes from an id that left topics out (announced with a gap event).",
            get(s.resumes_incomplete));
  w.Gauge("herald_sse_id_topic_names", "Long topic names remembered for SSE event ids.",
          get(s.id_topic_names));
}

}  // namespace herald::server
