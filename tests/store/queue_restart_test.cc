// Work queues on a store that keeps them (the disk store, the Redis store
// on one server or as three shards): a broker restarted on the same store
// has its queues back, with every job not acknowledged and its delivery
// count; acknowledged jobs stay gone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "herald/broker.h"
#include "herald/disk_store.h"
#include "herald/queue_store.h"
#include "herald/redis_store.h"
#include "tests/broker/test_support.h"
#include "tests/store/scratch_dir.h"
#include "tests/support/redis_server.h"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::ScratchDir;
using testing::WaitFor;

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

enum class Kind { kDisk, kRedis, kRedisShards };

// (the store, whether topics keep history)
class QueueRestart : public ::testing::TestWithParam<std::tuple<Kind, bool>> {
 protected:
  Kind kind() const { return std::get<0>(GetParam()); }
  bool history() const { return std::get<1>(GetParam()); }

  // The same store each time: this test's directory, or its Redis servers.
  std::shared_ptr<HistoryStore> OpenStore() {
    Result<std::shared_ptr<HistoryStore>> store = Status(ErrorCode::kInternal, "no store");
    if (kind() == Kind::kDisk) {
      DiskStoreOptions d;
      d.dir = dir_.path();
      d.boot_id = "this-boot";
      store = OpenDiskStore(d);
    } else {
      const size_t servers = kind() == Kind::kRedis ? 1 : 3;
      while (redis_.size() < servers) {
        redis_.push_back(test::RedisServer::Start());
        if (!redis_.back()) {
          ADD_FAILURE() << test::RedisServer::last_error();
          return nullptr;
        }
      }
      RedisStoreOptions r;
      r.port = redis_[0]->port();
      r.require_durable = false;  // the logic under test, not Redis's disk
      if (servers > 1) {
        r.shards = {{"a", "127.0.0.1", redis_[0]->port(), ""},
                    {"b", "127.0.0.1", redis_[1]->port(), ""},
                    {"c", "127.0.0.1", redis_[2]->port(), ""}};
      }
      store = OpenRedisStore(r);
    }
    EXPECT_TRUE(store.ok()) << store.status().message();
    return store.ok() ? *store : nullptr;
  }

  BrokerOptions Open() {
    BrokerOptions o;
    o.store = OpenStore();
    if (!history()) o.default_history.max_messages = 0;
    return o;
  }

 private:
  ScratchDir dir_;
  std::vector<std::unique_ptr<test::RedisServer>> redis_;  // outlive each broker
};

TEST_P(QueueRestart, JobsNotAckedComeBackWithTheirDeliveryCounts) {
  {
    Worker w;  // outlives the broker, which may deliver until it stops
    Broker b(Open());
    ASSERT_TRUE(b.CreateQueue(Work()).ok());
    // Five topics: spread over the shards, when there are shards.
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(b.Publish("jobs." + std::to_string(i), "job-" + std::to_string(i)).ok());
    }
    w.Join(b, "work");
    ASSERT_TRUE(WaitFor([&] { return w.count() == 5; }));
    ASSERT_TRUE(b.Settle(w.id, w.at(0).handle, SettleKind::kAck).ok());
    ASSERT_TRUE(b.Settle(w.id, w.at(1).handle, SettleKind::kAck).ok());
  }  // a clean stop: what was queued for the disk is committed
  Worker w;
  Broker b(Open());
  Result<QueueInfo> info = b.GetQueue("work");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->pending, 3u);
  EXPECT_EQ(info->options.max_deliver, 3u);
  EXPECT_EQ(info->options.dead_letter, "dead.work");
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return w.count() == 3; }));
  std::set<std::string> payloads;
  for (size_t i = 0; i < 3; ++i) {
    payloads.insert(w.at(i).message->payload);
    EXPECT_EQ(w.at(i).deliveries, 2u);  // delivered once before the restart
    EXPECT_EQ(w.at(i).message->topic, "jobs." + w.at(i).message->payload.substr(4));
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
  {
    Broker b(Open());
    ASSERT_TRUE(b.CreateQueue(Work()).ok());
    ASSERT_TRUE(b.Publish("jobs.a", "x").ok());
    ASSERT_TRUE(b.DeleteQueue("work").ok());
  }
  Broker b(Open());
  EXPECT_EQ(b.GetQueue("work").status().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  EXPECT_EQ(b.GetQueue("work")->pending, 0u);  // the old jobs went with it
}

TEST_P(QueueRestart, AJobWhoseLastDeliveryWasCutShortGoesToTheDeadLetters) {
  // Which broker dead-letters it depends on timing: the first, if its
  // stop sees the member leave (a job given back after its last delivery
  // goes to the dead letters), or the second, which finds it in flight at
  // its restart. Either way once, and never a fourth delivery. (This test
  // only watched the second, and failed under TSan when the first did.)
  std::promise<MessagePtr> dead;
  std::atomic<int> dead_letters{0};
  const auto watch = [&](Broker& b) {
    return b.Subscribe("dead.work", [&](const Delivery& d) {
      if (d.kind == Delivery::Kind::kMessage && dead_letters++ == 0) dead.set_value(d.message);
    });
  };
  Worker first;
  {
    Broker b(Open());
    ASSERT_TRUE(b.CreateQueue(Work()).ok());
    ASSERT_TRUE(watch(b).ok());
    ASSERT_TRUE(b.Publish("jobs.a", "poison").ok());
    first.Join(b, "work");
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(WaitFor([&] { return first.count() == i + 1; }));
      if (i < 2) {
        ASSERT_TRUE(b.Settle(first.id, first.at(i).handle, SettleKind::kNack, 0ms).ok());
      }
    }
  }  // the third delivery was in flight
  Worker w;
  Broker b(Open());
  // On a shared store a job is looked at when a member's claim takes it.
  w.Join(b, "work");
  ASSERT_TRUE(watch(b).ok());
  auto got = dead.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get()->payload, "poison");
  ASSERT_TRUE(WaitFor([&] { return b.GetQueue("work")->pending == 0; }));
  EXPECT_EQ(w.count(), 0u);      // never delivered a fourth time
  EXPECT_EQ(first.count(), 3u);  // nor to the first member
  EXPECT_EQ(dead_letters.load(), 1);
}

TEST_P(QueueRestart, AJobDeadLetteredRightBeforeAStopIsPublishedOnceAndNotDeliveredAgain) {
  // A term (or a last nack) makes a dead letter that the broker publishes
  // on its maintenance thread. A stop right after must still publish it,
  // not drop it: on a shared store its lease (ack_wait, an hour here) would
  // hold it back until it ran out, and on the disk store the job would come
  // back after the restart and be delivered again, though it was termed.
  constexpr int kRounds = 5;
  std::mutex mu;
  std::map<std::string, int> dead;  // payload → dead letters seen
  const auto watch = [&](Broker& b) {
    return b.Subscribe("dead.work", [&](const Delivery& d) {
      if (d.kind != Delivery::Kind::kMessage) return;
      std::lock_guard lock(mu);
      ++dead[d.message->payload];
    });
  };
  const auto seen = [&](const std::string& payload) {
    std::lock_guard lock(mu);
    return dead.count(payload) ? dead[payload] : 0;
  };
  std::vector<std::unique_ptr<Worker>> workers;  // outlive every broker
  for (int round = 0; round < kRounds; ++round) {
    const std::string payload = "poison-" + std::to_string(round);
    {
      Broker b(Open());
      if (round == 0) {
        ASSERT_TRUE(b.CreateQueue(Work()).ok());
      }
      ASSERT_TRUE(watch(b).ok());
      workers.push_back(std::make_unique<Worker>());
      Worker& w = *workers.back();
      w.Join(b, "work");
      ASSERT_TRUE(b.Publish("jobs.a", payload).ok());
      ASSERT_TRUE(WaitFor([&] { return w.count() >= 1; }));
      for (size_t i = 0; i < w.count(); ++i) {
        // A job termed in an earlier round must not come back.
        EXPECT_EQ(w.at(i).message->payload, payload) << "round " << round;
      }
      ASSERT_TRUE(WaitFor(
          [&] { return w.count() >= 1 && w.at(w.count() - 1).message->payload == payload; }));
      ASSERT_TRUE(b.Settle(w.id, w.at(w.count() - 1).handle, SettleKind::kTerm).ok());
    }  // stopped at once
    EXPECT_EQ(seen(payload), 1) << "round " << round << ": its stop did not publish it";
  }
  Broker b(Open());
  ASSERT_TRUE(watch(b).ok());
  Worker w;
  w.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return b.GetQueue("work")->pending == 0; }));
  std::this_thread::sleep_for(100ms);  // what a restart would wrongly deliver
  EXPECT_EQ(w.count(), 0u);
  for (int round = 0; round < kRounds; ++round) {
    EXPECT_EQ(seen("poison-" + std::to_string(round)), 1) << "round " << round;
  }
}

// What a publish racing a queue's delete can leave behind: jobs of an
// earlier incarnation of the name, and jobs of a name with no queue.
TEST_P(QueueRestart, KeysOfADeletedQueueOrAnEarlierIncarnationAreDroppedAtOpen) {
  auto open = [&] { return OpenStore(); };
  auto m = std::make_shared<Message>();
  m->topic = "jobs.a";
  m->payload = "x";
  m->epoch = 1;
  m->offset = 1;
  {
    std::shared_ptr<HistoryStore> s = open();
    auto* qs = dynamic_cast<QueueStore*>(s.get());
    ASSERT_NE(qs, nullptr);
    qs->PutQueue(Work(), 7, {});
    // "gone" was a queue once (a definition deleted): its jobs raced the delete.
    qs->PutQueue(
        [] {
          auto q = Work();
          q.name = "gone";
          return q;
        }(),
        3, {});
    qs->DeleteQueue("gone");
    ASSERT_TRUE(
        qs->PutJobs(m,
                    {{"work", 7, 1, "jobs.a"}, {"work", 6, 1, "jobs.a"}, {"gone", 3, 1, "jobs.a"}},
                    nullptr)
            .ok());
    qs->SetDeliveries({"work", 6, 1, "jobs.a"}, 4);
  }
  for (int round = 0; round < 2; ++round) {
    std::shared_ptr<HistoryStore> s = open();
    std::vector<StoredQueue> queues = dynamic_cast<QueueStore*>(s.get())->TakeQueues();
    ASSERT_EQ(queues.size(), 1u);
    EXPECT_EQ(queues[0].incarnation, 7u);
    if (kind() == Kind::kRedis) {
      // Shared (one server): the jobs stay in Redis, keyed by their message
      // (both refs name the same one), and are counted.
      EXPECT_TRUE(queues[0].jobs.empty());
      EXPECT_EQ(queues[0].shared_pending, 1u);
      continue;
    }
    ASSERT_EQ(queues[0].jobs.size(), 1u);
    EXPECT_EQ(queues[0].jobs[0].deliveries, 0u);  // the stray count was not its
  }
}

TEST_P(QueueRestart, ARetriedPublishIsOneJobAndAnsweredAsTheFirst) {
  Broker b(Open());
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

// A pull asks for jobs now; on a shared store (Redis on one server) the
// queue holds none here, and the pull waits for one claim of them.
TEST_P(QueueRestart, APullWithoutAWaitGetsTheJobThatIsThere) {
  Broker b(Open());
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  ASSERT_TRUE(b.Publish("jobs.a", "x").ok());
  std::promise<Result<std::vector<Job>>> pulled;
  b.Pull("work", 10, 0ms, [&](Result<std::vector<Job>> jobs) { pulled.set_value(jobs); });
  auto got = pulled.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  Result<std::vector<Job>> jobs = got.get();
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].message->payload, "x");
  ASSERT_TRUE(b.Settle(kPullMember, (*jobs)[0].handle, SettleKind::kAck).ok());
  EXPECT_TRUE(WaitFor([&] { return b.GetQueue("work")->pending == 0; }));
}

// Brokers that share the Redis store share its queues: each claims what
// its own members can take, and a job given back by one goes to the other.
TEST_P(QueueRestart, BrokersSharingTheRedisStoreShareItsQueues) {
  if (kind() != Kind::kRedis) GTEST_SKIP() << "only the Redis store on one server is shared";
  // The workers outlive the brokers: a broker stopping gives its jobs back,
  // and the other may still deliver them until it stops too.
  Worker wa, wb;
  BrokerOptions oa = Open(), ob = Open();
  oa.node_id = "a";
  ob.node_id = "b";
  Broker a(oa), b(ob);
  ASSERT_TRUE(a.CreateQueue(Work()).ok());
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  wb.Join(b, "work", 1);
  ASSERT_TRUE(a.Publish("jobs.a", "from-a").ok());  // a numbers jobs.a, b nothing
  ASSERT_TRUE(WaitFor([&] { return wb.count() == 1; }));
  EXPECT_EQ(wb.at(0).message->payload, "from-a");
  EXPECT_EQ(wb.at(0).deliveries, 1u);
  // Given back on b: a's member takes it, as its second delivery.
  wa.Join(a, "work", 1);
  ASSERT_TRUE(b.Settle(wb.id, wb.at(0).handle, SettleKind::kNack, 0ms).ok());
  ASSERT_TRUE(WaitFor([&] { return wa.count() + wb.count() == 2; }));
  const Job again = wa.count() == 1 ? wa.at(0) : wb.at(1);
  EXPECT_EQ(again.message->payload, "from-a");
  EXPECT_EQ(again.deliveries, 2u);
}

INSTANTIATE_TEST_SUITE_P(StoresAndTopics, QueueRestart,
                         ::testing::Combine(::testing::Values(Kind::kDisk, Kind::kRedis,
                                                              Kind::kRedisShards),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           const Kind kind = std::get<0>(info.param);
                           return std::string(kind == Kind::kDisk    ? "Disk"
                                              : kind == Kind::kRedis ? "Redis"
                                                                     : "RedisShards") +
                                  (std::get<1>(info.param) ? "History" : "NoHistory");
                         });

}  // namespace
}  // namespace herald
