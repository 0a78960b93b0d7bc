// A work queue that starts from history (QueueOptions::start) on the disk
// store: history older than memory holds is read from disk; a restart that
// cuts the reading short reads on from where it stood, making no job twice;
// a reading that finished is not repeated; and the Redis store refuses a
// start other than "new" (its queues are shared by brokers).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "herald/broker.h"
#include "herald/disk_store.h"
#include "herald/redis_store.h"
#include "tests/broker/test_support.h"
#include "tests/store/scratch_dir.h"
#include "tests/support/redis_server.h"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::ScratchDir;
using testing::WaitFor;

QueueOptions FromFirst(uint64_t max_pending = 100'000) {
  QueueOptions q;
  q.name = "work";
  q.pattern = "jobs.>";
  q.ack_wait = 1h;
  q.max_pending = max_pending;
  q.start = QueueOptions::Start::kFirst;
  return q;
}

class QueueStartOnDisk : public ::testing::Test {
 protected:
  BrokerOptions Open() {
    DiskStoreOptions d;
    d.dir = dir_.path();
    d.boot_id = "this-boot";
    Result<std::shared_ptr<HistoryStore>> store = OpenDiskStore(d);
    EXPECT_TRUE(store.ok()) << store.status().message();
    BrokerOptions o;
    o.store = *store;
    o.default_history.max_messages = 100'000;
    o.default_history.max_bytes = 64u << 20;
    o.max_history_bytes = 64u << 10;  // memory holds the newest few hundred
    return o;
  }

 private:
  ScratchDir dir_;
};

// Counts each job's (topic, offset) and acknowledges it if asked.
struct Ledger {
  std::mutex mu;
  std::map<std::pair<std::string, uint64_t>, int> seen;
  std::atomic<size_t> count{0};
  // Acknowledges the first `ack_first` jobs it gets; holds the others.
  void Join(Broker& b, size_t ack_first) {
    Result<uint64_t> r = b.JoinQueue("work", [this, &b, ack_first](const Delivery& d) {
      if (d.kind != Delivery::Kind::kJob) return;
      {
        std::lock_guard lock(mu);
        ++seen[{d.job->message->topic, d.job->message->offset}];
      }
      if (count < ack_first) {
        EXPECT_TRUE(b.Settle(d.subscription_id, d.job->handle, SettleKind::kAck).ok());
      }
      count.fetch_add(1);
    });
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void ExpectEachOnce(const std::string& topic, uint64_t last) {
    std::lock_guard lock(mu);
    for (uint64_t off = 1; off <= last; ++off) EXPECT_EQ((seen[{topic, off}]), 1) << off;
  }
};

TEST_F(QueueStartOnDisk, HistoryOlderThanMemoryHoldsIsReadFromDisk) {
  {
    Broker b(Open());
    for (int i = 0; i < 3000; ++i) ASSERT_TRUE(b.Publish("jobs.a", std::string(64, 'x')).ok());
  }
  Broker b(Open());
  ASSERT_TRUE(b.CreateQueue(FromFirst()).ok());
  ASSERT_TRUE(b.Publish("jobs.a", "live").ok());
  Ledger w;
  w.Join(b, /*ack_first=*/100'000);
  ASSERT_TRUE(WaitFor([&] { return w.count == 3001; }, 20000)) << w.count;
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  w.ExpectEachOnce("jobs.a", 3001);
  EXPECT_EQ(b.GetQueue("work")->backfilled, 3000u);
}

// With the store, messages numbered below a cut may still be on their way
// to the disk while the queue is created: waited for, each one job.
TEST_F(QueueStartOnDisk, PublishesDuringCreationAreEachOneJob) {
  Broker b(Open());
  testing::ExpectEachMessageOneJob(b, FromFirst());
}

TEST_F(QueueStartOnDisk, ARestartDuringTheReadingReadsOnFromWhereItStood) {
  Ledger first;
  {
    Broker b(Open());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(b.Publish("jobs.a", "j").ok());
    // At most 10 jobs, the reading half of them: a worker acknowledges 30,
    // then holds 5, and the reading waits for room when the broker stops.
    ASSERT_TRUE(b.CreateQueue(FromFirst(10)).ok());
    first.Join(b, /*ack_first=*/30);
    ASSERT_TRUE(WaitFor([&] { return first.count == 35; }));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(first.count, 35u);
    EXPECT_TRUE(b.GetQueue("work")->backfilling);
  }
  Broker b(Open());
  EXPECT_EQ(b.GetQueue("work")->pending, 5u);  // the held ones, kept by the store
  EXPECT_TRUE(b.GetQueue("work")->backfilling);
  Ledger w;
  w.Join(b, /*ack_first=*/1000);
  ASSERT_TRUE(WaitFor([&] { return w.count == 70; }, 20000)) << w.count;
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(w.count, 70u);  // none acknowledged before the restart comes again
  std::lock_guard lock(w.mu);
  std::lock_guard lock_first(first.mu);
  for (uint64_t off = 1; off <= 100; ++off) {
    const int before = first.seen[{"jobs.a", off}];
    const int after = w.seen[{"jobs.a", off}];
    // Acknowledged before; held across the restart; read after it.
    const std::pair<int, int> want = off <= 30   ? std::pair{1, 0}
                                     : off <= 35 ? std::pair{1, 1}
                                                 : std::pair{0, 1};
    EXPECT_EQ(std::make_pair(before, after), want) << off;
  }
}

TEST_F(QueueStartOnDisk, AReadingThatFinishedIsNotRepeatedAfterARestart) {
  {
    Broker b(Open());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(b.Publish("jobs.a", "j").ok());
    ASSERT_TRUE(b.CreateQueue(FromFirst()).ok());
    Ledger w;
    w.Join(b, /*ack_first=*/100'000);
    ASSERT_TRUE(WaitFor([&] { return w.count == 20; }));
    ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
    ASSERT_TRUE(WaitFor([&] { return b.GetQueue("work")->pending == 0; }));
  }
  Broker b(Open());
  // The config creating it again at start (with its start) is the same queue.
  ASSERT_TRUE(b.CreateQueue(FromFirst()).ok());
  ASSERT_TRUE(b.Publish("jobs.a", "live").ok());
  Ledger w;
  w.Join(b, /*ack_first=*/100'000);
  ASSERT_TRUE(WaitFor([&] { return w.count == 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(w.count, 1u);
  EXPECT_FALSE(b.GetQueue("work")->backfilling);
  EXPECT_EQ(b.GetQueue("work")->backfilled, 0u);
}

// A broker on Redis (one server, or `servers` shards): what creating the
// queue with `start` answers; then, starting new, it is created.
void ExpectRefusedOnRedis(size_t servers, const std::string& reason) {
  std::vector<std::unique_ptr<test::RedisServer>> redis;
  for (size_t i = 0; i < servers; ++i) {
    redis.push_back(test::RedisServer::Start());
    ASSERT_TRUE(redis.back()) << test::RedisServer::last_error();
  }
  RedisStoreOptions r;
  r.port = redis[0]->port();
  r.require_durable = false;
  if (servers > 1) {
    for (size_t i = 0; i < servers; ++i) {
      r.shards.push_back(
          {std::string(1, static_cast<char>('a' + i)), "127.0.0.1", redis[i]->port(), ""});
    }
  }
  Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(r);
  ASSERT_TRUE(store.ok()) << store.status().message();
  BrokerOptions o;
  o.store = *store;
  Broker b(o);
  Status s = b.CreateQueue(FromFirst());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find(reason), std::string::npos) << s.message();
  QueueOptions q = FromFirst();
  q.start = QueueOptions::Start::kNew;
  EXPECT_TRUE(b.CreateQueue(q).ok());
}

TEST(QueueStartOnRedis, AStartOtherThanNewIsRefusedWithTheReason) {
  ExpectRefusedOnRedis(1, "start 'first' is not supported on a store brokers share");
}

TEST(QueueStartOnRedis, ShardsRefuseItTooTheirWritesMayCommitOutOfOrder) {
  ExpectRefusedOnRedis(2, "writes may commit out of order");
}

}  // namespace
}  // namespace herald
