#include <gtest/gtest.h>

#include <future>

#include "test_support.h"

namespace herald {
namespace {

using namespace std::chrono_literals;

TEST(Request, ReplyReachesTheRequester) {
  Broker broker;
  ASSERT_TRUE(broker
                  .Subscribe("math.double",
                             [&](const Delivery& d) {
                               const int n = std::stoi(d.message->payload);
                               ASSERT_TRUE(
                                   broker.Reply(d.message->reply_to, std::to_string(2 * n)).ok());
                             })
                  .ok());
  auto reply = broker.RequestSync("math.double", "21", 2s);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ((*reply)->payload, "42");
  EXPECT_EQ(broker.Stats().request_latency_count, 1u);
}

TEST(Request, EachRequestGetsAUniqueReplyInbox) {
  Broker broker;
  std::mutex mu;
  std::set<std::string> inboxes;
  ASSERT_TRUE(broker
                  .Subscribe("svc",
                             [&](const Delivery& d) {
                               {
                                 std::lock_guard lock(mu);
                                 inboxes.insert(d.message->reply_to);
                               }
                               ASSERT_TRUE(broker.Reply(d.message->reply_to, "ok").ok());
                             })
                  .ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(broker.RequestSync("svc", "", 2s).ok());
  EXPECT_EQ(inboxes.size(), 20u);
  for (const auto& i : inboxes) EXPECT_TRUE(i.starts_with("_INBOX.herald."));
}

TEST(Request, FirstReplyWinsAndLaterOnesAreCounted) {
  Broker broker;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        broker
            .Subscribe("svc",
                       [&broker, i](const Delivery& d) {
                         ASSERT_TRUE(
                             broker.Reply(d.message->reply_to, "from " + std::to_string(i)).ok());
                       })
            .ok());
  }
  std::atomic<int> calls{0};
  std::promise<std::string> first;
  broker.Request("svc", "", 2s, [&](Result<MessagePtr> r) {
    if (calls++ == 0) first.set_value(r.ok() ? (*r)->payload : r.status().ToString());
  });
  EXPECT_EQ(first.get_future().get(), "from 0");
  EXPECT_TRUE(testing::WaitFor([&] { return broker.Stats().late_replies == 2; }));
  EXPECT_EQ(calls.load(), 1);
}

TEST(Request, NoSubscriberFailsAtOnceWithNoResponders) {
  Broker broker;
  auto start = std::chrono::steady_clock::now();
  auto reply = broker.RequestSync("nobody.home", "", 10s);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kNoResponders);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);  // not the 10 s deadline
  EXPECT_EQ(broker.Stats().request_no_responders, 1u);
}

TEST(Request, SilentResponderTimesOutAfterTheDeadline) {
  Broker broker;
  ASSERT_TRUE(broker.Subscribe("svc.silent", [](const Delivery&) {}).ok());
  auto start = std::chrono::steady_clock::now();
  auto reply = broker.RequestSync("svc.silent", "", 100ms);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), ErrorCode::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(broker.Stats().request_timeouts, 1u);
  EXPECT_EQ(broker.Stats().pending_requests, 0u);
}

TEST(Request, ShorterDeadlineAddedLaterStillFiresFirst) {
  // Declared before the broker: its destructor fails the long request.
  std::promise<ErrorCode> long_done, short_done;
  Broker broker;
  ASSERT_TRUE(broker.Subscribe("svc.silent", [](const Delivery&) {}).ok());
  broker.Request("svc.silent", "", 5s,
                 [&](Result<MessagePtr> r) { long_done.set_value(r.status().code()); });
  auto start = std::chrono::steady_clock::now();
  broker.Request("svc.silent", "", 50ms,
                 [&](Result<MessagePtr> r) { short_done.set_value(r.status().code()); });
  EXPECT_EQ(short_done.get_future().get(), ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Request, InvalidTopicAndTimeoutAreRejected) {
  Broker broker;
  EXPECT_EQ(broker.RequestSync("a.*", "", 1s).status().code(), ErrorCode::kInvalidTopic);
  EXPECT_EQ(broker.RequestSync("_INBOX.x", "", 1s).status().code(), ErrorCode::kInvalidTopic);
  EXPECT_EQ(broker.RequestSync("a", "", 0ms).status().code(), ErrorCode::kInvalidArgument);
}

TEST(Request, PendingRequestsFailWhenTheBrokerStops) {
  std::promise<ErrorCode> done;
  {
    Broker broker;
    ASSERT_TRUE(broker.Subscribe("svc.silent", [](const Delivery&) {}).ok());
    broker.Request("svc.silent", "", 60s,
                   [&](Result<MessagePtr> r) { done.set_value(r.status().code()); });
  }
  EXPECT_EQ(done.get_future().get(), ErrorCode::kUnavailable);
}

TEST(AcknowledgedPublish, ReturnsEpochAndOffsetOfTheStoredMessage) {
  Broker broker;
  auto ack = broker.Publish("orders.42", "paid");
  ASSERT_TRUE(ack.ok());
  auto r = broker.Resume("orders.42", ack->epoch, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->offset, ack->offset);
  EXPECT_EQ(r->messages[0]->epoch, ack->epoch);
  EXPECT_EQ(r->messages[0]->payload, "paid");
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

using namespace std::chrono_literals;

// A responder that never answers: requests stay pending.
Result<uint64_t> Silent(Broker& broker, const std::string& topic) {
  return broker.Subscribe(topic, [](const Delivery&) {});
}

TEST(RequestLimits, PublishIntoAnInboxIsRefusedAndReplyIsTheWayIn) {
  Broker broker;
  std::promise<std::string> inbox;
  ASSERT_TRUE(
      broker.Subscribe("svc", [&](const Delivery& d) { inbox.set_value(d.message->reply_to); })
          .ok());
  std::promise<Result<MessagePtr>> got;
  broker.Request("svc", "", 2s, [&](Result<MessagePtr> r) { got.set_value(std::move(r)); });
  const std::string to = inbox.get_future().get();
  Result<PublishAck> forged = broker.Publish(to, "forged");
  EXPECT_EQ(forged.status().code(), ErrorCode::kInvalidTopic);
  EXPECT_EQ(broker.Reply("not.an.inbox", "x").code(), ErrorCode::kInvalidTopic);
  ASSERT_TRUE(broker.Reply(to, "real").ok());
  Result<MessagePtr> r = got.get_future().get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->payload, "real");
}

TEST(RequestLimits, InboxesCarry128RandomBits) {
  Broker broker;
  std::mutex mu;
  std::vector<std::string> seen;
  ASSERT_TRUE(broker
                  .Subscribe("svc",
                             [&](const Delivery& d) {
                               std::lock_guard lock(mu);
                               seen.push_back(d.message->reply_to);
                             })
                  .ok());
  for (int i = 0; i < 300; ++i) broker.Request("svc", "", 1s, [](Result<MessagePtr>) {});
  ASSERT_TRUE(testing::WaitFor([&] {
    std::lock_guard lock(mu);
    return seen.size() == 300;
  }));
  std::set<std::string> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), 300u);
  for (const std::string& s : seen) {
    ASSERT_TRUE(s.starts_with("_INBOX.herald."));
    EXPECT_EQ(s.size() - std::string("_INBOX.herald.").size(), 22u) << s;  // 16 bytes, base64url
  }
}

TEST(RequestLimits, TheNodeCapRefusesWithResourceExhausted) {
  BrokerOptions o;
  o.max_pending_requests = 3;
  Broker broker(o);
  ASSERT_TRUE(Silent(broker, "svc").ok());
  std::atomic<int> exhausted{0};
  for (int i = 0; i < 5; ++i) {
    const uint64_t id = broker.Request("svc", "", 10s, [&](Result<MessagePtr> r) {
      if (r.status().code() == ErrorCode::kResourceExhausted) ++exhausted;
    });
    EXPECT_EQ(id == 0, i >= 3);
  }
  EXPECT_EQ(exhausted.load(), 2);
  EXPECT_EQ(broker.Stats().pending_requests, 3u);
  EXPECT_EQ(broker.Stats().requests_refused, 2u);
}

TEST(RequestLimits, CancelEndsAPendingRequestOnce) {
  Broker broker;
  ASSERT_TRUE(Silent(broker, "svc").ok());
  std::atomic<int> cancelled{0};
  const uint64_t id = broker.Request("svc", "", 10s, [&](Result<MessagePtr> r) {
    if (r.status().code() == ErrorCode::kCancelled) ++cancelled;
  });
  ASSERT_NE(id, 0u);
  EXPECT_TRUE(broker.CancelRequest(id));
  EXPECT_FALSE(broker.CancelRequest(id));
  EXPECT_EQ(cancelled.load(), 1);
  EXPECT_EQ(broker.Stats().pending_requests, 0u);
  EXPECT_EQ(broker.Stats().requests_cancelled, 1u);
}

TEST(RequestLimits, ATimeoutOverTheCapIsShortenedToIt) {
  BrokerOptions o;
  o.max_request_timeout = 100ms;
  o.maintenance_interval = 10ms;
  Broker broker(o);
  ASSERT_TRUE(Silent(broker, "svc").ok());
  const auto start = std::chrono::steady_clock::now();
  Result<MessagePtr> r = broker.RequestSync("svc", "", std::chrono::hours(24 * 49));
  EXPECT_EQ(r.status().code(), ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(RequestLimits, ContentTypesAndHeadersThatCouldBreakAnHttpHeadAreRefused) {
  Broker broker;
  auto bad = [&](std::string ct, Headers h) {
    PublishOptions o;
    o.content_type = std::move(ct);
    o.headers = std::move(h);
    return broker.Publish("t", "x", std::move(o)).status().code();
  };
  EXPECT_EQ(bad("text/html\r\nSet-Cookie: a=1", {}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad("text", {}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad("", {{"A\nB", "v"}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad("", {{"", "v"}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad("", {{"A", std::string("v\0w", 3)}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad("", {{"A", "v\r\nX: y"}}), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad("text/plain; charset=utf-8", {{"Trace-Id", "a b\tc é"}}), ErrorCode::kOk);
}

}  // namespace
}  // namespace herald
