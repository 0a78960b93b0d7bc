// With a history store, what a topic keeps is bounded by its retention on
// disk, and memory by the node's history budget: memory holds the newest part,
// and resumes, replays and restarts read the rest from the store a page at a
// time. Memory does not grow with the history on disk. Run on the disk store
// and on Redis.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

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

constexpr int kMessages = 3000;              // of 1 KiB: about 3 MB of history
constexpr size_t kMemoryBudget = 64u << 10;  // memory holds some 50 of them

enum class Backend { kDisk, kRedis };

class HistoryBeyondMemory : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() != Backend::kRedis) return;
    redis_ = test::RedisServer::Start();
    ASSERT_TRUE(redis_) << test::RedisServer::last_error();
  }

  // A broker's options on this test's store, opened again at each call (as
  // a restarted heraldd does).
  BrokerOptions Options(size_t tail_bytes = 1u << 20) {
    Result<std::shared_ptr<HistoryStore>> store = Status(ErrorCode::kInternal, "none");
    if (GetParam() == Backend::kDisk) {
      DiskStoreOptions d;
      d.dir = dir_.path();
      d.boot_id = "this-boot";
      d.tail_bytes = tail_bytes;
      store = OpenDiskStore(d);
    } else {
      RedisStoreOptions r;
      r.port = redis_->port();
      r.require_durable = false;  // the logic under test, not Redis's disk
      r.tail_bytes = tail_bytes;
      store = OpenRedisStore(r);
    }
    EXPECT_TRUE(store.ok()) << store.status().message();
    BrokerOptions o;
    if (store.ok()) o.store = *store;
    o.max_history_bytes = kMemoryBudget;
    o.default_history.max_messages = 1'000'000;
    o.default_history.max_bytes = uint64_t{1} << 30;
    return o;
  }

 private:
  ScratchDir dir_;
  std::unique_ptr<test::RedisServer> redis_;
};

std::string Payload(int i) {
  std::string p = std::to_string(i);
  p.resize(1024, '.');
  return p;
}

uint64_t PublishAll(Broker& broker, int from, int to) {
  uint64_t epoch = 0;
  for (int i = from; i <= to; ++i) {
    Result<PublishAck> ack = broker.Publish("feed", Payload(i));
    EXPECT_TRUE(ack.ok()) << ack.status().message();
    if (ack.ok()) epoch = ack->epoch;
  }
  return epoch;
}

// Resumes page after page, as a client of GET /history does; returns the
// offsets received in order, and the gaps.
std::vector<uint64_t> ResumeAll(Broker& broker, uint64_t epoch, uint64_t after,
                                std::vector<Gap>* gaps = nullptr) {
  std::vector<uint64_t> offsets;
  for (int page = 0; page < 1000; ++page) {
    Result<ResumeResult> r = broker.Resume("feed", epoch, after);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) break;
    if (r->gap && gaps) gaps->push_back(*r->gap);
    for (const MessagePtr& m : r->messages) {
      EXPECT_EQ(m->payload, Payload(static_cast<int>(m->offset)));
      offsets.push_back(m->offset);
    }
    if (!r->truncated || r->messages.empty()) break;
    epoch = r->epoch;
    after = r->messages.back()->offset;
  }
  return offsets;
}

std::vector<uint64_t> Range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t i = from; i <= to; ++i) out.push_back(i);
  return out;
}

TEST_P(HistoryBeyondMemory, MemoryHoldsTheNewestPartAndAResumePagesThroughTheRestFromDisk) {
  Broker broker(Options());
  const uint64_t epoch = PublishAll(broker, 1, kMessages);
  EXPECT_LE(broker.Stats().history_bytes, kMemoryBudget);
  EXPECT_GT(broker.Stats().history_evictions, 0u);
  std::vector<Gap> gaps;
  EXPECT_EQ(ResumeAll(broker, epoch, 0, &gaps), Range(1, kMessages));
  EXPECT_TRUE(gaps.empty());
  EXPECT_EQ(ResumeAll(broker, epoch, 2500), Range(2501, kMessages));
  EXPECT_LE(broker.Stats().history_bytes, kMemoryBudget);  // reads did not fill memory
}

TEST_P(HistoryBeyondMemory, SubscribingWithAResumePointReplaysFromDiskThenGoesLiveExactlyOnce) {
  Broker broker(Options());
  const uint64_t epoch = PublishAll(broker, 1, kMessages);
  ManualInbox box(broker);
  auto sink = std::make_shared<RecordingSink>();
  SubscribeOptions so;
  so.resume = {{"feed", epoch, 10}};
  ASSERT_TRUE(broker.Subscribe("feed", sink, box.inbox, so).ok());
  // Published while the history is still being read: it comes after it, once.
  PublishAll(broker, kMessages + 1, kMessages + 5);
  ASSERT_TRUE(WaitFor(
      [&] {
        box.inbox->Drain();  // delivering a page asks for the next
        return sink->payloads().size() >= kMessages - 10 + 5;
      },
      20000));
  std::vector<uint64_t> offsets;
  for (const auto& r : sink->received()) {
    EXPECT_FALSE(r.is_gap) << r.gap.from_offset << ".." << r.gap.to_offset;
    if (!r.is_gap) offsets.push_back(r.message->offset);
  }
  EXPECT_EQ(offsets, Range(11, kMessages + 5));
}

TEST_P(HistoryBeyondMemory, ReplaysFromDiskShareTheNodesReadBudgetAndWaitForItWithoutAGap) {
  // A budget of one page: eight subscribers replaying 3,000 messages from
  // disk at once take turns, page by page; each still gets exactly what it
  // asked for, and no more than one page is held at a time.
  BrokerOptions o = Options();
  o.max_store_read_bytes = 1;
  Broker broker(o);
  const uint64_t epoch = PublishAll(broker, 1, kMessages);
  constexpr int kSubscribers = 8;
  std::vector<std::unique_ptr<ManualInbox>> boxes;
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < kSubscribers; ++i) {
    boxes.push_back(std::make_unique<ManualInbox>(broker));
    sinks.push_back(std::make_shared<RecordingSink>());
    SubscribeOptions so;
    so.resume = {{"feed", epoch, static_cast<uint64_t>(i)}};
    ASSERT_TRUE(broker.Subscribe("feed", sinks.back(), boxes.back()->inbox, so).ok());
  }
  uint64_t most_waiting = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        const BrokerStats s = broker.Stats();
        EXPECT_LE(s.store_read_bytes, size_t{1} << 20);  // one page's charge at most
        most_waiting = std::max(most_waiting, s.store_reads_waiting);
        bool all = true;
        for (int i = 0; i < kSubscribers; ++i) {
          boxes[static_cast<size_t>(i)]->inbox->Drain();
          all = all && sinks[static_cast<size_t>(i)]->payloads().size() >=
                           static_cast<size_t>(kMessages - i);
        }
        return all;
      },
      30000));
  EXPECT_GT(most_waiting, 0u);  // they did take turns
  for (int i = 0; i < kSubscribers; ++i) {
    std::vector<uint64_t> offsets;
    for (const auto& r : sinks[static_cast<size_t>(i)]->received()) {
      EXPECT_FALSE(r.is_gap) << i << ": " << r.gap.from_offset << ".." << r.gap.to_offset;
      if (!r.is_gap) offsets.push_back(r.message->offset);
    }
    EXPECT_EQ(offsets, Range(static_cast<uint64_t>(i) + 1, kMessages)) << i;
  }
  EXPECT_TRUE(WaitFor([&] { return broker.Stats().store_read_bytes == 0; }, 5000));
  EXPECT_EQ(broker.Stats().store_reads_waiting, 0u);
  // A paged resume (GET /history) is not charged (its caller may be the
  // thread that delivers replay pages) and is not held up by the budget.
  EXPECT_EQ(ResumeAll(broker, epoch, 0), Range(1, kMessages));
}

TEST_P(HistoryBeyondMemory, AfterARestartMemoryHoldsATailAndTheRestIsReadFromDisk) {
  uint64_t epoch = 0;
  {
    Broker broker(Options());
    epoch = PublishAll(broker, 1, kMessages);
  }
  Broker broker(Options(/*tail_bytes=*/16u << 10));
  EXPECT_LE(broker.Stats().history_bytes, kMemoryBudget);
  std::vector<Gap> gaps;
  EXPECT_EQ(ResumeAll(broker, epoch, 0, &gaps), Range(1, kMessages));
  EXPECT_TRUE(gaps.empty());
  // The numbering goes on, and a resume from before the restart is exact.
  EXPECT_EQ(broker.Publish("feed", Payload(kMessages + 1))->offset, kMessages + 1u);
  EXPECT_EQ(ResumeAll(broker, epoch, 100), Range(101, kMessages + 1));
}

TEST_P(HistoryBeyondMemory, RetentionOnDiskTrimsWhatMemoryNoLongerHoldsAndReportsItAsTrimmed) {
  BrokerOptions o = Options();
  o.default_history.max_messages = 2000;
  Broker broker(o);
  const uint64_t epoch = PublishAll(broker, 1, kMessages);
  broker.RunMaintenance();  // the store trims in the background
  std::vector<Gap> gaps;
  ASSERT_TRUE(WaitFor([&] {
    gaps.clear();
    return ResumeAll(broker, epoch, 0, &gaps) == Range(1001, kMessages);
  }));
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].reason, GapReason::kTrimmed);
  EXPECT_EQ(gaps[0].from_offset, 1u);
  EXPECT_EQ(gaps[0].to_offset, 1000u);
}

INSTANTIATE_TEST_SUITE_P(EveryStore, HistoryBeyondMemory,
                         ::testing::Values(Backend::kDisk, Backend::kRedis),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kDisk ? "Disk" : "Redis";
                         });

}  // namespace
}  // namespace herald
