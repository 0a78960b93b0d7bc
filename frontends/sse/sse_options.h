// frontends/sse/sse_options.h — limits and timings of the SSE front, and the
// counters it keeps for /metrics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <memory>

#include "auth/jwt_verifier.h"
#include "frontends/session/hook_gate.h"
#include "herald/front_limits.h"

namespace herald::sse {

// The limits are herald::SseLimits, declared once in herald/front_limits.h;
// this adds what the server wires in at run time.
struct SseOptions : SseLimits {
  SseOptions() = default;
  // Implicit: the public limits are a whole set of options.
  SseOptions(const SseLimits& limits) : SseLimits(limits) {}
  // Null: no authentication. Otherwise a stream needs a valid token (or
  // allowed anonymous access) and a subscribe grant for each topic, and
  // ends when the token expires.
  std::shared_ptr<const auth::JwtVerifier> verifier;
  // The backend's hooks (null: none), shared by every front.
  std::shared_ptr<const session::HookGate> hooks;
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
