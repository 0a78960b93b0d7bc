// Counters of the WebSocket front, shared by every worker (relaxed atomics),
// rendered into /metrics by the server.
#pragma once

#include <atomic>
#include <cstdint>

namespace herald::ws {

struct WsStats {
  std::atomic<int64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> handshake_rejects{0};
  std::atomic<uint64_t> messages_in{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> frames_out{0};
  std::atomic<uint64_t> protocol_errors{0};  // we closed with 1002/1003/1007/1008/1009
  // Of those, at a limit: max_message_bytes (1009) or max_empty_fragments (1008).
  std::atomic<uint64_t> limit_closes{0};
  std::atomic<uint64_t> idle_timeouts{0};
  std::atomic<uint64_t> slow_consumer_closes{0};
  std::atomic<uint64_t> rate_limited{0};       // messages refused over the rate
  std::atomic<uint64_t> rate_limit_closes{0};  // connections closed (1008) for it

  static void Add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

}  // namespace herald::ws
