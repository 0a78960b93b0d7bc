#include <gtest/gtest.h>

#include "test_support.h"

namespace herald {
namespace {

using testing::ManualInbox;
using testing::RecordingSink;

TEST(Inbox, OverflowDropsAndReportsOneGapPerTopicAfterQueuedMessages) {
  BrokerOptions o;
  o.max_inbox_pending = 3;
  Broker broker(o);
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("t", sink, in.inbox).ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(broker.Publish("t", std::to_string(i)).ok());
  in.inbox->Drain();
  auto got = sink->received();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].message->offset, 1u);
  EXPECT_EQ(got[2].message->offset, 3u);
  ASSERT_TRUE(got[3].is_gap);
  EXPECT_EQ(got[3].gap.reason, GapReason::kSlowConsumer);
  EXPECT_EQ(got[3].gap.from_offset, 4u);
  EXPECT_EQ(got[3].gap.to_offset, 10u);
  EXPECT_EQ(broker.Stats().dropped, 7u);
  EXPECT_EQ(broker.Stats().inbox_dropped, 7u);  // herald_inbox_dropped_total
  // Once drained, the inbox accepts messages again.
  ASSERT_TRUE(broker.Publish("t", "11").ok());
  in.inbox->Drain();
  EXPECT_EQ(sink->received().back().message->offset, 11u);
}

TEST(Inbox, SlowInboxDoesNotAffectAnotherInbox) {
  BrokerOptions o;
  o.max_inbox_pending = 2;
  Broker broker(o);
  ManualInbox slow(broker), fast(broker);
  auto slow_sink = std::make_shared<RecordingSink>();
  auto fast_sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("t", slow_sink, slow.inbox).ok());
  ASSERT_TRUE(broker.Subscribe("t", fast_sink, fast.inbox).ok());
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(broker.Publish("t", "x").ok());
    fast.inbox->Drain();  // keeps up; slow never drains until the end
  }
  EXPECT_EQ(fast_sink->count(), 10u);
  slow.inbox->Drain();
  EXPECT_EQ(slow_sink->payloads().size(), 2u);
}

TEST(Inbox, DeliveriesFromManyThreadsKeepEachTopicsOrder) {
  Broker broker;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe(">", sink, in.inbox).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&broker, t] {
      for (int i = 0; i < 500; ++i) ASSERT_TRUE(broker.Publish("t" + std::to_string(t), "x").ok());
    });
  }
  std::atomic<bool> done{false};
  std::thread drainer([&] {
    while (!done.load()) in.inbox->Drain();
    in.inbox->Drain();
  });
  for (auto& th : threads) th.join();
  done = true;
  drainer.join();
  std::map<std::string, uint64_t> last;
  size_t total = 0;
  for (const auto& r : sink->received()) {
    ASSERT_EQ(r.message->offset, last[r.message->topic] + 1);
    last[r.message->topic] = r.message->offset;
    ++total;
  }
  EXPECT_EQ(total, 2000u);
}

}  // namespace
}  // namespace herald
