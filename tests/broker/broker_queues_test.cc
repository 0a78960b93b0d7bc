// Work queues through the Broker API: publish makes jobs, members settle
// them, the maintenance thread redelivers and dead-letters.
#include <gtest/gtest.h>

#include <future>

#include "herald/broker.h"
#include "test_support.h"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::WaitFor;

QueueOptions Work(std::string name = "work") {
  QueueOptions o;
  o.name = std::move(name);
  o.pattern = "jobs.>";
  o.ack_wait = 200ms;
  o.max_deliver = 3;
  o.dead_letter = "dead.work";
  return o;
}

using Worker = testing::QueueWorker;

TEST(BrokerQueues, APublishedMessageIsAJobUntilAcked) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  Worker w;
  w.Join(b, "work");
  Result<PublishAck> ack = b.Publish("jobs.1", "build");
  ASSERT_TRUE(ack.ok());
  ASSERT_TRUE(b.Publish("other.1", "not a job").ok());
  ASSERT_TRUE(WaitFor([&] { return w.count() == 1; }));
  const Job j = w.at(0);
  EXPECT_EQ(j.queue, "work");
  EXPECT_EQ(j.deliveries, 1u);
  EXPECT_EQ(j.message->payload, "build");
  EXPECT_EQ(j.message->epoch, ack->epoch);
  EXPECT_EQ(j.message->offset, ack->offset);
  EXPECT_EQ(b.GetQueue("work")->in_flight, 1u);
  ASSERT_TRUE(b.Settle(w.id, j.handle, SettleKind::kAck).ok());
  EXPECT_EQ(b.GetQueue("work")->pending, 0u);
  EXPECT_EQ(b.Settle(w.id, j.handle, SettleKind::kAck).code(), ErrorCode::kUnknownHandle);
}

TEST(BrokerQueues, AJobNotAckedWithinAckWaitGoesToAnotherMember) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  Worker stuck, healthy;
  stuck.Join(b, "work");
  ASSERT_TRUE(b.Publish("jobs.1", "x").ok());
  ASSERT_TRUE(WaitFor([&] { return stuck.count() == 1; }));
  healthy.Join(b, "work");
  ASSERT_TRUE(WaitFor([&] { return healthy.count() == 1; }));
  EXPECT_EQ(healthy.at(0).deliveries, 2u);
  EXPECT_EQ(b.Settle(stuck.id, stuck.at(0).handle, SettleKind::kAck).code(),
            ErrorCode::kStaleHandle);
  ASSERT_TRUE(b.Settle(healthy.id, healthy.at(0).handle, SettleKind::kAck).ok());
  EXPECT_EQ(b.GetQueue("work")->redelivered, 1u);
}

TEST(BrokerQueues, ProgressKeepsTheJob) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  Worker slow, other;
  slow.Join(b, "work");
  ASSERT_TRUE(b.Publish("jobs.1", "x").ok());
  ASSERT_TRUE(WaitFor([&] { return slow.count() == 1; }));
  other.Join(b, "work");
  // Four times ack_wait, with progress every half of it: never offered again.
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(b.Settle(slow.id, slow.at(0).handle, SettleKind::kProgress).ok());
  }
  EXPECT_EQ(other.count(), 0u);
  EXPECT_EQ(b.GetQueue("work")->expired, 0u);
  ASSERT_TRUE(b.Settle(slow.id, slow.at(0).handle, SettleKind::kAck).ok());
}

TEST(BrokerQueues, NackWithADelayIsHonoured) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  Worker w;
  w.Join(b, "work");
  ASSERT_TRUE(b.Publish("jobs.1", "x").ok());
  ASSERT_TRUE(WaitFor([&] { return w.count() == 1; }));
  const auto nacked = std::chrono::steady_clock::now();
  ASSERT_TRUE(b.Settle(w.id, w.at(0).handle, SettleKind::kNack, 300ms).ok());
  EXPECT_EQ(b.GetQueue("work")->delayed, 1u);
  ASSERT_TRUE(WaitFor([&] { return w.count() == 2; }));
  // Not before the delay (a lower bound: the maintenance thread may be late,
  // never early).
  EXPECT_GE(std::chrono::steady_clock::now() - nacked, 300ms);
  EXPECT_EQ(w.at(1).deliveries, 2u);
}

TEST(BrokerQueues, PastMaxDeliverTheJobIsPublishedToTheDeadLetters) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  std::promise<MessagePtr> dead;
  ASSERT_TRUE(b.Subscribe("dead.work", [&](const Delivery& d) {
                 if (d.kind == Delivery::Kind::kMessage) dead.set_value(d.message);
               }).ok());
  Worker w;
  w.Join(b, "work");
  PublishOptions po;
  po.headers = {{"Trace", "t1"}};
  Result<PublishAck> ack = b.Publish("jobs.7", "poison", po);
  ASSERT_TRUE(ack.ok());
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return w.count() == i + 1; }));
    ASSERT_TRUE(b.Settle(w.id, w.at(i).handle, SettleKind::kNack, 0ms).ok());
  }
  auto got = dead.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  MessagePtr m = got.get();
  EXPECT_EQ(m->payload, "poison");
  auto header = [&](std::string_view name) {
    for (const Header& h : m->headers) {
      if (h.name == name) return h.value;
    }
    return std::string("<absent>");
  };
  EXPECT_EQ(header("Trace"), "t1");
  EXPECT_EQ(header(kDeadReasonHeader), "max_deliver");
  EXPECT_EQ(header(kDeadDeliveriesHeader), "3");
  EXPECT_EQ(header(kDeadQueueHeader), "work");
  EXPECT_EQ(header(kDeadTopicHeader), "jobs.7");
  EXPECT_EQ(header(kDeadPositionHeader),
            std::to_string(ack->epoch) + ":" + std::to_string(ack->offset));
  EXPECT_EQ(w.count(), 3u);
  // The job leaves once the dead-letter publish is acknowledged, which may
  // be just after its subscriber has it.
  EXPECT_TRUE(WaitFor([&] { return b.GetQueue("work")->dead_lettered == 1; }));
  EXPECT_EQ(b.GetQueue("work")->pending, 0u);
}

TEST(BrokerQueues, AFullQueueRefusesThePublishAndNothingIsSequenced) {
  Broker b;
  QueueOptions o = Work();
  o.max_pending = 1;
  ASSERT_TRUE(b.CreateQueue(o).ok());
  ASSERT_TRUE(b.Publish("jobs.1", "a").ok());
  Result<PublishAck> refused = b.Publish("jobs.1", "b");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("'work'"), std::string::npos);
  Result<ResumeResult> h = b.Resume("jobs.1", 0, 0);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->last_offset, 1u);  // the refused message took no offset
  EXPECT_EQ(b.GetQueue("work")->refused, 1u);
}

TEST(BrokerQueues, NodeWideBytesBoundEveryQueue) {
  BrokerOptions bo;
  bo.max_queue_bytes = 10;
  Broker b(bo);
  ASSERT_TRUE(b.CreateQueue(Work("one")).ok());
  ASSERT_TRUE(b.CreateQueue(Work("two")).ok());
  ASSERT_TRUE(b.Publish("jobs.1", "abcd").ok());  // 8 bytes: 4 in each
  Result<PublishAck> r = b.Publish("jobs.1", "abcd");
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("max_queue_bytes"), std::string::npos);
}

TEST(BrokerQueues, LeavingGivesTheJobsToAnotherMemberAtOnce) {
  Broker b;
  QueueOptions o = Work();
  o.ack_wait = std::chrono::hours(1);  // only the leave can give them back
  ASSERT_TRUE(b.CreateQueue(o).ok());
  Worker a, c;
  a.Join(b, "work");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(b.Publish("jobs.1", std::to_string(i)).ok());
  ASSERT_TRUE(WaitFor([&] { return a.count() == 10; }));
  c.Join(b, "work");
  EXPECT_TRUE(b.LeaveQueue(a.id));
  EXPECT_FALSE(b.LeaveQueue(a.id));
  ASSERT_TRUE(WaitFor([&] { return c.count() == 10; }));
  for (size_t i = 0; i < 10; ++i)
    ASSERT_TRUE(b.Settle(c.id, c.at(i).handle, SettleKind::kAck).ok());
  EXPECT_EQ(b.GetQueue("work")->pending, 0u);
}

TEST(BrokerQueues, PullWaitsForTheNextJobAndPulledHandlesSettle) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  std::promise<Result<std::vector<Job>>> pulled;
  b.Pull("work", 10, 5s, [&](Result<std::vector<Job>> r) { pulled.set_value(std::move(r)); });
  ASSERT_TRUE(b.Publish("jobs.1", "x").ok());
  auto f = pulled.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  Result<std::vector<Job>> jobs = f.get();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  Worker w;
  w.Join(b, "work");
  EXPECT_EQ(b.Settle(w.id, jobs->at(0).handle, SettleKind::kAck).code(), ErrorCode::kUnknownHandle);
  EXPECT_TRUE(b.Settle(kPullMember, jobs->at(0).handle, SettleKind::kAck).ok());
  std::promise<Result<std::vector<Job>>> empty;
  b.Pull("work", 10, 0ms, [&](Result<std::vector<Job>> r) { empty.set_value(std::move(r)); });
  EXPECT_TRUE(empty.get_future().get()->empty());
  std::promise<Result<std::vector<Job>>> none;
  b.Pull("nope", 1, 0ms, [&](Result<std::vector<Job>> r) { none.set_value(std::move(r)); });
  EXPECT_EQ(none.get_future().get().status().code(), ErrorCode::kNotFound);
}

TEST(BrokerQueues, DeletingAQueueEndsItsJobsAndHandles) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  Worker w;
  w.Join(b, "work");
  ASSERT_TRUE(b.Publish("jobs.1", "x").ok());
  ASSERT_TRUE(WaitFor([&] { return w.count() == 1; }));
  ASSERT_TRUE(b.DeleteQueue("work").ok());
  EXPECT_EQ(b.DeleteQueue("work").code(), ErrorCode::kNotFound);
  EXPECT_EQ(b.Settle(w.id, w.at(0).handle, SettleKind::kAck).code(), ErrorCode::kUnknownHandle);
  EXPECT_TRUE(b.ListQueues().empty());
  ASSERT_TRUE(b.Publish("jobs.1", "y").ok());  // no queue: an ordinary publish
}

TEST(BrokerQueues, BadSettlementsGetSpecificErrors) {
  Broker b;
  ASSERT_TRUE(b.CreateQueue(Work()).ok());
  ASSERT_TRUE(b.CreateQueue(Work("other")).ok());
  Worker w;
  w.Join(b, "work");
  ASSERT_TRUE(b.Publish("jobs.1", "x").ok());
  ASSERT_TRUE(WaitFor([&] { return w.count() == 1; }));
  EXPECT_EQ(b.Settle(w.id, "garbage", SettleKind::kAck).code(), ErrorCode::kUnknownHandle);
  EXPECT_EQ(b.Settle(999, w.at(0).handle, SettleKind::kAck).code(), ErrorCode::kUnknownHandle);
  std::string other = w.at(0).handle;
  other.replace(0, 4, "other");
  EXPECT_EQ(b.Settle(w.id, other, SettleKind::kAck).code(), ErrorCode::kUnknownHandle);
  EXPECT_EQ(b.Settle(w.id, w.at(0).handle, SettleKind::kNack, std::chrono::hours(24 * 8)).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(b.JoinQueue("nope", [](const Delivery&) {}).status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace herald
