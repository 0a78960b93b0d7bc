// Presence in the core: members, events and their coalescing, limits and
// rules (herald/presence.h), through the public Broker API.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "broker/broker_cluster.h"
#include "herald/broker.h"
#include "herald/presence.h"
#include "tests/broker/test_support.h"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::ManualInbox;

// Records the presence events a subscription receives.
class PresenceSink : public Sink {
 public:
  void OnDelivery(const Delivery& d) override {
    if (d.kind != Delivery::Kind::kPresence) return;
    std::lock_guard lock(mu_);
    events_.push_back(*d.presence);
  }
  std::vector<PresenceEvent> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<PresenceEvent> events_;
};

SubscribeOptions As(std::string client, std::string user = "", std::string info = "") {
  SubscribeOptions o;
  o.presence = PresenceMember{client, user.empty() ? client : user, std::move(info)};
  return o;
}

std::vector<std::string> Clients(const std::vector<PresenceMember>& members) {
  std::vector<std::string> out;
  for (const PresenceMember& m : members) out.push_back(m.client);
  return out;
}

BrokerOptions Interval(std::chrono::milliseconds interval) {
  BrokerOptions o;
  o.presence.event_interval = interval;
  return o;
}

TEST(Presence, AMemberSeesASnapshotThenTheJoinsAndLeavesOfOthers) {
  Broker broker(Interval(0ms));  // every change its own event
  ManualInbox in(broker);
  auto alice = std::make_shared<PresenceSink>();
  auto bob = std::make_shared<PresenceSink>();
  Result<uint64_t> a =
      broker.Subscribe("room.1", alice, in.inbox, As("n.a", "alice", R"({"n":1})"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  in.inbox->Drain();
  Result<uint64_t> b = broker.Subscribe("room.1", bob, in.inbox, As("n.b", "bob"));
  ASSERT_TRUE(b.ok());
  in.inbox->Drain();

  std::vector<PresenceEvent> ea = alice->events();
  ASSERT_EQ(ea.size(), 3u);
  EXPECT_TRUE(ea[0].snapshot);
  EXPECT_TRUE(ea[0].joins.empty());
  EXPECT_EQ(Clients(ea[1].joins), std::vector<std::string>{"n.a"});  // its own join
  EXPECT_EQ(ea[1].joins[0].info, R"({"n":1})");
  EXPECT_EQ(Clients(ea[2].joins), std::vector<std::string>{"n.b"});
  EXPECT_EQ(ea[2].joins[0].user, "bob");
  EXPECT_EQ((std::pair{ea[2].clients, ea[2].users}), (std::pair{2u, 2u}));

  std::vector<PresenceEvent> eb = bob->events();
  ASSERT_EQ(eb.size(), 2u);
  EXPECT_TRUE(eb[0].snapshot);
  EXPECT_EQ(Clients(eb[0].joins), std::vector<std::string>{"n.a"});
  EXPECT_EQ(Clients(eb[1].joins), std::vector<std::string>{"n.b"});

  ASSERT_TRUE(broker.Unsubscribe(*b));
  in.inbox->Drain();
  ea = alice->events();
  ASSERT_EQ(ea.size(), 4u);
  ASSERT_EQ(ea[3].leaves.size(), 1u);
  EXPECT_EQ(ea[3].leaves[0].client, "n.b");
  EXPECT_EQ(ea[3].leaves[0].user, "bob");
  EXPECT_EQ(ea[3].clients, 1u);
  EXPECT_EQ(bob->events().size(), 2u) << "an ended subscription hears nothing more";
}

TEST(Presence, TwoSubscriptionsOfOneClientAreOneMember) {
  Broker broker(Interval(0ms));
  ManualInbox in(broker);
  auto s1 = std::make_shared<PresenceSink>();
  auto s2 = std::make_shared<PresenceSink>();
  Result<uint64_t> one = broker.Subscribe("room.2", s1, in.inbox, As("n.x", "xavier"));
  Result<uint64_t> two = broker.Subscribe("room.2", s2, in.inbox, As("n.x", "xavier"));
  ASSERT_TRUE(one.ok() && two.ok());
  Result<PresenceSnapshot> p = broker.Presence("room.2");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->clients, 1u);
  ASSERT_TRUE(broker.Unsubscribe(*one));
  EXPECT_EQ(broker.Presence("room.2")->clients, 1u) << "still held by the second";
  ASSERT_TRUE(broker.Unsubscribe(*two));
  EXPECT_EQ(broker.Presence("room.2")->clients, 0u);
  EXPECT_EQ(broker.Stats().presence_topics, 0u);
  EXPECT_EQ(broker.Stats().presence_bytes, 0u);
}

TEST(Presence, UsersCountOnceWhateverTheirConnections) {
  Broker broker(Interval(0ms));  // queries answer what was sent: every change at once
  ManualInbox in(broker);
  for (const char* c : {"n.1", "n.2", "n.3"}) {
    ASSERT_TRUE(
        broker.Subscribe("room.3", std::make_shared<PresenceSink>(), in.inbox, As(c, "same-user"))
            .ok());
  }
  ASSERT_TRUE(
      broker.Subscribe("room.3", std::make_shared<PresenceSink>(), in.inbox, As("n.4", "other"))
          .ok());
  Result<PresenceSnapshot> p = broker.Presence("room.3");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((std::pair{p->clients, p->users}), (std::pair{4u, 2u}));
}

TEST(Presence, QueriesPageByClientId) {
  Broker broker(Interval(0ms));
  ManualInbox in(broker);
  for (int i = 0; i < 25; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "n.%02d", i);
    ASSERT_TRUE(
        broker.Subscribe("room.4", std::make_shared<PresenceSink>(), in.inbox, As(id)).ok());
  }
  std::vector<std::string> all;
  PresenceQuery q{.limit = 10};
  int pages = 0;
  for (;; ++pages) {
    Result<PresenceSnapshot> p = broker.Presence("room.4", q);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->clients, 25u);
    for (const PresenceMember& m : p->members) all.push_back(m.client);
    if (p->next.empty()) break;
    q.after = p->next;
  }
  EXPECT_EQ(pages, 2);
  ASSERT_EQ(all.size(), 25u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(broker.Presence("room.none")->clients, 0u);
  EXPECT_EQ(broker.Presence("room.*").status().code(), ErrorCode::kInvalidTopic);
}

TEST(Presence, ChangesInsideOneIntervalGoOutTogetherAndAJoinThenLeaveCancels) {
  Broker broker(Interval(60'000ms));  // only the leading edge goes out by itself
  ManualInbox in(broker);
  auto watcher = std::make_shared<PresenceSink>();
  ASSERT_TRUE(broker.Subscribe("room.5", watcher, in.inbox, As("n.w")).ok());
  std::vector<uint64_t> ids;
  for (const char* c : {"n.1", "n.2", "n.3"}) {
    Result<uint64_t> id =
        broker.Subscribe("room.5", std::make_shared<PresenceSink>(), in.inbox, As(c));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  ASSERT_TRUE(broker.Unsubscribe(ids[2]));  // n.3 joined and left inside the window
  in.inbox->Drain();
  std::vector<PresenceEvent> e = watcher->events();
  ASSERT_EQ(e.size(), 2u) << "the snapshot, then its own join at once (the leading edge)";
  EXPECT_EQ(Clients(e[1].joins), std::vector<std::string>{"n.w"});
  // The rest is due at the end of the interval: not yet, and queries answer
  // what was sent (the changes still queued reach a querier as events).
  EXPECT_EQ(broker.Stats().presence_events, 1u);
  EXPECT_EQ(broker.Stats().presence_members, 3u);
  Result<PresenceSnapshot> p = broker.Presence("room.5");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Clients(p->members), std::vector<std::string>{"n.w"});
  EXPECT_GE(broker.Stats().presence_coalesced, 2u) << "n.3's join and leave cancelled";
}

TEST(Presence, TheMaintenanceThreadSendsWhatWasCoalesced) {
  Broker broker(Interval(50ms));
  ManualInbox in(broker);
  auto watcher = std::make_shared<PresenceSink>();
  ASSERT_TRUE(broker.Subscribe("room.6", watcher, in.inbox, As("n.w")).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(broker
                    .Subscribe("room.6", std::make_shared<PresenceSink>(), in.inbox,
                               As("n." + std::to_string(i)))
                    .ok());
  }
  std::vector<std::string> joined;
  for (int tries = 0; tries < 200 && joined.size() < 11; ++tries) {
    std::this_thread::sleep_for(10ms);
    in.inbox->Drain();
    joined.clear();
    for (const PresenceEvent& e : watcher->events()) {
      for (const PresenceMember& m : e.joins) {
        if (!e.snapshot) joined.push_back(m.client);
      }
    }
  }
  EXPECT_EQ(joined.size(), 11u);
  EXPECT_EQ(watcher->events().size(), 3u) << "snapshot, the leading edge, then one for the ten";
}

TEST(Presence, TooManyChangesInOneIntervalSayResync) {
  BrokerOptions o = Interval(100ms);
  o.presence.max_event_members = 4;
  Broker broker(o);
  ManualInbox in(broker);
  auto watcher = std::make_shared<PresenceSink>();
  ASSERT_TRUE(broker.Subscribe("room.7", watcher, in.inbox, As("n.w")).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(broker
                    .Subscribe("room.7", std::make_shared<PresenceSink>(), in.inbox,
                               As("n." + std::to_string(i)))
                    .ok());
  }
  for (int tries = 0; tries < 300 && watcher->events().size() < 3; ++tries) {
    std::this_thread::sleep_for(10ms);
    in.inbox->Drain();
  }
  std::vector<PresenceEvent> e = watcher->events();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_TRUE(e[2].resync);
  EXPECT_TRUE(e[2].joins.empty());
  EXPECT_EQ(e[2].clients, 11u);
  EXPECT_EQ(broker.Stats().presence_resyncs, 1u);
}

TEST(Presence, LimitsAndRulesRefuseAJoinWithAClearError) {
  BrokerOptions o;
  o.presence.max_members_per_topic = 2;
  o.presence.max_info_bytes = 8;
  o.presence.rules.push_back({.pattern = "quiet.>", .enabled = false});
  o.presence.rules.push_back({.pattern = "small.>", .enabled = true, .max_members = 1});
  Broker broker(o);
  ManualInbox in(broker);
  auto sub = [&](std::string topic, std::string client, std::string info = "") {
    return broker.Subscribe(topic, std::make_shared<PresenceSink>(), in.inbox,
                            As(std::move(client), "", std::move(info)));
  };
  ASSERT_TRUE(sub("room.8", "n.1").ok());
  ASSERT_TRUE(sub("room.8", "n.2").ok());
  Result<uint64_t> full = sub("room.8", "n.3");
  EXPECT_EQ(full.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("is full (2 members)"), std::string::npos);
  EXPECT_EQ(broker.Stats().presence_refused_full, 1u);
  EXPECT_EQ(broker.Stats().subscriptions, 2u) << "a refused join leaves no subscription";

  Status off = sub("quiet.room", "n.1").status();
  EXPECT_EQ(off.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(off.message(), "presence is off for topic 'quiet.room'");
  EXPECT_EQ(broker.Presence("quiet.room").status().code(), ErrorCode::kInvalidArgument);
  ASSERT_TRUE(sub("small.room", "n.1").ok());
  EXPECT_EQ(sub("small.room", "n.2").status().code(), ErrorCode::kResourceExhausted);

  EXPECT_EQ(sub("room.9", "n.1", R"({"name":"too long"})").status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(sub("room.*", "n.1").status().message(), "presence needs one topic, not a pattern");
  SubscribeOptions grouped = As("n.1");
  grouped.queue_group = "g";
  EXPECT_EQ(broker.Subscribe("room.9", std::make_shared<PresenceSink>(), in.inbox, grouped)
                .status()
                .code(),
            ErrorCode::kInvalidArgument);
}

TEST(Presence, TheByteBudgetBoundsEveryTopicTogether) {
  BrokerOptions o;
  o.presence.max_presence_bytes = 4'000;
  Broker broker(o);
  ManualInbox in(broker);
  int joined = 0;
  Status refused;
  for (int i = 0; i < 100 && refused.ok(); ++i) {
    Result<uint64_t> r =
        broker.Subscribe("t." + std::to_string(i), std::make_shared<PresenceSink>(), in.inbox,
                         As("n." + std::to_string(i)));
    if (r.ok()) {
      ++joined;
    } else {
      refused = r.status();
    }
  }
  EXPECT_EQ(refused.code(), ErrorCode::kResourceExhausted);
  EXPECT_GT(joined, 5);
  EXPECT_LE(broker.Stats().presence_bytes, 4'000u);
  EXPECT_EQ(broker.Stats().presence_refused_bytes, 1u);
}

// Joins, leaves and queries from many threads at once (run under TSan too).
TEST(Presence, ConcurrentJoinsLeavesAndQueriesStayConsistent) {
  Broker broker(Interval(1ms));
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      ManualInbox in(broker);
      auto sink = std::make_shared<PresenceSink>();
      for (int i = 0; i < 200; ++i) {
        const std::string client = "n." + std::to_string(t) + "." + std::to_string(i);
        Result<uint64_t> id = broker.Subscribe("busy." + std::to_string(i % 3), sink, in.inbox,
                                               As(client, "u" + std::to_string(t)));
        ASSERT_TRUE(id.ok());
        if (i % 2 == 0) broker.Unsubscribe(*id);
        in.inbox->Drain();
      }
    });
  }
  std::thread reader([&] {
    while (!stop.load()) {
      for (int i = 0; i < 3; ++i) (void)broker.Presence("busy." + std::to_string(i));
    }
  });
  for (std::thread& t : threads) t.join();
  stop = true;
  reader.join();
  uint32_t clients = 0;
  std::this_thread::sleep_for(20ms);  // the last changes are sent (1 ms interval)
  for (int i = 0; i < 3; ++i) clients += broker.Presence("busy." + std::to_string(i))->clients;
  EXPECT_EQ(clients, 600u);  // every odd subscription stayed
  EXPECT_EQ(broker.Stats().presence_members, 600u);
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// Other nodes' members, as cluster/ hands them over (BrokerCluster).
TEST(PresenceFromPeers, OnlyTheLinkWhoseResetBeganLastChangesANodesMembers) {
  Broker broker(Interval(0ms));
  ManualInbox in(broker);
  auto watcher = std::make_shared<PresenceSink>();
  ASSERT_TRUE(broker.Subscribe("room.p", watcher, in.inbox, As("herald.w")).ok());
  int l1 = 0, l2 = 0;  // two links' tags
  const PresenceMember ada{"n2.a", "ada", R"({"name":"Ada"})"};
  BrokerCluster::PeerPresenceJoin(broker, "n2", &l1, "room.p", ada);
  EXPECT_EQ(broker.Stats().presence_peer_members, 0u) << "no reset began: not the node's state";
  BrokerCluster::PeerPresenceBeginReset(broker, "n2", &l1);
  BrokerCluster::PeerPresenceJoin(broker, "n2", &l1, "room.p", ada);
  BrokerCluster::PeerPresenceJoin(broker, "n2", &l1, "room.p", {"n3.x", "mallory", ""});
  BrokerCluster::PeerPresenceEndReset(broker, "n2", &l1);
  EXPECT_EQ(broker.Stats().presence_peer_members, 1u) << "a node names only its own clients";
  EXPECT_EQ(broker.Stats().presence_peer_dropped, 1u);

  // A newer link's reset: the old link's late frames change nothing.
  BrokerCluster::PeerPresenceBeginReset(broker, "n2", &l2);
  BrokerCluster::PeerPresenceJoin(broker, "n2", &l2, "room.p",
                                  {"n2.a", "ada", R"({"name":"Ada L."})"});
  BrokerCluster::PeerPresenceLeave(broker, "n2", &l1, "room.p", "n2.a");
  BrokerCluster::PeerPresenceEndReset(broker, "n2", &l2);
  BrokerCluster::PeerPresenceLost(broker, "n2", &l1);  // the replaced link ends
  in.inbox->Drain();
  Result<PresenceSnapshot> p = broker.Presence("room.p");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->members.size(), 2u);  // herald.w, n2.a
  EXPECT_EQ(p->members[1].info, R"({"name":"Ada L."})") << "renamed by the reset";
  // The rename reached the watcher as a leave and a join of the same client
  // (two events: every change goes out at once here).
  std::vector<PresenceEvent> e = watcher->events();
  ASSERT_GE(e.size(), 2u);
  ASSERT_EQ(e[e.size() - 2].leaves.size(), 1u);
  EXPECT_EQ(e[e.size() - 2].leaves[0].client, "n2.a");
  ASSERT_EQ(e.back().joins.size(), 1u);
  EXPECT_EQ(e.back().joins[0].info, R"({"name":"Ada L."})");

  // The node is gone (its current link ended): its members leave.
  BrokerCluster::PeerPresenceLost(broker, "n2", &l2);
  in.inbox->Drain();
  EXPECT_EQ(broker.Stats().presence_peer_members, 0u);
  EXPECT_EQ(broker.Presence("room.p")->clients, 1u);
  EXPECT_EQ(watcher->events().back().leaves[0].client, "n2.a");
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(PresenceFromPeers, ANewerLinkThatEndsBeforeItsResetStillTakesTheNodesMembersWithIt) {
  Broker broker(Interval(0ms));
  int l1 = 0, l2 = 0;
  BrokerCluster::PeerPresenceBeginReset(broker, "n2", &l1);
  BrokerCluster::PeerPresenceJoin(broker, "n2", &l1, "room.q", {"n2.a", "ada", ""});
  BrokerCluster::PeerPresenceEndReset(broker, "n2", &l1);
  BrokerCluster::PeerPresenceAdopt(broker, "n2", &l2);  // a newer link is up
  BrokerCluster::PeerPresenceLost(broker, "n2", &l1);   // the replaced one's end: nothing
  EXPECT_EQ(broker.Stats().presence_peer_members, 1u);
  BrokerCluster::PeerPresenceLost(broker, "n2", &l2);  // it died before its reset
  EXPECT_EQ(broker.Stats().presence_peer_members, 0u);
  EXPECT_EQ(broker.Stats().presence_topics, 0u);
  EXPECT_EQ(broker.Stats().presence_bytes, 0u);
}

}  // namespace
}  // namespace herald
