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
}

TEST(QueueStartText, AnythingElseIsRefusedSayingWhatIsAccepted) {
  for (const char* bad : {"", "last", "First", "2026-12-05", "2026-12-05T10:00:00",
                          "2026-02-30T10:00:00Z", "2026-12-05T24:00:00Z", "2026-12-05T10:00:00.Z",
                          "2026-12-05T10:00:00Zjunk", "2026-12-05 10:00:00Z", "1733392800"}) {
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

// A member that acknowledges each job as it comes and records where it is from.
struct AckingWorker {
  std::mutex mu;
  std::map<std::pair<std::string, uint64_t>, int> seen;  // (topic, offset) -> times
  std::vector<std::string> payloads;
  std::atomic<size_t> count{0};
  void Join(Broker& b, const std::string& queue) {
    Result<uint64_t> r = b.JoinQueue(queue, [this, &b](const Delivery& d) {
      if (d.kind != Delivery::Kind::kJob) return;
      {
        std::lock_guard lock(mu);
        ++seen[{d.job->message->topic, d.job->message->offset}];
        payloads.push_back(d.job->message->payload);
      }
      EXPECT_TRUE(b.Settle(d.subscription_id, d.job->handle, SettleKind::kAck).ok());
      count.fetch_add(1);
    });
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
};

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

// The exactness the cut gives: publishers never stop while the queue is
// created, and each message of each topic is one job, none missing.
TEST(BrokerQueueStart, PublishesDuringCreationAreEachOneJob) {
  BrokerOptions bo;
  bo.default_history.max_messages = 100'000;
  bo.default_history.max_bytes = 64u << 20;
  Broker b(bo);
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&, t] {
      const std::string topic = "jobs." + std::to_string(t);
      for (int i = 0; i < 20'000 && !stop.load(); ++i) {
        ASSERT_TRUE(b.Publish(topic, "x").ok());
        if (i % 64 == 0) std::this_thread::yield();
      }
    });
  }
  std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  std::this_thread::sleep_for(5ms);
  stop = true;
  for (std::thread& t : publishers) t.join();
  AckingWorker w;
  w.Join(b, "work");
  std::map<std::string, uint64_t> last;
  for (int t = 0; t < 4; ++t) {
    const std::string topic = "jobs." + std::to_string(t);
    Result<ResumeResult> r = b.Resume(topic, 0, 0, 1);
    ASSERT_TRUE(r.ok());
    last[topic] = r->last_offset;
  }
  uint64_t total = 0;
  for (auto& [topic, n] : last) total += n;
  ASSERT_TRUE(WaitFor([&] { return w.count == total; }, 20000)) << w.count << " of " << total;
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(w.count, total);
  std::lock_guard lock(w.mu);
  for (auto& [topic, n] : last) {
    for (uint64_t off = 1; off <= n; ++off) ASSERT_EQ((w.seen[{topic, off}]), 1) << topic << off;
  }
  const QueueInfo info = *b.GetQueue("work");
  std::printf("[ info ] %llu jobs, %llu from history\n", static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(info.backfilled));
  EXPECT_GT(info.backfilled, 0u);
}

TEST(BrokerQueueStart, AFullQueueReadsOnAsJobsAreAcked) {
  Broker b;
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(b.Publish("jobs.a", std::to_string(i)).ok());
  QueueOptions o = Work();
  o.max_pending = 8;
  ASSERT_TRUE(b.CreateQueue(o).ok());
  ASSERT_TRUE(WaitFor([&] { return b.GetQueue("work")->pending == 8; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(b.GetQueue("work")->pending, 8u);  // held at its bound, not past it
  EXPECT_TRUE(b.GetQueue("work")->backfilling);
  EXPECT_EQ(b.GetQueue("work")->refused, 0u);  // the reading is not a refused publish
  AckingWorker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return w.count == 30; }));
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue("work")->backfilling; }));
  std::lock_guard lock(w.mu);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(w.payloads.at(i), std::to_string(i));  // in order
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
