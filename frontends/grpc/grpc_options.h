// frontends/grpc/grpc_options.h — settings of the gRPC front (heraldd [grpc]).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "auth/jwt_verifier.h"
#include "frontends/session/hook_gate.h"
#include "herald/front_limits.h"

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

// The limits are herald::GrpcLimits, declared once in herald/front_limits.h;
// this adds a knob that is not a setting of heraldd and what the server
// wires in at run time.
struct GrpcOptions : GrpcLimits {
  GrpcOptions() = default;
  // Implicit: the public limits are a whole set of options.
  GrpcOptions(const GrpcLimits& limits) : GrpcLimits(limits) {}
  // PublishStream: reading pauses while this many answers wait to be
  // written (flow control). With max_refusals_per_request, a stream queues
  // at most about max_pending_answers + max_refusals_per_request answers.
  size_t max_pending_answers = 256;
  // gRPC over TLS on a second address (HOST:PORT; empty: none), beside or
  // instead of `listen`, with these PEMs (heraldd's [tls] certificate;
  // with a client CA, clients must present a certificate it signed).
  std::string tls_listen;
  std::string tls_cert_pem, tls_key_pem, tls_client_ca_pem;
  // Shared by every copy of these options: the front's counters.
  std::shared_ptr<GrpcStats> stats = std::make_shared<GrpcStats>();
  // Null: no authentication. Otherwise each call presents its token as
  // `authorization: Bearer <token>` metadata (or is anonymous, if allowed):
  // UNAUTHENTICATED without one, PERMISSION_DENIED outside its grants.
  std::shared_ptr<const auth::JwtVerifier> verifier;
  // The backend's hooks (null: none), shared by every front.
  std::shared_ptr<const session::HookGate> hooks;
};

}  // namespace herald::grpcfront
