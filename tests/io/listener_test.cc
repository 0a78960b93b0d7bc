#include "io/listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tests/io/test_socket.h"

namespace herald::io {
namespace {

using testing::TestSocket;

// Closes each accepted connection right away, counting it.
Listener::AcceptCallback Counting(std::atomic<int>* accepted) {
  return [accepted](Connection* c) {
    accepted->fetch_add(1);
    c->Close(CloseReason::kDone, CloseMode::kImmediate);
  };
}

bool WaitUntil(const std::function<bool()>& pred, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

TEST(Listener, PortZeroPicksOnePortThatEveryWorkerServes) {
  WorkerPool pool(3);
  ASSERT_TRUE(pool.Start().ok());
  std::atomic<int> accepted{0};
  Listener listener(pool, Counting(&accepted));
  ASSERT_TRUE(listener.Listen("127.0.0.1", 0).ok());
  ASSERT_NE(listener.port(), 0);
  for (int i = 0; i < 30; ++i) {
    TestSocket c(listener.port());
    EXPECT_TRUE(c.connected());
  }
  EXPECT_TRUE(WaitUntil([&] { return accepted.load() == 30; }));
}

TEST(Listener, BusyPortIsReportedAsAddressInUse) {
  WorkerPool pool(2);
  ASSERT_TRUE(pool.Start().ok());
  std::atomic<int> accepted{0};
  Listener first(pool, Counting(&accepted));
  ASSERT_TRUE(first.Listen("127.0.0.1", 0).ok());
  Listener second(pool, Counting(&accepted));
  Status s = second.Listen("127.0.0.1", first.port());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "127.0.0.1:" + std::to_string(first.port()) + ": address already in use");
}

TEST(Listener, AcceptsLocalhostAndIpv6Literals) {
  WorkerPool pool(1);
  ASSERT_TRUE(pool.Start().ok());
  std::atomic<int> accepted{0};
  Listener v4(pool, Counting(&accepted));
  EXPECT_TRUE(v4.Listen("localhost", 0).ok());
  Listener v6(pool, Counting(&accepted));
  Status s = v6.Listen("[::1]", 0);
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << s.ToString();
  EXPECT_NE(v6.port(), 0);
}

TEST(Listener, RejectsHostNames) {
  WorkerPool pool(1);
  ASSERT_TRUE(pool.Start().ok());
  std::atomic<int> accepted{0};
  Listener listener(pool, Counting(&accepted));
  Status s = listener.Listen("example.com", 0);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("example.com:0"), std::string::npos);
}

TEST(Listener, StopClosesTheSockets) {
  WorkerPool pool(2);
  ASSERT_TRUE(pool.Start().ok());
  std::atomic<int> accepted{0};
  Listener listener(pool, Counting(&accepted));
  ASSERT_TRUE(listener.Listen("127.0.0.1", 0).ok());
  const uint16_t port = listener.port();
  listener.Stop();
  TestSocket c(port);
  EXPECT_FALSE(c.connected());
}

TEST(Listener, BacksOffWhenOutOfDescriptorsThenAcceptsTheBacklog) {
  WorkerPool pool(1);
  ASSERT_TRUE(pool.Start().ok());
  std::atomic<int> accepted{0};
  Listener listener(pool, Counting(&accepted));
  ASSERT_TRUE(listener.Listen("127.0.0.1", 0).ok());

  constexpr int kClients = 4;
  int fds[kClients];
  for (int& fd : fds) fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // The lowest free descriptor becomes the limit: no new descriptor at all.
  const int lowest_free = ::dup(0);
  ::close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);

  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(listener.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : fds) {
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  }
  const bool backed_off = WaitUntil([&] { return listener.backoffs() > 0; }, 2000);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(backed_off);
  EXPECT_LE(listener.backoffs(), 3u);  // paused, not spinning
  // After the pause the backlog is accepted, not dropped.
  EXPECT_TRUE(WaitUntil([&] { return accepted.load() == kClients; }));
  for (int fd : fds) ::close(fd);
}

}  // namespace
}  // namespace herald::io
