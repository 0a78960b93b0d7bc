// Idempotent publish: a msg_id seen on a topic within the dedup window is
// acknowledged with the first publish's position and not delivered again.
#include <gtest/gtest.h>

#include "broker/dedup_table.h"
#include "test_support.h"

namespace herald {
namespace {

using testing::ManualInbox;
using testing::RecordingSink;

PublishOptions WithId(std::string id) {
  PublishOptions o;
  o.msg_id = std::move(id);
  return o;
}

TEST(Dedup, ARetryWithTheSameIdGetsTheFirstPositionAndIsNotDeliveredAgain) {
  Broker broker;
  ManualInbox box(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("orders", sink, box.inbox).ok());
  Result<PublishAck> first = broker.Publish("orders", "paid", WithId("order-42"));
  Result<PublishAck> retry = broker.Publish("orders", "paid again", WithId("order-42"));
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->epoch, first->epoch);
  EXPECT_EQ(retry->offset, first->offset);
  box.inbox->Drain();
  EXPECT_EQ(sink->payloads(), std::vector<std::string>{"paid"});
  EXPECT_EQ(sink->received().at(0).message->msg_id, "order-42");  // delivered with it
  EXPECT_EQ(broker.Stats().duplicates, 1u);
  // Another id, or the same id on another topic, is a new message.
  EXPECT_FALSE(broker.Publish("orders", "x", WithId("order-43"))->duplicate);
  EXPECT_FALSE(broker.Publish("refunds", "x", WithId("order-42"))->duplicate);
}

TEST(Dedup, AMalformedIdIsRefused) {
  Broker broker;
  for (const std::string& bad : {std::string("has space"), std::string("tab\t"),
                                 std::string(129, 'a'), std::string("caf\xc3\xa9")}) {
    Result<PublishAck> r = broker.Publish("t", "x", WithId(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("msg_id"), std::string::npos);
  }
  EXPECT_TRUE(broker.Publish("t", "x", WithId(std::string(128, 'a'))).ok());
}

TEST(Dedup, AnIdIsForgottenAfterTheWindow) {
  int64_t now = 1'000'000'000'000;
  BrokerOptions o;
  o.clock = [&] { return now; };
  o.dedup_window = std::chrono::seconds(10);
  Broker broker(o);
  Result<PublishAck> first = broker.Publish("t", "x", WithId("a"));
  now += 9'000'000;
  broker.RunMaintenance();
  EXPECT_TRUE(broker.Publish("t", "x", WithId("a"))->duplicate);
  now += 2'000'000;
  broker.RunMaintenance();
  Result<PublishAck> later = broker.Publish("t", "x", WithId("a"));
  EXPECT_FALSE(later->duplicate);
  EXPECT_EQ(later->offset, first->offset + 1);
}

TEST(Dedup, TheMemoryOfIdsIsBoundedAndTheOldestGoFirst) {
  BrokerOptions o;
  o.max_dedup_bytes = 100 * DedupTable::Cost("id-00000");
  Broker broker(o);
  for (int i = 0; i < 1000; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "id-%05d", i);
    ASSERT_TRUE(broker.Publish("t", "x", WithId(id)).ok());
  }
  BrokerStats s = broker.Stats();
  EXPECT_LE(s.dedup_bytes, o.max_dedup_bytes);
  EXPECT_GE(s.dedup_evictions, 900u);
  EXPECT_TRUE(broker.Publish("t", "x", WithId("id-00999"))->duplicate);   // recent: kept
  EXPECT_FALSE(broker.Publish("t", "x", WithId("id-00000"))->duplicate);  // oldest: gone
}

TEST(DedupTable, APendingIdIsNeitherExpiredNorEvicted) {
  DedupTable t;
  DedupTable::Entry pending;
  pending.timestamp_us = 1;
  pending.pending = true;
  t.Insert("a", pending);
  DedupTable::Entry done;
  done.timestamp_us = 2;
  t.Insert("b", done);
  EXPECT_EQ(t.ExpireBefore(100), 0u);  // "a" is first and pending: nothing goes past it
  EXPECT_EQ(t.DropOldest(), 0u);
  t.Find("a")->pending = false;
  EXPECT_GT(t.ExpireBefore(100), 0u);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.cost(), 0u);
}

TEST(DedupTable, ErasingOutOfOrderKeepsTheExpiryOrderRight) {
  DedupTable t;
  for (int i = 0; i < 5; ++i) {
    DedupTable::Entry e;
    e.timestamp_us = i;
    t.Insert("k" + std::to_string(i), e);
  }
  t.Erase("k0");
  t.Erase("k2");
  t.Insert("k0", DedupTable::Entry{.timestamp_us = 10});  // re-added: newest now
  t.ExpireBefore(5);                                      // k1, k3, k4
  EXPECT_EQ(t.Find("k1"), nullptr);
  EXPECT_EQ(t.Find("k4"), nullptr);
  ASSERT_NE(t.Find("k0"), nullptr);
  EXPECT_EQ(t.cost(), DedupTable::Cost("k0"));
}

}  // namespace
}  // namespace herald
