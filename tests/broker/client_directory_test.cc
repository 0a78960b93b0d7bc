// The server API in the core (herald/clients.h): the client directory,
// revocations, and Broker::Admin's checks, local answers and merging,
// through the public Broker API with controls written here.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "broker/broker_cluster.h"
#include "broker/client_directory.h"
#include "herald/broker.h"
#include "tests/broker/test_support.h"

namespace herald {
namespace {

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Records what the server API asked of one connection.
class FakeControl : public ClientControl {
 public:
  void Disconnect(const DisconnectNotice& n) override {
    std::lock_guard lock(mu);
    disconnects.push_back(n);
  }
  void ServerSubscribe(const std::string& topic, bool, std::function<void(Status)> done) override {
    {
      std::lock_guard lock(mu);
      subscribed.push_back(topic);
    }
    done(refuse ? Status(ErrorCode::kTooManySubscriptions, "full") : Status::Ok());
  }
  std::mutex mu;
  std::vector<DisconnectNotice> disconnects;
  std::vector<std::string> subscribed;
  bool refuse = false;
};

ClientRecord Record(std::string client, std::string user, std::string jti = "", int64_t iat = 0) {
  ClientRecord r;
  r.client = std::move(client);
  r.user = std::move(user);
  r.token_id = std::move(jti);
  r.issued_at_s = iat;
  r.transport = "ws";
  return r;
}

// Broker::Admin, waited for (the test's own thread; answers are inline on a
// single node).
Result<AdminResult> Call(Broker& b, AdminCall call) {
  std::optional<Result<AdminResult>> out;
  b.Admin(std::move(call), [&](Result<AdminResult> r) { out = std::move(r); });
  EXPECT_TRUE(out.has_value()) << "a single node answers inline";
  return out ? std::move(*out) : Result<AdminResult>(Status(ErrorCode::kInternal, "none"));
}

// The connections of `user`, as the server API lists them.
Result<AdminResult> ConnectionsOf(Broker& b, const std::string& user) {
  AdminCall c;
  c.op = AdminCall::Op::kConnections;
  c.user = user;
  return Call(b, c);
}

TEST(ClientDirectory, AnEntryLivesAsLongAsItsHandle) {
  Broker b;
  auto control = std::make_shared<FakeControl>();
  std::shared_ptr<void> handle = b.RegisterClient(Record("n.1", "alice"), control);
  EXPECT_EQ(b.Stats().clients, 1u);
  Result<AdminResult> r = ConnectionsOf(b, "alice");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->clients.size(), 1u);
  EXPECT_EQ(r->clients[0].client, "n.1");
  handle.reset();
  EXPECT_EQ(b.Stats().clients, 0u);
  EXPECT_EQ(ConnectionsOf(b, "alice")->matched, 0u);
}

TEST(ClientDirectory, ARenewalReachesTheEntryThroughItsHandle) {
  Broker b;
  auto control = std::make_shared<FakeControl>();
  std::shared_ptr<void> handle = b.RegisterClient(Record("n.1", "alice"), control);
  // A holder tests its handle to know it is registered (ClientSession::Renewed).
  ASSERT_TRUE(handle);
  b.ClientRenewed("n.1", "jti-2", 1000, 2000);
  Result<AdminResult> r = ConnectionsOf(b, "alice");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->clients.size(), 1u);
  EXPECT_EQ(r->clients[0].token_id, "jti-2");
  EXPECT_EQ(r->clients[0].issued_at_s, 1000);
}

TEST(ClientDirectory, AHandleMayOutliveItsBroker) {
  std::shared_ptr<void> handle;
  {
    Broker b;
    handle = b.RegisterClient(Record("n.1", "alice"), std::make_shared<FakeControl>());
  }
  handle.reset();  // no use after free (ASan)
}

TEST(ClientDirectory, DisconnectReachesOneClientOrEveryOneOfAUser) {
  Broker b(BrokerOptions{.node_id = "n"});
  auto a1 = std::make_shared<FakeControl>(), a2 = std::make_shared<FakeControl>(),
       bob = std::make_shared<FakeControl>();
  auto h1 = b.RegisterClient(Record("n.1", "alice"), a1);
  auto h2 = b.RegisterClient(Record("n.2", "alice"), a2);
  auto h3 = b.RegisterClient(Record("n.3", "bob"), bob);
  AdminCall c;
  c.op = AdminCall::Op::kDisconnect;
  c.client = "n.2";
  c.notice = {4600, "bye", false};
  Result<AdminResult> r = Call(b, c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->nodes, 1u);
  EXPECT_EQ(r->matched, 1u);
  EXPECT_TRUE(a1->disconnects.empty());
  ASSERT_EQ(a2->disconnects.size(), 1u);
  EXPECT_EQ(a2->disconnects[0].code, 4600);
  EXPECT_FALSE(a2->disconnects[0].reconnect);
  c.client.clear();
  c.user = "alice";
  r = Call(b, c);
  EXPECT_EQ(r->applied, 2u);
  EXPECT_EQ(a1->disconnects.size(), 1u);
  EXPECT_TRUE(bob->disconnects.empty());
  EXPECT_EQ(b.Stats().admin_disconnects, 3u);
}

TEST(ClientDirectory, AClientOfAnotherNodeIsUnreachedWithoutACluster) {
  Broker b(BrokerOptions{.node_id = "n"});
  AdminCall c;
  c.op = AdminCall::Op::kDisconnect;
  c.client = "other.7";
  Result<AdminResult> r = Call(b, c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->nodes, 0u);
  EXPECT_EQ(r->unreached, std::vector<std::string>{"other"});
}

TEST(ClientDirectory, ServerSubscribeCountsAppliedAndRefused) {
  Broker b(BrokerOptions{.node_id = "n"});
  auto ok = std::make_shared<FakeControl>(), full = std::make_shared<FakeControl>();
  full->refuse = true;
  auto h1 = b.RegisterClient(Record("n.1", "alice"), ok);
  auto h2 = b.RegisterClient(Record("n.2", "alice"), full);
  AdminCall c;
  c.op = AdminCall::Op::kSubscribe;
  c.user = "alice";
  c.topic = "news.a";
  Result<AdminResult> r = Call(b, c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matched, 2u);
  EXPECT_EQ(r->applied, 1u);
  EXPECT_EQ(r->refused, 1u);
  EXPECT_EQ(r->errors, std::vector<std::string>{"full"});
  // A control that takes no server subscriptions refuses by default.
  class Plain : public ClientControl {
    void Disconnect(const DisconnectNotice&) override {}
  };
  auto plain = std::make_shared<Plain>();
  auto h3 = b.RegisterClient(Record("n.3", "carol"), plain);
  c.user = "carol";
  r = Call(b, c);
  EXPECT_EQ(r->refused, 1u);
}

TEST(ClientDirectory, BadCallsAreRefusedWithTheirReason) {
  Broker b;
  auto expect_invalid = [&](AdminCall c, std::string_view text) {
    Result<AdminResult> r = Call(b, std::move(c));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
  };
  AdminCall none;
  expect_invalid(none, "name a client or a user");
  AdminCall both;
  both.client = "n.1";
  both.user = "u";
  expect_invalid(both, "name a client or a user");
  AdminCall code;
  code.user = "u";
  code.notice.code = 1000;
  expect_invalid(code, "4000 to 4999");
  code.notice.code = 4000;
  code.notice.reconnect = false;
  expect_invalid(code, "4500-4999 not to");
  AdminCall topic;
  topic.op = AdminCall::Op::kSubscribe;
  topic.user = "u";
  topic.topic = "a..b";
  Result<AdminResult> r = Call(b, topic);
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidTopic);
  AdminCall rev;
  rev.op = AdminCall::Op::kRevoke;
  rev.revocation = {Revocation::Kind::kToken, "j", 0, Now() - 1};
  expect_invalid(rev, "in the future");
  rev.revocation.until_s = Now() + 100 * 24 * 3600;
  expect_invalid(rev, "max_revocation_ttl");
  rev.revocation.key.clear();
  rev.revocation.until_s = Now() + 60;
  expect_invalid(rev, "jti or user");
}

TEST(ClientDirectory, TopicsCountLocalSubscriptionsByPattern) {
  Broker b;
  testing::ManualInbox in(b);
  auto sink = std::make_shared<testing::RecordingSink>();
  auto s1 = b.Subscribe("news.a", sink, in.inbox);
  auto s2 = b.Subscribe("news.a", std::make_shared<testing::RecordingSink>(), in.inbox);
  auto s3 = b.Subscribe("news.>", sink, in.inbox);
  auto s4 = b.Subscribe("chat.x", sink, in.inbox);
  ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok() && s4.ok());
  AdminCall c;
  c.op = AdminCall::Op::kTopics;
  c.topic = "news.";
  Result<AdminResult> r = Call(b, c);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->topics.size(), 2u);
  EXPECT_EQ(r->topics[0].pattern, "news.>");
  EXPECT_EQ(r->topics[0].subscribers, 1u);
  EXPECT_EQ(r->topics[1].pattern, "news.a");
  EXPECT_EQ(r->topics[1].subscribers, 2u);
  b.Unsubscribe(*s1);
  b.Unsubscribe(*s3);
  c.limit = 1;
  c.topic.clear();
  r = Call(b, c);
  ASSERT_EQ(r->topics.size(), 1u);
  EXPECT_EQ(r->topics[0].pattern, "chat.x");
  EXPECT_TRUE(r->truncated);
}

TEST(ClientDirectory, APeersCallIsCheckedAsAClientsWouldBe) {
  Broker b(BrokerOptions{.node_id = "n"});
  AdminCall bad;
  bad.op = AdminCall::Op::kRevoke;
  bad.revocation = {Revocation::Kind::kToken, "", 0, Now() + 60};  // no key
  std::optional<AdminResult> got;
  BrokerCluster::ApplyAdmin(b, bad, [&](AdminResult r) { got = std::move(r); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->refused, 1u);
  ASSERT_EQ(got->errors.size(), 1u);
  EXPECT_NE(got->errors[0].find("1 to 256 bytes"), std::string::npos) << got->errors[0];
  EXPECT_EQ(b.Stats().revocations, 0u);
}

TEST(Revocations, ATokenOrAUsersOlderTokensAreRefusedUntilUntil) {
  Revocations r(10);
  const int64_t now = 1'000'000;
  EXPECT_FALSE(r.Refuses("alice", "j1", now - 5, now));
  ASSERT_TRUE(r.Add({Revocation::Kind::kToken, "j1", 0, now + 100}, nullptr).ok());
  EXPECT_TRUE(r.Refuses("alice", "j1", now - 5, now));
  EXPECT_TRUE(r.Refuses("bob", "j1", 0, now));  // a jti is anyone's
  EXPECT_FALSE(r.Refuses("alice", "j2", now - 5, now));
  ASSERT_TRUE(r.Add({Revocation::Kind::kUser, "bob", now - 10, now + 100}, nullptr).ok());
  EXPECT_TRUE(r.Refuses("bob", "", now - 11, now));
  EXPECT_TRUE(r.Refuses("bob", "", 0, now));  // no iat: older than anything
  EXPECT_FALSE(r.Refuses("bob", "", now - 10, now));
  EXPECT_FALSE(r.Refuses("bob", "", now - 11, now + 100));  // past until
  r.Expire(now + 100, nullptr);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_FALSE(r.Refuses("alice", "j1", now - 5, now));
}

TEST(Revocations, AreBoundedAndARepeatExtendsTheRecord) {
  Revocations r(2);
  ASSERT_TRUE(r.Add({Revocation::Kind::kToken, "a", 0, 100}, nullptr).ok());
  ASSERT_TRUE(r.Add({Revocation::Kind::kToken, "b", 0, 100}, nullptr).ok());
  Result<Revocation> full = r.Add({Revocation::Kind::kToken, "c", 0, 100}, nullptr);
  EXPECT_EQ(full.status().code(), ErrorCode::kResourceExhausted);
  bool changed = false;
  Result<Revocation> again = r.Add({Revocation::Kind::kToken, "a", 0, 300}, &changed);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->until_s, 300);
  EXPECT_TRUE(changed);
  // The later one stays, and a repeat changes nothing.
  EXPECT_EQ(r.Add({Revocation::Kind::kToken, "a", 0, 200}, &changed)->until_s, 300);
  EXPECT_FALSE(changed);
  std::vector<Revocation> gone;
  r.Expire(150, [&](const Revocation& x) { gone.push_back(x); });
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].key, "b");
  EXPECT_EQ(r.size(), 1u);
  EXPECT_TRUE(r.Refuses("x", "a", 0, 200));
}

TEST(Revocations, ARevokeThroughTheBrokerEndsTheMatchingConnections) {
  Broker b(BrokerOptions{.node_id = "n"});
  auto old_token = std::make_shared<FakeControl>(), new_token = std::make_shared<FakeControl>(),
       by_id = std::make_shared<FakeControl>();
  auto h1 = b.RegisterClient(Record("n.1", "alice", "", Now() - 100), old_token);
  auto h2 = b.RegisterClient(Record("n.2", "alice", "", Now() + 5), new_token);
  auto h3 = b.RegisterClient(Record("n.3", "bob", "tok-9", Now()), by_id);
  AdminCall c;
  c.op = AdminCall::Op::kRevoke;
  c.revocation = {Revocation::Kind::kUser, "alice", 0, Now() + 60};
  Result<AdminResult> r = Call(b, c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->applied, 1u);
  ASSERT_EQ(old_token->disconnects.size(), 1u);
  EXPECT_EQ(old_token->disconnects[0].code, 4002);
  EXPECT_TRUE(new_token->disconnects.empty());
  EXPECT_TRUE(b.Revoked("alice", "", Now() - 1));
  c.revocation = {Revocation::Kind::kToken, "tok-9", 0, Now() + 60};
  EXPECT_EQ(Call(b, c)->applied, 1u);
  EXPECT_EQ(by_id->disconnects.size(), 1u);
  EXPECT_TRUE(b.Revoked("bob", "tok-9", Now()));
  EXPECT_FALSE(b.Revoked("bob", "tok-8", Now()));
  EXPECT_EQ(b.Stats().revocations, 2u);
  EXPECT_EQ(b.Stats().revoked_refusals, 2u);
}

}  // namespace
}  // namespace herald
