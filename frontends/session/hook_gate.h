// HookGate: the node's rules for calling a backend's hooks (herald/hooks.h),
// written once for every front and both transports.
//
// Ask() calls the backend when the event's hook is on (and, for subscribe
// and publish, the topic matches its patterns) and turns what comes back
// into one answer:
//   - allowed: the decision, its values checked (user, info, grants,
//     data); an answer whose values break the rules counts as a failure;
//   - denied: the decision's code and message (cut to 256 bytes), as the
//     client will see them;
//   - failed (no answer in time, a transport error, a non-2xx, an answer
//     that does not parse, or max_in_flight calls already waiting): the
//     event's policy, either allowed unchanged or kUnavailable "hook
//     backend unavailable", so a client can tell an outage from a refusal.
// `done` runs exactly once: inline when no call is made, else on the
// transport's thread. Every outcome is counted (HookStats).
//
// Thread rule: const, any thread.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string_view>

#include "auth/jwt_verifier.h"
#include "herald/hooks.h"

namespace herald::session {

// Counters by event (index: HookEvent).
struct HookStats {
  struct PerEvent {
    std::atomic<uint64_t> calls{0};
    std::atomic<uint64_t> allowed{0};
    std::atomic<uint64_t> denied{0};
    std::atomic<uint64_t> failed_allowed{0};  // a failure, let through by the policy
    std::atomic<uint64_t> failed_denied{0};   // a failure, refused by the policy
    std::atomic<uint64_t> overloaded{0};      // past max_in_flight: the policy, no call
    std::atomic<uint64_t> latency_us_sum{0};
  };
  std::array<PerEvent, 4> events;
  std::atomic<uint64_t> in_flight{0};
};

class HookGate {
 public:
  // Calls in flight do not keep the gate: the transport (options.hooks)
  // must complete them, and the fronts' hops must tolerate their end, by
  // the time it is destroyed (HttpHooks and GrpcHooks fail what is left).
  HookGate(HookOptions options, size_t max_info_bytes);

  // Whether `event` calls out for this topic (empty: connect, refresh).
  bool Applies(HookEvent event, std::string_view topic = {}) const;
  void Ask(HookRequest request, std::function<void(Result<HookDecision>)> done) const;

  // A connect or refresh decision applied to who the client is: the user,
  // info, grants and expiry it sets replace the token's.
  static auth::Identity Apply(const auth::Identity& who, const HookDecision& decision);

  const HookOptions& options() const { return options_; }
  const HookStats& stats() const { return *stats_; }

 private:
  const HookPolicy& PolicyOf(HookEvent event) const;
  // The decision's values against the node's rules; its info minified.
  static Status Checked(HookEvent event, HookDecision& d, size_t max_info_bytes);

  const HookOptions options_;
  const size_t max_info_bytes_;
  const std::shared_ptr<HookStats> stats_ = std::make_shared<HookStats>();
};

}  // namespace herald::session
