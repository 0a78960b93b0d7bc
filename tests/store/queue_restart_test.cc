// Work queues on the disk store: a broker restarted on the same directory
// has its queues back, with every job not acknowledged and its delivery
// count; acknowledged jobs stay gone.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "herald/broker.h"
#include "herald/disk_store.h"
#include "herald/queue_store.h"
#include "tests/broker/test_support.h"
#include "tests/store/scratch_dir.h"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::ScratchDir;
using testing::WaitFor;

BrokerOptions OnDisk(const std::string& dir, bool history = true) {
  DiskStoreOptions d;
  d.dir = dir;
  d.boot_id = "this-boot";
  Result<std::shared_ptr<HistoryStore>> store = OpenDiskStore(d);
  EXPECT_TRUE(store.ok()) << store.status().message();
  BrokerOptions o;
  if (store.ok()) o.store = *store;
  if (!history) o.default_history.max_messages = 0;
  return o;
}

QueueOptions Work() {
  QueueOptions q;
  q.name = "work";
  q.pattern = "jobs.>";
  q.ack_wait = 1h;
  q.max_deliver = 3;
  q.dead_letter = "dead.work";
  return q;
}

using Worker = testing::QueueWorker;

class QueueRestart : public ::testing::TestWithParam<bool> {};  // topic history on / off

TEST_P(QueueRestart, JobsNotAckedComeBackWithTheirDeliveryCounts) {
  ScratchDir dir;
  const bool history = GetParam();
  {
    Broker b(OnDisk(dir.path(), history));
    ASSERT_TRUE(b.CreateQueue(Work()).ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(b.Publish("jobs.a", "job-" + std::to_string(i)).ok());
    Worker w;
    w.Join(b, "work");
    ASSERT_TRUE(WaitFor([&] { return w.count() == 5; }));
    ASSERT_TRUE(b.Settle(w.id, w.at(0).handle, SettleKind::kAck).ok());
    ASSERT_TRUE(b.Settle(w.id, w.at(1).handle, SettleKind::kAck).ok());
  }  // a clean stop: what was queued for the disk is committed
  Broker b(OnDisk(dir.path(), history));
  Result<QueueInfo> info = b.GetQueue("work");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->pending, 3u);
  EXPECT_EQ(info->options.max_deliver, 3u);
  EXPECT_EQ(info->options.dead_letter, "dead.work");
  Worker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return w.count() == 3; }));
  std::set<std::string> payloads;
  for (size_t i = 0; i < 3; ++i) {
    payloads.insert(w.at(i).message->payload);
    EXPECT_EQ(w.at(i).deliveries, 2u);  // delivered once before the restart
    EXPECT_EQ(w.at(i).message->topic, "jobs.a");
  }
  EXPECT_EQ(payloads, (std::set<std::string>{"job-2", "job-3", "job-4"}));
  // The same definition again (the config at start) is fine; a publish
  // after the restart numbers on.
  EXPECT_TRUE(b.CreateQueue(Work()).ok());
  ASSERT_TRUE(b.Publish("jobs.a", "job-5").ok());
  ASSERT_TRUE(WaitFor([&] { return w.count() == 4; }));
  EXPECT_GT(w.at(3).seq, w.at(2).seq);
}

TEST_P(QueueRestart, ADeletedQueueStaysDeleted) {
  ScratchDir dir;
  {
    Broker b(OnDisk(dir.path(), GetParam()));
    ASSERT_TRUE(b.CreateQueue(Work()).ok());
    ASSERT_TRUE(b.Publish("jobs.a", "x").ok());
    ASSERT_TRUE(b.DeleteQueue("work").ok());
  }
  Broker b(OnDisk(dir.path(), GetParam()));
  EXPECT_EQ(b.GetQueue("work").status().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  EXPECT_EQ(b.GetQueue("work")->pending, 0u);  // the old jobs went with it
}

TEST_P(QueueRestart, AJobWhoseLastDeliveryWasCutShortGoesToTheDeadLetters) {
  ScratchDir dir;
  {
    Broker b(OnDisk(dir.path(), GetParam()));
    ASSERT_TRUE(b.CreateQueue(Work()).ok());
    ASSERT_TRUE(b.Publish("jobs.a", "poison").ok());
    Worker w;
    w.Join(b, "work");
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(WaitFor([&] { return w.count() == i + 1; }));
      if (i < 2) {
        ASSERT_TRUE(b.Settle(w.id, w.at(i).handle, SettleKind::kNack, 0ms).ok());
      }
    }
  }  // the third delivery was in flight
  Broker b(OnDisk(dir.path(), GetParam()));
  std::promise<MessagePtr> dead;
  ASSERT_TRUE(b.Subscribe("dead.work", [&](const Delivery& d) {
                 if (d.kind == Delivery::Kind::kMessage) dead.set_value(d.message);
               }).ok());
  auto got = dead.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get()->payload, "poison");
  ASSERT_TRUE(WaitFor([&] { return b.GetQueue("work")->pending == 0; }));
}

// What a publish racing a queue's delete can leave behind: jobs of an
// earlier incarnation of the name, and jobs of a name with no queue.
TEST(QueueStoreOnDisk, KeysOfADeletedQueueOrAnEarlierIncarnationAreDroppedAtOpen) {
  ScratchDir dir;
  auto open = [&] {
    DiskStoreOptions d;
    d.dir = dir.path();
    d.boot_id = "this-boot";
    Result<std::shared_ptr<HistoryStore>> s = OpenDiskStore(d);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return *s;
  };
  auto m = std::make_shared<Message>();
  m->topic = "jobs.a";
  m->payload = "x";
  m->epoch = 1;
  m->offset = 1;
  {
    std::shared_ptr<HistoryStore> s = open();
    auto* qs = dynamic_cast<QueueStore*>(s.get());
    ASSERT_NE(qs, nullptr);
    qs->PutQueue(Work(), 7);
    ASSERT_TRUE(qs->PutJobs(m, {{"work", 7, 1}, {"work", 6, 1}, {"gone", 3, 1}}, nullptr).ok());
    qs->SetDeliveries({"work", 6, 1}, 4);
  }
  for (int round = 0; round < 2; ++round) {
    std::shared_ptr<HistoryStore> s = open();
    std::vector<StoredQueue> queues = dynamic_cast<QueueStore*>(s.get())->TakeQueues();
    ASSERT_EQ(queues.size(), 1u);
    EXPECT_EQ(queues[0].incarnation, 7u);
    ASSERT_EQ(queues[0].jobs.size(), 1u);
    EXPECT_EQ(queues[0].jobs[0].deliveries, 0u);  // the stray count was not its
  }
}

TEST_P(QueueRestart, ARetriedPublishIsOneJobAndAnsweredAsTheFirst) {
  ScratchDir dir;
  Broker b(OnDisk(dir.path(), GetParam()));
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  PublishOptions o;
  o.msg_id = "order-1";
  std::promise<Result<PublishAck>> first, second;
  b.PublishAsync("jobs.a", "x", o, [&](Result<PublishAck> a) { first.set_value(a); });
  b.PublishAsync("jobs.a", "x", o, [&](Result<PublishAck> a) { second.set_value(a); });
  Result<PublishAck> a = first.get_future().get();
  Result<PublishAck> d = second.get_future().get();
  ASSERT_TRUE(a.ok() && d.ok());
  EXPECT_FALSE(a->duplicate);
  EXPECT_TRUE(d->duplicate);
  EXPECT_EQ(d->offset, a->offset);
  EXPECT_EQ(b.GetQueue("work")->pending, 1u);
}

INSTANTIATE_TEST_SUITE_P(Topics, QueueRestart, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "History" : "NoHistory"; });

}  // namespace
}  // namespace herald
