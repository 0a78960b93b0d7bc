// What history promises whichever store keeps it: one suite, run on the
// broker's memory history (no BrokerOptions::store, the library's default)
// on the disk store with each sync setting, and on the Redis store (against
// a redis-server each test starts, or three as shards). What only a store can do
// (outlive the process) is in broker_restart_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>

#include "herald/broker.h"
#include "herald/disk_store.h"
#include "herald/redis_store.h"
#include "tests/broker/test_support.h"
#include "tests/store/scratch_dir.h"
#include "tests/support/redis_server.h"

namespace herald {
namespace {

using testing::ManualInbox;
using testing::RecordingSink;
using testing::ScratchDir;
using testing::WaitFor;

enum class Kind { kMemory, kDiskBatch, kDiskAlways, kRedis, kRedisShards };

std::string KindName(const ::testing::TestParamInfo<Kind>& info) {
  switch (info.param) {
    case Kind::kMemory:
      return "Memory";
    case Kind::kDiskBatch:
      return "DiskBatch";
    case Kind::kDiskAlways:
      return "DiskAlways";
    case Kind::kRedis:
      return "Redis";
    case Kind::kRedisShards:
      return "RedisShards";
  }
  return "Unknown";
}

std::vector<std::string> Payloads(const std::vector<MessagePtr>& ms) {
  std::vector<std::string> out;
  for (const MessagePtr& m : ms) out.push_back(m->payload);
  return out;
}

class HistoryContract : public ::testing::TestWithParam<Kind> {
 protected:
  // `o` (history limits, clock) on this test's kind of history.
  BrokerOptions Options(BrokerOptions o = {}) {
    if (GetParam() == Kind::kMemory) return o;
    if (GetParam() == Kind::kRedis || GetParam() == Kind::kRedisShards) {
      redis_ = test::RedisServer::Start();
      EXPECT_TRUE(redis_) << test::RedisServer::last_error();
      if (!redis_) return o;
      RedisStoreOptions r;
      r.port = redis_->port();
      r.require_durable = false;  // the logic under test, not Redis's disk
      if (GetParam() == Kind::kRedisShards) {
        // Three shards, a server each.
        for (int i = 0; i < 2; ++i) {
          more_redis_.push_back(test::RedisServer::Start());
          EXPECT_TRUE(more_redis_.back()) << test::RedisServer::last_error();
          if (!more_redis_.back()) return o;
        }
        r.shards = {{"a", "127.0.0.1", redis_->port(), ""},
                    {"b", "127.0.0.1", more_redis_[0]->port(), ""},
                    {"c", "127.0.0.1", more_redis_[1]->port(), ""}};
      }
      Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(r);
      EXPECT_TRUE(store.ok()) << store.status().message();
      if (store.ok()) o.store = *store;
      return o;
    }
    DiskStoreOptions d;
    d.dir = dir_.path();
    d.sync = GetParam() == Kind::kDiskAlways ? DiskStoreOptions::Sync::kAlways
                                             : DiskStoreOptions::Sync::kBatch;
    d.boot_id = "this-boot";
    Result<std::shared_ptr<HistoryStore>> store = OpenDiskStore(d);
    EXPECT_TRUE(store.ok()) << store.status().message();
    if (store.ok()) o.store = *store;
    return o;
  }

  // Appends recorded by the store (0 on memory, which has none).
  uint64_t StoredAppends(const Broker& broker) const {
    return broker.options().store ? broker.options().store->Stats().appends : 0;
  }

 private:
  ScratchDir dir_;
  std::unique_ptr<test::RedisServer> redis_;  // outlives each test's broker
  std::vector<std::unique_ptr<test::RedisServer>> more_redis_;
};

TEST_P(HistoryContract, APublishIsAcknowledgedWithItsPositionAndDeliveredOnce) {
  Broker broker(Options());
  ManualInbox box(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("t", sink, box.inbox).ok());
  Result<PublishAck> ack = broker.Publish("t", "one");
  ASSERT_TRUE(ack.ok()) << ack.status().message();
  EXPECT_EQ(ack->offset, 1u);
  EXPECT_FALSE(ack->duplicate);
  box.inbox->Drain();
  EXPECT_EQ(sink->payloads(), std::vector<std::string>{"one"});
  EXPECT_EQ(StoredAppends(broker), GetParam() == Kind::kMemory ? 0u : 1u);
}

TEST_P(HistoryContract, AsynchronousPublishesAreAcknowledgedInOrderWithContiguousOffsets) {
  Broker broker(Options());
  std::mutex mu;
  std::vector<uint64_t> offsets;
  for (int i = 0; i < 200; ++i) {
    broker.PublishAsync("t", std::to_string(i), {}, [&](Result<PublishAck> a) {
      ASSERT_TRUE(a.ok()) << a.status().message();
      std::lock_guard lock(mu);
      offsets.push_back(a->offset);
    });
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return offsets.size() == 200;
  }));
  for (size_t i = 0; i < offsets.size(); ++i) EXPECT_EQ(offsets[i], i + 1);
  Result<ResumeResult> h = broker.Resume("t", 0, 0);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->messages.size(), 200u);
  EXPECT_EQ(h->messages.front()->payload, "0");
  EXPECT_EQ(h->messages.back()->payload, "199");
}

TEST_P(HistoryContract, AResumeGetsExactlyTheMissedMessages) {
  Broker broker(Options());
  uint64_t epoch = 0;
  for (int i = 1; i <= 5; ++i) epoch = broker.Publish("orders", "o" + std::to_string(i))->epoch;
  Result<ResumeResult> r = broker.Resume("orders", epoch, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->gap.has_value());
  EXPECT_EQ(r->epoch, epoch);
  EXPECT_EQ(Payloads(r->messages), (std::vector<std::string>{"o4", "o5"}));
}

TEST_P(HistoryContract, SubscribingWithAResumePointReplaysThenGoesLive) {
  Broker broker(Options());
  uint64_t epoch = 0;
  for (int i = 1; i <= 4; ++i) epoch = broker.Publish("feed", std::to_string(i))->epoch;
  ManualInbox box(broker);
  auto sink = std::make_shared<RecordingSink>();
  SubscribeOptions so;
  so.resume = {{"feed", epoch, 2}};
  ASSERT_TRUE(broker.Subscribe("feed", sink, box.inbox, so).ok());
  ASSERT_TRUE(broker.Publish("feed", "5").ok());
  box.inbox->Drain();
  EXPECT_EQ(sink->payloads(), (std::vector<std::string>{"3", "4", "5"}));
  for (const auto& r : sink->received()) EXPECT_FALSE(r.is_gap);
}

TEST_P(HistoryContract, ACountLimitTrimsAndAResumeBeforeItGetsATrimmedGap) {
  BrokerOptions o;
  o.default_history.max_messages = 3;
  Broker broker(Options(o));
  uint64_t epoch = 0;
  for (int i = 1; i <= 10; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
  broker.RunMaintenance();
  Result<ResumeResult> r = broker.Resume("t", epoch, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kTrimmed);
  EXPECT_EQ(r->gap->from_offset, 3u);
  EXPECT_EQ(r->gap->to_offset, 7u);
  EXPECT_EQ(Payloads(r->messages), (std::vector<std::string>{"8", "9", "10"}));
}

TEST_P(HistoryContract, AgeAndByteLimitsTrimButTheNumberingGoesOn) {
  int64_t now = 1'700'000'000'000'000;
  BrokerOptions o;
  o.clock = [&now] { return now; };
  o.default_history.max_age = std::chrono::seconds(10);
  o.default_history.max_bytes = 3;  // payload bytes: the last three one-byte messages
  Broker broker(Options(o));
  uint64_t epoch = 0;
  for (int i = 1; i <= 5; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
  Result<ResumeResult> r = broker.Resume("t", epoch, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kTrimmed);
  EXPECT_EQ(Payloads(r->messages), (std::vector<std::string>{"3", "4", "5"}));
  now += 11'000'000;  // past max_age
  broker.RunMaintenance();
  r = broker.Resume("t", epoch, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->to_offset, 5u);
  EXPECT_TRUE(r->messages.empty());
  EXPECT_EQ(broker.Publish("t", "6")->offset, 6u);
}

TEST_P(HistoryContract, ARepeatedMessageIdGetsTheOriginalPositionAndIsNotDeliveredAgain) {
  Broker broker(Options());
  ManualInbox box(broker);
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("orders", sink, box.inbox).ok());
  PublishOptions id;
  id.msg_id = "order-42";
  Result<PublishAck> first = broker.Publish("orders", "paid", id);
  ASSERT_TRUE(first.ok());
  Result<PublishAck> retry = broker.Publish("orders", "paid", id);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->epoch, first->epoch);
  EXPECT_EQ(retry->offset, first->offset);
  // Another topic's id space is its own.
  Result<PublishAck> elsewhere = broker.Publish("refunds", "paid", id);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->duplicate);
  box.inbox->Drain();
  EXPECT_EQ(sink->payloads(), std::vector<std::string>{"paid"});
  Result<ResumeResult> h = broker.Resume("orders", first->epoch, 0);
  ASSERT_EQ(h->messages.size(), 1u);
  EXPECT_EQ(h->messages[0]->msg_id, "order-42");
}

TEST_P(HistoryContract, RetriesWhileTheFirstIsOnItsWayGetTheFirstOutcome) {
  Broker broker(Options());
  PublishOptions id;
  id.msg_id = "x";
  std::mutex mu;
  std::vector<PublishAck> acks;
  for (int i = 0; i < 20; ++i) {
    broker.PublishAsync("t", "p", id, [&](Result<PublishAck> a) {
      ASSERT_TRUE(a.ok());
      std::lock_guard lock(mu);
      acks.push_back(*a);
    });
  }
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lock(mu);
    return acks.size() == 20;
  }));
  int originals = 0;
  for (const PublishAck& a : acks) {
    EXPECT_EQ(a.offset, 1u);
    originals += !a.duplicate;
  }
  EXPECT_EQ(originals, 1);
  EXPECT_EQ(StoredAppends(broker), GetParam() == Kind::kMemory ? 0u : 1u);
}

INSTANTIATE_TEST_SUITE_P(EveryStore, HistoryContract,
                         ::testing::Values(Kind::kMemory, Kind::kDiskBatch, Kind::kDiskAlways,
                                           Kind::kRedis, Kind::kRedisShards),
                         KindName);

}  // namespace
}  // namespace herald
