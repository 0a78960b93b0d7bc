// The broker's live counters: atomics bumped on the hot path (relaxed; they
// are statistics, not synchronisation) and read into a BrokerStats snapshot.
// Per-topic figures (messages and bytes in, history size) live in each
// TopicState under its lock instead, so a publish pays no extra atomics for
// them (TopicTable::Sum adds them up, forgotten topics included).
#pragma once

#include <atomic>
#include <cstdint>

#include "herald/broker_stats.h"

namespace herald {

struct BrokerCounters {
  using Counter = std::atomic<uint64_t>;
  Counter replies_in{0}, reply_bytes_in{0};
  Counter deliveries{0}, delivery_bytes{0}, dropped{0};
  Counter inbox_dropped{0};  // of dropped: a worker's inbox held max_inbox_pending
  Counter slow_consumer_disconnects{0}, publish_errors{0};
  std::array<Counter, kErrorCodeCount> publish_errors_by_code{};  // publish_errors by why
  Counter requests{0}, request_timeouts{0}, request_no_responders{0}, late_replies{0};
  Counter requests_cancelled{0}, requests_refused{0}, replies_refused{0};
  Counter history_evictions{0}, topics_expired{0};
  Counter duplicates{0}, dedup_evictions{0}, dedup_bytes{0};
  Counter shared_loads{0}, shared_catchups{0}, shared_gaps{0}, shared_lost{0}, shared_resumes{0};
  Counter held_publish_bytes{0};  // gauge: publishes waiting for a shared store's load
  Counter subscriptions{0}, peer_subscriptions{0}, history_bytes{0};
  Counter subscriptions_refused{0};    // max_subscriptions_per_connection
  Counter reply_inboxes_forgotten{0};  // max_reply_inboxes_per_connection
  // The server API (broker_admin.cc).
  Counter admin_calls{0}, admin_denied{0}, admin_disconnects{0}, revoked_refusals{0};
  Counter revocations_refused{0};
  std::array<Counter, kLatencyBucketsUs.size() + 1> latency_buckets{};
  Counter latency_sum_us{0}, latency_count{0};

  static void Add(Counter& c, uint64_t n) { c.fetch_add(n, std::memory_order_relaxed); }
  static void Sub(Counter& c, uint64_t n) { c.fetch_sub(n, std::memory_order_relaxed); }

  // A publish refused (or lost by the store), counted in all and by its code.
  void PublishError(ErrorCode code) {
    const auto i = static_cast<size_t>(code);
    if (code == ErrorCode::kOk || i >= kErrorCodeCount) return;  // not a refusal
    Add(publish_errors, 1);
    Add(publish_errors_by_code[i], 1);
  }

  void RecordRequestLatency(uint64_t us) {
    size_t b = 0;
    while (b < kLatencyBucketsUs.size() && us > kLatencyBucketsUs[b]) ++b;
    Add(latency_buckets[b], 1);
    Add(latency_sum_us, us);
    Add(latency_count, 1);
  }
};

}  // namespace herald
