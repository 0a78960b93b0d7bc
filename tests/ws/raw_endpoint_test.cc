// RawEndpoint (`/ws/<topic>`) on a real WsSession and loop: every frame is
// published to the topic, every message of the topic comes back as a frame
// of its type; what raw frames cannot say is said by a close code.
#include "frontends/ws/raw_endpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/ws/ws_fixture.h"

namespace herald::ws::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class RawEndpointTest : public WsFixture {
 protected:
  RawEndpointTest() {
    broker_options_.max_payload_bytes = 8000;
    broker_options_.default_history.max_messages = 0;  // the firehose keeps none
  }
};

TEST_F(RawEndpointTest, TextFrameIsPublishedAndEchoedToEveryClientOnTheTopic) {
  Peer alice = OpenRaw("room");
  Peer bob = OpenRaw("room");
  alice.Send(Text("hi all"));
  for (Peer* p : {&alice, &bob}) {  // the sender included
    ServerFrame f = ReadFrame(*p);
    EXPECT_EQ(f.opcode, kText);
    EXPECT_EQ(f.payload, "hi all");
  }
}

TEST_F(RawEndpointTest, BinaryFrameComesBackAsBinary) {
  Peer c = OpenRaw("bin");
  c.Send(ClientFrame(kBinary, std::string("\x00\xff\x01", 3)));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kBinary);
  EXPECT_EQ(f.payload, std::string("\x00\xff\x01", 3));
}

TEST_F(RawEndpointTest, PublishedMessageKeepsItsContentType) {
  // Written on the broker's dispatcher thread, read here.
  std::mutex mu;
  std::string content_type;
  ASSERT_TRUE(broker_
                  ->Subscribe("bin",
                              [&](const Delivery& d) {
                                std::lock_guard lock(mu);
                                if (d.kind == Delivery::Kind::kMessage)
                                  content_type = d.message->content_type;
                              })
                  .ok());
  Peer c = OpenRaw("bin");
  c.Send(ClientFrame(kBinary, "b"));
  EXPECT_EQ(ReadFrame(c).opcode, kBinary);
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return content_type == "application/octet-stream";
  }));
}

TEST_F(RawEndpointTest, MessagesFromOtherFrontsArriveAsFrames) {
  Peer c = OpenRaw("news");
  ASSERT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 1; }));
  ASSERT_TRUE(
      broker_->Publish("news", "extra", {.content_type = "text/plain; charset=utf-8"}).ok());
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kText);
  EXPECT_EQ(f.payload, "extra");
  ASSERT_TRUE(broker_->Publish("elsewhere", "not here").ok());
  EXPECT_EQ(c.ReadFor(50ms), "");
}

TEST_F(RawEndpointTest, FrameWithoutThePublishGrantIsClosedWith1008) {
  Peer reader = OpenRaw("ro", /*may_publish=*/false);
  reader.Send(Text("may I?"));
  ServerFrame f = ReadFrame(reader);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1008);
  EXPECT_EQ(f.close_reason(), "permission denied: publish to 'ro'");
  EXPECT_TRUE(reader.ClosedWithin());
  // herald_publish_refused_total{code="permission_denied"}
  EXPECT_EQ(
      broker_->Stats().publish_errors_by_code[static_cast<size_t>(ErrorCode::kPermissionDenied)],
      1u);
}

TEST_F(RawEndpointTest, PayloadOverTheBrokerLimitIsClosedWith1009AndNotPublished) {
  Peer big = OpenRaw("room");
  Peer other = OpenRaw("room");
  big.Send(Text(std::string(8001, 'x')));
  ServerFrame f = ReadFrame(big);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1009);
  EXPECT_EQ(f.close_reason(), "payload is 8001 bytes, over the limit of 8000");
  EXPECT_TRUE(big.ClosedWithin());
  // herald_publish_refused_total{code="payload_too_large"}
  EXPECT_EQ(
      broker_->Stats().publish_errors_by_code[static_cast<size_t>(ErrorCode::kPayloadTooLarge)],
      1u);
  other.Send(Text("fine"));  // the other connection is untouched
  EXPECT_EQ(ReadFrame(other).payload, "fine");
}

TEST_F(RawEndpointTest, MessagesSentBeforeACloseAreEchoedBeforeTheCloseReply) {
  Peer c = OpenRaw("room");
  c.Send(Text("last words") + CloseFrame(1000));
  ServerFrame echo = ReadFrame(c);
  EXPECT_EQ(echo.opcode, kText);
  EXPECT_EQ(echo.payload, "last words");
  EXPECT_EQ(ReadFrame(c).opcode, kClose);
}

TEST_F(RawEndpointTest, ClosingReleasesTheTopicSubscription) {
  Peer c = OpenRaw("room");
  EXPECT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 1; }));
  c.Close();
  EXPECT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 0; }));
}

// A client that stops reading under the disconnect policy: cut once what
// the kernel refused passes the outbound limit, counted once.
TEST_F(RawEndpointTest, ClientThatStopsReadingIsCutAsASlowConsumer) {
  options_.outbound = {.max_bytes = 64 << 10, .policy = SlowConsumerPolicy::kDisconnect};
  Peer slow = OpenRaw("firehose", true, /*rcvbuf=*/4096);
  ASSERT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 1; }));
  // Far more than loopback's socket buffers hold (the kernel's, on both
  // sides), published until the cut.
  const std::string payload(8000, 'f');
  for (int i = 0; i < 8000 && stats_.slow_consumer_closes.load() == 0; ++i) {
    ASSERT_TRUE(broker_->Publish("firehose", payload).ok());
    if (i % 50 == 49) WaitFor([] { return true; });  // let the loop flush
  }
  EXPECT_TRUE(WaitFor([&] { return stats_.slow_consumer_closes.load() == 1; }));
  EXPECT_TRUE(slow.ClosedWithin());
  // The broker counts the cut too, whichever check made it (the guard, or a
  // flush the kernel refused).
  EXPECT_EQ(broker_->Stats().slow_consumer_disconnects, 1u);
}

}  // namespace
}  // namespace herald::ws::testing
