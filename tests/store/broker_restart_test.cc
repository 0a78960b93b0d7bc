// A broker on the disk store: what subscribers see only after the store has
// it, and a broker restarted on the same directory going on where the last
// one stopped: same epochs, next offsets, history to resume from.
#include <gtest/gtest.h>

#include "herald/broker.h"
#include "herald/disk_store.h"
#include "tests/broker/test_support.h"
#include "tests/store/scratch_dir.h"

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

TEST(BrokerOnDisk, ARestartContinuesEveryTopicsEpochAndOffsets) {
  ScratchDir dir;
  uint64_t epoch = 0;
  {
    Broker broker(OnDisk(dir.path()));
    for (int i = 1; i <= 5; ++i) epoch = broker.Publish("orders", "o" + std::to_string(i))->epoch;
    ASSERT_TRUE(broker.Publish("other", "x").ok());
  }
  Broker broker(OnDisk(dir.path()));
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

TEST(BrokerOnDisk, SubscribingWithAResumePointAfterARestartReplaysThenGoesLive) {
  ScratchDir dir;
  uint64_t epoch = 0;
  {
    Broker broker(OnDisk(dir.path()));
    for (int i = 1; i <= 4; ++i) epoch = broker.Publish("feed", std::to_string(i))->epoch;
  }
  Broker broker(OnDisk(dir.path()));
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

TEST(BrokerOnDisk, HistoryLimitsTrimTheStoreAndTheTrimSurvivesARestart) {
  ScratchDir dir;
  uint64_t epoch = 0;
  {
    BrokerOptions o = OnDisk(dir.path());
    o.default_history.max_messages = 3;
    Broker broker(o);
    for (int i = 1; i <= 10; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
    broker.RunMaintenance();  // tells the store what history no longer holds
  }
  BrokerOptions o = OnDisk(dir.path());
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

TEST(BrokerOnDisk, AgeAndByteRetentionApplyToWhatWasStoredBeforeARestart) {
  ScratchDir dir;
  int64_t now = 1'700'000'000'000'000;
  auto options = [&] {
    BrokerOptions o = OnDisk(dir.path());
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

TEST(BrokerOnDisk, AMessageIdIsStillKnownAfterARestart) {
  ScratchDir dir;
  PublishOptions id;
  id.msg_id = "order-42";
  PublishAck first;
  {
    Broker broker(OnDisk(dir.path()));
    Result<PublishAck> r = broker.Publish("orders", "paid", id);
    ASSERT_TRUE(r.ok());
    first = *r;
  }
  Broker broker(OnDisk(dir.path()));
  Result<PublishAck> retry = broker.Publish("orders", "paid", id);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->epoch, first.epoch);
  EXPECT_EQ(retry->offset, first.offset);
  Result<ResumeResult> h = broker.Resume("orders", first.epoch, 0);
  ASSERT_EQ(h->messages.size(), 1u);
  EXPECT_EQ(h->messages[0]->msg_id, "order-42");  // stored with the message
}

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
