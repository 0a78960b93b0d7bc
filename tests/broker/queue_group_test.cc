#include <gtest/gtest.h>

#include <map>

#include "broker/broker_cluster.h"
#include "test_support.h"

namespace herald {
namespace {

using testing::ManualInbox;
using testing::RecordingSink;

SubscribeOptions Group(std::string name) {
  SubscribeOptions o;
  o.queue_group = std::move(name);
  return o;
}

TEST(QueueGroup, EachMessageGoesToExactlyOneMember) {
  Broker broker;
  ManualInbox in(broker);
  std::vector<std::shared_ptr<RecordingSink>> members;
  for (int i = 0; i < 3; ++i) {
    members.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(broker.Subscribe("jobs.>", members.back(), in.inbox, Group("w")).ok());
  }
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(broker.Publish("jobs.email", std::to_string(i)).ok());
  in.inbox->Drain();
  std::map<std::string, int> seen;
  for (auto& m : members) {
    for (auto& p : m->payloads()) seen[p]++;
  }
  ASSERT_EQ(seen.size(), 300u);
  for (auto& [payload, n] : seen) EXPECT_EQ(n, 1) << payload;
}

TEST(QueueGroup, SpreadsMessagesFairlyAcrossMembers) {
  Broker broker;
  ManualInbox in(broker);
  std::vector<std::shared_ptr<RecordingSink>> members;
  for (int i = 0; i < 4; ++i) {
    members.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(broker.Subscribe("jobs", members.back(), in.inbox, Group("w")).ok());
  }
  for (int i = 0; i < 4000; ++i) ASSERT_TRUE(broker.Publish("jobs", "x").ok());
  in.inbox->Drain();
  for (auto& m : members) EXPECT_EQ(m->count(), 1000u);  // round robin: exactly even
}

TEST(QueueGroup, EveryGroupAndEveryPlainSubscriberGetsItsCopy) {
  Broker broker;
  ManualInbox in(broker);
  auto a1 = std::make_shared<RecordingSink>(), a2 = std::make_shared<RecordingSink>();
  auto b1 = std::make_shared<RecordingSink>(), plain = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("jobs", a1, in.inbox, Group("a")).ok());
  ASSERT_TRUE(broker.Subscribe("jobs", a2, in.inbox, Group("a")).ok());
  ASSERT_TRUE(broker.Subscribe("jobs", b1, in.inbox, Group("b")).ok());
  ASSERT_TRUE(broker.Subscribe("jobs", plain, in.inbox).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(broker.Publish("jobs", "x").ok());
  in.inbox->Drain();
  EXPECT_EQ(a1->count() + a2->count(), 10u);
  EXPECT_EQ(b1->count(), 10u);
  EXPECT_EQ(plain->count(), 10u);
}

TEST(QueueGroup, NeverDeliversToAMemberThatHasLeft) {
  Broker broker;
  ManualInbox in_stay(broker), in_leave(broker);
  auto stay = std::make_shared<RecordingSink>();
  auto leave = std::make_shared<RecordingSink>();
  ASSERT_TRUE(broker.Subscribe("jobs", stay, in_stay.inbox, Group("w")).ok());
  auto leaving = broker.Subscribe("jobs", leave, in_leave.inbox, Group("w"));
  ASSERT_TRUE(leaving.ok());
  // Half of these are queued for the member that is about to leave.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(broker.Publish("jobs", std::to_string(i)).ok());
  ASSERT_TRUE(broker.Unsubscribe(*leaving));
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(broker.Publish("jobs", std::to_string(i)).ok());
  in_leave.inbox->Drain();  // the leaver's queued messages are handed to the group again
  in_stay.inbox->Drain();
  EXPECT_EQ(leave->count(), 0u);
  EXPECT_EQ(stay->count(), 20u);  // nothing lost for the group
}

// A cluster of which this node owns nothing and whose links go nowhere.
class NoOwnerHook final : public ClusterHook {
 public:
  uint64_t membership_generation() const override { return 1; }
  std::string OwnerOf(std::string_view) const override { return "other"; }
  void Forward(const std::string&, MessagePtr, PublishCallback done) override {
    done(Status(ErrorCode::kUnavailable, "no links in this test"));
  }
  bool RouteReply(std::string_view, MessagePtr) override { return false; }
  void FetchHistory(const std::string&, const std::string&, uint64_t, uint64_t,
                    HistoryCallback done) override {
    done(Status(ErrorCode::kUnavailable, "no links in this test"));
  }
  bool InterestChanged(const std::string&, const std::string&, bool) override { return false; }
};

TEST(QueueGroup, APeersMessageIsNeverHandedOnToAnotherPeer) {
  Broker broker;
  NoOwnerHook hook;
  ManualInbox peers(broker), local(broker);
  BrokerCluster::Attach(broker, &hook, peers.inbox);
  auto member = std::make_shared<RecordingSink>();
  auto peer = std::make_shared<RecordingSink>();
  auto leaving = broker.Subscribe("jobs", member, local.inbox, Group("w"));
  ASSERT_TRUE(leaving.ok());
  ASSERT_TRUE(BrokerCluster::SubscribePeer(broker, "jobs", "w", peer).ok());
  // The owner picked this node for the group: its one local member gets it,
  // and leaves before it is delivered. The group's only other member is a
  // peer's interest, which must not get it: one hop.
  auto m = std::make_shared<Message>();
  m->topic = "jobs";
  m->payload = "from the owner";
  m->epoch = 7;
  m->offset = 1;
  BrokerCluster::DeliverRemote(broker, m, "jobs", "w");
  ASSERT_TRUE(broker.Unsubscribe(*leaving));
  local.inbox->Drain();
  peers.inbox->Drain();
  EXPECT_EQ(member->count(), 0u);
  EXPECT_EQ(peer->count(), 0u);
  BrokerCluster::Detach(broker);
}

TEST(QueueGroup, GroupNameMustBePrintable) {
  Broker broker;
  ManualInbox in(broker);
  auto r = broker.Subscribe("jobs", std::make_shared<RecordingSink>(), in.inbox, Group("a b"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace herald
