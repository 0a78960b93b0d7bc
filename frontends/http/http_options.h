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

#include "herald/http_limits.h"
#include "io/output_gate.h"

namespace herald::http {

// The HTTP front's settings: the public limits, declared once in
// herald/http_limits.h (heraldd's [http] section), plus a knob that is not a
// setting of heraldd.
struct HttpOptions : HttpLimits {
  HttpOptions() = default;
  // Implicit: the public limits are a whole set of options.
  HttpOptions(const HttpLimits& limits) : HttpLimits(limits) {}
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
  // Connections that stopped reading at max_pipelined_requests, and for
  // output produced for later pipelined requests over
  // max_output_backlog_bytes (before it reaches the socket's queue, whose
  // own pauses the output gate counts).
  std::atomic<uint64_t> pipeline_pauses{0};
  std::atomic<uint64_t> held_output_pauses{0};
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
