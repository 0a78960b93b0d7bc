// RemoteHolds: how a subscription's replay from elsewhere (another node, a
// shared store) meets the live messages and gaps that waited for it.
#include "broker/remote_holds.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace herald {
namespace {

MessagePtr Msg(uint64_t epoch, uint64_t offset) {
  auto m = std::make_shared<Message>();
  m->topic = "t";
  m->epoch = epoch;
  m->offset = offset;
  return m;
}

std::shared_ptr<const Gap> EpochGap(uint64_t epoch) {
  return std::make_shared<const Gap>(Gap{"t", GapReason::kEpochChanged, epoch, 0, 0});
}

bool Pass(RemoteHolds& holds, const MessagePtr& m) {
  std::optional<Gap> before;
  const bool passed = holds.Pass(m, &before);
  EXPECT_FALSE(before) << "a gap before " << m->offset;
  return passed;
}

TEST(RemoteHolds, LiveMessagesWaitForTheReplayAndThoseItCoveredAreDropped) {
  RemoteHolds holds;
  holds.Hold("t");
  EXPECT_FALSE(Pass(holds, Msg(5, 10)));
  EXPECT_FALSE(Pass(holds, Msg(5, 11)));
  std::vector<RemoteHolds::Waiting> w = holds.Replayed("t", 5, 10, {});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_FALSE(Pass(holds, w[0].message));  // the replay had it
  EXPECT_TRUE(Pass(holds, w[1].message));
  EXPECT_TRUE(holds.empty());  // a newer one passed: no longer held
}

TEST(RemoteHolds, AMessageThatDoesNotFollowTheReplayIsToldAfterAGap) {
  RemoteHolds holds;
  holds.Hold("t");
  holds.Replayed("t", 5, 10, {});
  std::optional<Gap> before;
  EXPECT_TRUE(holds.Pass(Msg(5, 14), &before));
  ASSERT_TRUE(before);
  EXPECT_EQ(before->epoch, 5u);
  EXPECT_EQ(before->from_offset, 11u);
  EXPECT_EQ(before->to_offset, 13u);
}

TEST(RemoteHolds, AMessageOfAnEpochOlderThanTheReplaysIsDroppedAndTheHoldKept) {
  RemoteHolds holds;
  holds.Hold("t");
  // The replay was read after the owner started epoch 6; a message of 5
  // was still on its way.
  EXPECT_FALSE(Pass(holds, Msg(5, 12)));
  std::vector<RemoteHolds::Waiting> w = holds.Replayed("t", 6, 2, {});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_FALSE(Pass(holds, w[0].message));
  EXPECT_FALSE(holds.empty());
  EXPECT_FALSE(Pass(holds, Msg(6, 2)));  // still dropped: the replay had it
  EXPECT_TRUE(Pass(holds, Msg(6, 3)));
}

TEST(RemoteHolds, AnEpochChangeWhileTheReplayIsPendingKeepsItsPlaceAmongTheWaiting) {
  RemoteHolds holds;
  holds.Hold("t");
  // The replay was read at epoch 5; the owner then sent 11 and started 6.
  EXPECT_FALSE(Pass(holds, Msg(5, 11)));
  EXPECT_TRUE(holds.HoldsEpochChange(EpochGap(6)));
  EXPECT_FALSE(Pass(holds, Msg(6, 1)));
  std::vector<RemoteHolds::Waiting> w = holds.Replayed("t", 5, 10, {});
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].message->offset, 11u);
  ASSERT_TRUE(w[1].gap);
  EXPECT_EQ(w[1].gap->epoch, 6u);
  EXPECT_EQ(w[2].message->epoch, 6u);
  EXPECT_TRUE(Pass(holds, w[0].message));
  EXPECT_FALSE(holds.HoldsEpochChange(w[1].gap));  // no longer held: told
}

TEST(RemoteHolds, AnEpochChangeTheReplayIsOfIsNotToldTwice) {
  RemoteHolds holds;
  holds.Hold("t");
  // The replay was read after the change: it is of epoch 6 and tells the
  // client itself.
  EXPECT_TRUE(holds.HoldsEpochChange(EpochGap(6)));
  std::vector<RemoteHolds::Waiting> w = holds.Replayed("t", 6, 3, {});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(holds.HoldsEpochChange(w[0].gap));      // covered
  EXPECT_FALSE(holds.HoldsEpochChange(EpochGap(7)));  // a newer one is told
}

TEST(RemoteHolds, ATopicNotHeldPassesEverything) {
  RemoteHolds holds;
  holds.Hold("t");
  auto other = std::make_shared<Message>();
  other->topic = "u";
  other->epoch = 1;
  other->offset = 1;
  EXPECT_TRUE(Pass(holds, other));
  auto gap = std::make_shared<const Gap>(Gap{"u", GapReason::kEpochChanged, 2, 0, 0});
  EXPECT_FALSE(holds.HoldsEpochChange(gap));
}

}  // namespace
}  // namespace herald
