#include <gtest/gtest.h>

#include "test_support.h"

namespace herald {
namespace {

// A clock the test moves by hand.
struct FakeClock {
  std::shared_ptr<std::atomic<int64_t>> now = std::make_shared<std::atomic<int64_t>>(1'000'000);
  std::function<int64_t()> fn() const {
    return [n = now] { return n->load(); };
  }
  void Advance(std::chrono::microseconds d) { *now += d.count(); }
};

TEST(Maintenance, TrimsHistoryByAge) {
  FakeClock clock;
  BrokerOptions o;
  o.clock = clock.fn();
  o.default_history.max_age = std::chrono::seconds(10);
  Broker broker(o);
  auto a1 = broker.Publish("t", "old");
  clock.Advance(std::chrono::seconds(8));
  ASSERT_TRUE(broker.Publish("t", "new").ok());
  clock.Advance(std::chrono::seconds(4));
  broker.RunMaintenance();
  auto r = broker.Resume("t", a1->epoch, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->messages.size(), 1u);
  EXPECT_EQ(r->messages[0]->payload, "new");
  EXPECT_EQ(broker.Stats().history_messages, 1u);
}

TEST(Maintenance, ForgetsIdleTopicsAndRestartsTheirNumberingInANewEpoch) {
  FakeClock clock;
  BrokerOptions o;
  o.clock = clock.fn();
  o.default_history.max_age = std::chrono::seconds(10);
  o.topic_idle_ttl = std::chrono::seconds(60);
  Broker broker(o);
  auto first = broker.Publish("t", "x");
  clock.Advance(std::chrono::seconds(30));
  broker.RunMaintenance();
  EXPECT_EQ(broker.Stats().topics, 1u);  // history gone, but not idle long enough
  clock.Advance(std::chrono::seconds(31));
  broker.RunMaintenance();
  EXPECT_EQ(broker.Stats().topics, 0u);
  EXPECT_EQ(broker.Stats().topics_expired, 1u);
  EXPECT_EQ(broker.Stats().history_bytes, 0u);
  auto again = broker.Publish("t", "y");
  EXPECT_EQ(again->offset, 1u);
  EXPECT_NE(again->epoch, first->epoch);
  auto r = broker.Resume("t", first->epoch, 1);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kEpochChanged);
}

TEST(Maintenance, TopicsWithRetainedHistoryAreKept) {
  FakeClock clock;
  BrokerOptions o;
  o.clock = clock.fn();
  o.default_history.max_age = std::chrono::hours(10);
  o.topic_idle_ttl = std::chrono::seconds(1);
  Broker broker(o);
  ASSERT_TRUE(broker.Publish("t", "x").ok());
  clock.Advance(std::chrono::seconds(5));
  broker.RunMaintenance();
  EXPECT_EQ(broker.Stats().topics, 1u);
}

}  // namespace
}  // namespace herald
