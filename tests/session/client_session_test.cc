#include "frontends/session/client_session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>

namespace herald::session {
namespace {

using namespace std::chrono_literals;

class NullSink final : public Sink {
 public:
  void OnDelivery(const Delivery&) override {}
};

class ClientSessionTest : public ::testing::Test {
 protected:
  ClientSessionTest() {
    BrokerOptions o;
    o.max_subscriptions_per_sink = 3;
    o.max_request_timeout = 1000ms;
    broker_ = std::make_unique<Broker>(o);
    ops_ = std::make_shared<Operations>(*broker_, Admission(o.topic_limits, nullptr));
    auto id = std::make_shared<auth::Identity>();
    id->grants.all = true;
    identity_ = id;
    inbox_ = broker_->CreateInbox([] {});
  }
  std::shared_ptr<Sink> NewSink() { return std::make_shared<NullSink>(); }
  std::unique_ptr<Broker> broker_;
  std::shared_ptr<Operations> ops_;
  IdentityPtr identity_;
  std::shared_ptr<Inbox> inbox_;
  ClientSession::Runner inline_ = [](std::function<void()> fn) { fn(); };
};

// A publish the session layer refuses (admission: a bad topic) never
// reaches the broker, and is counted for it by its code all the same.
TEST_F(ClientSessionTest, APublishRefusedAtAdmissionIsCountedByItsCode) {
  ClientSession s(ops_, identity_, inline_);
  Status got;
  s.Publish("a.*", "x", {}, [&](Result<PublishAck> a) { got = a.status(); }, false);
  EXPECT_EQ(got.code(), ErrorCode::kInvalidTopic);
  const BrokerStats stats = broker_->Stats();
  EXPECT_EQ(stats.publish_errors, 1u);
  // herald_publish_refused_total{code="invalid_topic"}
  EXPECT_EQ(stats.publish_errors_by_code[static_cast<size_t>(ErrorCode::kInvalidTopic)], 1u);
}

TEST_F(ClientSessionTest, SubscribingTwiceToOneKeyIsOneSubscription) {
  ClientSession s(ops_, identity_, inline_);
  Result<ClientSession::Subscribed> a = s.Subscribe("t.>", {}, NewSink(), inbox_);
  Result<ClientSession::Subscribed> b = s.Subscribe("t.>", {}, NewSink(), inbox_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, b->id);
  EXPECT_FALSE(a->again);
  EXPECT_TRUE(b->again);
  SubscribeOptions group;
  group.queue_group = "g";
  Result<ClientSession::Subscribed> c = s.Subscribe("t.>", group, NewSink(), inbox_);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->id, a->id);  // another key: (pattern, group)
  EXPECT_EQ(s.subscriptions(), 2u);
  EXPECT_EQ(broker_->Stats().subscriptions, 2u);
}

TEST_F(ClientSessionTest, TheSubscriptionBudgetIsPerSessionWhateverTheSinksAndCounted) {
  ClientSession s(ops_, identity_, inline_);
  for (const char* t : {"a", "b", "c"}) ASSERT_TRUE(s.Subscribe(t, {}, NewSink(), inbox_).ok());
  EXPECT_EQ(s.Subscribe("d", {}, NewSink(), inbox_).status().code(),
            ErrorCode::kTooManySubscriptions);
  EXPECT_EQ(broker_->Stats().subscriptions_refused, 1u);      // herald_subscriptions_refused_total
  EXPECT_TRUE(s.Subscribe("a", {}, NewSink(), inbox_).ok());  // held already: not a new one
  EXPECT_EQ(broker_->Stats().subscriptions_refused, 1u);
}

TEST_F(ClientSessionTest, UnsubscribeRunsOnTheRunnerThenAnswers) {
  std::vector<std::function<void()>> posted;
  ClientSession s(ops_, identity_, [&](std::function<void()> fn) { posted.push_back(fn); });
  Result<ClientSession::Subscribed> a = s.Subscribe("t", {}, NewSink(), inbox_);
  ASSERT_TRUE(a.ok());
  bool answered = false;
  ASSERT_TRUE(s.Unsubscribe(a->id, [&] { answered = true; }).ok());
  EXPECT_FALSE(answered);
  EXPECT_EQ(broker_->Stats().subscriptions, 1u);  // not until the runner runs it
  ASSERT_EQ(posted.size(), 1u);
  posted[0]();
  EXPECT_TRUE(answered);
  EXPECT_EQ(broker_->Stats().subscriptions, 0u);
  EXPECT_EQ(s.Unsubscribe(a->id, nullptr).code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.Unsubscribe("t", "", nullptr).code(), ErrorCode::kNotFound);
}

TEST_F(ClientSessionTest, CloseEndsSubscriptionsAndRequests) {
  ASSERT_TRUE(broker_->Subscribe("svc", [](const Delivery&) {}).ok());  // never answers
  std::atomic<int> cancelled{0};
  {
    ClientSession s(ops_, identity_, inline_);
    ASSERT_TRUE(s.Subscribe("t", {}, NewSink(), inbox_).ok());
    s.Request("svc", "x", std::nullopt, 500ms, {}, [&](Result<MessagePtr> r) {
      if (r.status().code() == ErrorCode::kCancelled) ++cancelled;
    });
    s.Close();
    EXPECT_EQ(cancelled.load(), 1);
    EXPECT_EQ(s.subscriptions(), 0u);
  }
  EXPECT_EQ(broker_->Stats().subscriptions, 1u);  // only the responder's
}

TEST_F(ClientSessionTest, AfterCloseNothingCanBeAddedToTheSession) {
  QueueOptions q;
  q.name = "work";
  q.pattern = "jobs.>";
  ASSERT_TRUE(broker_->CreateQueue(q).ok());
  const uint64_t before = broker_->Stats().subscriptions;
  ClientSession s(ops_, identity_, inline_);
  s.Close();
  EXPECT_EQ(s.Subscribe("t", {}, NewSink(), inbox_).status().code(), ErrorCode::kCancelled);
  EXPECT_EQ(s.JoinQueue("work", 0, 0, NewSink(), inbox_).status().code(), ErrorCode::kCancelled);
  EXPECT_EQ(s.subscriptions(), 0u);
  EXPECT_EQ(broker_->Stats().subscriptions, before);
  EXPECT_EQ(broker_->GetQueue("work")->members, 0u);  // no member left holding jobs
}

TEST_F(ClientSessionTest, ARequestTimeoutIsAbsentOrWithinTheBound) {
  ClientSession s(ops_, identity_, inline_);
  Status refused;
  s.Request("svc", "x", 0, 500ms, {}, [&](Result<MessagePtr> r) { refused = r.status(); });
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("from 1 to 1000"), std::string::npos);
  s.Request("svc", "x", 1001, 500ms, {}, [&](Result<MessagePtr> r) { refused = r.status(); });
  EXPECT_EQ(refused.code(), ErrorCode::kInvalidArgument);
  // Absent: the front's default (no responder here, so the answer is at once).
  s.Request("svc", "x", std::nullopt, 500ms, {},
            [&](Result<MessagePtr> r) { refused = r.status(); });
  EXPECT_EQ(refused.code(), ErrorCode::kNoResponders);
}

TEST_F(ClientSessionTest, ARepliesOnlyToRequestsItWasDelivered) {
  ClientSession s(ops_, identity_, inline_);
  EXPECT_EQ(s.Reply("_INBOX.n.AAAAAAAAAAAAAAAAAAAAAA", "x", {}).code(),
            ErrorCode::kPermissionDenied);
  Message m;
  m.topic = "svc";
  m.reply_to = "_INBOX.n.AAAAAAAAAAAAAAAAAAAAAA";
  s.Delivered(m);
  EXPECT_TRUE(s.Reply(m.reply_to, "x", {}).ok());
  EXPECT_EQ(s.Reply(m.reply_to, "x", {}).code(), ErrorCode::kPermissionDenied);  // once
}

}  // namespace
}  // namespace herald::session
