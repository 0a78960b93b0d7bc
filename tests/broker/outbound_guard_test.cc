#include "herald/outbound_guard.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

// Owns the messages a test admits, so Msg() can return a reference.
std::vector<std::unique_ptr<Message>> arena;

const Message& Msg(const std::string& topic, uint64_t offset) {
  arena.push_back(std::make_unique<Message>());
  arena.back()->topic = topic;
  arena.back()->epoch = 7;
  arena.back()->offset = offset;
  return *arena.back();
}

TEST(OutboundGuard, SendsWhileUnderTheLimit) {
  OutboundGuard g({.max_bytes = 100});
  EXPECT_EQ(g.Admit(1, Msg("t", 1), 50, 0).verdict, OutboundGuard::Verdict::kSend);
  EXPECT_EQ(g.Admit(1, Msg("t", 2), 50, 50).verdict, OutboundGuard::Verdict::kSend);
}

TEST(OutboundGuard, DropsOverTheLimitThenOwesOneGapBeforeTheTopicsNextMessage) {
  OutboundGuard g({.max_bytes = 100});
  EXPECT_EQ(g.Admit(1, Msg("t", 1), 60, 60).verdict, OutboundGuard::Verdict::kDrop);
  EXPECT_EQ(g.Admit(1, Msg("t", 2), 10, 60).verdict, OutboundGuard::Verdict::kDrop);  // hysteresis
  EXPECT_EQ(g.dropped(), 2u);
  auto a = g.Admit(1, Msg("t", 3), 10, 40);  // drained below half: sending again
  EXPECT_EQ(a.verdict, OutboundGuard::Verdict::kSend);
  ASSERT_TRUE(a.gap.has_value());
  EXPECT_EQ(a.gap->reason, GapReason::kSlowConsumer);
  EXPECT_EQ(a.gap->from_offset, 1u);
  EXPECT_EQ(a.gap->to_offset, 2u);
  EXPECT_EQ(a.gap->epoch, 7u);
  EXPECT_FALSE(g.Admit(1, Msg("t", 4), 10, 40).gap.has_value());  // owed once only
}

TEST(OutboundGuard, GapsAreKeptPerSubscriptionAndTopic) {
  OutboundGuard g({.max_bytes = 10});
  g.Admit(1, Msg("a", 1), 20, 0);
  g.Admit(2, Msg("b", 5), 20, 0);
  auto gaps = g.TakeGaps(0);
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_TRUE(g.TakeGaps(0).empty());
}

TEST(OutboundGuard, OwedGapsWaitUntilTheQueueDrains) {
  OutboundGuard g({.max_bytes = 100});
  g.Admit(1, Msg("a", 1), 200, 0);
  EXPECT_TRUE(g.TakeGaps(90).empty());
  EXPECT_EQ(g.TakeGaps(10).size(), 1u);
}

TEST(OutboundGuard, DisconnectPolicyAsksToClose) {
  OutboundGuard g({.max_bytes = 100, .policy = SlowConsumerPolicy::kDisconnect});
  EXPECT_EQ(g.Admit(1, Msg("t", 1), 10, 0).verdict, OutboundGuard::Verdict::kSend);
  EXPECT_EQ(g.Admit(1, Msg("t", 2), 10, 95).verdict, OutboundGuard::Verdict::kDisconnect);
}

}  // namespace
}  // namespace herald
