#include "frontends/session/hook_gate.h"

#include <chrono>

#include "herald/topic.h"

namespace herald::session {
namespace {

constexpr size_t kMaxDenyMessage = 256;

Status Unavailable() { return {ErrorCode::kUnavailable, "hook backend unavailable"}; }

// A denial's code, as the backend named it; anything else is a failure.
std::optional<ErrorCode> DenyCode(std::string_view code) {
  if (code.empty() || code == "permission_denied") return ErrorCode::kPermissionDenied;
  if (code == "unauthenticated") return ErrorCode::kUnauthenticated;
  if (code == "invalid_argument") return ErrorCode::kInvalidArgument;
  if (code == "rate_limited") return ErrorCode::kRateLimited;
  if (code == "resource_exhausted") return ErrorCode::kResourceExhausted;
  return std::nullopt;
}

Status ValidPatterns(const std::vector<std::string>& patterns, const TopicLimits& limits) {
  for (const std::string& p : patterns) {
    if (Status s = ValidatePattern(p, limits); !s.ok()) {
      return Status(ErrorCode::kInvalidArgument, "grant '" + p + "': " + s.message());
    }
  }
  return Status::Ok();
}

// Whether some topic matches both patterns, token by token.
bool PatternsOverlap(std::string_view a, std::string_view b) {
  for (;;) {
    const size_t da = a.find('.'), db = b.find('.');
    const std::string_view ta = a.substr(0, da), tb = b.substr(0, db);
    if (ta == ">" || tb == ">") return true;
    if (ta != "*" && tb != "*" && ta != tb) return false;
    if (da == std::string_view::npos || db == std::string_view::npos) {
      return da == std::string_view::npos && db == std::string_view::npos;
    }
    a.remove_prefix(da + 1);
    b.remove_prefix(db + 1);
  }
}

}  // namespace

HookGate::HookGate(HookOptions options, size_t max_info_bytes)
    : options_(std::move(options)), max_info_bytes_(max_info_bytes) {}

const HookPolicy& HookGate::PolicyOf(HookEvent event) const {
  switch (event) {
    case HookEvent::kConnect:
      return options_.connect;
    case HookEvent::kSubscribe:
      return options_.subscribe;
    case HookEvent::kPublish:
      return options_.publish;
    case HookEvent::kRefresh:
      return options_.refresh;
  }
  return options_.connect;
}

bool HookGate::Applies(HookEvent event, std::string_view topic) const {
  const HookPolicy& p = PolicyOf(event);
  if (!options_.hooks || !p.enabled) return false;
  if (p.patterns.empty() || topic.empty()) return true;
  for (const std::string& pattern : p.patterns) {
    // A subscription asks when the hook's pattern could match any topic it
    // covers in part: a wider subscription than the pattern still reaches it.
    if (event == HookEvent::kSubscribe ? PatternsOverlap(pattern, topic)
                                       : PatternMatches(pattern, topic)) {
      return true;
    }
  }
  return false;
}

Status HookGate::Checked(HookEvent event, HookDecision& d, size_t max_info_bytes) {
  static const TopicLimits kLimits;
  if (d.user && (d.user->empty() || d.user->size() > 256)) {
    return Status(ErrorCode::kInvalidArgument, "user must be 1 to 256 bytes");
  }
  if (d.info) {
    Result<std::string> info = auth::ClientInfo(*d.info, max_info_bytes);
    if (!info.ok()) return info.status();
    d.info = std::move(*info);
  }
  if (d.grants) {
    for (const auto* list : {&d.grants->publish, &d.grants->subscribe, &d.grants->admin}) {
      if (Status s = ValidPatterns(*list, kLimits); !s.ok()) return s;
    }
  }
  if (d.data && event != HookEvent::kPublish) {
    return Status(ErrorCode::kInvalidArgument, "data may be replaced only on publish");
  }
  if ((d.user || d.info || d.grants) && event != HookEvent::kConnect) {
    return Status(ErrorCode::kInvalidArgument, "user, info and grants are set only on connect");
  }
  return Status::Ok();
}

void HookGate::Ask(HookRequest request, std::function<void(Result<HookDecision>)> done) const {
  const HookEvent event = request.event;
  const HookPolicy& policy = PolicyOf(event);
  HookStats::PerEvent& counts = stats_->events[static_cast<size_t>(event)];
  auto failed = [&counts, allow = policy.allow_on_failure](
                    const std::function<void(Result<HookDecision>)>& done) {
    (allow ? counts.failed_allowed : counts.failed_denied).fetch_add(1, std::memory_order_relaxed);
    if (!allow) return done(Unavailable());
    HookDecision pass;
    pass.allow = true;
    done(std::move(pass));
  };
  if (stats_->in_flight.fetch_add(1, std::memory_order_relaxed) >= options_.max_in_flight) {
    stats_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    counts.overloaded.fetch_add(1, std::memory_order_relaxed);
    return failed(done);
  }
  counts.calls.fetch_add(1, std::memory_order_relaxed);
  request.timeout = policy.timeout;
  const auto started = std::chrono::steady_clock::now();
  options_.hooks->Call(
      // Not the gate: a call in flight must not keep the transport (which
      // holds the call) alive; the counters are shared on their own.
      std::move(request), [max_info = max_info_bytes_, stats = stats_, &counts, event, started,
                           failed, done = std::move(done)](Result<HookDecision> answer) {
        stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
        counts.latency_us_sum.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count(),
                                        std::memory_order_relaxed);
        if (!answer.ok() || !Checked(event, *answer, max_info).ok()) return failed(done);
        if (!answer->allow) {
          std::optional<ErrorCode> code = DenyCode(answer->code);
          if (!code) return failed(done);
          counts.denied.fetch_add(1, std::memory_order_relaxed);
          std::string message =
              answer->message.empty() ? "denied by the hook backend" : std::move(answer->message);
          if (message.size() > kMaxDenyMessage) message.resize(kMaxDenyMessage);
          return done(Status(*code, std::move(message)));
        }
        counts.allowed.fetch_add(1, std::memory_order_relaxed);
        done(std::move(answer));
      });
}

auth::Identity HookGate::Apply(const auth::Identity& who, const HookDecision& d) {
  auth::Identity next = who;
  next.hook_set = {d.user.has_value(), d.info.has_value(), d.grants.has_value(), d.expires_at != 0};
  if (next.hook_set.any()) {
    next.token_subject = who.subject;
    next.token_anonymous = who.anonymous;
  }
  if (d.user) {
    next.subject = *d.user;
    next.anonymous = false;
  }
  if (d.info) next.info = *d.info;
  if (d.grants) {
    next.grants.publish = d.grants->publish;
    next.grants.subscribe = d.grants->subscribe;
    next.grants.queues = d.grants->queues;
    next.grants.admin = d.grants->admin;
    next.grants.all = false;
  }
  if (d.expires_at != 0) next.expires_at_s = d.expires_at;
  return next;
}

}  // namespace herald::session
