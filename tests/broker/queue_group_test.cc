#include <gtest/gtest.h>

#include <map>

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

TEST(QueueGroup, GroupNameMustBePrintable) {
  Broker broker;
  ManualInbox in(broker);
  auto r = broker.Subscribe("jobs", std::make_shared<RecordingSink>(), in.inbox, Group("a b"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace herald
