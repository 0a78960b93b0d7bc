// frontends/sse/sse_options.h — limits and timings of the SSE front, and the
// counters it keeps for /metrics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <memory>
#include <string>
#include <vector>

#include "auth/jwt_verifier.h"
#include "herald/outbound_guard.h"

namespace herald::sse {

struct SseOptions {
  // A comment line is sent on a stream that had nothing else to send for
  // this long, so proxies keep it open and a dead client is noticed.
  uint64_t heartbeat_ms = 15'000;
  // The `retry:` hint: how long the browser waits before reconnecting.
  uint64_t retry_ms = 2'000;
  // Null: no authentication. Otherwise a stream needs a valid token (or
  // allowed anonymous access) and a subscribe grant for each topic, and
  // ends when the token expires.
  std::shared_ptr<const auth::JwtVerifier> verifier;
  // Exact Origin values a browser page may open a stream from (403 for any
  // other); empty: any. Requests without Origin (non-browsers) pass.
  std::vector<std::string> allowed_origins;
  // `topic` parameters one stream may have.
  size_t max_topics = 16;
  // Topic positions an event id carries (and the stream remembers); a
  // wildcard stream over more topics forgets the least recent ones. Bounds
  // an id's size (MaxEventIdBytes: about 62 bytes a topic).
  size_t max_id_topics = 32;
  // Long topic names the node remembers by the hash its ids name them by,
  // so a reconnect resumes them from history at once (topic_names.h).
  size_t id_topic_names = 16384;
  // Slow consumers. Disconnecting is the default for SSE: the browser
  // reconnects by itself with Last-Event-ID and resumes from history.
  OutboundLimits outbound{.max_bytes = 4u << 20, .policy = SlowConsumerPolicy::kDisconnect};
};

// Relaxed atomics: statistics, not synchronisation.
struct SseStats {
  std::atomic<int64_t> streams_open{0};
  std::atomic<uint64_t> streams_total{0};
  std::atomic<uint64_t> events_sent{0};
  std::atomic<uint64_t> gaps_sent{0};
  std::atomic<uint64_t> heartbeats_sent{0};
  std::atomic<uint64_t> slow_consumer_closes{0};
  std::atomic<uint64_t> rejects{0};  // streams refused with a 4xx/5xx
  // Topics a Last-Event-ID named by hash: resolved at once from the node's
  // names, or later, when the topic's next message showed its name.
  std::atomic<uint64_t> id_hashes_resolved{0};
  std::atomic<uint64_t> id_hashes_resolved_live{0};
  // Resumes from an id that left topics out ("!"), announced to the client.
  std::atomic<uint64_t> resumes_incomplete{0};
  std::atomic<int64_t> id_topic_names{0};  // names remembered (a gauge)

  static void Add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

}  // namespace herald::sse
