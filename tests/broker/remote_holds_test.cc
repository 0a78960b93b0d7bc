// RemoteHolds: how a subscription's replay from elsewhere (another node, a
// shared store) meets the live messages that waited for it.
#include "broker/remote_holds.h"

#include <gtest/gtest.h>

#include <memory>
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

std::vector<uint64_t> Offsets(const std::vector<MessagePtr>& ms) {
  std::vector<uint64_t> out;
  for (const MessagePtr& m : ms) out.push_back(m->offset);
  return out;
}

TEST(RemoteHolds, LiveMessagesWaitForTheReplayAndThoseItCoveredAreDropped) {
  RemoteHolds holds;
  holds.Hold("t");
  EXPECT_FALSE(holds.Pass(Msg(5, 10)));
  EXPECT_FALSE(holds.Pass(Msg(5, 11)));
  RemoteHolds::Released r = holds.Replayed("t", 5, 10, {});
  EXPECT_EQ(Offsets(r.waiting), (std::vector<uint64_t>{10, 11}));
  EXPECT_FALSE(r.epoch_change);
  EXPECT_FALSE(holds.Pass(r.waiting[0]));  // the replay had it
  EXPECT_TRUE(holds.Pass(r.waiting[1]));
  EXPECT_TRUE(holds.empty());  // a newer one passed: no longer held
}

TEST(RemoteHolds, AnEpochChangeWhileAReplayOfTheOlderEpochIsPendingIsToldAfterIt) {
  RemoteHolds holds;
  holds.Hold("t");
  // The replay was read at epoch 5; the owner then started epoch 6.
  EXPECT_TRUE(holds.CoversEpochChange(Gap{"t", GapReason::kEpochChanged, 6, 0, 0}));
  EXPECT_FALSE(holds.Pass(Msg(6, 1)));
  RemoteHolds::Released r = holds.Replayed("t", 5, 10, {});
  ASSERT_TRUE(r.epoch_change);
  EXPECT_EQ(r.epoch_change->epoch, 6u);
  EXPECT_EQ(Offsets(r.waiting), (std::vector<uint64_t>{1}));
  EXPECT_TRUE(holds.Pass(r.waiting[0]));
}

TEST(RemoteHolds, AnEpochChangeTheReplayAlreadyTellsIsNotToldTwice) {
  RemoteHolds holds;
  holds.Hold("t");
  // The owner answered after its change: the replay is of epoch 6 and
  // carries the gap itself.
  EXPECT_TRUE(holds.CoversEpochChange(Gap{"t", GapReason::kEpochChanged, 6, 0, 0}));
  RemoteHolds::Released r = holds.Replayed("t", 6, 3, {});
  EXPECT_FALSE(r.epoch_change);
  // Once replayed, a gap for the replay's epoch is covered; a newer one is not.
  EXPECT_TRUE(holds.CoversEpochChange(Gap{"t", GapReason::kEpochChanged, 6, 0, 0}));
  EXPECT_FALSE(holds.CoversEpochChange(Gap{"t", GapReason::kEpochChanged, 7, 0, 0}));
}

TEST(RemoteHolds, ATopicNotHeldPassesEverything) {
  RemoteHolds holds;
  holds.Hold("t");
  auto other = std::make_shared<Message>();
  other->topic = "u";
  other->epoch = 1;
  other->offset = 1;
  EXPECT_TRUE(holds.Pass(other));
  EXPECT_FALSE(holds.CoversEpochChange(Gap{"u", GapReason::kEpochChanged, 2, 0, 0}));
}

}  // namespace
}  // namespace herald
