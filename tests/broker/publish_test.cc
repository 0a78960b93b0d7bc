#include <gtest/gtest.h>

#include <thread>

#include "broker/memory_cost.h"
#include "broker/topic_table.h"
#include "test_support.h"

namespace herald {
namespace {

using testing::ManualInbox;
using testing::RecordingSink;
using testing::WaitFor;

TEST(Publish, AssignsConsecutiveOffsetsWithinOneEpoch) {
  Broker broker;
  auto a1 = broker.Publish("t.a", "1");
  auto a2 = broker.Publish("t.a", "2");
  auto b1 = broker.Publish("t.b", "x");
  ASSERT_TRUE(a1.ok() && a2.ok() && b1.ok());
  EXPECT_EQ(a1->offset, 1u);
  EXPECT_EQ(a2->offset, 2u);
  EXPECT_EQ(a1->epoch, a2->epoch);
  EXPECT_NE(a1->epoch, 0u);
  EXPECT_EQ(b1->offset, 1u);
}

TEST(Publish, RejectsInvalidTopicWithSpecificError) {
  Broker broker;
  auto r = broker.Publish("a.*", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidTopic);
  EXPECT_EQ(broker.Stats().publish_errors, 1u);
  // herald_publish_refused_total{code="invalid_topic"}
  EXPECT_EQ(broker.Stats().publish_errors_by_code[static_cast<size_t>(ErrorCode::kInvalidTopic)],
            1u);
}

TEST(Publish, RejectsPayloadOverTheLimitAndCountsItByItsCode) {
  BrokerOptions o;
  o.max_payload_bytes = 4;
  Broker broker(o);
  EXPECT_TRUE(broker.Publish("t", "1234").ok());
  auto r = broker.Publish("t", "12345");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kPayloadTooLarge);
  const BrokerStats s = broker.Stats();
  EXPECT_EQ(s.publish_errors, 1u);
  EXPECT_EQ(s.publish_errors_by_code[static_cast<size_t>(ErrorCode::kPayloadTooLarge)], 1u);
  EXPECT_EQ(s.publish_errors_by_code[static_cast<size_t>(ErrorCode::kInvalidTopic)], 0u);
}

TEST(Publish, RejectsNewTopicsPastTheTopicByteBudget) {
  BrokerOptions o;
  o.max_topic_bytes = 10 * TopicTable::Cost("t.00") + 10;
  Broker broker(o);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(broker.Publish("t.0" + std::to_string(i), "x").ok()) << i;
  }
  auto r = broker.Publish("t.10", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kTooManyTopics);
  EXPECT_NE(r.status().message().find("max_topic_bytes"), std::string::npos);
  EXPECT_TRUE(broker.Publish("t.01", "again").ok());  // existing topics still work
  BrokerStats s = broker.Stats();
  EXPECT_EQ(s.topic_bytes, 10 * TopicTable::Cost("t.00"));
  EXPECT_EQ(s.topics_refused, 1u);
}

TEST(Publish, TopicCostCountsTheNameAndStaysSmallWithHistoryOff) {
  // History off: a topic holds its state, table entry and match result only
  // (no empty history ring: that alone used to be ~600 bytes; the state
  // with its work-queue pointer is 600 now).
  EXPECT_LE(TopicTable::Cost("a"), 608u);
  EXPECT_EQ(TopicTable::Cost(std::string(200, 'x')) - TopicTable::Cost("a"), 2 * MallocBytes(201));
}

TEST(Publish, RejectsNewTopicsPastTheTopicLimit) {
  BrokerOptions o;
  o.max_topics = 2;
  Broker broker(o);
  EXPECT_TRUE(broker.Publish("t1", "x").ok());
  EXPECT_TRUE(broker.Publish("t2", "x").ok());
  EXPECT_TRUE(broker.Publish("t1", "again").ok());  // existing topics still work
  auto r = broker.Publish("t3", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kTooManyTopics);
}

TEST(Subscribe, DeliversMatchingMessagesInOffsetOrder) {
  Broker broker;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  auto id = broker.Subscribe("chat.*", sink, in.inbox);
  ASSERT_TRUE(id.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(broker.Publish("chat.room", std::to_string(i)).ok());
  ASSERT_TRUE(broker.Publish("other.room", "no").ok());
  in.inbox->Drain();
  auto got = sink->received();
  ASSERT_EQ(got.size(), 100u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].message->offset, i + 1);
    EXPECT_EQ(got[i].subscription_id, *id);
  }
}

TEST(Subscribe, OneWakeUpCarriesManyMessages) {
  Broker broker;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("t", sink, in.inbox).ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(broker.Publish("t", "x").ok());
  EXPECT_EQ(in.wakes->load(), 1);
  EXPECT_EQ(in.inbox->pending(), 1u * 50);
  EXPECT_EQ(in.inbox->Drain(), 50u);
  ASSERT_TRUE(broker.Publish("t", "y").ok());
  EXPECT_EQ(in.wakes->load(), 2);
}

TEST(Subscribe, EverySubscriberSharesTheSameMessageObject) {
  Broker broker;
  ManualInbox in1(broker), in2(broker);
  auto s1 = std::make_shared<RecordingSink>();
  auto s2 = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("t", s1, in1.inbox).ok());
  ASSERT_TRUE(broker.Subscribe("t", s2, in2.inbox).ok());
  ASSERT_TRUE(broker.Subscribe("t", s2, in2.inbox).ok());
  ASSERT_TRUE(broker.Publish("t", std::string(1000, 'p')).ok());
  in1.inbox->Drain();
  in2.inbox->Drain();
  ASSERT_EQ(s1->count(), 1u);
  ASSERT_EQ(s2->count(), 2u);
  const Message* m = s1->received()[0].message.get();
  EXPECT_EQ(s2->received()[0].message.get(), m);
  EXPECT_EQ(s2->received()[1].message.get(), m);
}

TEST(Subscribe, UnsubscribeStopsDeliveryEvenOfQueuedMessages) {
  Broker broker;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  auto id = broker.Subscribe("t", sink, in.inbox);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(broker.Publish("t", "queued").ok());
  EXPECT_TRUE(broker.Unsubscribe(*id));
  EXPECT_FALSE(broker.Unsubscribe(*id));
  ASSERT_TRUE(broker.Publish("t", "after").ok());
  in.inbox->Drain();
  EXPECT_EQ(sink->count(), 0u);
  EXPECT_EQ(broker.Stats().subscriptions, 0u);
}

TEST(Subscribe, RejectsInvalidPatternAndReservedInbox) {
  Broker broker;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  auto bad = broker.Subscribe("a.>.b", sink, in.inbox);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidTopic);
  auto reserved = broker.Subscribe("_INBOX.>", sink, in.inbox);
  ASSERT_FALSE(reserved.ok());
  EXPECT_EQ(reserved.status().code(), ErrorCode::kInvalidTopic);
}

TEST(Subscribe, LimitsSubscriptionsPerSinkAndCountsTheRefusals) {
  BrokerOptions o;
  o.max_subscriptions_per_sink = 2;
  Broker broker(o);
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  auto other = std::make_shared<RecordingSink>();
  auto first = broker.Subscribe("a", sink, in.inbox);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(broker.Subscribe("b", sink, in.inbox).ok());
  auto third = broker.Subscribe("c", sink, in.inbox);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), ErrorCode::kTooManySubscriptions);
  EXPECT_EQ(broker.Stats().subscriptions_refused, 1u);       // herald_subscriptions_refused_total
  EXPECT_TRUE(broker.Subscribe("c", other, in.inbox).ok());  // another sink is unaffected
  ASSERT_TRUE(broker.Unsubscribe(*first));
  EXPECT_TRUE(broker.Subscribe("c", sink, in.inbox).ok());  // room again
}

TEST(CallbackSubscription, RunsOnTheDispatcherThreadInOrder) {
  Broker broker;
  std::mutex mu;
  std::vector<uint64_t> offsets;
  std::thread::id callback_thread;
  auto id = broker.Subscribe("ticks", [&](const Delivery& d) {
    std::lock_guard lock(mu);
    callback_thread = std::this_thread::get_id();
    offsets.push_back(d.message->offset);
  });
  ASSERT_TRUE(id.ok());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(broker.Publish("ticks", "x").ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return offsets.size() == 1000;
  }));
  std::lock_guard lock(mu);
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  for (size_t i = 0; i < offsets.size(); ++i) ASSERT_EQ(offsets[i], i + 1);
}

TEST(CallbackSubscription, MayPublishFromInsideTheCallback) {
  Broker broker;
  std::atomic<int> echoed{0};
  ASSERT_TRUE(broker
                  .Subscribe("ping",
                             [&](const Delivery& d) {
                               ASSERT_TRUE(broker.Publish("pong", d.message->payload).ok());
                             })
                  .ok());
  ASSERT_TRUE(broker.Subscribe("pong", [&](const Delivery&) { echoed++; }).ok());
  ASSERT_TRUE(broker.Publish("ping", "x").ok());
  EXPECT_TRUE(WaitFor([&] { return echoed.load() == 1; }));
}

TEST(Stats, CountsMessagesDeliveriesAndGauges) {
  Broker broker;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("t", sink, in.inbox).ok());
  ASSERT_TRUE(broker.Subscribe("t", sink, in.inbox).ok());
  ASSERT_TRUE(broker.Publish("t", "abc").ok());
  in.inbox->Drain();
  BrokerStats s = broker.Stats();
  EXPECT_EQ(s.messages_in, 1u);
  EXPECT_EQ(s.bytes_in, 3u);
  EXPECT_EQ(s.deliveries, 2u);
  EXPECT_EQ(s.delivery_bytes, 6u);
  EXPECT_EQ(s.subscriptions, 2u);
  EXPECT_EQ(s.topics, 1u);
  EXPECT_EQ(s.history_messages, 1u);
  EXPECT_GT(s.history_bytes, 0u);
}

TEST(Message, EncodeOnceComputesEachSlotOnce) {
  Message m;
  m.PinEncodings();  // as a queued delivery does
  int calls = 0;
  auto a = m.EncodeOnce(0, [&] {
    ++calls;
    return std::string("frame");
  });
  auto b = m.EncodeOnce(0, [&] {
    ++calls;
    return std::string("other");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(*b, "frame");
  EXPECT_EQ(*m.EncodeOnce(1, [] { return std::string("slot1"); }), "slot1");
  EXPECT_EQ(m.CachedEncodingBytes(), 10u);
  m.UnpinEncodings();
  EXPECT_EQ(m.CachedEncodingBytes(), 0u);  // the last delivery done: nothing kept
  EXPECT_EQ(*a, "frame");                  // bytes already handed out stay valid
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(Subscribe, RejectsAnInboxOfAnotherBroker) {
  Broker broker, other;
  testing::ManualInbox foreign(other);
  auto r = broker.Subscribe("t", std::make_shared<testing::RecordingSink>(), foreign.inbox);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(Subscribe, AStaleIdNeverRemovesALaterSubscription) {
  Broker broker;
  testing::ManualInbox in(broker);
  auto sink = std::make_shared<testing::RecordingSink>();
  auto first = broker.Subscribe("t", sink, in.inbox);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(broker.Unsubscribe(*first));
  auto second = broker.Subscribe("t", sink, in.inbox);  // may reuse the slot
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_FALSE(broker.Unsubscribe(*first));
  EXPECT_FALSE(broker.Unsubscribe(0));
  EXPECT_FALSE(broker.Unsubscribe(~uint64_t{0}));
  EXPECT_TRUE(broker.Unsubscribe(*second));
}

}  // namespace
}  // namespace herald
