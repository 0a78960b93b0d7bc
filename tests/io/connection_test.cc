#include "io/connection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "io/listener.h"
#include "io/worker_pool.h"
#include "tests/io/test_socket.h"
#include "tests/io/wait_on_loop.h"

namespace herald::io {
namespace {

using testing::TestSocket;

// Records what a connection reports. Touched on the loop thread only; the
// test reads it through Loop::RunSync.
struct Recorder : ConnectionHandler {
  Connection* conn = nullptr;
  std::string data;
  bool echo = false;
  int drained = 0;
  int resumed = 0;
  std::optional<CloseReason> closed;

  void OnData(std::string_view d) override {
    data.append(d);
    if (echo) conn->Write(std::string(d));
  }
  void OnDrained() override { ++drained; }
  void OnOutputResumed() override { ++resumed; }
  void OnClose(CloseReason r) override {
    closed = r;
    conn = nullptr;
  }
};

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pool_.Start().ok());
    listener_ = std::make_unique<Listener>(pool_, [this](Connection* c) {
      auto r = std::make_shared<Recorder>();
      r->conn = c;
      recorders_.push_back(r);
      c->SetHandler(r);
    });
    ASSERT_TRUE(listener_->Listen("127.0.0.1", 0).ok());
  }
  void TearDown() override {
    listener_.reset();
    pool_.Stop();
  }

  Loop& loop() { return pool_[0]; }

  // Runs `pred` on the loop until it holds (or 5 s pass).
  bool WaitFor(const std::function<bool()>& pred) { return testing::WaitOnLoop(loop(), pred); }

  // The i-th accepted connection's recorder, once accepted.
  std::shared_ptr<Recorder> Accepted(size_t i) {
    EXPECT_TRUE(WaitFor([&] { return recorders_.size() > i; }));
    std::shared_ptr<Recorder> r;
    loop().RunSync([&] { r = recorders_.size() > i ? recorders_[i] : nullptr; });
    return r;
  }

  WorkerPool pool_{1};
  std::unique_ptr<Listener> listener_;
  std::vector<std::shared_ptr<Recorder>> recorders_;  // loop thread only
};

TEST_F(ConnectionTest, DeliversReadsToTheHandler) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  loop().RunSync([&] { r->echo = true; });
  client.Send("ping");
  EXPECT_EQ(client.ReadExactly(4), "ping");
  EXPECT_TRUE(WaitFor([&] { return r->data == "ping"; }));
}

TEST_F(ConnectionTest, ManyWritesInOneLoopTurnBecomeOneWritev) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "message " + std::to_string(i) + "\n";
  loop().RunSync([&] {
    for (int i = 0; i < 100; ++i) r->conn->Write("message " + std::to_string(i) + "\n");
    EXPECT_EQ(r->conn->stats().write_calls, 0u);  // nothing written yet
  });
  EXPECT_EQ(client.ReadExactly(expected.size()), expected);
  loop().RunSync([&] {
    EXPECT_EQ(r->conn->stats().flushes, 1u);
    EXPECT_EQ(r->conn->stats().write_calls, 1u);
    EXPECT_EQ(r->conn->stats().bytes_written, expected.size());
    EXPECT_EQ(r->drained, 1);
  });
}

TEST_F(ConnectionTest, SharedBufferIsQueuedByReferenceAcrossConnections) {
  TestSocket c1(listener_->port());
  TestSocket c2(listener_->port());
  auto r1 = Accepted(0);
  auto r2 = Accepted(1);
  ASSERT_TRUE(r1 && r2);
  // Big enough that the kernel cannot take it at once: it stays queued.
  SharedBuffer payload = MakeShared(std::string(32 << 20, 'p'));
  loop().RunSync([&] {
    r1->conn->Write(payload);
    r2->conn->Write(payload);
    EXPECT_EQ(payload.use_count(), 3);
  });
  loop().RunSync([&] {
    EXPECT_GT(r1->conn->queued_bytes(), 0u);       // a slow reader: still queued
    EXPECT_EQ(r1->conn->stats().write_calls, 2u);  // try_write, then one uv_write
  });
  EXPECT_EQ(c1.ReadExactly(payload->size()), *payload);
  EXPECT_EQ(c2.ReadExactly(payload->size()), *payload);
  EXPECT_TRUE(WaitFor([&] { return payload.use_count() == 1; }));
  loop().RunSync([&] { EXPECT_EQ(r1->conn->queued_bytes(), 0u); });
}

// A peer that sends and never reads: over the gate's high-water mark the
// connection stops reading (what the peer sends stays in the kernel), and
// reading resumes, with OnOutputResumed, once the queue drained to `low`.
TEST_F(ConnectionTest, OutputGateStopsReadingWhileTheQueueIsOverItsMark) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  auto stats = std::make_shared<OutputGateStats>();
  const std::string big(8 << 20, 'o');  // more than the socket buffers hold
  loop().RunSync([&] {
    r->conn->SetOutputGate({.high = 1 << 20, .low = 1 << 19, .stats = stats});
    r->conn->Write(std::string(big));
    EXPECT_TRUE(r->conn->output_gated());  // at once, before any flush
  });
  EXPECT_EQ(stats->pauses_total.load(), 1u);
  EXPECT_EQ(stats->paused.load(), 1);
  client.Send("held");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  loop().RunSync([&] { EXPECT_EQ(r->data, ""); });  // not read while gated
  EXPECT_EQ(client.ReadExactly(big.size()), big);
  EXPECT_TRUE(WaitFor([&] { return r->data == "held"; }));
  loop().RunSync([&] {
    EXPECT_FALSE(r->conn->output_gated());
    EXPECT_EQ(r->resumed, 1);
  });
  EXPECT_EQ(stats->paused.load(), 0);
}

// Small chunks cost more than their bytes; the gate counts what they cost.
TEST_F(ConnectionTest, OutputGateCountsEachChunksBookkeeping) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  loop().RunSync([&] {
    r->conn->SetOutputGate({.high = 100 * WriteQueue::kChunkOverhead, .low = 0});
    for (int i = 0; i < 100; ++i) r->conn->Write(std::string("x"));
    EXPECT_TRUE(r->conn->output_gated());  // 100 bytes, but 100 chunks
  });
  EXPECT_EQ(client.ReadExactly(100), std::string(100, 'x'));
  EXPECT_TRUE(WaitFor([&] { return !r->conn->output_gated(); }));
}

TEST_F(ConnectionTest, AClosedGatedConnectionLeavesTheGauge) {
  auto stats = std::make_shared<OutputGateStats>();
  {
    TestSocket client(listener_->port());
    auto r = Accepted(0);
    ASSERT_TRUE(r);
    loop().RunSync([&] {
      r->conn->SetOutputGate({.high = 1, .low = 0, .stats = stats});
      r->conn->Write(std::string(8 << 20, 'o'));
    });
    EXPECT_EQ(stats->paused.load(), 1);
    loop().RunSync([&] { r->conn->Close(CloseReason::kDone, CloseMode::kImmediate); });
    EXPECT_TRUE(WaitFor([&] { return r->closed.has_value(); }));
  }
  EXPECT_EQ(stats->paused.load(), 0);
  EXPECT_EQ(stats->pauses_total.load(), 1u);
}

TEST_F(ConnectionTest, GracefulCloseFlushesFirst) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  loop().RunSync([&] {
    r->conn->Write(std::string("bye"));
    r->conn->Close(CloseReason::kDone);
    EXPECT_FALSE(r->conn->Write(std::string("dropped")));
  });
  EXPECT_EQ(client.ReadToEof(), "bye");
  client.ShutdownWrite();
  EXPECT_TRUE(WaitFor([&] { return r->closed == CloseReason::kDone; }));
}

TEST_F(ConnectionTest, PeerEofClosesWithPeerClosed) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  client.ShutdownWrite();
  EXPECT_TRUE(WaitFor([&] { return r->closed == CloseReason::kPeerClosed; }));
  EXPECT_EQ(client.ReadToEof(), "");
}

TEST_F(ConnectionTest, TimerClosesWithTheArmedReason) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  loop().RunSync([&] { r->conn->ArmTimer(20, CloseReason::kIdleTimeout); });
  EXPECT_EQ(client.ReadToEof(), "");
  client.ShutdownWrite();
  EXPECT_TRUE(WaitFor([&] { return r->closed == CloseReason::kIdleTimeout; }));
}

TEST_F(ConnectionTest, PausedConnectionDoesNotRead) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  loop().RunSync([&] { r->conn->PauseReading(); });
  client.Send("held");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  loop().RunSync([&] {
    EXPECT_EQ(r->data, "");
    r->conn->ResumeReading();
  });
  EXPECT_TRUE(WaitFor([&] { return r->data == "held"; }));
}

TEST_F(ConnectionTest, LoopStopClosesConnectionsWithServerShutdown) {
  TestSocket client(listener_->port());
  auto r = Accepted(0);
  ASSERT_TRUE(r);
  listener_.reset();
  pool_.Stop();
  EXPECT_EQ(r->closed, CloseReason::kServerShutdown);
  EXPECT_EQ(client.ReadToEof(), "");
}

}  // namespace
}  // namespace herald::io
