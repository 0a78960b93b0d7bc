#include "frontends/session/hook_gate.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

namespace herald::session {
namespace {

// A backend answering from a script, at once or when told.
class ScriptedHooks : public Hooks {
 public:
  void Call(HookRequest request, std::function<void(Result<HookDecision>)> done) override {
    requests.push_back(request);
    if (held) {
      waiting.push_back(std::move(done));
      return;
    }
    done(answer);
  }
  Result<HookDecision> answer = Allowed();
  bool held = false;
  std::vector<HookRequest> requests;
  std::vector<std::function<void(Result<HookDecision>)>> waiting;

  static HookDecision Allowed() {
    HookDecision d;
    d.allow = true;
    return d;
  }
};

struct Fixture {
  std::shared_ptr<ScriptedHooks> backend = std::make_shared<ScriptedHooks>();
  std::shared_ptr<HookGate> gate;
  explicit Fixture(HookOptions o = {}) {
    o.hooks = backend;
    o.connect.enabled = o.subscribe.enabled = o.publish.enabled = true;
    gate = std::make_shared<HookGate>(std::move(o), 64);
  }
  // The answer if it came at once (a held call answers later, into its own
  // slot).
  std::optional<Result<HookDecision>> Ask(HookEvent e, std::string topic = {}) {
    auto out = std::make_shared<std::optional<Result<HookDecision>>>();
    HookRequest r;
    r.event = e;
    r.topic = std::move(topic);
    gate->Ask(r, [out](Result<HookDecision> d) { *out = std::move(d); });
    return *out;
  }
};

TEST(HookGate, ADenialCarriesTheBackendsCodeAndItsMessageCut) {
  Fixture f;
  HookDecision d;
  d.code = "rate_limited";
  d.message = std::string(300, 'x');
  f.backend->answer = d;
  auto got = f.Ask(HookEvent::kConnect);
  ASSERT_TRUE(got && !got->ok());
  EXPECT_EQ(got->status().code(), ErrorCode::kRateLimited);
  EXPECT_EQ(got->status().message().size(), 256u);
  EXPECT_EQ(f.gate->stats().events[0].denied.load(), 1u);
}

TEST(HookGate, FailuresFollowThePolicyAndAreCountedByIt) {
  for (bool allow : {false, true}) {
    HookOptions o;
    o.connect.allow_on_failure = allow;
    Fixture f(o);
    f.backend->answer = Status(ErrorCode::kUnavailable, "hook backend: connection refused");
    auto got = f.Ask(HookEvent::kConnect);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->ok(), allow);
    if (!allow) {
      EXPECT_EQ(got->status().message(), "hook backend unavailable");
    }
    const auto& c = f.gate->stats().events[0];
    EXPECT_EQ(c.failed_allowed.load(), allow ? 1u : 0u);
    EXPECT_EQ(c.failed_denied.load(), allow ? 0u : 1u);
  }
}

TEST(HookGate, AnAnswerThatBreaksTheRulesIsAFailureNotAnAllow) {
  Fixture f;
  HookDecision bad = ScriptedHooks::Allowed();
  bad.grants = HookGrants{{"a..b"}, {}, {}, {}};  // not a pattern
  f.backend->answer = bad;
  EXPECT_FALSE(f.Ask(HookEvent::kConnect)->ok());
  HookDecision data_on_connect = ScriptedHooks::Allowed();
  data_on_connect.data = "x";
  f.backend->answer = data_on_connect;
  EXPECT_FALSE(f.Ask(HookEvent::kConnect)->ok());
  HookDecision unknown_code;
  unknown_code.code = "teapot";
  f.backend->answer = unknown_code;
  EXPECT_EQ(f.Ask(HookEvent::kConnect)->status().message(), "hook backend unavailable");
  HookDecision info_not_object = ScriptedHooks::Allowed();
  info_not_object.info = "[1]";
  f.backend->answer = info_not_object;
  EXPECT_FALSE(f.Ask(HookEvent::kConnect)->ok());
  EXPECT_EQ(f.gate->stats().events[0].failed_denied.load(), 4u);
}

TEST(HookGate, PastMaxInFlightThePolicyAppliesWithoutACall) {
  HookOptions o;
  o.max_in_flight = 2;
  Fixture f(o);
  f.backend->held = true;
  f.Ask(HookEvent::kConnect);
  f.Ask(HookEvent::kConnect);
  auto third = f.Ask(HookEvent::kConnect);
  ASSERT_TRUE(third && !third->ok());
  EXPECT_EQ(f.backend->requests.size(), 2u);
  EXPECT_EQ(f.gate->stats().events[0].overloaded.load(), 1u);
  for (auto& done : f.backend->waiting) done(ScriptedHooks::Allowed());
  EXPECT_EQ(f.gate->stats().in_flight.load(), 0u);
  EXPECT_FALSE(f.Ask(HookEvent::kConnect).has_value());  // room again: a call, held
  f.backend->waiting.back()(ScriptedHooks::Allowed());
  EXPECT_EQ(f.gate->stats().in_flight.load(), 0u);
}

TEST(HookGate, TopicPatternsChooseWhichSubscribesAndPublishesCallOut) {
  HookOptions o;
  o.publish.patterns = {"chat.>"};
  o.subscribe.patterns = {"chat.*.private"};
  Fixture f(o);
  EXPECT_TRUE(f.gate->Applies(HookEvent::kPublish, "chat.a"));
  EXPECT_FALSE(f.gate->Applies(HookEvent::kPublish, "news.a"));
  EXPECT_TRUE(f.gate->Applies(HookEvent::kSubscribe, "chat.bob.private"));
  // A wider subscription reaches the hooked topics: it is asked too.
  EXPECT_TRUE(f.gate->Applies(HookEvent::kSubscribe, "chat.>"));
  EXPECT_TRUE(f.gate->Applies(HookEvent::kSubscribe, "*.*.private"));
  EXPECT_FALSE(f.gate->Applies(HookEvent::kSubscribe, "chat.bob.public"));
  EXPECT_FALSE(f.gate->Applies(HookEvent::kSubscribe, "chat.bob"));
  EXPECT_FALSE(f.gate->Applies(HookEvent::kRefresh));  // not enabled
}

TEST(HookGate, AConnectDecisionReplacesTheUserInfoGrantsAndExpiry) {
  auth::Identity token;
  token.subject = "bob";
  token.grants.subscribe = {"public.>"};
  token.expires_at_s = 100;
  HookDecision d = ScriptedHooks::Allowed();
  d.user = "robert";
  d.info = R"({"name":"Rob"})";
  d.grants = HookGrants{{"vip.>"}, {"vip.>"}, {}, {}};
  d.expires_at = 50;
  auth::Identity decided = HookGate::Apply(token, d);
  EXPECT_EQ(decided.subject, "robert");
  EXPECT_EQ(decided.info, R"({"name":"Rob"})");
  EXPECT_EQ(decided.grants.subscribe, std::vector<std::string>{"vip.>"});
  EXPECT_FALSE(decided.grants.MaySubscribe("public.x"));
  EXPECT_EQ(decided.expires_at_s, 50);
  // Nothing set: the token's identity as it was.
  auth::Identity same = HookGate::Apply(token, ScriptedHooks::Allowed());
  EXPECT_EQ(same.subject, "bob");
  EXPECT_TRUE(same.grants.MaySubscribe("public.x"));
}

}  // namespace
}  // namespace herald::session
