// Broker::SetLimits: a running broker takes new bounds for the next
// operation, and what it already holds stays.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <string>

#include "test_support.h"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::ManualInbox;
using testing::RecordingSink;

// Distinct values, so a bound wired to another one shows. BrokerOptions
// and BrokerLimits name their bounds alike.
template <typename T>
void Fill(T& t, size_t base) {
  t.max_payload_bytes = base + 1;
  t.max_subscriptions_per_sink = base + 2;
  t.max_topics = base + 3;
  t.max_topic_bytes = base + 4;
  t.max_history_bytes = base + 5;
  t.max_store_read_bytes = base + 6;
  t.max_held_publish_bytes = base + 7;
  t.max_request_timeout = std::chrono::milliseconds(base + 8);
  t.max_pending_requests = base + 9;
  t.max_pending_requests_per_session = base + 10;
  t.max_reply_inboxes_per_session = base + 11;
  t.max_dedup_bytes = base + 12;
  t.max_queues = base + 13;
  t.max_queue_bytes = base + 14;
  t.max_waiting_pulls = base + 15;
  t.max_revocations = base + 16;
  t.max_revocation_ttl = std::chrono::milliseconds(base + 17);
  t.max_admin_results = base + 18;
}

void ExpectFilled(const BrokerLimits& got, size_t base) {
  EXPECT_EQ(got.max_payload_bytes, base + 1);
  EXPECT_EQ(got.max_subscriptions_per_sink, base + 2);
  EXPECT_EQ(got.max_topics, base + 3);
  EXPECT_EQ(got.max_topic_bytes, base + 4);
  EXPECT_EQ(got.max_history_bytes, base + 5);
  EXPECT_EQ(got.max_store_read_bytes, base + 6);
  EXPECT_EQ(got.max_held_publish_bytes, base + 7);
  EXPECT_EQ(got.max_request_timeout, std::chrono::milliseconds(base + 8));
  EXPECT_EQ(got.max_pending_requests, base + 9);
  EXPECT_EQ(got.max_pending_requests_per_session, base + 10);
  EXPECT_EQ(got.max_reply_inboxes_per_session, base + 11);
  EXPECT_EQ(got.max_dedup_bytes, base + 12);
  EXPECT_EQ(got.max_queues, base + 13);
  EXPECT_EQ(got.max_queue_bytes, base + 14);
  EXPECT_EQ(got.max_waiting_pulls, base + 15);
  EXPECT_EQ(got.max_revocations, base + 16);
  EXPECT_EQ(got.max_revocation_ttl, std::chrono::milliseconds(base + 17));
  EXPECT_EQ(got.max_admin_results, base + 18);
}

TEST(SetLimits, TheBrokerStartsWithItsOptionsBoundsAndReadsBackEveryBoundItIsGiven) {
  BrokerOptions o;
  Fill(o, 100);
  Broker broker(o);
  ExpectFilled(broker.limits(), 100);
  BrokerLimits next;
  Fill(next, 200);
  broker.SetLimits(next);
  ExpectFilled(broker.limits(), 200);
  // The options keep what the broker was made with.
  EXPECT_EQ(broker.options().max_payload_bytes, 101u);
}

TEST(SetLimits, APayloadBoundAppliesToTheNextPublishEitherWay) {
  Broker broker;
  BrokerLimits l = broker.limits();
  l.max_payload_bytes = 4;
  broker.SetLimits(l);
  EXPECT_TRUE(broker.Publish("t", "1234").ok());
  auto r = broker.Publish("t", "12345");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kPayloadTooLarge);
  EXPECT_NE(r.status().message().find("4"), std::string::npos) << r.status().message();
  l.max_payload_bytes = 5;
  broker.SetLimits(l);
  EXPECT_TRUE(broker.Publish("t", "12345").ok());
}

TEST(SetLimits, ALoweredTopicBoundKeepsTheTopicsHeldAndRefusesNewOnes) {
  Broker broker;
  for (const char* t : {"t1", "t2", "t3"}) ASSERT_TRUE(broker.Publish(t, "x").ok());
  BrokerLimits l = broker.limits();
  l.max_topics = 2;
  broker.SetLimits(l);
  EXPECT_TRUE(broker.Publish("t3", "again").ok());  // held: still works
  auto r = broker.Publish("t4", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kTooManyTopics);
  EXPECT_EQ(broker.Stats().topics, 3u);
  l.max_topics = 4;
  broker.SetLimits(l);
  EXPECT_TRUE(broker.Publish("t4", "x").ok());
}

TEST(SetLimits, ALoweredSubscriptionBoundKeepsTheSubscriptionsHeld) {
  Broker broker;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("a", sink, in.inbox).ok());
  ASSERT_TRUE(broker.Subscribe("b", sink, in.inbox).ok());
  BrokerLimits l = broker.limits();
  l.max_subscriptions_per_sink = 1;
  broker.SetLimits(l);
  auto third = broker.Subscribe("c", sink, in.inbox);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), ErrorCode::kTooManySubscriptions);
  ASSERT_TRUE(broker.Publish("b", "still here").ok());
  in.inbox->Drain();
  EXPECT_EQ(sink->count(), 1u);
}

TEST(SetLimits, ALoweredHistoryBoundIsMetBySharingTheCutAmongEveryTopic) {
  BrokerOptions o;
  o.default_history.max_messages = 1000;
  o.maintenance_interval = std::chrono::hours(1);  // swept by hand below
  Broker broker(o);
  std::map<std::string, uint64_t> epoch;
  for (int i = 0; i < 100; ++i) {
    for (const char* t : {"a", "b", "c", "d"}) {
      auto ack = broker.Publish(t, std::string(100, 'x'));
      ASSERT_TRUE(ack.ok());
      epoch[t] = ack->epoch;
    }
  }
  const uint64_t before = broker.Stats().history_bytes;
  BrokerLimits l = broker.limits();
  l.max_history_bytes = before / 2;
  broker.SetLimits(l);
  // A publish before the sweep: the others alone are over the bound, and
  // its topic keeps the message just published.
  ASSERT_TRUE(broker.Publish("a", "newest").ok());
  auto a = broker.Resume("a", epoch["a"], 0);
  ASSERT_TRUE(a.ok());
  ASSERT_FALSE(a->messages.empty());
  EXPECT_EQ(a->messages.back()->payload, "newest");
  broker.RunMaintenance();
  EXPECT_LE(broker.Stats().history_bytes, before / 2);
  // Each of the other topics kept about half, its newest half.
  for (const char* t : {"b", "c", "d"}) {
    auto r = broker.Resume(t, epoch[t], 0);
    ASSERT_TRUE(r.ok()) << t;
    EXPECT_GT(r->messages.size(), 25u) << t;
    EXPECT_LT(r->messages.size(), 75u) << t;
    EXPECT_EQ(r->messages.back()->offset, 100u) << t;
  }
}

TEST(SetLimits, ALoweredIdBoundIsMetBySharingTheCutAmongEveryTopic) {
  BrokerOptions o;
  o.maintenance_interval = std::chrono::hours(1);  // swept by hand below
  Broker broker(o);
  for (int i = 0; i < 100; ++i) {
    for (const char* t : {"a", "b"}) {
      PublishOptions p;
      p.msg_id = std::string(t) + "-" + std::to_string(i);
      ASSERT_TRUE(broker.Publish(t, "x", p).ok());
    }
  }
  const uint64_t before = broker.Stats().dedup_bytes;
  BrokerLimits l = broker.limits();
  l.max_dedup_bytes = before / 2;
  broker.SetLimits(l);
  broker.RunMaintenance();
  const BrokerStats s = broker.Stats();
  EXPECT_LE(s.dedup_bytes, before / 2);
  EXPECT_GT(s.dedup_bytes, before / 4);  // a share was kept, not every id dropped
  EXPECT_GE(s.dedup_evictions, 80u);
  // The newest ids are the ones remembered.
  PublishOptions again;
  again.msg_id = "b-99";
  auto dup = broker.Publish("b", "x", again);
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate);
}

TEST(SetLimits, ALoweredHistoryBoundTrimsAtTheTopicsNextPublish) {
  BrokerOptions o;
  o.default_history.max_messages = 1000;
  Broker broker(o);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(broker.Publish("h", std::string(100, 'x')).ok());
  const uint64_t before = broker.Stats().history_bytes;
  BrokerLimits l = broker.limits();
  l.max_history_bytes = before / 4;
  broker.SetLimits(l);
  EXPECT_EQ(broker.Stats().history_bytes, before);  // nothing trimmed behind anyone's back
  ASSERT_TRUE(broker.Publish("h", "next").ok());
  const BrokerStats s = broker.Stats();
  EXPECT_LE(s.history_bytes, before / 4);
  EXPECT_GT(s.history_evictions, 0u);
}

TEST(SetLimits, ALoweredPendingRequestBoundRefusesTheNextRequest) {
  std::promise<ErrorCode> first, second;
  Broker broker;
  ASSERT_TRUE(broker.Subscribe("svc.silent", [](const Delivery&) {}).ok());
  broker.Request("svc.silent", "", 60s,
                 [&](Result<MessagePtr> r) { first.set_value(r.status().code()); });
  BrokerLimits l = broker.limits();
  l.max_pending_requests = 1;
  l.max_request_timeout = 50ms;
  broker.SetLimits(l);
  broker.Request("svc.silent", "", 60s,
                 [&](Result<MessagePtr> r) { second.set_value(r.status().code()); });
  EXPECT_EQ(second.get_future().get(), ErrorCode::kResourceExhausted);
  // The request made before still waits, with its 60 s deadline.
  EXPECT_EQ(broker.Stats().pending_requests, 1u);
  l.max_pending_requests = 2;
  broker.SetLimits(l);
  std::promise<ErrorCode> third;
  const auto start = std::chrono::steady_clock::now();
  broker.Request("svc.silent", "", 60s,
                 [&](Result<MessagePtr> r) { third.set_value(r.status().code()); });
  // Room again, and the new bound shortens its deadline.
  EXPECT_EQ(third.get_future().get(), ErrorCode::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_EQ(broker.Stats().pending_requests, 1u);  // the first one, still
}

TEST(SetLimits, ALoweredQueueBoundKeepsTheQueuesHeldAndRefusesNewOnes) {
  Broker broker;
  QueueOptions q;
  q.name = "jobs.a";
  q.pattern = "jobs.a";
  ASSERT_TRUE(broker.CreateQueue(q).ok());
  BrokerLimits l = broker.limits();
  l.max_queues = 1;
  broker.SetLimits(l);
  q.name = q.pattern = "jobs.b";
  Status s = broker.CreateQueue(q);
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted) << s.message();
  EXPECT_TRUE(broker.GetQueue("jobs.a").ok());
}

}  // namespace
}  // namespace herald
