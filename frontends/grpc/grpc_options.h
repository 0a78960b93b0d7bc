// frontends/grpc/grpc_options.h — settings of the gRPC front (heraldd [grpc]).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "auth/jwt_verifier.h"
#include "herald/outbound_guard.h"

namespace herald::grpcfront {

// Refusals of the gRPC front, for /metrics (and the limit log).
struct GrpcStats {
  std::atomic<uint64_t> unauthenticated{0};        // calls without a valid token
  std::atomic<uint64_t> permission_denied{0};      // calls, messages or commands outside the grants
  std::atomic<uint64_t> user_limit_refusals{0};    // streams past max_connections_per_user
  std::atomic<uint64_t> commands_rate_limited{0};  // Connect commands over the rate
  std::atomic<uint64_t> rate_limit_ends{0};        // Connect sessions ended for it
  // PublishStream: messages refused, refusals folded into an earlier
  // StreamError of the same run, requests cut at max_refusals_per_request,
  // and the answers queued on every stream now (a gauge).
  std::atomic<uint64_t> publish_refused{0};
  std::atomic<uint64_t> refusals_coalesced{0};
  std::atomic<uint64_t> requests_cut{0};
  std::atomic<int64_t> answers_queued{0};
  static void Add(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

struct GrpcOptions {
  std::string listen;                                        // HOST:PORT; port 0 picks one
  size_t max_message_bytes = 4u << 20;                       // a received or sent gRPC message
  std::chrono::milliseconds keepalive_time{20'000};          // server pings an idle connection
  std::chrono::milliseconds keepalive_timeout{10'000};       // …and drops it without an answer
  std::chrono::milliseconds default_request_timeout{5'000};  // Request without a deadline
  // A Subscribe stream's queued messages beyond what gRPC took: the
  // slow-consumer policy applies past it.
  OutboundLimits outbound{.max_bytes = 16u << 20, .policy = SlowConsumerPolicy::kDropWithGap};
  // PublishStream: a BatchAck every this many messages; reading pauses while
  // this many answers wait to be written (flow control).
  uint32_t ack_every = 1024;
  size_t max_pending_answers = 256;
  // PublishStream: refusals in one request are coalesced into runs (one
  // StreamError per run of neighbours refused alike); past this many runs
  // the rest of the request is not published and one error says so. With
  // reading paused at max_pending_answers, a stream queues at most about
  // max_pending_answers + max_refusals_per_request answers.
  uint32_t max_refusals_per_request = 64;
  // Calls open at once on one client connection (HTTP/2
  // SETTINGS_MAX_CONCURRENT_STREAMS); more wait for one to end.
  uint32_t max_concurrent_streams = 100;
  // Commands one Connect session may send per second (a token bucket of
  // `command_burst`): past it each is refused (RESOURCE_EXHAUSTED
  // rate_limited) and a session that goes on past `command_burst` refusals
  // in a row is ended. 0: no limit.
  double max_commands_per_second = 0;
  // Shared by every copy of these options: the front's counters.
  std::shared_ptr<GrpcStats> stats = std::make_shared<GrpcStats>();
  uint32_t command_burst = 100;
  // Null: no authentication. Otherwise each call presents its token as
  // `authorization: Bearer <token>` metadata (or is anonymous, if allowed):
  // UNAUTHENTICATED without one, PERMISSION_DENIED outside its grants.
  std::shared_ptr<const auth::JwtVerifier> verifier;
};

}  // namespace herald::grpcfront
