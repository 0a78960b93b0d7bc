#include <gtest/gtest.h>

#include "test_support.h"

namespace herald {
namespace {

using testing::ManualInbox;
using testing::RecordingSink;

std::vector<uint64_t> Offsets(const std::vector<MessagePtr>& ms) {
  std::vector<uint64_t> out;
  for (const auto& m : ms) out.push_back(m->offset);
  return out;
}

TEST(Resume, ReturnsExactlyTheMissedMessagesInOrder) {
  Broker broker;
  uint64_t epoch = 0;
  for (int i = 1; i <= 10; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
  auto r = broker.Resume("t", epoch, 7);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->gap.has_value());
  EXPECT_EQ(Offsets(r->messages), (std::vector<uint64_t>{8, 9, 10}));
  EXPECT_EQ(r->last_offset, 10u);
  EXPECT_FALSE(r->truncated);
}

TEST(Resume, UpToDateClientGetsNothing) {
  Broker broker;
  auto ack = broker.Publish("t", "x");
  auto r = broker.Resume("t", ack->epoch, ack->offset);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->messages.empty());
  EXPECT_FALSE(r->gap.has_value());
}

TEST(Resume, TrimmedHistoryIsReportedAsAGapNeverSilentlyShort) {
  BrokerOptions o;
  o.default_history.max_messages = 3;
  Broker broker(o);
  uint64_t epoch = 0;
  for (int i = 1; i <= 10; ++i) epoch = broker.Publish("t", "x")->epoch;
  auto r = broker.Resume("t", epoch, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kTrimmed);
  EXPECT_EQ(r->gap->from_offset, 3u);
  EXPECT_EQ(r->gap->to_offset, 7u);
  EXPECT_EQ(Offsets(r->messages), (std::vector<uint64_t>{8, 9, 10}));
}

TEST(Resume, ByteBoundTrimsOldestFirst) {
  BrokerOptions o;
  o.default_history.max_bytes = 10;
  Broker broker(o);
  uint64_t epoch = 0;
  for (int i = 1; i <= 5; ++i) epoch = broker.Publish("t", "abcd")->epoch;  // 4 bytes each
  auto r = broker.Resume("t", epoch, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Offsets(r->messages), (std::vector<uint64_t>{4, 5}));
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->to_offset, 3u);
}

TEST(Resume, ChangedEpochIsReportedAndTheNewEpochReplayed) {
  Broker broker;
  auto ack = broker.Publish("t", "new-epoch-1");
  auto r = broker.Resume("t", ack->epoch - 1, 5);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kEpochChanged);
  EXPECT_EQ(r->epoch, ack->epoch);
  EXPECT_EQ(Offsets(r->messages), (std::vector<uint64_t>{1}));
}

TEST(Resume, UnknownTopicWithAPastEpochIsAGap) {
  Broker broker;
  auto r = broker.Resume("never.seen", 12345, 3);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->reason, GapReason::kEpochChanged);
  auto fresh = broker.Resume("never.seen", 0, 0);
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->gap.has_value());
}

TEST(Resume, OffsetAheadOfTheTopicIsInvalid) {
  Broker broker;
  auto ack = broker.Publish("t", "x");
  auto r = broker.Resume("t", ack->epoch, 99);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
}

TEST(Resume, LimitTruncatesAndSaysSo) {
  Broker broker;
  uint64_t epoch = 0;
  for (int i = 1; i <= 10; ++i) epoch = broker.Publish("t", "x")->epoch;
  auto r = broker.Resume("t", epoch, 0, 4);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Offsets(r->messages), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(r->truncated);
}

TEST(Resume, HistoryOffForAPatternByRule) {
  BrokerOptions o;
  o.history_rules.push_back({"volatile.>", HistoryLimits{.max_messages = 0}});
  Broker broker(o);
  auto ack = broker.Publish("volatile.x", "a");
  ASSERT_TRUE(broker.Publish("volatile.x", "b").ok());
  auto r = broker.Resume("volatile.x", ack->epoch, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->messages.empty());
  ASSERT_TRUE(r->gap.has_value());
  EXPECT_EQ(r->gap->from_offset, 2u);
}

TEST(Resume, GlobalHistoryBudgetEvictsOldestAndKeepsOffsetsContiguous) {
  BrokerOptions o;
  o.max_history_bytes = 2000;
  Broker broker(o);
  uint64_t epoch = 0;
  for (int i = 1; i <= 50; ++i) epoch = broker.Publish("t", std::string(100, 'x'))->epoch;
  BrokerStats s = broker.Stats();
  EXPECT_LE(s.history_bytes, 2000u);
  EXPECT_GT(s.history_evictions, 0u);
  auto r = broker.Resume("t", epoch, 0);
  ASSERT_TRUE(r.ok());
  ASSERT_FALSE(r->messages.empty());
  for (size_t i = 1; i < r->messages.size(); ++i) {
    EXPECT_EQ(r->messages[i]->offset, r->messages[i - 1]->offset + 1);
  }
  EXPECT_EQ(r->messages.back()->offset, 50u);
}

TEST(SubscribeWithResume, ReplaysMissedMessagesThenLiveWithoutDuplicates) {
  Broker broker;
  uint64_t epoch = 0;
  for (int i = 1; i <= 5; ++i) epoch = broker.Publish("room.1", std::to_string(i))->epoch;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  SubscribeOptions opts;
  opts.resume.push_back({"room.1", epoch, 3});
  ASSERT_TRUE(broker.Subscribe("room.*", sink, in.inbox, opts).ok());
  ASSERT_TRUE(broker.Publish("room.1", "6").ok());
  in.inbox->Drain();
  EXPECT_EQ(sink->payloads(), (std::vector<std::string>{"4", "5", "6"}));
}

TEST(SubscribeWithResume, GapNoticeComesBeforeTheReplay) {
  BrokerOptions o;
  o.default_history.max_messages = 2;
  Broker broker(o);
  uint64_t epoch = 0;
  for (int i = 1; i <= 6; ++i) epoch = broker.Publish("t", std::to_string(i))->epoch;
  ManualInbox in(broker);
  auto sink = std::make_shared<RecordingSink>();
  SubscribeOptions opts;
  opts.resume.push_back({"t", epoch, 1});
  ASSERT_TRUE(broker.Subscribe("t", sink, in.inbox, opts).ok());
  in.inbox->Drain();
  auto got = sink->received();
  ASSERT_EQ(got.size(), 3u);
  ASSERT_TRUE(got[0].is_gap);
  EXPECT_EQ(got[0].gap.from_offset, 2u);
  EXPECT_EQ(got[0].gap.to_offset, 4u);
  EXPECT_EQ(got[1].message->offset, 5u);
  EXPECT_EQ(got[2].message->offset, 6u);
}

TEST(SubscribeWithResume, ResumeTopicMustMatchThePattern) {
  Broker broker;
  ManualInbox in(broker);
  SubscribeOptions opts;
  opts.resume.push_back({"other", 1, 1});
  auto r = broker.Subscribe("room.*", std::make_shared<RecordingSink>(), in.inbox, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
}

// Publishers racing a resuming subscriber: every offset arrives exactly once,
// in order, whichever side wins each race.
TEST(SubscribeWithResume, RacingPublisherLosesAndDuplicatesNothing) {
  for (int round = 0; round < 20; ++round) {
    Broker broker;
    auto first = broker.Publish("t", "0");
    std::atomic<bool> go{false};
    std::thread publisher([&] {
      while (!go.load()) {
      }
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(broker.Publish("t", "x").ok());
    });
    ManualInbox in(broker);
    auto sink = std::make_shared<RecordingSink>();
    SubscribeOptions opts;
    opts.resume.push_back({"t", first->epoch, 1});
    go = true;
    std::this_thread::yield();
    ASSERT_TRUE(broker.Subscribe("t", sink, in.inbox, opts).ok());
    publisher.join();
    in.inbox->Drain();
    auto got = sink->received();
    ASSERT_EQ(got.size(), 200u);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].message->offset, i + 2);
  }
}

}  // namespace
}  // namespace herald
