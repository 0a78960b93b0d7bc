// Whether a Redis master holds every append acknowledged before it came
// (store/redis/continuity.h): what INFO and CONFIG GET say, and the store's
// answer on real servers restarted and failed over.
#include "store/redis/continuity.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "herald/redis_store.h"
#include "herald/shared_history_store.h"
#include "store/redis/scripts.h"
#include "tests/store/redis/store_calls.h"
#include "tests/support/redis_server.h"

namespace herald {
namespace {

using redis::Reply;
using test::AppendNow;
using test::HeadNow;
using test::LoadNow;
using test::Make;
using test::RedisServer;

Reply Text(std::string s) {
  Reply r;
  r.type = Reply::Type::kString;
  r.str = std::move(s);
  return r;
}

Reply Pairs(std::vector<std::string> items) {
  Reply r;
  r.type = Reply::Type::kArray;
  for (std::string& s : items) r.elements.push_back(Text(std::move(s)));
  return r;
}

TEST(MasterRun, IsReadFromInfosLinesAndAMissingFieldIsNamed) {
  Result<redis::MasterRun> run = redis::ParseMasterRun(
      Text("# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n\r\n# Replication\r\nrole:master\r\n"
           "connected_slaves:2\r\nmaster_replid:r1\r\nmaster_replid2:0000\r\nmaster_repl_offset:"
           "42\r\n"));
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->run_id, "abc");
  EXPECT_EQ(run->replid, "r1");  // not master_replid2's line
  EXPECT_EQ(run->replid2, "0000");
  EXPECT_EQ(run->replicas, 2);

  Result<redis::MasterRun> partial =
      redis::ParseMasterRun(Text("run_id:abc\r\nmaster_replid:r1\r\n"));
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.status().message().find("master_replid2"), std::string::npos);
}

TEST(SyncPolicy, IsAppendfsyncOnlyWithAppendonlyAndUnknownWhenRefused) {
  EXPECT_EQ(redis::SyncPolicy(Pairs({"appendfsync", "always", "appendonly", "yes"})), "always");
  EXPECT_EQ(redis::SyncPolicy(Pairs({"appendonly", "yes", "appendfsync", "everysec"})), "everysec");
  EXPECT_EQ(redis::SyncPolicy(Pairs({"appendonly", "no", "appendfsync", "always"})), "off");
  Reply refused;
  refused.type = Reply::Type::kError;
  refused.str = "NOPERM this user has no permissions to run the 'config|get' command";
  EXPECT_EQ(redis::SyncPolicy(refused), "unknown");
  EXPECT_EQ(redis::SyncPolicy(Status(ErrorCode::kUnavailable, "gone")), "unknown");
}

std::shared_ptr<HistoryStore> Open(int port, int wait_replicas = 0) {
  RedisStoreOptions o;
  o.port = port;
  o.require_durable = false;  // what the check finds, whatever Redis's disk
  o.wait_replicas = wait_replicas;
  o.wait_timeout = std::chrono::milliseconds(1000);
  Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(o);
  EXPECT_TRUE(store.ok()) << store.status().message();
  return store.ok() ? *store : nullptr;
}

// Once the store has seen its server go and come back (and checked it).
Status AppendWhenBack(HistoryStore& store, const MessagePtr& m) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until && store.Stats().reachable)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  while (std::chrono::steady_clock::now() < until && !store.Stats().reachable)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return AppendNow(store, m);
}

// Until the master counts its replica (online: after the replica's first
// ACK), so that a WAIT finds it.
void WaitReplicaOnline(const RedisServer& master) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until &&
         master.Call({"INFO", "replication"}).find("state=online") == std::string::npos)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

TEST(Continuity, AServerRestartedWithoutFsyncCannotShowItKeptTheNewestAndItsTopicsStartOver) {
  auto redis = RedisServer::Start({"--appendonly", "yes", "--appendfsync", "everysec"});
  ASSERT_TRUE(redis) << RedisServer::last_error();
  auto writer = Open(redis->port());
  ASSERT_TRUE(writer);
  for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(AppendNow(*writer, Make("a", 5, i, "a")).ok());
  for (uint64_t i = 1; i <= 2; ++i) ASSERT_TRUE(AppendNow(*writer, Make("b", 5, i, "b")).ok());
  EXPECT_EQ(writer->Stats().tails_unproven, 0u);

  // Killed, the process's writes are still in the OS's cache and come
  // back; but Redis had not said so before answering, and nothing shows
  // that they did.
  redis->Kill();
  ASSERT_TRUE(redis->Restart()) << RedisServer::last_error();

  // The writer that stayed up reconnects and finds it out. What it knows
  // proves nothing (another node may have written "a" after it, and lost
  // that): Redis refuses epoch 5's next offset, and "a" goes on in a new
  // epoch.
  Status next = AppendWhenBack(*writer, Make("a", 5, 4, "a"));
  EXPECT_EQ(next.code(), ErrorCode::kUnavailable) << next.ToString();
  EXPECT_NE(next.message().find("cannot show it kept"), std::string::npos) << next.message();
  EXPECT_EQ(writer->Stats().tails_unproven, 1u);
  EXPECT_NE(writer->Stats().last_unproven.find("appendfsync everysec"), std::string::npos)
      << writer->Stats().last_unproven;
  ASSERT_TRUE(AppendNow(*writer, Make("a", 6, 1, "a")).ok());

  // A node that starts now knows nothing: "b" began before the restart,
  // so its epoch is not continued; "a" is in an epoch begun since.
  auto fresh = Open(redis->port());
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->Stats().tails_unproven, 0u);       // counted once, by whoever came first
  Result<StoredTopic> b_head = HeadNow(*fresh, "b");  // what a resume on any node reads
  ASSERT_TRUE(b_head.ok()) << b_head.status().ToString();
  EXPECT_TRUE(b_head->epoch_unproven);
  Result<StoredTopic> b = LoadNow(*fresh, "b");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->epoch, 5u);
  EXPECT_EQ(b->last_offset, 2u);
  EXPECT_TRUE(b->epoch_unproven);
  Result<StoredTopic> a = LoadNow(*fresh, "a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->epoch, 6u);
  EXPECT_EQ(a->last_offset, 1u);
  EXPECT_FALSE(a->epoch_unproven);

  // The store holds the node to it: "b" epoch 5 takes no more, a new
  // epoch starts, and from then on "b" is whole again.
  Status more = AppendNow(*fresh, Make("b", 5, 3, "b"));
  EXPECT_EQ(more.code(), ErrorCode::kUnavailable) << more.ToString();
  EXPECT_NE(more.message().find("start a new one"), std::string::npos) << more.message();
  ASSERT_TRUE(AppendNow(*fresh, Make("b", 6, 1, "b")).ok());
  Result<StoredTopic> again = LoadNow(*Open(redis->port()), "b");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->epoch, 6u);
  EXPECT_FALSE(again->epoch_unproven);
}

TEST(Continuity, AServerRestartedThatFsyncedEveryAppendKeepsEveryEpoch) {
  auto redis = RedisServer::Start({"--appendonly", "yes", "--appendfsync", "always"});
  ASSERT_TRUE(redis) << RedisServer::last_error();
  {
    auto writer = Open(redis->port());
    ASSERT_TRUE(writer);
    for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(AppendNow(*writer, Make("a", 5, i, "a")).ok());
  }
  redis->Kill();
  ASSERT_TRUE(redis->Restart()) << RedisServer::last_error();
  auto fresh = Open(redis->port());
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->Stats().tails_unproven, 0u) << fresh->Stats().last_unproven;
  Result<StoredTopic> a = LoadNow(*fresh, "a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->last_offset, 3u);
  EXPECT_FALSE(a->epoch_unproven);
  EXPECT_TRUE(AppendNow(*fresh, Make("a", 5, 4, "a")).ok());
}

// A replica promoted (REPLICAOF NO ONE, as Sentinel does) after the master
// acknowledged appends it never received.
TEST(Continuity, AReplicaThatTookOverIsTrustedOnlyWhenEveryAppendWaitedForIt) {
  for (const int wait_replicas : {0, 1}) {
    SCOPED_TRACE("wait_replicas " + std::to_string(wait_replicas));
    // Synced through a file: at once, where a diskless sync waits 5 s.
    auto master = RedisServer::Start({"--repl-diskless-sync", "no"});
    ASSERT_TRUE(master) << RedisServer::last_error();
    auto replica = RedisServer::Start({"--replicaof", "127.0.0.1", std::to_string(master->port())});
    ASSERT_TRUE(replica) << RedisServer::last_error();
    WaitReplicaOnline(*master);
    {
      auto writer = Open(master->port(), wait_replicas);
      ASSERT_TRUE(writer);
      for (uint64_t i = 1; i <= 3; ++i) ASSERT_TRUE(AppendNow(*writer, Make("a", 5, i, "a")).ok());
    }
    // Every append has reached the replica here (WAIT or not): what the
    // store cannot know without WAIT is whether it had.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until &&
           replica->Call({"HGET", "herald:{a}:m", "o"}) != "3")
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(replica->Call({"REPLICAOF", "NO", "ONE"}), "OK");
    master->Kill();

    auto fresh = Open(replica->port(), 0);
    ASSERT_TRUE(fresh);
    Result<StoredTopic> a = LoadNow(*fresh, "a");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->last_offset, 3u);
    if (wait_replicas == 0) {
      EXPECT_EQ(fresh->Stats().tails_unproven, 1u);
      EXPECT_NE(fresh->Stats().last_unproven.find("a replica took over"), std::string::npos)
          << fresh->Stats().last_unproven;
      EXPECT_TRUE(a->epoch_unproven);
    } else {
      EXPECT_EQ(fresh->Stats().tails_unproven, 0u) << fresh->Stats().last_unproven;
      EXPECT_FALSE(a->epoch_unproven);
    }
  }
}

// The script's rules, one case each, on a real Redis with records written
// by hand: what an operator's history of restarts and failovers leaves.
TEST(Continuity, TheScriptTrustsOnlyWhatItCanShow) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis) << RedisServer::last_error();
  struct Case {
    const char* name;
    std::vector<std::string> record;  // run id sync r addr ({} : none)
    bool topics;
    std::vector<std::string> now;  // run id id2 sync replicated addr
    bool trusted;
    const char* lowered;  // "1": this writer lowers the run's promise
  };
  const std::string zeros(40, '0');
  const std::vector<Case> cases = {
      {"a new store", {}, false, {"R1", "I1", zeros, "everysec", "0", "h:1"}, true, "0"},
      {"topics without a record", {}, true, {"R1", "I1", zeros, "always", "0", "h:1"}, false, "0"},
      {"the same run",
       {"R1", "I1", "everysec", "0", "h:1"},
       true,
       {"R1", "I1", zeros, "everysec", "0", "h:1"},
       true,
       "0"},
      {"the same run, a new id after repl-backlog-ttl",
       {"R1", "I1", "everysec", "0", "h:1"},
       true,
       {"R1", "I2", zeros, "everysec", "0", "h:1"},
       true,
       "0"},
      {"a replica promoted, every append waited",
       {"R1", "I1", "always", "1", "h:1"},
       true,
       {"R2", "I2", "I1", "always", "1", "h:2"},
       true,
       "0"},
      {"a replica promoted, appends did not wait",
       {"R1", "I1", "always", "0", "h:1"},
       true,
       {"R2", "I2", "I1", "always", "0", "h:2"},
       false,
       "0"},
      {"promoted from another master",
       {"R1", "I1", "always", "1", "h:1"},
       true,
       {"R2", "I3", "I9", "always", "1", "h:2"},
       false,
       "0"},
      {"the same run promoted back",
       {"R1", "I1", "always", "1", "h:1"},
       true,
       {"R1", "I3", "I9", "always", "1", "h:1"},
       false,
       "0"},
      {"restarted, fsync always",
       {"R1", "I1", "always", "0", "h:1"},
       true,
       {"R2", "I2", zeros, "always", "0", "h:1"},
       true,
       "0"},
      {"restarted, everysec then",
       {"R1", "I1", "everysec", "0", "h:1"},
       true,
       {"R2", "I2", zeros, "always", "0", "h:1"},
       false,
       "0"},
      {"restarted, always then and not now",
       {"R1", "I1", "always", "0", "h:1"},
       true,
       {"R2", "I2", zeros, "off", "0", "h:1"},
       false,
       "0"},
      {"another server at another address",
       {"R1", "I1", "always", "0", "h:1"},
       true,
       {"R2", "I2", zeros, "always", "0", "h:2"},
       false,
       "0"},
      {"a writer that does not wait joins",
       {"R1", "I1", "always", "1", "h:1"},
       true,
       {"R1", "I1", zeros, "always", "0", "h:1"},
       true,
       "1"},
  };
  uint64_t lost = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    redis->Call({"DEL", "herald:writer", "herald:topics"});
    if (!c.record.empty()) {
      redis->Call({"HSET", "herald:writer", "run", c.record[0], "id", c.record[1], "sync",
                   c.record[2], "r", c.record[3], "addr", c.record[4]});
    }
    if (c.topics) redis->Call({"SADD", "herald:topics", "t"});
    std::vector<std::string> eval = {"EVAL",        redis::kContinuityScript, "3", "herald:writer",
                                     "herald:lost", "herald:topics"};
    eval.insert(eval.end(), c.now.begin(), c.now.end());
    const std::string answer = redis->Call(eval);
    const size_t nl = answer.find('\n');
    ASSERT_NE(nl, std::string::npos) << answer;
    const std::string why = answer.substr(0, nl);
    if (!c.trusted) ++lost;
    EXPECT_EQ(why.empty(), c.trusted) << why;
    EXPECT_EQ(answer.substr(nl + 1), std::to_string(lost) + "\n" + c.lowered) << answer;
    // The master now recorded is this one.
    EXPECT_EQ(redis->Call({"HGET", "herald:writer", "run"}), c.now[0]);
    EXPECT_EQ(redis->Call({"HGET", "herald:writer", "addr"}), c.now[5]);
  }
  // The weakest promise of a run's writers holds: always does not replace
  // everysec, nor a writer that waits one that did not.
  redis->Call({"HSET", "herald:writer", "run", "R1", "id", "I1", "sync", "everysec", "r", "0",
               "addr", "h:1"});
  redis->Call({"EVAL", redis::kContinuityScript, "3", "herald:writer", "herald:lost",
               "herald:topics", "R1", "I1", zeros, "always", "1", "h:1"});
  EXPECT_EQ(redis->Call({"HGET", "herald:writer", "sync"}), "everysec");
  EXPECT_EQ(redis->Call({"HGET", "herald:writer", "r"}), "0");
}

}  // namespace
}  // namespace herald
