// Peer-wire conversions: what crosses a link keeps its meaning.
#include "cluster/frame_convert.h"

#include <gtest/gtest.h>

namespace herald::cluster {
namespace {

// Through the bytes a link carries, as the receiving node reads them.
Gap AcrossTheWire(const Gap& sent) {
  pb::HistoryResponse out;
  ToGap(sent, out.mutable_gap());
  pb::HistoryResponse in;
  EXPECT_TRUE(in.ParseFromString(out.SerializeAsString()));
  return FromGap(sent.topic, in.gap());
}

TEST(ClusterFrameConvert, EveryGapReasonCrossesAndComesBack) {
  for (GapReason reason :
       {GapReason::kEpochChanged, GapReason::kTrimmed, GapReason::kSlowConsumer}) {
    const Gap sent{"orders.eu", reason, 7, 3, 9};
    const Gap got = AcrossTheWire(sent);
    EXPECT_EQ(got.reason, reason) << GapReasonName(reason);
    EXPECT_EQ(got.topic, "orders.eu");
    EXPECT_EQ(got.epoch, 7u);
    EXPECT_EQ(got.from_offset, 3u);
    EXPECT_EQ(got.to_offset, 9u);
    // And back: the receiver forwarding it would say the same.
    EXPECT_EQ(FromWire(ToWire(got.reason)), reason);
  }
}

TEST(ClusterFrameConvert, EachGapReasonHasItsOwnWireValue) {
  EXPECT_EQ(ToWire(GapReason::kEpochChanged), pb::Gap::EPOCH_CHANGED);
  EXPECT_EQ(ToWire(GapReason::kTrimmed), pb::Gap::TRIMMED);
  EXPECT_EQ(ToWire(GapReason::kSlowConsumer), pb::Gap::SLOW_CONSUMER);
}

TEST(ClusterFrameConvert, AnUnknownOrMissingGapReasonReadsAsEpochChanged) {
  // An older node (the reason was a string in field 1) or a newer one (a
  // reason this node does not know): the safe reading is "what came before
  // is gone".
  EXPECT_EQ(FromWire(pb::Gap::REASON_UNSPECIFIED), GapReason::kEpochChanged);
  EXPECT_EQ(FromWire(static_cast<pb::Gap::Reason>(99)), GapReason::kEpochChanged);
  pb::Gap old_style;
  old_style.set_epoch(4);
  EXPECT_EQ(FromGap("t", old_style).reason, GapReason::kEpochChanged);
}

TEST(ClusterFrameConvert, AReplyCrossesWithItsHeaders) {
  Message m;
  m.topic = "_INBOX.n1.5";
  m.payload = "pong";
  m.content_type = "text/plain";
  m.headers = {{"a", "1"}, {"b", "2"}};
  pb::Reply r;
  ToReply(m, &r);
  MessagePtr got = FromReply(r);
  EXPECT_EQ(got->topic, m.topic);
  EXPECT_EQ(got->payload, m.payload);
  EXPECT_EQ(got->content_type, m.content_type);
  ASSERT_EQ(got->headers.size(), 2u);
  EXPECT_EQ(got->headers[1].name, "b");
  EXPECT_EQ(got->headers[1].value, "2");
}

}  // namespace
}  // namespace herald::cluster
