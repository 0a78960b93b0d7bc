// Finding the master through Redis Sentinels (store/redis/sentinel.h), and
// following it through a failover, against redis-server and redis-sentinel
// processes each test starts on free loopback ports.
#include "store/redis/sentinel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "io/loop.h"
#include "store/redis/connection.h"
#include "tests/support/redis_server.h"

namespace herald::redis {
namespace {

using namespace std::chrono_literals;
using test::RedisServer;

std::vector<std::string> Monitoring(const std::string& name, const RedisServer& master) {
  return {"sentinel monitor " + name + " 127.0.0.1 " + std::to_string(master.port()) + " 1",
          "sentinel down-after-milliseconds " + name + " 1000",
          "sentinel failover-timeout " + name + " 5000"};
}

class RedisSentinelTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Start().ok()); }
  void TearDown() override {
    loop_.RunSync([this] {
      conn_.reset();
      sentinels_.reset();
    });
    loop_.Stop();
  }

  // A write connection that asks `sentinels` where master `name` is; its
  // own host and port name nothing that listens.
  void Open(const std::vector<const RedisServer*>& sentinels, const std::string& name,
            std::vector<int> closed_ports = {}) {
    SentinelOptions so;
    for (int port : closed_ports) so.sentinels.push_back({"127.0.0.1", port});
    for (const RedisServer* s : sentinels) so.sentinels.push_back({"127.0.0.1", s->port()});
    so.master_name = name;
    so.poll_interval = 100ms;
    so.connect_timeout = 500ms;
    loop_.RunSync([&] {
      sentinels_ = std::make_unique<Sentinels>(loop_, so, [this](const Endpoint& master) {
        if (conn_) conn_->Relocate(master);
      });
      sentinels_->Start();
      ConnectionOptions o;
      o.host = "127.0.0.1";
      o.port = 1;
      o.backoff_min = 20ms;
      o.backoff_max = 200ms;
      o.connect_timeout = 1s;
      o.locate = sentinels_->Locator();
      conn_ = std::make_unique<Connection>(loop_, o);
      conn_->Start();
    });
  }

  // Waits (bounded) until the connection is ready at `port`.
  bool ReadyAt(int port, std::chrono::milliseconds limit = 20s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      bool there = false;
      loop_.RunSync([&] {
        there = conn_->state() == ConnectionState::kReady && conn_->where().port == port;
      });
      if (there) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::string LastError() {
    std::string e;
    loop_.RunSync([&] { e = conn_->last_error(); });
    return e;
  }

  Result<Reply> Call(std::vector<std::string> args) {
    auto done = std::make_shared<std::promise<Result<Reply>>>();
    auto future = done->get_future();
    loop_.Post([this, args = std::move(args), done] {
      std::vector<std::string_view> views(args.begin(), args.end());
      Status s = conn_->Command(views, [done](Result<Reply> r) { done->set_value(std::move(r)); });
      if (!s.ok()) done->set_value(s);
    });
    if (future.wait_for(15s) != std::future_status::ready)
      return Status(ErrorCode::kInternal, "the test waited 15 s for a callback that never came");
    return future.get();
  }

  // A master, its replica and a sentinel monitoring it as "m"; the
  // connection ready at the master.
  void StartMasterReplicaAndSentinel() {
    master_ = RedisServer::Start();
    ASSERT_TRUE(master_) << RedisServer::last_error();
    replica_ = RedisServer::Start({"--replicaof", "127.0.0.1", std::to_string(master_->port())});
    ASSERT_TRUE(replica_) << RedisServer::last_error();
    sentinel_ = RedisServer::StartSentinel(Monitoring("m", *master_));
    ASSERT_TRUE(sentinel_) << RedisServer::last_error();
    Open({sentinel_.get()}, "m");
    ASSERT_TRUE(ReadyAt(master_->port())) << LastError();
  }

  std::unique_ptr<RedisServer> master_, replica_, sentinel_;  // outlive the connection
  io::Loop loop_;
  std::unique_ptr<Sentinels> sentinels_;
  std::unique_ptr<Connection> conn_;
};

TEST_F(RedisSentinelTest, ConnectsToTheMasterASentinelNames) {
  auto master = RedisServer::Start();
  ASSERT_TRUE(master) << RedisServer::last_error();
  auto sentinel = RedisServer::StartSentinel(Monitoring("m", *master));
  ASSERT_TRUE(sentinel) << RedisServer::last_error();
  Open({sentinel.get()}, "m");
  ASSERT_TRUE(ReadyAt(master->port())) << LastError();
  Result<Reply> set = Call({"SET", "k", "v"});
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->is_status("OK")) << set->Describe();
  EXPECT_EQ(master->Call({"GET", "k"}), "v");
}

TEST_F(RedisSentinelTest, AsksTheNextSentinelWhenOneIsDownOrKnowsNoSuchMaster) {
  auto master = RedisServer::Start();
  ASSERT_TRUE(master) << RedisServer::last_error();
  auto other = RedisServer::Start();
  ASSERT_TRUE(other) << RedisServer::last_error();
  auto stranger = RedisServer::StartSentinel(Monitoring("elsewhere", *other));
  ASSERT_TRUE(stranger) << RedisServer::last_error();
  auto sentinel = RedisServer::StartSentinel(Monitoring("m", *master));
  ASSERT_TRUE(sentinel) << RedisServer::last_error();
  // A sentinel that is down, one that monitors another name, then one that
  // knows: the third answers.
  const int closed = [] {
    auto gone = RedisServer::Start();
    return gone ? gone->port() : 1;
  }();
  Open({stranger.get(), sentinel.get()}, "m", {closed});
  ASSERT_TRUE(ReadyAt(master->port())) << LastError();
  // The one that answered is asked first from now on.
  std::string first;
  loop_.RunSync([&] { first = sentinels_->master().ToString(); });
  EXPECT_EQ(first, "127.0.0.1:" + std::to_string(master->port()));
}

TEST_F(RedisSentinelTest, SaysWhatEachSentinelAnsweredWhenNoneNamesTheMaster) {
  auto master = RedisServer::Start();
  ASSERT_TRUE(master) << RedisServer::last_error();
  auto sentinel = RedisServer::StartSentinel(Monitoring("m", *master));
  ASSERT_TRUE(sentinel) << RedisServer::last_error();
  Open({sentinel.get()}, "nosuch");
  const auto until = std::chrono::steady_clock::now() + 10s;
  std::string why;
  while (std::chrono::steady_clock::now() < until) {
    why = LastError();
    if (!why.empty()) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(why.find("no sentinel named the master 'nosuch'"), std::string::npos) << why;
  EXPECT_NE(why.find("knows no master named 'nosuch'"), std::string::npos) << why;
  EXPECT_FALSE(ReadyAt(master->port(), 300ms));
}

TEST_F(RedisSentinelTest, FollowsAFailoverToThePromotedReplica) {
  ASSERT_NO_FATAL_FAILURE(StartMasterReplicaAndSentinel());
  RedisServer* replica = replica_.get();
  RedisServer* sentinel = sentinel_.get();
  ASSERT_TRUE(Call({"SET", "before", "1"}).ok());

  // A failover the sentinel is told to make (the old master stays up and
  // becomes a replica): tried until the sentinel knows a good replica.
  std::string answer;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    answer = sentinel->Call({"SENTINEL", "FAILOVER", "m"});
    if (answer == "OK") break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(answer, "OK");
  ASSERT_TRUE(ReadyAt(replica->port())) << LastError();
  Result<Reply> set = Call({"SET", "after", "2"});
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->is_status("OK")) << set->Describe();
  EXPECT_EQ(replica->Call({"GET", "after"}), "2");
  uint64_t moves = 0;
  loop_.RunSync([&] { moves = sentinels_->stats().moves; });
  EXPECT_GE(moves, 1u);
}

TEST_F(RedisSentinelTest, AWriteRefusedByADemotedMasterMakesTheConnectionAskAgain) {
  ASSERT_NO_FATAL_FAILURE(StartMasterReplicaAndSentinel());
  RedisServer* master = master_.get();
  RedisServer* replica = replica_.get();
  // Demoted behind the sentinel's back: the next write is refused
  // (READONLY), and the connection is made again; the sentinel still
  // names the old master, whose ROLE now says replica, so it stays down
  // rather than write to a replica.
  ASSERT_EQ(master->Call({"REPLICAOF", "127.0.0.1", std::to_string(replica->port())}), "OK");
  Result<Reply> refused = Call({"SET", "k", "v"});
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(refused->is_error());
  EXPECT_NE(refused->str.find("READONLY"), std::string::npos) << refused->str;
  const auto until = std::chrono::steady_clock::now() + 5s;
  std::string why;
  while (std::chrono::steady_clock::now() < until) {
    why = LastError();
    if (why.find("is not a master") != std::string::npos) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(why.find("is not a master"), std::string::npos) << why;
}

}  // namespace
}  // namespace herald::redis
