// One work queue's decisions, with time driven by the test.
#include "broker/work_queue.h"

#include <gtest/gtest.h>

#include "broker/queue_registry.h"

namespace herald {
namespace {

constexpr int64_t kMs = 1000;  // microseconds

MessagePtr Msg(std::string payload, uint64_t offset = 1) {
  auto m = std::make_shared<Message>();
  m->topic = "jobs.a";
  m->payload = std::move(payload);
  m->epoch = 7;
  m->offset = offset;
  return m;
}

struct Fixture {
  explicit Fixture(QueueOptions o = Defaults())
      : q(
            std::move(o), [n = uint64_t{0}]() mutable { return ++n * 0x9e3779b97f4a7c15ULL; },
            &node_bytes) {}
  static QueueOptions Defaults() {
    QueueOptions o;
    o.name = "work";
    o.pattern = "jobs.>";
    o.ack_wait = std::chrono::milliseconds(100);
    o.max_deliver = 3;
    o.dead_letter = "dead.work";
    return o;
  }
  SubscriptionPtr Member(uint64_t id) {
    auto s = std::make_shared<Subscription>();
    s->id = id;
    return s;
  }
  // What a publish does: a place reserved, then the message shown.
  void Enqueue(MessagePtr m, int64_t now, WorkQueue::Effects& fx) {
    Result<uint64_t> seq = q.Reserve(m->payload.size());
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    q.Fill(*seq, std::move(m), now, fx);
  }
  std::atomic<uint64_t> node_bytes{0};
  WorkQueue q;
};

JobHandle Handle(const Job& j) { return *ParseJobHandle(j.handle); }

TEST(WorkQueue, OffersEachJobToOneMemberRoundRobin) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  ASSERT_TRUE(f.q.Join(2, f.Member(2), 0, nullptr, 0, fx).ok());
  for (int i = 0; i < 4; ++i) f.Enqueue(Msg("j" + std::to_string(i)), 0, fx);
  ASSERT_EQ(fx.sends.size(), 4u);
  EXPECT_NE(fx.sends[0].first->id, fx.sends[1].first->id);
  EXPECT_EQ(fx.sends[0].first->id, fx.sends[2].first->id);
  for (auto& [m, job] : fx.sends) EXPECT_EQ(job->deliveries, 1u);
  EXPECT_EQ(f.q.Info().in_flight, 4u);
}

TEST(WorkQueue, AckRemovesTheJobAndASecondAckIsUnknown) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("a"), 0, fx);
  const JobHandle h = Handle(*fx.sends[0].second);
  EXPECT_TRUE(f.q.Settle(1, h, SettleKind::kAck, -1, 10, fx).ok());
  EXPECT_EQ(f.q.Info().pending, 0u);
  EXPECT_EQ(f.q.Info().acked, 1u);
  EXPECT_EQ(f.node_bytes.load(), 0u);
  EXPECT_EQ(f.q.Settle(1, h, SettleKind::kAck, -1, 10, fx).code(), ErrorCode::kUnknownHandle);
}

TEST(WorkQueue, AnotherMembersHandleIsUnknown) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("a"), 0, fx);
  const JobHandle h = Handle(*fx.sends[0].second);
  EXPECT_EQ(f.q.Settle(2, h, SettleKind::kAck, -1, 0, fx).code(), ErrorCode::kUnknownHandle);
  EXPECT_EQ(f.q.Settle(kPullMember, h, SettleKind::kAck, -1, 0, fx).code(),
            ErrorCode::kUnknownHandle);
  JobHandle forged = h;
  forged.nonce ^= 1;
  EXPECT_EQ(f.q.Settle(1, forged, SettleKind::kAck, -1, 0, fx).code(), ErrorCode::kUnknownHandle);
  EXPECT_EQ(f.q.Info().pending, 1u);
}

TEST(WorkQueue, AckWaitPassingOffersTheJobAgainAndTheOldHandleIsStale) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  ASSERT_TRUE(f.q.Join(2, f.Member(2), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("a"), 0, fx);
  const JobHandle first = Handle(*fx.sends[0].second);
  const uint64_t first_member = fx.sends[0].first->id;
  EXPECT_EQ(f.q.next_deadline(), 100 * kMs);
  WorkQueue::Effects later;
  EXPECT_EQ(f.q.Expire(99 * kMs, later), 100 * kMs);
  EXPECT_TRUE(later.sends.empty());
  f.q.Expire(100 * kMs, later);
  ASSERT_EQ(later.sends.size(), 1u);
  EXPECT_EQ(later.sends[0].second->deliveries, 2u);
  EXPECT_NE(later.sends[0].first->id, first_member);  // round robin moves on
  EXPECT_EQ(f.q.Settle(first_member, first, SettleKind::kAck, -1, 100 * kMs, later).code(),
            ErrorCode::kStaleHandle);
  EXPECT_EQ(f.q.Info().expired, 1u);
  EXPECT_EQ(f.q.Info().redelivered, 1u);
}

TEST(WorkQueue, ProgressPushesTheDeadline) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("a"), 0, fx);
  const JobHandle h = Handle(*fx.sends[0].second);
  EXPECT_TRUE(f.q.Settle(1, h, SettleKind::kProgress, -1, 80 * kMs, fx).ok());
  WorkQueue::Effects later;
  f.q.Expire(150 * kMs, later);
  EXPECT_TRUE(later.sends.empty());
  EXPECT_EQ(f.q.Info().in_flight, 1u);
  f.q.Expire(180 * kMs, later);
  EXPECT_EQ(later.sends.size(), 1u);  // passed again: offered again
}

TEST(WorkQueue, NackWithADelayWaitsThenTheBackoffAppliesWithout) {
  QueueOptions o = Fixture::Defaults();
  o.backoff = {std::chrono::milliseconds(10), std::chrono::milliseconds(50)};
  o.max_deliver = 0;
  Fixture f(o);
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("a"), 0, fx);
  ASSERT_TRUE(f.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kNack, 30 * kMs, 0, fx).ok());
  EXPECT_EQ(fx.sends.size(), 1u);  // not offered again at once
  EXPECT_EQ(f.q.Info().delayed, 1u);
  WorkQueue::Effects later;
  f.q.Expire(29 * kMs, later);
  EXPECT_TRUE(later.sends.empty());
  f.q.Expire(30 * kMs, later);
  ASSERT_EQ(later.sends.size(), 1u);
  // No delay given: backoff[1] after the second delivery.
  ASSERT_TRUE(
      f.q.Settle(1, Handle(*later.sends[0].second), SettleKind::kNack, -1, 30 * kMs, later).ok());
  EXPECT_EQ(f.q.next_deadline(), 80 * kMs);
}

TEST(WorkQueue, MaxDeliverSendsTheJobToTheDeadLetters) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("poison"), 0, fx);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(fx.sends.size(), static_cast<size_t>(i + 1));
    ASSERT_TRUE(f.q.Settle(1, Handle(*fx.sends.back().second), SettleKind::kNack, 0, 0, fx).ok());
  }
  ASSERT_EQ(fx.dead.size(), 1u);
  EXPECT_EQ(fx.dead[0].reason, "max_deliver");
  EXPECT_EQ(fx.dead[0].deliveries, 3u);
  EXPECT_EQ(f.q.Info().pending, 1u);  // until the dead letter is published
  f.q.DeadLettered(fx.dead[0].seq, true, kMs, 0, fx);
  EXPECT_EQ(f.q.Info().pending, 0u);
  EXPECT_EQ(f.q.Info().dead_lettered, 1u);
}

TEST(WorkQueue, AFailedDeadLetterIsTriedAgain) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("a"), 0, fx);
  ASSERT_TRUE(f.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kTerm, -1, 0, fx).ok());
  ASSERT_EQ(fx.dead.size(), 1u);
  EXPECT_EQ(fx.dead[0].reason, "term");
  f.q.DeadLettered(fx.dead[0].seq, false, 5 * kMs, 0, fx);
  WorkQueue::Effects later;
  f.q.Expire(5 * kMs, later);
  ASSERT_EQ(later.dead.size(), 1u);
  EXPECT_EQ(later.dead[0].reason, "term");
  EXPECT_TRUE(later.sends.empty());  // never offered to a member again
}

TEST(WorkQueue, ADeadLetterAnsweredAfterTheQueueClosedStillSettlesItsJob) {
  // The broker's stop closes its queues while a dead letter may still be
  // publishing: the job keeps its record (and its bytes) until the answer,
  // which then removes it, deleting it from a store that keeps jobs.
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("abc"), 0, fx);
  f.Enqueue(Msg("defgh"), 0, fx);
  ASSERT_EQ(fx.sends.size(), 2u);
  ASSERT_TRUE(f.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kTerm, -1, 0, fx).ok());
  ASSERT_EQ(fx.dead.size(), 1u);
  WorkQueue::Effects closing;
  f.q.Close(closing);
  EXPECT_EQ(f.node_bytes.load(), 3u);  // the job in flight went; the dead letter stays
  WorkQueue::Effects late;
  f.q.DeadLettered(fx.dead[0].seq, true, kMs, 0, late);
  EXPECT_EQ(f.q.Info().dead_lettered, 1u);
  EXPECT_EQ(f.node_bytes.load(), 0u);
  EXPECT_TRUE(late.sends.empty());

  // Refused during the stop: left to the store, nothing retried here.
  Fixture g;
  WorkQueue::Effects gx;
  ASSERT_TRUE(g.q.Join(1, g.Member(1), 0, nullptr, 0, gx).ok());
  g.Enqueue(Msg("abc"), 0, gx);
  ASSERT_TRUE(g.q.Settle(1, Handle(*gx.sends[0].second), SettleKind::kTerm, -1, 0, gx).ok());
  ASSERT_EQ(gx.dead.size(), 1u);
  g.q.Close(closing);
  WorkQueue::Effects refused;
  g.q.DeadLettered(gx.dead[0].seq, false, kMs, 0, refused);
  EXPECT_EQ(g.node_bytes.load(), 0u);
  EXPECT_EQ(g.q.Info().dead_lettered, 0u);
  WorkQueue::Effects later;
  g.q.Expire(10 * kMs, later);
  EXPECT_TRUE(later.dead.empty());
}

TEST(WorkQueue, WithoutADeadLetterTopicTermDropsAndCounts) {
  QueueOptions o = Fixture::Defaults();
  o.dead_letter.clear();
  Fixture f(o);
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.Enqueue(Msg("a"), 0, fx);
  ASSERT_TRUE(f.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kTerm, -1, 0, fx).ok());
  EXPECT_TRUE(fx.dead.empty());
  EXPECT_EQ(f.q.Info().dropped, 1u);
  EXPECT_EQ(f.q.Info().pending, 0u);
}

TEST(WorkQueue, ALeavingMemberGivesItsJobsBackAtOnce) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  for (int i = 0; i < 10; ++i) f.Enqueue(Msg("j"), 0, fx);
  ASSERT_EQ(fx.sends.size(), 10u);
  WorkQueue::Effects after;
  ASSERT_TRUE(f.q.Join(2, f.Member(2), 0, nullptr, 0, after).ok());
  EXPECT_TRUE(after.sends.empty());
  f.q.Leave(1, 1, after);
  ASSERT_EQ(after.sends.size(), 10u);
  for (auto& [m, job] : after.sends) {
    EXPECT_EQ(m->id, 2u);
    EXPECT_EQ(job->deliveries, 2u);
  }
  EXPECT_FALSE(fx.sends[0].first->active.load());  // what was queued for it is not shown
}

TEST(WorkQueue, InFlightBoundsPerMemberAndPerQueue) {
  QueueOptions o = Fixture::Defaults();
  o.max_in_flight = 5;
  o.max_in_flight_per_member = 3;
  Fixture f(o);
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  ASSERT_TRUE(f.q.Join(2, f.Member(2), 2, nullptr, 0, fx).ok());  // asks for fewer
  for (int i = 0; i < 10; ++i) f.Enqueue(Msg("j"), 0, fx);
  EXPECT_EQ(fx.sends.size(), 5u);
  size_t to_one = 0;
  for (auto& [m, job] : fx.sends) to_one += m->id == 1;
  EXPECT_EQ(to_one, 3u);
  // Delivered out of the inboxes, then an ack frees one place: the next
  // job goes at once.
  for (auto& [m, job] : fx.sends) m->queued_jobs.fetch_sub(1);
  const auto& first = fx.sends[0];
  ASSERT_TRUE(f.q.Settle(first.first->id, Handle(*first.second), SettleKind::kAck, -1, 0, fx).ok());
  EXPECT_EQ(fx.sends.size(), 6u);
}

TEST(WorkQueue, JobsStillInAStalledMembersInboxCountAgainstItsBound) {
  QueueOptions o = Fixture::Defaults();
  o.max_in_flight_per_member = 2;
  o.max_deliver = 0;
  Fixture f(o);
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  for (int i = 0; i < 2; ++i) f.Enqueue(Msg("j"), 0, fx);
  ASSERT_EQ(fx.sends.size(), 2u);
  // The member never drains its inbox: ack_wait passes again and again,
  // and nothing more is queued for it.
  WorkQueue::Effects later;
  for (int round = 1; round <= 5; ++round) f.q.Expire(round * 100 * kMs, later);
  EXPECT_TRUE(later.sends.empty());
  EXPECT_EQ(fx.sends[0].first->queued_jobs.load(), 2u);
  EXPECT_EQ(f.q.Info().in_flight, 0u);
}

TEST(WorkQueue, AMembersByteBoundCapsWhatItHoldsAndTheOthersGetTheRest) {
  Fixture f;
  const uint64_t job = JobWireBytes(*Msg(std::string(1000, 'x')), "work");
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, std::make_shared<JobBudget>(3 * job), 0, fx).ok());
  ASSERT_TRUE(f.q.Join(2, f.Member(2), 0, nullptr, 0, fx).ok());  // embedded: none
  for (int i = 0; i < 20; ++i) f.Enqueue(Msg(std::string(1000, 'x')), 0, fx);
  ASSERT_EQ(fx.sends.size(), 20u);
  size_t to_first = 0;
  for (auto& [m, j] : fx.sends) to_first += m->id == 1;
  EXPECT_EQ(to_first, 3u);
  EXPECT_EQ(f.q.Info().in_flight, 20u);
}

TEST(WorkQueue, MembershipsOfOneConnectionShareItsBudgetAndALeaveGivesItBack) {
  Fixture f;
  const uint64_t job = JobWireBytes(*Msg(std::string(1000, 'x')), "work");
  auto budget = std::make_shared<JobBudget>(4 * job);
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, budget, 0, fx).ok());
  ASSERT_TRUE(f.q.Join(2, f.Member(2), 0, budget, 0, fx).ok());
  ASSERT_TRUE(f.q.Join(3, f.Member(3), 0, nullptr, 0, fx).ok());
  for (int i = 0; i < 20; ++i) f.Enqueue(Msg(std::string(1000, 'x')), 0, fx);
  size_t first = 0, second = 0;
  for (auto& [m, j] : fx.sends) {
    first += m->id == 1;
    second += m->id == 2;
  }
  EXPECT_EQ(first, 2u);  // each its share: half of the connection's budget
  EXPECT_EQ(second, 2u);
  EXPECT_EQ(budget->used(), 4 * job);
  WorkQueue::Effects later;
  f.q.Leave(1, 0, later);
  f.q.Leave(2, 0, later);
  EXPECT_EQ(budget->used(), 0u);
}

TEST(WorkQueue, OneQueuesBacklogLeavesAnotherQueuesMemberItsShare) {
  // One connection, a member in each of two queues: the first has a
  // backlog, the second's member still gets jobs (a settlement in the first
  // queue would only pump the first).
  Fixture busy;
  Fixture quiet;
  const uint64_t job = JobWireBytes(*Msg(std::string(1000, 'x')), "work");
  auto budget = std::make_shared<JobBudget>(4 * job);
  WorkQueue::Effects fx;
  ASSERT_TRUE(busy.q.Join(1, busy.Member(1), 0, budget, 0, fx).ok());
  ASSERT_TRUE(quiet.q.Join(2, quiet.Member(2), 0, budget, 0, fx).ok());
  for (int i = 0; i < 10; ++i) busy.Enqueue(Msg(std::string(1000, 'x')), 0, fx);
  EXPECT_EQ(fx.sends.size(), 2u);  // its share: half
  WorkQueue::Effects later;
  for (int i = 0; i < 3; ++i) quiet.Enqueue(Msg(std::string(1000, 'x')), 0, later);
  EXPECT_EQ(later.sends.size(), 2u);
  EXPECT_EQ(budget->used(), 4 * job);
  // A leave hands its share on.
  busy.q.Leave(1, 0, later);
  WorkQueue::Effects after;
  ASSERT_TRUE(
      quiet.q.Settle(2, Handle(*later.sends[0].second), SettleKind::kAck, -1, 0, after).ok());
  EXPECT_EQ(after.sends.size(), 1u);
  EXPECT_EQ(budget->used(), 2 * job);
}

TEST(WorkQueue, AJobPastItsShareWaitsWhileAnotherMembershipWaitsWithinItsOwn) {
  // A queue of large jobs (past a share) and one of small ones on one
  // connection: the large ones may go out one at a time while nothing else
  // waits, but never keep the small queue's member waiting for good.
  Fixture big;
  Fixture small;
  const uint64_t large = JobWireBytes(*Msg(std::string(3000, 'x')), "work");
  const uint64_t little = JobWireBytes(*Msg(std::string(1000, 'x')), "work");
  auto budget = std::make_shared<JobBudget>(large + little - 1);  // not both at once
  ASSERT_GT(large, budget->max_bytes() / 2);
  WorkQueue::Effects fx;
  ASSERT_TRUE(big.q.Join(1, big.Member(1), 0, budget, 0, fx).ok());
  ASSERT_TRUE(small.q.Join(2, small.Member(2), 0, budget, 0, fx).ok());
  for (int i = 0; i < 5; ++i) big.Enqueue(Msg(std::string(3000, 'x')), 0, fx);
  ASSERT_EQ(fx.sends.size(), 1u);  // past its share: let through, nothing else held
  WorkQueue::Effects s1;
  small.Enqueue(Msg(std::string(1000, 'x')), 0, s1);
  EXPECT_TRUE(s1.sends.empty());  // no room left: it waits
  WorkQueue::Effects b1;
  ASSERT_TRUE(big.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kAck, -1, 0, b1).ok());
  EXPECT_TRUE(b1.sends.empty());  // the big queue does not take the room back
  WorkQueue::Effects s2;
  small.q.Expire(0, s2);  // the small queue's next pump (the maintenance pass)
  EXPECT_EQ(s2.sends.size(), 1u);
  EXPECT_EQ(budget->used(), little);
  // Served: past-share jobs go again once they fit, or nothing is held.
  ASSERT_TRUE(small.q.Settle(2, Handle(*s2.sends[0].second), SettleKind::kAck, -1, 0, s2).ok());
  WorkQueue::Effects b2;
  big.q.Expire(0, b2);
  EXPECT_EQ(b2.sends.size(), 1u);
}

TEST(WorkQueue, AWaitEndsWithThePumpThatServedTheJobElsewhere) {
  // A membership refused a job within its share waits only for that job:
  // another member took it, and the connection's past-share jobs go again.
  Fixture big;
  Fixture small;
  const uint64_t large = JobWireBytes(*Msg(std::string(3000, 'x')), "work");
  const uint64_t little = JobWireBytes(*Msg(std::string(1000, 'x')), "work");
  auto budget = std::make_shared<JobBudget>(large + little - 1);
  WorkQueue::Effects fx;
  ASSERT_TRUE(big.q.Join(1, big.Member(1), 0, budget, 0, fx).ok());
  ASSERT_TRUE(small.q.Join(2, small.Member(2), 0, budget, 0, fx).ok());
  ASSERT_TRUE(small.q.Join(3, small.Member(3), 0, nullptr, 0, fx).ok());  // another connection
  for (int i = 0; i < 2; ++i) big.Enqueue(Msg(std::string(3000, 'x')), 0, fx);
  ASSERT_EQ(fx.sends.size(), 1u);
  WorkQueue::Effects s1;
  small.Enqueue(Msg(std::string(1000, 'x')), 0, s1);
  ASSERT_EQ(s1.sends.size(), 1u);
  EXPECT_EQ(s1.sends[0].first->id, 3u);  // member 2 was refused, 3 took it
  WorkQueue::Effects b1;
  ASSERT_TRUE(big.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kAck, -1, 0, b1).ok());
  EXPECT_EQ(b1.sends.size(), 1u);  // nobody waits any more
}

TEST(WorkQueue, AnExpiredDeliveryStaysChargedUntilItsMemberSettlesIt) {
  QueueOptions o = Fixture::Defaults();
  o.max_deliver = 0;
  Fixture f(o);
  const uint64_t job = JobWireBytes(*Msg(std::string(1000, 'x')), "work");
  WorkQueue::Effects fx;
  SubscriptionPtr member = f.Member(1);
  ASSERT_TRUE(f.q.Join(1, member, 0, std::make_shared<JobBudget>(2 * job), 0, fx).ok());
  for (int i = 0; i < 5; ++i) f.Enqueue(Msg(std::string(1000, 'x')), 0, fx);
  ASSERT_EQ(fx.sends.size(), 2u);
  // Its inbox drained into a connection whose peer stopped reading: the
  // jobs left the inbox, not the server. ack_wait passes again and again;
  // nothing more is handed to it.
  member->queued_jobs.store(0);
  WorkQueue::Effects later;
  for (int round = 1; round <= 5; ++round) f.q.Expire(round * 100 * kMs, later);
  EXPECT_TRUE(later.sends.empty());
  EXPECT_EQ(f.q.Info().expired, 2u);
  EXPECT_EQ(f.q.Info().owed, 2u);
  EXPECT_EQ(f.q.Info().charged_bytes, 2 * job);
  // It reads again and settles what it was sent (too late: refused). Each
  // settlement frees its charge, and a job follows.
  const JobHandle old = Handle(*fx.sends[0].second);
  EXPECT_EQ(f.q.Settle(1, old, SettleKind::kAck, -1, 600 * kMs, later).code(),
            ErrorCode::kStaleHandle);
  EXPECT_EQ(later.sends.size(), 1u);
  EXPECT_EQ(f.q.Settle(1, old, SettleKind::kAck, -1, 600 * kMs, later).code(),
            ErrorCode::kStaleHandle);
  EXPECT_EQ(later.sends.size(), 1u);  // a second settlement frees nothing
  EXPECT_EQ(
      f.q.Settle(1, Handle(*fx.sends[1].second), SettleKind::kAck, -1, 600 * kMs, later).code(),
      ErrorCode::kStaleHandle);
  EXPECT_EQ(later.sends.size(), 2u);
}

TEST(WorkQueue, AJobLargerThanTheByteBoundStillGoesToAMemberHoldingNone) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, std::make_shared<JobBudget>(100), 0, fx).ok());
  for (int i = 0; i < 2; ++i) f.Enqueue(Msg(std::string(1000, 'x')), 0, fx);
  ASSERT_EQ(fx.sends.size(), 1u);
  EXPECT_TRUE(f.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kAck, -1, 0, fx).ok());
  EXPECT_EQ(fx.sends.size(), 2u);
}

TEST(WorkQueue, ADeadLetterIsNotDeadLetteredAgain) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  MessagePtr m = Msg("once dead");
  std::const_pointer_cast<Message>(m)->headers = {{std::string(kDeadReasonHeader), "term"}};
  f.Enqueue(m, 0, fx);
  ASSERT_TRUE(f.q.Settle(1, Handle(*fx.sends[0].second), SettleKind::kTerm, -1, 0, fx).ok());
  EXPECT_TRUE(fx.dead.empty());
  EXPECT_EQ(f.q.Info().dropped, 1u);
}

TEST(WorkQueue, APulledJobThatWasNeverSentIsOfferedAgainUncounted) {
  QueueOptions o = Fixture::Defaults();
  o.max_deliver = 1;  // one counted delivery more would dead-letter it
  Fixture f(o);
  WorkQueue::Effects fx;
  f.Enqueue(Msg("a"), 0, fx);
  f.q.Pull(
      1, 0, 8, [](Result<std::vector<Job>>) {}, 0, fx);
  ASSERT_EQ(fx.pulls.size(), 1u);
  ASSERT_EQ(fx.pulls[0].second->size(), 1u);
  const JobHandle unsent = *ParseJobHandle((*fx.pulls[0].second)[0].handle);
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  EXPECT_EQ(f.q.Unsent(unsent, 0, fx).code(), ErrorCode::kOk);
  ASSERT_EQ(fx.sends.size(), 1u);  // offered again at once
  EXPECT_EQ(fx.sends[0].second->deliveries, 1u);
  EXPECT_TRUE(fx.dead.empty());
  EXPECT_EQ(f.q.Info().delivered, 2u);    // attempts: a counter never goes down
  EXPECT_EQ(f.q.Info().redelivered, 0u);  // by the job's count, this is its first
  // Only the pulled delivery itself can be given back, and only once.
  EXPECT_EQ(f.q.Unsent(unsent, 0, fx).code(), ErrorCode::kUnknownHandle);
  EXPECT_EQ(f.q.Unsent(Handle(*fx.sends[0].second), 0, fx).code(), ErrorCode::kUnknownHandle);
}

TEST(WorkQueue, AClosedQueueRefusesMembersAndAnswersPulls) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  f.q.Pull(
      1, kMs, 8, [](Result<std::vector<Job>>) {}, 0, fx);
  f.q.Close(fx);
  ASSERT_EQ(fx.pulls.size(), 1u);
  EXPECT_EQ(fx.pulls[0].second.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(f.q.Join(2, f.Member(2), 0, nullptr, 0, fx).code(), ErrorCode::kNotFound);
}

TEST(WorkQueue, MaxPendingRefusesTheJobAndReservationsCount) {
  QueueOptions o = Fixture::Defaults();
  o.max_pending = 2;
  o.max_pending_bytes = 10;
  Fixture f(o);
  WorkQueue::Effects fx;
  Result<uint64_t> first = f.q.Reserve(1);  // a message on its way to the store
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(f.q.Reserve(10).status().code(), ErrorCode::kResourceExhausted);  // bytes
  Result<uint64_t> second = f.q.Reserve(1);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(f.q.Reserve(1).status().code(), ErrorCode::kResourceExhausted);  // count
  EXPECT_EQ(f.q.Info().refused, 2u);
  f.q.Release(*first, 1, "jobs.a");  // its append failed
  EXPECT_TRUE(f.q.Reserve(1).ok());
  EXPECT_EQ(f.node_bytes.load(), 2u);
}

TEST(WorkQueue, RestoredJobsKeepTheirDeliveryCounts) {
  Fixture f;
  WorkQueue::Effects fx;
  std::vector<StoredJob> jobs;
  jobs.push_back({4, 1, Msg("once")});
  jobs.push_back({9, 3, Msg("spent")});  // its last delivery was in flight at the crash
  f.q.Restore(std::move(jobs), 0, 0, fx);
  ASSERT_EQ(fx.dead.size(), 1u);
  EXPECT_EQ(fx.dead[0].seq, 9u);
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 0, nullptr, 0, fx).ok());
  ASSERT_EQ(fx.sends.size(), 1u);
  EXPECT_EQ(fx.sends[0].second->seq, 4u);
  EXPECT_EQ(fx.sends[0].second->deliveries, 2u);
  f.Enqueue(Msg("new"), 0, fx);
  EXPECT_EQ(fx.sends.back().second->seq, 10u);  // numbering goes on after the restored
}

TEST(WorkQueue, APullTakesWhatIsThereOrWaitsForTheNext) {
  Fixture f;
  WorkQueue::Effects fx;
  for (int i = 0; i < 3; ++i) f.Enqueue(Msg("j"), 0, fx);
  f.q.Pull(
      2, 0, 8, [](Result<std::vector<Job>>) {}, 0, fx);
  ASSERT_EQ(fx.pulls.size(), 1u);
  ASSERT_TRUE(fx.pulls[0].second.ok());
  EXPECT_EQ(fx.pulls[0].second->size(), 2u);
  const JobHandle pulled = Handle(fx.pulls[0].second->front());
  EXPECT_TRUE(f.q.Settle(kPullMember, pulled, SettleKind::kAck, -1, 0, fx).ok());
  WorkQueue::Effects w;
  f.q.Pull(
      5, 0, 8, [](Result<std::vector<Job>>) {}, 0, w);  // the third one
  f.q.Pull(
      5, 50 * kMs, 8, [](Result<std::vector<Job>>) {}, 0, w);
  ASSERT_EQ(w.pulls.size(), 1u);
  EXPECT_EQ(f.q.Info().waiting_pulls, 1u);
  f.Enqueue(Msg("k"), 1, w);
  ASSERT_EQ(w.pulls.size(), 2u);
  EXPECT_EQ(w.pulls[1].second->size(), 1u);
  f.q.Pull(
      5, 50 * kMs, 8, [](Result<std::vector<Job>>) {}, 0, w);
  f.q.Expire(50 * kMs, w);
  ASSERT_EQ(w.pulls.size(), 3u);
  EXPECT_TRUE(w.pulls[2].second->empty());  // waited, nothing came
}

TEST(WorkQueue, TooManyWaitingPullsAreRefusedAndCounted) {
  Fixture f;
  WorkQueue::Effects fx;
  f.q.Pull(
      1, kMs, 1, [](Result<std::vector<Job>>) {}, 0, fx);
  EXPECT_EQ(f.q.Info().pulls_refused, 0u);
  f.q.Pull(
      1, kMs, 1, [](Result<std::vector<Job>>) {}, 0, fx);
  ASSERT_EQ(fx.pulls.size(), 1u);
  EXPECT_EQ(fx.pulls[0].second.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(f.q.Info().pulls_refused, 1u);  // herald_queue_pulls_refused_total
}

TEST(JobHandle, MalformedHandlesAreUnknown) {
  for (std::string_view bad : {"", "q", "q/1/1", "q/x/1/0000000000000001", "/1/1/0000000000000001",
                               "q/1/1/123", "q/1/-1/0000000000000001", "q/1/1/000000000000000g"}) {
    EXPECT_EQ(ParseJobHandle(bad).status().code(), ErrorCode::kUnknownHandle) << bad;
  }
  Result<JobHandle> h = ParseJobHandle("a.b/12/3/00000000000000ff");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->queue, "a.b");
  EXPECT_EQ(h->seq, 12u);
  EXPECT_EQ(h->delivery, 3u);
  EXPECT_EQ(h->nonce, 255u);
}

TEST(QueueOptions, EveryBadOptionIsNamed) {
  auto check = [](auto edit, std::string_view says) {
    QueueOptions o = Fixture::Defaults();
    edit(o);
    Status s = ValidateQueueOptions(o, {});
    EXPECT_FALSE(s.ok()) << says;
    EXPECT_NE(s.message().find(says), std::string::npos) << s.message();
  };
  check([](QueueOptions& o) { o.name = ""; }, "1-128");
  check([](QueueOptions& o) { o.name = "a/b"; }, "tokens");
  check([](QueueOptions& o) { o.name = "a..b"; }, "tokens");
  check([](QueueOptions& o) { o.pattern = "jobs..x"; }, "pattern");
  check([](QueueOptions& o) { o.pattern = "_INBOX.>"; }, "reply inboxes");
  check([](QueueOptions& o) { o.ack_wait = {}; }, "ack_wait");
  check([](QueueOptions& o) { o.backoff = {std::chrono::milliseconds(-1)}; }, "backoff");
  check([](QueueOptions& o) { o.max_in_flight = 0; }, "max_in_flight");
  check([](QueueOptions& o) { o.max_pending = 0; }, "max_pending");
  check([](QueueOptions& o) { o.dead_letter = "jobs.dead"; }, "own pattern");
  check([](QueueOptions& o) { o.dead_letter = "dead.*"; }, "dead_letter");
  EXPECT_TRUE(ValidateQueueOptions(Fixture::Defaults(), {}).ok());
}

TEST(QueueRegistry, SameOptionsAgainIsFineOtherOptionsAreRefusedAndMaxQueuesIsCounted) {
  QueueRegistry r(2, RandomHandleNonce());
  QueueOptions o = Fixture::Defaults();
  ASSERT_TRUE(r.Create(o, {}).ok());
  const uint64_t gen = r.generation();
  ASSERT_TRUE(r.Create(o, {}).ok());
  EXPECT_EQ(r.generation(), gen);
  o.max_deliver = 9;
  EXPECT_EQ(r.Create(o, {}).code(), ErrorCode::kInvalidArgument);
  o.name = "two";
  ASSERT_TRUE(r.Create(o, {}).ok());
  o.name = "three";
  EXPECT_EQ(r.refused(), 0u);  // other settings are not max_queues
  EXPECT_EQ(r.Create(o, {}).code(), ErrorCode::kResourceExhausted);  // max_queues
  EXPECT_EQ(r.refused(), 1u);  // herald_queue_creations_refused_total
  EXPECT_EQ(r.Matching("jobs.x").size(), 2u);
  EXPECT_TRUE(r.Matching("other").empty());
  ASSERT_TRUE(r.Remove("two").ok());
  EXPECT_EQ(r.Remove("two").status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace herald
