// frontends/http/http_options.h — limits and timeouts of the HTTP front, and
// the counters it keeps for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/output_gate.h"

namespace herald::http {

struct HttpOptions {
  // Request line plus header lines; over it → 431.
  size_t max_header_bytes = 16 * 1024;
  // The request-target (path and query); over it → 414.
  size_t max_target_bytes = 8 * 1024;
  // Decoded request body; over it → 413 (refused from Content-Length alone
  // when it is declared).
  size_t max_body_bytes = 1024 * 1024;
  // Slow-loris guard: the whole head of each request must arrive within
  // this, counted from its first byte; else 408 and close.
  uint64_t header_timeout_ms = 10'000;
  // A keep-alive connection with no request in progress is closed after this.
  uint64_t idle_timeout_ms = 60'000;
  // A request body must arrive whole within this, from the end of its head:
  // a body trickled a byte at a time cannot hold a connection for ever.
  uint64_t body_timeout_ms = 30'000;
  // Requests one connection may send per second (a token bucket of
  // `request_burst`): past it each is answered 429, and a connection that
  // goes on past `request_burst` refusals in a row is closed after the
  // last. 0: no limit.
  double max_requests_per_second = 0;
  uint32_t request_burst = 100;
  // Open HTTP connections across all workers; one more is accepted, answered
  // 503 and closed.
  size_t max_connections = 10'000;
  // Connections one peer address may hold at once (HTTP, WebSocket and SSE
  // alike, for their whole life); one more is answered 503 and closed.
  // 0: no per-address limit.
  size_t max_connections_per_ip = 0;
  // Connections of one address that have not yet sent a whole first request
  // head (slow-loris): one more is answered 503 and closed. 0: no limit.
  size_t max_pending_heads_per_ip = 0;
  // Requests parsed but not yet answered on one connection; at the limit the
  // connection stops reading until a response goes out.
  size_t max_pipelined_requests = 64;
  // Output a connection may owe (queued for its socket, or produced for a
  // later pipelined request) before it stops reading and answering further
  // requests; it resumes once that has drained to half. Bounds what a client
  // that sends requests and never reads can make the server hold. 0: no limit.
  size_t max_output_backlog_bytes = 4u << 20;
  // CORS: exact Origin values that may read responses from other sites
  // ("*" allows any). A response to a request from one of them carries
  // Access-Control-Allow-Origin with that origin; an OPTIONS preflight from
  // one of them gets 204 with the route's methods; from anyone else, 403.
  // Empty: no CORS headers at all (same-origin only).
  std::vector<std::string> cors_origins;
  // HttpServer::Stop() gives in-flight responses this long before cutting.
  uint64_t shutdown_grace_ms = 5'000;
};

// Why a request or connection was refused; indexes HttpStats::rejects.
enum class RejectReason {
  kHeaderTooLarge,
  kBodyTooLarge,
  kBadRequest,
  kHeaderTimeout,
  kIdleTimeout,
  kMaxConnections,
  kMaxConnectionsPerIp,
  kPendingHeadsPerIp,
  kRateLimited,
};
inline constexpr size_t kRejectReasonCount = 9;
std::string_view RejectReasonName(RejectReason r);

// Counters shared by every worker (relaxed atomics: they are statistics, not
// synchronisation).
struct HttpStats {
  std::atomic<int64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> requests_total{0};
  std::atomic<uint64_t> upgrades_total{0};
  // Connections that stopped reading because they owed too much output
  // (HttpOptions::max_output_backlog_bytes, or an upgraded protocol's own
  // outbound limit): shared with every connection's io::OutputGate.
  std::shared_ptr<io::OutputGateStats> output_gate = std::make_shared<io::OutputGateStats>();
  // Index 0 → 1xx … 4 → 5xx.
  std::array<std::atomic<uint64_t>, 5> responses_by_class{};
  std::array<std::atomic<uint64_t>, kRejectReasonCount> rejects{};

  void CountResponse(int status) {
    if (status >= 100 && status < 600) {
      responses_by_class[static_cast<size_t>(status / 100 - 1)].fetch_add(
          1, std::memory_order_relaxed);
    }
  }
  void CountReject(RejectReason r) {
    rejects[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t reject_count(RejectReason r) const {
    return rejects[static_cast<size_t>(r)].load(std::memory_order_relaxed);
  }
};

}  // namespace herald::http
