// WsSession on a real loop: frames in through a socket, control frames,
// the close handshake, keep-alive, limits — each failure on its own
// connection only.
#include "frontends/ws/ws_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/unix_time.h"
#include "frontends/http_auth/http_auth.h"
#include "tests/ws/ws_fixture.h"

namespace herald::ws::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class WsSessionTest : public WsFixture {};

TEST_F(WsSessionTest, PingIsAnsweredWithPongOfTheSamePayload) {
  Peer c = OpenJson();
  c.Send(ClientFrame(kPing, "are you there?"));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kPong);
  EXPECT_FALSE(f.masked);  // RFC 6455 §5.1: a server never masks
  EXPECT_EQ(f.payload, "are you there?");
}

TEST_F(WsSessionTest, CloseIsEchoedWithItsCodeAndTheServerClosesTcp) {
  Peer c = OpenJson();
  c.Send(CloseFrame(1000, "bye"));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1000);
  EXPECT_TRUE(c.ClosedWithin());
}

TEST_F(WsSessionTest, CloseWithoutACodeIsAnsweredWithAnEmptyClose) {
  Peer c = OpenJson();
  c.Send(ClientFrame(kClose, ""));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.payload, "");
  EXPECT_TRUE(c.ClosedWithin());
}

TEST_F(WsSessionTest, UnmaskedFrameFailsTheConnectionWith1002) {
  Peer c = OpenJson();
  c.Send(std::string("\x81\x02hi", 4));  // a text frame without a mask
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1002);
  EXPECT_TRUE(c.ClosedWithin());
  EXPECT_EQ(stats_.protocol_errors.load(), 1u);
  EXPECT_EQ(stats_.limit_closes.load(), 0u);  // a violation, not a limit
}

TEST_F(WsSessionTest, MessageOverTheLimitIsClosedWith1009AndCountedAsALimit) {
  options_.max_message_bytes = 1000;
  Peer c = OpenJson();
  c.Send(ClientFrame(kText, std::string(1001, 'x')));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1009);
  EXPECT_TRUE(c.ClosedWithin());
  EXPECT_EQ(stats_.limit_closes.load(), 1u);  // herald_ws_limit_closes_total
}

TEST_F(WsSessionTest, TextThatIsNotUtf8IsClosedWith1007) {
  Peer c = OpenJson();
  c.Send(ClientFrame(kText, "\xc3\x28"));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1007);
  EXPECT_TRUE(c.ClosedWithin());
}

TEST_F(WsSessionTest, FragmentedMessageIsReassembledBeforeItIsHandled) {
  Peer c = OpenJson();
  c.Send(ClientFrame(kText, R"({"op":"pi)", false));
  c.Send(ClientFrame(kPing, "between"));  // control frames may interleave (§5.4)
  c.Send(ClientFrame(0x0, R"(ng","id":7})", true));
  ServerFrame pong = ReadFrame(c);
  EXPECT_EQ(pong.opcode, kPong);
  EXPECT_EQ(pong.payload, "between");
  EXPECT_THAT(ReadText(c), HasSubstr(R"("op":"pong")"));
}

TEST_F(WsSessionTest, ProtocolErrorOnOneConnectionLeavesAnotherOpen) {
  Peer bad = OpenJson();
  Peer good = OpenJson();
  bad.Send(ClientFrame(0x3, "reserved opcode"));
  EXPECT_EQ(ReadFrame(bad).close_code(), 1002);
  EXPECT_TRUE(bad.ClosedWithin());
  good.Send(ClientFrame(kPing, "still here"));
  ServerFrame f = ReadFrame(good);
  EXPECT_EQ(f.opcode, kPong);
  EXPECT_EQ(f.payload, "still here");
}

TEST_F(WsSessionTest, QuietConnectionIsPingedEveryPingInterval) {
  options_.ping_interval = 40ms;
  Peer c = OpenJson();
  const auto start = std::chrono::steady_clock::now();
  ServerFrame f = ReadFrame(c, 2000ms);
  EXPECT_EQ(f.opcode, kPing);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 40ms);
  c.Send(ClientFrame(kPong, ""));
  EXPECT_EQ(ReadFrame(c, 2000ms).opcode, kPing);  // and again after the pong
}

TEST_F(WsSessionTest, PeerThatAnswersNothingIsClosedAfterTheIdleTimeout) {
  options_.ping_interval = 20ms;
  options_.idle_timeout = 60ms;
  Peer c = OpenJson();
  std::string got = c.ReadToEof(3000ms);  // pings, then the cut
  EXPECT_TRUE(c.ClosedWithin(0ms));
  EXPECT_FALSE(got.empty());
  EXPECT_EQ(stats_.idle_timeouts.load(), 1u);
}

TEST_F(WsSessionTest, MessagesOverTheRateAreRefusedThenTheConnectionIsClosedWith1008) {
  options_.max_messages_per_second = 0.001;  // nothing refills during the test
  options_.message_burst = 2;
  Peer c = OpenJson();
  for (int i = 0; i < 5; ++i) c.Send(Text(R"({"op":"ping"})"));
  // Two pass (the burst), two are refused with rate_limited, the fifth is
  // over `burst` refusals in a row: 1008.
  EXPECT_THAT(ReadText(c), HasSubstr(R"("op":"pong")"));
  EXPECT_THAT(ReadText(c), HasSubstr(R"("op":"pong")"));
  EXPECT_THAT(ReadText(c), HasSubstr(R"("code":"rate_limited")"));
  EXPECT_THAT(ReadText(c), HasSubstr(R"("code":"rate_limited")"));
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1008);
  EXPECT_EQ(f.close_reason(), "rate limit exceeded");
  EXPECT_TRUE(c.ClosedWithin());
  EXPECT_EQ(stats_.rate_limit_closes.load(), 1u);
}

TEST_F(WsSessionTest, ExpiredTokenClosesWith4001) {
  Peer c = OpenJson();
  OnLoop([&] { sessions_[0].lock()->SetExpiry(UnixSeconds() - 1); });
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 4001);
  EXPECT_EQ(f.close_reason(), "token expired");
}

TEST_F(WsSessionTest, DrainSaysGoingAwayWith1001AndWaitsForTheClientsClose) {
  Peer c = OpenJson();
  OnLoop([&] { loop_.DrainSome(10); });
  ServerFrame f = ReadFrame(c);
  EXPECT_EQ(f.opcode, kClose);
  EXPECT_EQ(f.close_code(), 1001);
  c.Send(CloseFrame(1001));
  EXPECT_TRUE(c.ClosedWithin());
}

TEST_F(WsSessionTest, OpenConnectionsAreCountedUntilTheyClose) {
  Peer a = OpenJson();
  Peer b = OpenRaw("room");
  EXPECT_EQ(stats_.connections_open.load(), 2);
  EXPECT_EQ(stats_.connections_total.load(), 2u);
  a.Close();
  EXPECT_TRUE(WaitFor([&] { return stats_.connections_open.load() == 1; }));
  b.Close();
  EXPECT_TRUE(WaitFor([&] { return stats_.connections_open.load() == 0; }));
}

}  // namespace
}  // namespace herald::ws::testing
