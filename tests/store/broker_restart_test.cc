// A broker on a store (the disk store, and Redis): a broker restarted on the
// same directory or the same Redis goes on where the last one stopped: same
// epochs, next offsets, history to resume from.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

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

BrokerOptions OnDisk(const std::string& dir,
                     DiskStoreOptions::Sync sync = DiskStoreOptions::Sync::kBatch) {
  DiskStoreOptions d;
  d.dir = dir;
  d.sync = sync;
  d.boot_id = "this-boot";
  Result<std::shared_ptr<HistoryStore>> store = OpenDiskStore(d);
  EXPECT_TRUE(store.ok()) << store.status().message();
  BrokerOptions o;
  if (store.ok()) o.store = *store;
  return o;
}

std::vector<std::string> Payloads(const std::vector<MessagePtr>& ms) {
  std::vector<std::string> out;
  for (const MessagePtr& m : ms) out.push_back(m->payload);
  return out;
}

enum class Backend { kDisk, kRedis };

class BrokerRestart : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() != Backend::kRedis) return;
    redis_ = test::RedisServer::Start(redis_args_);
    ASSERT_TRUE(redis_) << test::RedisServer::last_error();
  }

  // Opens the store again, as a restarted heraldd does: the same directory,
  // or the same Redis.
  BrokerOptions Stored() {
    if (GetParam() == Backend::kDisk) return OnDisk(dir_.path());
    RedisStoreOptions r;
    r.port = redis_->port();
    r.require_durable = durable_;
    Result<std::shared_ptr<HistoryStore>> store = OpenRedisStore(r);
    EXPECT_TRUE(store.ok()) << store.status().message();
    BrokerOptions o;
    if (store.ok()) o.store = *store;
    return o;
  }

  ScratchDir dir_;
  std::vector<std::string> redis_args_;
  bool durable_ = false;  // Redis on appendfsync always: the store checks it
  std::unique_ptr<test::RedisServer> redis_;
};

TEST_P(BrokerRestart, ARestartContinuesEveryTopicsEpochAndOffsets) {
  uint64_t epoch = 0;
  {
    Broker broker(Stored());
    for (int i = 1; i <= 5; ++i) epoch = broker.Publish("orders", "o" + std::to_string(i))->epoch;
    ASSERT_TRUE(broker.Publish("other", "x").ok());
  }
  Broker broker(Stored());
  // A client that saw offset 3 gets exactly 4 and 5, no gap.
  Result<ResumeResult> r = broker.Resume("orders", epoch, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->gap.has_value());
  EXPECT_EQ(r->epoch, epoch);
  EXPECT_EQ(Payloads(r->messages), (std::vector<std::string>{"o4", "o5"}));
  // The numbering goes on.
  Result<PublishAck> next = broker.Publish("orders", "o6");
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->epoch, epoch);
  EXPECT_EQ(next->offset, 6u);
  // A topic created now gets an epoch after every stored one.
  EXPECT_GT(broker.Publish("fresh", "f")->epoch, epoch);
}

TEST_P(BrokerRestart, SubscribingWithAResumePointAfterARestartReplaysThenGoesLive) {
  uint64_t epoch = 0;
  {
    Broker broker(Stored());
    for (int i = 1; i <= 4; ++i) epoch = broker.Publish("feed", std::to_string(i))->epoch;
  }
  Broker broker(Stored());
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

TEST_P(BrokerRestart, HistoryLimitsTrimTheStoreAndTheTrimSurvivesARestart) {
  uint64_t epoch = 0;
  {
    BrokerOptions o = Stored();
    o.default_history.max_messages = 3;
    Broker broker(o);
    for (int i = 1; i <= 10; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
    broker.RunMaintenance();  // tells the store what history no longer holds
  }
  BrokerOptions o = Stored();
  o.default_history.max_messages = 3;
  Broker broker(o);
  Result<ResumeResult> r = broker.Resume("t", epoch, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kTrimmed);
  EXPECT_EQ(r->gap->from_offset, 3u);
  EXPECT_EQ(r->gap->to_offset, 7u);
  EXPECT_EQ(Payloads(r->messages), (std::vector<std::string>{"8", "9", "10"}));
}

TEST_P(BrokerRestart, AgeAndByteRetentionApplyToWhatWasStoredBeforeARestart) {
  int64_t now = 1'700'000'000'000'000;
  auto options = [&] {
    BrokerOptions o = Stored();
    o.clock = [&now] { return now; };
    o.default_history.max_age = std::chrono::seconds(10);
    o.default_history.max_bytes = 3;  // payload bytes: the last three one-byte messages
    return o;
  };
  uint64_t epoch = 0;
  {
    Broker broker(options());
    for (int i = 1; i <= 5; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
  }
  {
    Broker broker(options());  // bytes: 1 and 2 are gone
    Result<ResumeResult> r = broker.Resume("t", epoch, 0);
    ASSERT_TRUE(r->gap.has_value());
    EXPECT_EQ(r->gap->reason, GapReason::kTrimmed);
    EXPECT_EQ(Payloads(r->messages), (std::vector<std::string>{"3", "4", "5"}));
  }
  now += 11'000'000;  // past max_age
  Broker broker(options());
  broker.RunMaintenance();
  Result<ResumeResult> r = broker.Resume("t", epoch, 0);
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->to_offset, 5u);
  EXPECT_TRUE(r->messages.empty());
  EXPECT_EQ(r->epoch, epoch);  // the numbering is kept: the next one is 6
  EXPECT_EQ(broker.Publish("t", "6")->offset, 6u);
}

TEST_P(BrokerRestart, AMessageIdIsStillKnownAfterARestart) {
  PublishOptions id;
  id.msg_id = "order-42";
  PublishAck first;
  {
    Broker broker(Stored());
    Result<PublishAck> r = broker.Publish("orders", "paid", id);
    ASSERT_TRUE(r.ok());
    first = *r;
  }
  Broker broker(Stored());
  Result<PublishAck> retry = broker.Publish("orders", "paid", id);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->epoch, first.epoch);
  EXPECT_EQ(retry->offset, first.offset);
  Result<ResumeResult> h = broker.Resume("orders", first.epoch, 0);
  ASSERT_EQ(h->messages.size(), 1u);
  EXPECT_EQ(h->messages[0]->msg_id, "order-42");  // stored with the message
}

INSTANTIATE_TEST_SUITE_P(EveryStore, BrokerRestart,
                         ::testing::Values(Backend::kDisk, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kDisk ? "Disk" : "Redis";
                         });

// Redis itself restarted: with appendfsync always, what it acknowledged is
// in its append-only file, so the broker goes on with no gap.
class BrokerOnRedisWithAof : public BrokerRestart {
 protected:
  BrokerOnRedisWithAof() {
    redis_args_ = {"--appendonly", "yes", "--appendfsync", "always"};
    durable_ = true;
  }
};

TEST_P(BrokerOnRedisWithAof, RedisKilledAndRestartedKeepsEveryAcknowledgedMessage) {
  uint64_t epoch = 0;
  {
    Broker broker(Stored());
    for (int i = 1; i <= 100; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
  }
  redis_->Kill();
  ASSERT_TRUE(redis_->Restart()) << test::RedisServer::last_error();
  Broker broker(Stored());
  Result<ResumeResult> r = broker.Resume("t", epoch, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->gap.has_value());
  ASSERT_EQ(r->messages.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(r->messages[i]->payload, std::to_string(i + 1));
  EXPECT_EQ(broker.Publish("t", "101")->offset, 101u);
}

TEST_P(BrokerOnRedisWithAof, WhileRedisIsDownPublishesFailAtOnceAndGoOnInTheSameEpochAfter) {
  Broker broker(Stored());
  Result<PublishAck> first = broker.Publish("t", "1");
  ASSERT_TRUE(first.ok());
  redis_->Kill();
  // Until the store sees the connection gone, a publish may still be sent
  // and lose its reply (its topic then goes on in a new epoch): another
  // topic probes for the moment publishes are refused without being sent.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    Result<PublishAck> probe = broker.Publish("probe", "p");
    if (!probe.ok() &&
        probe.status().message().find("the history store is unavailable") != std::string::npos)
      break;
  }
  // From then on, refused at once with unavailable: never queued, never
  // numbered.
  Result<PublishAck> down = broker.Publish("t", "lost");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), ErrorCode::kUnavailable) << down.status().ToString();
  EXPECT_NE(down.status().message().find("redis"), std::string::npos) << down.status().ToString();

  ASSERT_TRUE(redis_->Restart()) << test::RedisServer::last_error();
  Result<PublishAck> back = Status(ErrorCode::kInternal, "not tried");
  while (std::chrono::steady_clock::now() < until + std::chrono::seconds(10)) {
    back = broker.Publish("t", "2");
    if (back.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->epoch, first->epoch);
  EXPECT_EQ(back->offset, 2u);
  Result<ResumeResult> r = broker.Resume("t", first->epoch, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Payloads(r->messages), (std::vector<std::string>{"1", "2"}));
}

INSTANTIATE_TEST_SUITE_P(Redis, BrokerOnRedisWithAof, ::testing::Values(Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>&) { return "Redis"; });

// A store whose last run cannot be vouched for (StoreRecovery::complete
// false: an OS crash under sync = batch), holding topic "t" at (5, 3).
class UnvouchedStore : public HistoryStore {
 public:
  UnvouchedStore() { recovery_.complete = false; }
  const StoreRecovery& recovery() const override { return recovery_; }
  std::vector<StoredTopic> TakeTopics() override {
    StoredTopic t;
    t.name = "t";
    t.epoch = 5;
    t.last_offset = 3;
    for (uint64_t i = 1; i <= 3; ++i) {
      auto m = std::make_shared<Message>();
      m->topic = "t";
      m->epoch = 5;
      m->offset = i;
      t.messages.push_back(std::move(m));
    }
    return {std::move(t)};
  }
  Status Append(const MessagePtr&, AppendCallback&&) override {
    return Status(ErrorCode::kUnavailable, "not in this test");
  }
  void Trim(std::string_view topic, uint64_t epoch, uint64_t first_kept) override {
    trims.push_back(std::string(topic) + " " + std::to_string(epoch) + " " +
                    std::to_string(first_kept));
  }
  Status Read(std::string_view, uint64_t, uint64_t, size_t, size_t, ReadCallback&&) override {
    return Status(ErrorCode::kUnavailable, "not in this test");
  }
  void Retain(std::string_view, uint64_t, const Retention&, RetainCallback&&) override {}
  void Forget(std::string_view) override {}
  void ExpireIds(int64_t) override {}
  HistoryStoreStats Stats() const override { return {}; }
  void Drain() override {}

  std::vector<std::string> trims;

 private:
  StoreRecovery recovery_;
};

TEST(BrokerOnDisk, WhenTheStoreCannotVouchForTheLastRunEveryTopicStartsANewEpoch) {
  auto store = std::make_shared<UnvouchedStore>();
  BrokerOptions o;
  o.store = store;
  Broker broker(o);
  // A client that had seen (5, 2) is told its epoch is gone, never given a
  // silently short history.
  Result<ResumeResult> r = broker.Resume("t", 5, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kEpochChanged);
  EXPECT_GT(r->epoch, 5u);
  EXPECT_TRUE(r->messages.empty());
  // The store is told the old epoch is over (its head moves to the new one).
  ASSERT_EQ(store->trims.size(), 1u);
  EXPECT_EQ(store->trims[0], "t " + std::to_string(r->epoch) + " 1");
}

}  // namespace
}  // namespace herald
