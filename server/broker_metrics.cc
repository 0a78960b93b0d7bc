#include "server/broker_metrics.h"

#include <string>

namespace herald::server {

void WriteBrokerMetrics(const BrokerStats& s, PrometheusWriter& w) {
  w.Counter("herald_messages_in_total", "Messages published.", s.messages_in);
  w.Counter("herald_bytes_in_total", "Payload bytes published.", s.bytes_in);
  w.Counter("herald_messages_out_total", "Messages delivered to subscribers.", s.deliveries);
  w.Counter("herald_bytes_out_total", "Payload bytes delivered to subscribers.", s.delivery_bytes);
  w.Counter("herald_dropped_total",
            "Deliveries dropped for slow consumers (reported to them as gaps).", s.dropped);
  w.Counter("herald_slow_consumer_disconnects_total",
            "Connections closed because they could not keep up.", s.slow_consumer_disconnects);
  w.Counter("herald_publish_errors_total", "Publishes rejected (bad topic, size, limits).",
            s.publish_errors);
  w.Counter("herald_requests_total", "Requests sent (request/reply).", s.requests);
  w.Counter("herald_request_timeouts_total", "Requests that got no reply before the deadline.",
            s.request_timeouts);
  w.Counter("herald_request_no_responders_total", "Requests that matched no subscriber.",
            s.request_no_responders);
  w.Counter("herald_late_replies_total", "Replies that arrived after their request was answered.",
            s.late_replies);
  w.Counter("herald_requests_cancelled_total",
            "Requests abandoned because their connection or session ended.", s.requests_cancelled);
  w.Counter("herald_requests_refused_total",
            "Requests refused: max_pending_requests on the node or per session.",
            s.requests_refused);
  w.Counter("herald_replies_refused_total",
            "Replies refused: the session was never sent a request with that reply inbox.",
            s.replies_refused);
  w.Counter("herald_history_evictions_total",
            "History messages evicted early to respect the history memory limit.",
            s.history_evictions);
  w.Counter("herald_topics_expired_total", "Idle topics forgotten.", s.topics_expired);
  w.Counter("herald_topics_refused_total",
            "New topics refused at max_topics or max_topic_bytes (too_many_topics).",
            s.topics_refused);
  w.Gauge("herald_topics", "Topics known to this node.", s.topics);
  w.Gauge("herald_topic_bytes", "Memory held by topic state, history aside.", s.topic_bytes);
  w.Gauge("herald_subscriptions", "Active subscriptions of this node's clients.", s.subscriptions);
  w.Gauge("herald_peer_subscriptions",
          "Other cluster nodes' interest held here, one per (pattern, queue group).",
          s.peer_subscriptions);
  w.Gauge("herald_history_messages", "Messages retained in history.", s.history_messages);
  w.Gauge("herald_history_bytes", "Memory held by history: messages, their fields and overhead.",
          s.history_bytes);
  w.Gauge("herald_pending_requests", "Requests waiting for a reply.", s.pending_requests);

  const char* name = "herald_request_duration_seconds";
  w.Family(name, "histogram", "Time from request to first reply.");
  uint64_t cumulative = 0;
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < kLatencyBucketsUs.size(); ++i) {
    cumulative += s.request_latency_buckets[i];
    char le[32];
    std::snprintf(le, sizeof le, "le=\"%g\"", static_cast<double>(kLatencyBucketsUs[i]) / 1e6);
    w.Sample(bucket, le, cumulative);
  }
  cumulative += s.request_latency_buckets.back();
  w.Sample(bucket, "le=\"+Inf\"", cumulative);
  w.Sample(std::string(name) + "_sum", "", static_cast<double>(s.request_latency_sum_us) / 1e6);
  w.Sample(std::string(name) + "_count", "", s.request_latency_count);
}

}  // namespace herald::server
