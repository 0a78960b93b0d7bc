// A work queue's start (QueueOptions::start): its text form, and a new
// queue reading its topics' history through the Broker API — every message
// once, from history below each topic's cut and live from it on, whatever
// is published while the queue is created.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "herald/broker.h"
#include "test_support.h"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::WaitFor;

TEST(QueueStartText, NewFirstAndRfc3339TimesAreRead) {
  QueueOptions o;
  ASSERT_TRUE(ParseQueueStart("first", o).ok());
  EXPECT_EQ(o.start, QueueOptions::Start::kFirst);
  EXPECT_EQ(QueueStartText(o), "first");
  ASSERT_TRUE(ParseQueueStart("new", o).ok());
  EXPECT_EQ(o.start, QueueOptions::Start::kNew);
  ASSERT_TRUE(ParseQueueStart("2026-12-05T10:00:00Z", o).ok());
  EXPECT_EQ(o.start, QueueOptions::Start::kTime);
  const int64_t secs = 1796464800;  // date -u -d 2026-12-05T10:00:00Z +%s
  EXPECT_EQ(o.start_time.time_since_epoch(), std::chrono::seconds(secs));
  EXPECT_EQ(QueueStartText(o), "2026-12-05T10:00:00Z");
  // An offset is the same instant in UTC; a fraction keeps microseconds.
  ASSERT_TRUE(ParseQueueStart("2026-12-05T11:30:00.25+01:30", o).ok());
  EXPECT_EQ(o.start_time.time_since_epoch(), std::chrono::seconds(secs) + 250ms);
  EXPECT_EQ(QueueStartText(o), "2026-12-05T10:00:00.250000Z");
  ASSERT_TRUE(ParseQueueStart("1970-01-01T00:00:00Z", o).ok());
  EXPECT_EQ(o.start_time.time_since_epoch().count(), 0);
  ASSERT_TRUE(ParseQueueStart("2261-12-31T23:59:59.999999Z", o).ok());
  EXPECT_EQ(QueueStartText(o), "2261-12-31T23:59:59.999999Z");
}

TEST(QueueStartText, AnythingElseIsRefusedSayingWhatIsAccepted) {
  for (const char* bad : {"", "last", "First", "2026-12-05", "2026-12-05T10:00:00",
                          "2026-02-30T10:00:00Z", "2026-12-05T24:00:00Z", "2026-12-05T10:00:00.Z",
                          "2026-12-05T10:00:00Zjunk", "2026-12-05 10:00:00Z", "1733392800",
                          // Past what the clock holds: it would wrap to an earlier time.
                          "9999-12-31T23:59:59Z", "2262-06-01T00:00:00Z", "0001-01-01T00:00:00Z",
                          "1970-01-01T00:30:00+01:00"}) {
    QueueOptions o;
    Status s = ParseQueueStart(bad, o);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("RFC 3339"), std::string::npos) << s.message();
    EXPECT_EQ(o.start, QueueOptions::Start::kNew) << bad;
  }
}

QueueOptions Work(QueueOptions::Start start = QueueOptions::Start::kFirst) {
  QueueOptions o;
  o.name = "work";
  o.pattern = "jobs.>";
  o.ack_wait = 30s;
  o.start = start;
  return o;
}

using testing::AckingWorker;

TEST(BrokerQueueStart, FirstMakesEveryMessageInHistoryAJobThenTheNewOnes) {
  Broker b;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(b.Publish("jobs.a", "a" + std::to_string(i)).ok());
    ASSERT_TRUE(b.Publish("jobs.b", "b" + std::to_string(i)).ok());
  }
  ASSERT_TRUE(b.Publish("other", "not a job").ok());
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  for (int i = 40; i < 50; ++i) ASSERT_TRUE(b.Publish("jobs.a", "a" + std::to_string(i)).ok());
  AckingWorker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return w.count == 90; })) << w.count;
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(w.count, 90u);
  std::lock_guard lock(w.mu);
  for (uint64_t off = 1; off <= 50; ++off) EXPECT_EQ((w.seen[{"jobs.a", off}]), 1) << off;
  for (uint64_t off = 1; off <= 40; ++off) EXPECT_EQ((w.seen[{"jobs.b", off}]), 1) << off;
  const QueueInfo info = *b.GetQueue("work");
  EXPECT_EQ(info.backfilled, 80u);
  EXPECT_EQ(info.enqueued, 90u);
  EXPECT_EQ(QueueStartText(info.options), "first");
}

TEST(BrokerQueueStart, NewTakesNothingFromHistory) {
  Broker b;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b.Publish("jobs.a", "old").ok());
  ASSERT_TRUE(b.CreateQueue(Work(QueueOptions::Start::kNew)).ok());
  ASSERT_TRUE(b.Publish("jobs.a", "new").ok());
  AckingWorker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return w.count == 1; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(w.count, 1u);
  EXPECT_FALSE(b.GetQueue("work")->backfilling);
  EXPECT_EQ(b.GetQueue("work")->backfilled, 0u);
}

TEST(BrokerQueueStart, ATimeTakesTheMessagesPublishedSinceThen) {
  std::atomic<int64_t> now_us{1'000'000'000'000'000};
  BrokerOptions bo;
  bo.clock = [&] { return now_us.load(); };
  Broker b(bo);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b.Publish("jobs.a", "before").ok());
  now_us += 60'000'000;
  const int64_t since = now_us.load();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.Publish("jobs.a", "since").ok());
  QueueOptions o = Work(QueueOptions::Start::kTime);
  o.start_time = std::chrono::system_clock::time_point(std::chrono::microseconds(since));
  ASSERT_TRUE(b.CreateQueue(o).ok());
  ASSERT_TRUE(b.Publish("jobs.a", "live").ok());
  AckingWorker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return w.count == 4; }));
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(w.mu);
  std::multiset<std::string> got(w.payloads.begin(), w.payloads.end());
  EXPECT_EQ(got, (std::multiset<std::string>{"since", "since", "since", "live"}));
}

// The exactness the cut gives: publishers go on before, during and after
// the creation, and each message of each topic is one job, none missing.
TEST(BrokerQueueStart, PublishesDuringCreationAreEachOneJob) {
  BrokerOptions bo;
  bo.default_history.max_messages = 100'000;
  bo.default_history.max_bytes = 64u << 20;
  Broker b(bo);
  testing::ExpectEachMessageOneJob(b, Work());
}

TEST(BrokerQueueStart, TheReadingTakesHalfTheQueueAndLeavesTheRestToPublishers) {
  Broker b;
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(b.Publish("jobs.a", std::to_string(i)).ok());
  QueueOptions o = Work();
  o.max_pending = 8;
  ASSERT_TRUE(b.CreateQueue(o).ok());
  ASSERT_TRUE(WaitFor([&] { return b.GetQueue("work")->pending == 4; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(b.GetQueue("work")->pending, 4u);  // half its bound, not more
  EXPECT_TRUE(b.GetQueue("work")->backfilling);
  // The other half is the publishers'.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.Publish("jobs.b", "live").ok());
  EXPECT_EQ(b.Publish("jobs.b", "one too many").status().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(b.GetQueue("work")->refused, 1u);  // the publish; the reading refuses nothing
  AckingWorker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return w.count == 34; }));
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  std::lock_guard lock(w.mu);
  std::vector<std::string> history;
  for (const std::string& p : w.payloads) {
    if (p != "live") history.push_back(p);
  }
  ASSERT_EQ(history.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(history.at(i), std::to_string(i));  // in order
}

TEST(BrokerQueueStart, AMessageLargerThanTheQueueMayHoldIsSkippedAndCounted) {
  Broker b;
  ASSERT_TRUE(b.Publish("jobs.a", "small").ok());
  ASSERT_TRUE(b.Publish("jobs.a", std::string(500, 'x')).ok());
  ASSERT_TRUE(b.Publish("jobs.a", "small").ok());
  QueueOptions o = Work();
  o.max_pending_bytes = 100;
  ASSERT_TRUE(b.CreateQueue(o).ok());
  AckingWorker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  ASSERT_TRUE(WaitFor([&] { return w.count == 2; }));
  const QueueInfo info = *b.GetQueue("work");
  EXPECT_EQ((std::pair{info.backfilled, info.backfill_skipped}), (std::pair{2ul, 1ul}));
}

TEST(BrokerQueueStart, TheStartIsNotPartOfTheDefinitionOnceCreated) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work(QueueOptions::Start::kFirst)).ok());
  // The config creating it again at every start, with another start, is
  // the same queue; other settings are not.
  EXPECT_TRUE(b.CreateQueue(Work(QueueOptions::Start::kNew)).ok());
  QueueOptions other = Work();
  other.max_deliver = 9;
  EXPECT_EQ(b.CreateQueue(other).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace herald
