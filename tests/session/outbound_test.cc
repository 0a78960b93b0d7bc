#include "frontends/session/outbound.h"

#include <gtest/gtest.h>

namespace herald::session {
namespace {

// Records what the policy asked of the front.
class RecordingPort final : public OutboundPort {
 public:
  void SendGapNotice(const Gap&) override { ++gaps; }
  bool CloseSlowConsumer() override {
    if (closed) return false;
    closed = true;
    return true;
  }
  int gaps = 0;
  bool closed = false;
};

OutboundLimits Limits(SlowConsumerPolicy policy) {
  OutboundLimits l;
  l.max_bytes = 1000;
  l.policy = policy;
  return l;
}

TEST(OutboundJobs, AJobWithinTheLimitIsSent) {
  Broker broker;
  Outbound out(broker, Limits(SlowConsumerPolicy::kDropWithGap));
  RecordingPort port;
  EXPECT_TRUE(out.AdmitJob(port, 400, 600));
  EXPECT_FALSE(port.closed);
  EXPECT_EQ(broker.Stats().slow_consumer_disconnects, 0u);
}

// A job cannot be dropped like a message (it stays the member's until
// settled), so under the drop policy too the connection is cut, and counted.
TEST(OutboundJobs, PastTheLimitTheConnectionIsCutWhateverThePolicy) {
  for (SlowConsumerPolicy policy :
       {SlowConsumerPolicy::kDropWithGap, SlowConsumerPolicy::kDisconnect}) {
    Broker broker;
    Outbound out(broker, Limits(policy));
    RecordingPort port;
    EXPECT_FALSE(out.AdmitJob(port, 401, 600));
    EXPECT_TRUE(port.closed);
    EXPECT_EQ(port.gaps, 0);
    EXPECT_EQ(broker.Stats().slow_consumer_disconnects, 1u);
    EXPECT_EQ(broker.Stats().dropped, 0u);
    EXPECT_FALSE(out.AdmitJob(port, 401, 600));  // already closing: counted once
    EXPECT_EQ(broker.Stats().slow_consumer_disconnects, 1u);
  }
}

TEST(OutboundJobs, AnEmptyQueueTakesAJobLargerThanTheLimit) {
  Broker broker;
  Outbound out(broker, Limits(SlowConsumerPolicy::kDisconnect));
  RecordingPort port;
  EXPECT_TRUE(out.AdmitJob(port, 5000, 0));
  EXPECT_FALSE(port.closed);
  EXPECT_FALSE(out.AdmitJob(port, 5000, 1));
  EXPECT_TRUE(port.closed);
}

}  // namespace
}  // namespace herald::session
