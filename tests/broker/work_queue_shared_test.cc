// A work queue whose jobs stay in a store brokers share (SharedQueueStore):
// what it claims, what it gives back, and that it never keeps a job none of
// its members can take. The store is a recorder; time is driven by the test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker/work_queue.h"

namespace herald {
namespace {

constexpr int64_t kMs = 1000;  // microseconds

// Records what the queue asks of its stores.
class RecordingStore final : public QueueStore, public SharedQueueStore {
 public:
  struct Released {
    std::string key;
    std::chrono::milliseconds delay;
    bool uncount;
    std::string ready_at;
  };
  std::vector<std::string> settled;   // DeleteJob keys
  std::vector<Released> released;     // Release
  std::vector<std::string> extended;  // Extend keys

  std::vector<StoredQueue> TakeQueues() override { return {}; }
  void PutQueue(const QueueOptions&, uint64_t, std::string_view) override {}
  bool KeepsWriteOrder() const override { return true; }
  void DeleteQueue(std::string_view) override {}
  Status AppendWithJobs(const MessagePtr&, const std::vector<JobRef>&,
                        HistoryStore::AppendCallback&&) override {
    return Status::Ok();
  }
  Status PutJobs(const MessagePtr&, const std::vector<JobRef>&, CommitCallback*) override {
    return Status::Ok();
  }
  void SetDeliveries(const JobRef&, uint32_t) override { ADD_FAILURE() << "claims count"; }
  void DeleteJob(const JobRef& job) override { settled.push_back(job.key); }

  void Claim(std::string_view, std::string_view, size_t, std::chrono::milliseconds,
             ClaimCallback) override {}
  void Release(std::string_view, const std::string& key, std::string_view holder,
               std::chrono::milliseconds delay, bool uncount,
               const std::string& ready_at) override {
    EXPECT_EQ(holder, "n1.run");
    released.push_back({key, delay, uncount, ready_at});
  }
  void Extend(std::string_view, const std::string& key, std::string_view,
              std::chrono::milliseconds) override {
    extended.push_back(key);
  }
  void ReleaseEarlier(std::string_view, std::string_view, std::string_view) override {}
};

QueueOptions Options() {
  QueueOptions o;
  o.name = "work";
  o.pattern = "jobs.>";
  o.ack_wait = std::chrono::milliseconds(100);
  o.max_deliver = 3;
  o.dead_letter = "dead.work";
  return o;
}

struct Fixture {
  explicit Fixture(QueueOptions o = Options())
      : q(
            std::move(o), [n = uint64_t{0}]() mutable { return ++n * 0x9e3779b97f4a7c15ULL; },
            &node_bytes, &store, 1, &store, "n1.run") {}
  SubscriptionPtr Member(uint64_t id) {
    auto s = std::make_shared<Subscription>();
    s->id = id;
    return s;
  }
  static ClaimedJob Claimed(std::string key, uint32_t deliveries = 1) {
    auto m = std::make_shared<Message>();
    m->topic = "jobs.a";
    m->payload = "payload of " + key;
    ClaimedJob j;
    j.message = std::move(m);
    j.key = std::move(key);
    j.deliveries = deliveries;
    j.ready_at = "1000";
    return j;
  }
  std::atomic<uint64_t> node_bytes{0};
  RecordingStore store;
  WorkQueue q;
};

TEST(SharedWorkQueue, APublishOnlyCountsItsJobAndAClaimAsksForTheMembersRoom) {
  Fixture f;
  WorkQueue::Effects fx;
  EXPECT_EQ(f.q.StartClaim(false, 0), 0u);  // nobody to claim for
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 2, nullptr, 0, fx).ok());
  Result<uint64_t> seq = f.q.Reserve(5);
  ASSERT_TRUE(seq.ok());
  f.q.Fill(*seq, std::make_shared<Message>(), 0, fx);
  EXPECT_TRUE(fx.sends.empty());  // the job is in the store, not here
  EXPECT_EQ(f.q.Info().pending, 1u);
  EXPECT_EQ(f.node_bytes.load(), 0u);
  EXPECT_EQ(f.q.StartClaim(false, 0), 2u);  // its max_in_flight
  EXPECT_EQ(f.q.StartClaim(true, 0), 0u);   // what a claim on its way asks for is not asked again
}

TEST(SharedWorkQueue, WhatNoMemberCanTakeGoesBackAtOnceUncountedInItsPlace) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 1, nullptr, 0, fx).ok());
  ASSERT_EQ(f.q.StartClaim(false, 0), 1u);
  std::vector<ClaimedJob> jobs = {Fixture::Claimed("a"), Fixture::Claimed("b")};
  EXPECT_TRUE(f.q.Adopt(std::move(jobs), 2, 1, 0, fx));
  ASSERT_EQ(fx.sends.size(), 1u);
  EXPECT_EQ(fx.sends[0].second->deliveries, 1u);
  ASSERT_EQ(f.store.released.size(), 1u);
  EXPECT_EQ(f.store.released[0].key, "b");
  EXPECT_TRUE(f.store.released[0].uncount);
  EXPECT_EQ(f.store.released[0].ready_at, "1000");
  EXPECT_EQ(f.q.Info().in_flight, 1u);
}

TEST(SharedWorkQueue, AnExpiredDeliveryGoesBackToTheStoreNotToAnotherMemberHere) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 1, nullptr, 0, fx).ok());
  ASSERT_TRUE(f.q.Join(2, f.Member(2), 1, nullptr, 0, fx).ok());
  ASSERT_EQ(f.q.StartClaim(false, 0), 2u);
  f.q.Adopt(std::vector<ClaimedJob>{Fixture::Claimed("a")}, 1, 2, 0, fx);
  ASSERT_EQ(fx.sends.size(), 1u);
  WorkQueue::Effects later;
  f.q.Expire(150 * kMs, later);
  EXPECT_TRUE(later.sends.empty());
  ASSERT_EQ(f.store.released.size(), 1u);
  EXPECT_EQ(f.store.released[0].key, "a");
  EXPECT_FALSE(f.store.released[0].uncount);  // it was delivered
  EXPECT_EQ(f.store.released[0].delay.count(), 0);
  EXPECT_EQ(f.q.Info().in_flight, 0u);
  EXPECT_EQ(f.node_bytes.load(), 0u);
}

TEST(SharedWorkQueue, AckSettlesInTheStoreProgressExtendsNearTheLeaseEndNackReleases) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 3, nullptr, 0, fx).ok());
  ASSERT_EQ(f.q.StartClaim(false, 0), 3u);
  f.q.Adopt(std::vector<ClaimedJob>{Fixture::Claimed("a"), Fixture::Claimed("b")}, 2, 3, 0, fx);
  ASSERT_EQ(fx.sends.size(), 2u);
  const Job a = *fx.sends[0].second, b = *fx.sends[1].second;
  Result<JobHandle> ha = ParseJobHandle(a.handle), hb = ParseJobHandle(b.handle);
  ASSERT_TRUE(ha.ok() && hb.ok());
  // The lease (ack_wait + 2 s from the claim) still covers the new
  // deadline with a second to spare: nothing written.
  ASSERT_TRUE(f.q.Settle(1, *ha, SettleKind::kProgress, -1, 10 * kMs, fx).ok());
  ASSERT_TRUE(f.q.Settle(1, *ha, SettleKind::kProgress, -1, 20 * kMs, fx).ok());
  EXPECT_TRUE(f.store.extended.empty());
  // Less than a second would be left: extended, once.
  ASSERT_TRUE(f.q.Settle(1, *ha, SettleKind::kProgress, -1, 1'050 * kMs, fx).ok());
  ASSERT_TRUE(f.q.Settle(1, *ha, SettleKind::kProgress, -1, 1'060 * kMs, fx).ok());
  EXPECT_EQ(f.store.extended, std::vector<std::string>{"a"});
  ASSERT_TRUE(f.q.Settle(1, *ha, SettleKind::kAck, -1, 1'070 * kMs, fx).ok());
  EXPECT_EQ(f.store.settled, std::vector<std::string>{"a"});
  ASSERT_TRUE(f.q.Settle(1, *hb, SettleKind::kNack, 500 * kMs, 1'080 * kMs, fx).ok());
  ASSERT_EQ(f.store.released.size(), 1u);
  EXPECT_EQ(f.store.released[0].key, "b");
  EXPECT_EQ(f.store.released[0].delay.count(), 500);
  EXPECT_EQ(f.q.Info().pending, 1u);  // b, in the store again
}

TEST(SharedWorkQueue, AClaimPastMaxDeliverIsDeadLetteredNotDelivered) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 1, nullptr, 0, fx).ok());
  ASSERT_EQ(f.q.StartClaim(false, 0), 1u);
  f.q.Adopt(std::vector<ClaimedJob>{Fixture::Claimed("a", 4)}, 1, 1, 0, fx);  // max_deliver 3
  EXPECT_TRUE(fx.sends.empty());
  ASSERT_EQ(fx.dead.size(), 1u);
  EXPECT_EQ(fx.dead[0].deliveries, 3u);                        // those made
  EXPECT_EQ(f.store.extended, std::vector<std::string>{"a"});  // outlasts its publish
  f.q.DeadLettered(fx.dead[0].seq, true, 0, 0, fx);
  EXPECT_EQ(f.store.settled, std::vector<std::string>{"a"});
}

TEST(SharedWorkQueue, AfterAnEmptyClaimOnlyThePollAPublishOrAGiveBackClaimsAgain) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 1, nullptr, 0, fx).ok());
  ASSERT_EQ(f.q.StartClaim(false, 0), 1u);
  EXPECT_FALSE(f.q.Adopt(std::vector<ClaimedJob>{}, 0, 1, 0, fx));
  EXPECT_EQ(f.q.StartClaim(false, 0), 0u);
  EXPECT_TRUE(f.q.Hungry());
  ASSERT_EQ(f.q.StartClaim(true, 0), 1u);  // the poll
  EXPECT_FALSE(f.q.Adopt(std::vector<ClaimedJob>{}, 0, 1, 0, fx));
  Result<uint64_t> seq = f.q.Reserve(1);
  ASSERT_TRUE(seq.ok());
  f.q.Fill(*seq, std::make_shared<Message>(), 0, fx);  // published here
  EXPECT_EQ(f.q.StartClaim(false, 0), 1u);
}

TEST(SharedWorkQueue, AMemberOutOfBytesAsksForNoClaim) {
  Fixture f;
  WorkQueue::Effects fx;
  auto budget = std::make_shared<JobBudget>(100);
  ASSERT_TRUE(budget->TryCharge(100, false));  // its connection's output is full
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 5, budget, 0, fx).ok());
  EXPECT_FALSE(f.q.Hungry());
  EXPECT_EQ(f.q.StartClaim(true, 0), 0u);
  budget->Credit(100);
  EXPECT_EQ(f.q.StartClaim(true, 0), 5u);
}

// Jobs none of the members can take (bytes) are given back, and the queue
// stops claiming until room is freed here or a second passed: polling would
// claim and give back the same jobs twenty times a second.
TEST(SharedWorkQueue, AClaimNobodyCouldTakeStallsClaimsUntilRoomIsFreed) {
  Fixture f;
  WorkQueue::Effects fx;
  auto budget = std::make_shared<JobBudget>(100);
  ASSERT_TRUE(budget->TryCharge(60, false));  // another membership of the connection
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 5, budget, 0, fx).ok());
  ASSERT_EQ(f.q.StartClaim(false, 0), 5u);
  EXPECT_FALSE(f.q.Adopt(std::vector<ClaimedJob>{Fixture::Claimed("a")}, 1, 5, 0, fx));
  EXPECT_TRUE(fx.sends.empty());
  ASSERT_EQ(f.store.released.size(), 1u);  // back at once, uncounted
  EXPECT_TRUE(f.store.released[0].uncount);
  EXPECT_FALSE(f.q.Hungry());
  EXPECT_EQ(f.q.StartClaim(true, WorkQueue::kRefreshUs - 1), 0u);
  EXPECT_EQ(f.q.StartClaim(true, WorkQueue::kRefreshUs), 5u);  // tried again a second later
}

// A lease that ran out while the job was still held here (a slow dead-letter
// publish) can bring it back in this node's own claim: leased again, not
// held twice.
TEST(SharedWorkQueue, AJobClaimedAgainWhileHeldHereIsNotHeldTwice) {
  Fixture f;
  WorkQueue::Effects fx;
  ASSERT_TRUE(f.q.Join(1, f.Member(1), 5, nullptr, 0, fx).ok());
  ASSERT_EQ(f.q.StartClaim(false, 0), 5u);
  f.q.Adopt(std::vector<ClaimedJob>{Fixture::Claimed("a")}, 1, 5, 0, fx);
  ASSERT_EQ(fx.sends.size(), 1u);
  ASSERT_EQ(f.q.StartClaim(true, 0), 4u);
  f.q.Adopt(std::vector<ClaimedJob>{Fixture::Claimed("a", 2)}, 1, 4, 0, fx);
  EXPECT_EQ(fx.sends.size(), 1u);
  EXPECT_EQ(f.store.extended, std::vector<std::string>{"a"});
  EXPECT_EQ(f.q.Info().in_flight, 1u);
}

TEST(SharedWorkQueue, ANodeThatDoesNotClaimRefreshesItsCountForMaxPending) {
  QueueOptions o = Options();
  o.max_pending = 2;
  Fixture f(o);
  WorkQueue::Effects fx;
  for (int i = 0; i < 2; ++i) {
    Result<uint64_t> seq = f.q.Reserve(1);
    ASSERT_TRUE(seq.ok());
    f.q.Fill(*seq, std::make_shared<Message>(), 0, fx);
  }
  EXPECT_EQ(f.q.Reserve(1).status().code(), ErrorCode::kResourceExhausted);
  ASSERT_TRUE(f.q.StartRefresh(0));
  EXPECT_FALSE(f.q.StartRefresh(1));                  // one at a time, once a second
  f.q.Adopt(std::vector<ClaimedJob>{}, 0, 0, 0, fx);  // others took them: none left
  EXPECT_TRUE(f.q.Reserve(1).ok());
  EXPECT_FALSE(f.q.StartRefresh(WorkQueue::kRefreshUs - 1));
  EXPECT_TRUE(f.q.StartRefresh(WorkQueue::kRefreshUs));
}

}  // namespace
}  // namespace herald
