// SseStream on a real HttpSession and loop, created as SseFront::Finish
// does but with the options each test needs: heartbeats, duplicates,
// slow consumers, token expiry and drains.
#include "frontends/sse/sse_stream.h"

#include "base/unix_time.h"
#include "frontends/http_auth/http_auth.h"
#include "tests/sse/sse_fixture.h"

namespace herald::sse::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class SseStreamTest : public herald::testing::LoopFixture {
 protected:
  // No history: the firehose of the slow-consumer test keeps none.
  SseStreamTest() { broker_options_.default_history.max_messages = 0; }

  // Serves GET /stream with an SseStream over `spec`, set up with `options_`.
  Peer Open(StreamSpec spec, int64_t expires_at_s = 0, int rcvbuf = 0) {
    auto router = std::make_shared<http::Router>();
    router->Handle(
        "GET", "/stream", [this, spec, expires_at_s](http::Request& req, http::Response res) {
          auto stream =
              std::make_shared<SseStream>(*broker_, res, *req.loop, options_, stats_, spec,
                                          StreamPositions(options_.max_id_topics), nullptr);
          ASSERT_TRUE(stream->Subscribe(inbox_, {}).ok());
          stream->Start(expires_at_s);
        });
    return ConnectHttp(router, {}, rcvbuf);
  }

  SseOptions options_;
  std::shared_ptr<SseStats> stats_ = std::make_shared<SseStats>();
};

TEST_F(SseStreamTest, IdleStreamGetsAHeartbeatWithinTheInterval) {
  options_.heartbeat_interval = std::chrono::milliseconds(200);
  OpenStream s = StartStream(Open({.patterns = {"quiet"}}), "/stream");
  s.ReadUntil("retry: 2000\n\n");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(s.ReadUntil(":\n\n", 2000ms), ":\n\n");
  const auto waited = std::chrono::steady_clock::now() - start;
  // Within the interval (plus the timer wheel's 16 ms tick and scheduling),
  // not after two of them.
  EXPECT_LT(waited, 200ms + 150ms);
  EXPECT_EQ(stats_->heartbeats_sent.load(), 1u);
}

TEST_F(SseStreamTest, HeartbeatIsDueAnIntervalAfterTheLastEventNotTheLastTick) {
  options_.heartbeat_interval = std::chrono::milliseconds(200);
  OpenStream s = StartStream(Open({.patterns = {"t"}}), "/stream");
  s.ReadUntil("retry: 2000\n\n");
  std::this_thread::sleep_for(100ms);  // mid-interval
  ASSERT_TRUE(broker_->Publish("t", "busy").ok());
  s.ReadUntil("data: busy\n\n");
  const auto after_event = std::chrono::steady_clock::now();
  EXPECT_EQ(s.ReadUntil(":\n\n", 2000ms), ":\n\n");
  const auto waited = std::chrono::steady_clock::now() - after_event;
  EXPECT_GE(waited, 180ms);  // not at the tick the event came just before
  EXPECT_LT(waited, 200ms + 150ms);
}

TEST_F(SseStreamTest, MessageMatchedByTwoPatternsIsSentOnce) {
  OpenStream s = StartStream(Open({.patterns = {"a.*", "a.b"}}), "/stream");
  s.ReadUntil("retry: 2000\n\n");
  ASSERT_TRUE(broker_->Publish("a.b", "one").ok());
  ASSERT_TRUE(broker_->Publish("a.c", "two").ok());
  const std::string got = s.ReadUntil("data: two\n\n");
  EXPECT_EQ(got.find("data: one\n"), got.rfind("data: one\n"));  // exactly once
  EXPECT_THAT(got, HasSubstr("data: one\n"));
  EXPECT_EQ(stats_->events_sent.load(), 2u);
}

TEST_F(SseStreamTest, EventIdsAdvanceWithEachMessage) {
  OpenStream s = StartStream(Open({.patterns = {"t"}}), "/stream");
  s.ReadUntil("retry: 2000\n\n");
  ASSERT_TRUE(broker_->Publish("t", "1").ok());
  ASSERT_TRUE(broker_->Publish("t", "2").ok());
  const std::string a = LastId(s.ReadUntil("data: 1\n\n"));
  const std::string b = LastId(s.ReadUntil("data: 2\n\n"));
  EXPECT_FALSE(a.empty());
  EXPECT_NE(a, b);
}

TEST_F(SseStreamTest, StreamThatStopsReadingIsCutAsASlowConsumer) {
  options_.outbound = {.max_bytes = 64 << 10, .policy = SlowConsumerPolicy::kDisconnect};
  OpenStream s = StartStream(Open({.patterns = {"firehose"}}, 0, /*rcvbuf=*/4096), "/stream");
  const std::string payload(8000, 'f');
  for (int i = 0; i < 8000 && stats_->slow_consumer_closes.load() == 0; ++i) {
    ASSERT_TRUE(broker_->Publish("firehose", payload).ok());
    if (i % 50 == 49) WaitFor([] { return true; });  // let the loop flush
  }
  EXPECT_TRUE(WaitFor([&] { return stats_->slow_consumer_closes.load() == 1; }));
  EXPECT_GE(broker_->Stats().slow_consumer_disconnects, 1u);
  s.peer.Close();  // else the server lingers (up to 2 s) for what it queued
  EXPECT_TRUE(WaitFor([&] { return broker_->Stats().subscriptions == 0; }));
}

TEST_F(SseStreamTest, ExpiredTokenEndsTheStreamWithAComment) {
  OpenStream s = StartStream(Open({.patterns = {"t"}}, UnixSeconds() - 1), "/stream");
  EXPECT_THAT(s.ReadUntil(": token expired\n\n"), HasSubstr(": token expired\n\n"));
  EXPECT_TRUE(s.peer.ClosedWithin());
}

TEST_F(SseStreamTest, DrainAsksTheBrowserToReconnectLater) {
  options_.retry = std::chrono::milliseconds(1000);
  OpenStream s = StartStream(Open({.patterns = {"t"}}), "/stream");
  s.ReadUntil("retry: 1000\n\n");
  OnLoop([&] { loop_.DrainSome(10); });
  const std::string bye = s.ReadUntil(": server shutting down\n\n");
  EXPECT_THAT(bye, HasSubstr(": server shutting down\n\n"));
  const int retry = std::stoi(bye.substr(bye.find("retry: ") + 7));
  EXPECT_GE(retry, 1000);  // jittered between one and two periods
  EXPECT_LE(retry, 2000);
}

TEST_F(SseStreamTest, ClosedStreamUnsubscribesAtOnce) {
  {
    OpenStream s = StartStream(Open({.patterns = {"t", "u"}}), "/stream");
    s.ReadUntil("retry: 2000\n\n");
    EXPECT_EQ(stats_->streams_open.load(), 1);
  }
  EXPECT_TRUE(WaitFor(
      [&] { return broker_->Stats().subscriptions == 0 && stats_->streams_open.load() == 0; }));
}

}  // namespace
}  // namespace herald::sse::testing
