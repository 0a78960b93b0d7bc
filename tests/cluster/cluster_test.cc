// Three nodes in one process, each a Broker with a Cluster on loopback:
// membership, interest, ordering, queue groups, request/reply, resume and
// the loss of a node, end to end through real gRPC peer links.
#include "cluster/cluster.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "cluster/rendezvous.h"

namespace herald::cluster {
namespace {

using namespace std::chrono_literals;

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

struct Node {
  Node(const std::string& id, std::vector<std::string> seeds, const std::string& name = "test",
       const std::string& secret = "", size_t max_link_queue_bytes = 0) {
    BrokerOptions bo;
    bo.node_id = id;
    broker = std::make_unique<Broker>(bo);
    ClusterOptions co;
    co.listen = "127.0.0.1:0";
    co.seeds = std::move(seeds);
    co.name = name;
    co.secret = secret;
    co.heartbeat_interval = 100ms;
    co.peer_timeout = 600ms;
    co.reconnect_min = 20ms;
    co.reconnect_max = 300ms;
    co.forward_timeout = 2s;
    if (max_link_queue_bytes != 0) co.max_link_queue_bytes = max_link_queue_bytes;
    cluster = std::make_unique<Cluster>(*broker, co);
    Status s = cluster->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  ~Node() {
    cluster.reset();
    broker.reset();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(cluster->port()); }
  size_t live() const { return cluster->LiveMembers().size(); }

  std::unique_ptr<Broker> broker;
  std::unique_ptr<Cluster> cluster;
};

// Collects what a callback subscription receives (requests aside: the tests
// probe for interest with requests).
struct Received {
  std::mutex mu;
  std::vector<MessagePtr> messages;
  std::vector<Gap> gaps;

  DeliveryCallback Callback() {
    return [this](const Delivery& d) {
      std::lock_guard lock(mu);
      if (d.kind == Delivery::Kind::kMessage) {
        if (!d.message->reply_to.empty()) return;
        messages.push_back(d.message);
      } else {
        gaps.push_back(*d.gap);
      }
    };
  }
  size_t size() {
    std::lock_guard lock(mu);
    return messages.size();
  }
  size_t gap_count() {
    std::lock_guard lock(mu);
    return gaps.size();
  }
  std::vector<std::string> Payloads() {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (auto& m : messages) out.push_back(m->payload);
    return out;
  }
};

class ClusterTest : public ::testing::Test {
 protected:
  void StartThree() {
    n1 = std::make_unique<Node>("n1", std::vector<std::string>{});
    n2 = std::make_unique<Node>("n2", std::vector<std::string>{n1->address()});
    n3 = std::make_unique<Node>("n3", std::vector<std::string>{n2->address()});
    ASSERT_TRUE(WaitFor([&] { return n1->live() == 3 && n2->live() == 3 && n3->live() == 3; }))
        << n1->live() << " " << n2->live() << " " << n3->live();
  }
  // Interest travels asynchronously: wait until `node` forwards `topic`'s
  // traffic to `count` subscribers' nodes. Probing with a request is the
  // simplest observable: no responders until the interest arrived.
  static void WaitInterest(Node& from, const std::string& topic) {
    ASSERT_TRUE(WaitFor([&] {
      Result<MessagePtr> r = from.broker->RequestSync(topic, "", 50ms);
      return r.status().code() != ErrorCode::kNoResponders;
    }));
  }
  // A topic the given node owns among all three.
  static std::string TopicOwnedBy(const std::string& node, const std::string& prefix) {
    for (int i = 0;; ++i) {
      std::string t = prefix + std::to_string(i);
      if (RendezvousOwner(t, {"n1", "n2", "n3"}) == node) return t;
    }
  }

  std::unique_ptr<Node> n1, n2, n3;
};

TEST_F(ClusterTest, FullMeshFormsFromAChainOfSeeds) {
  StartThree();
  for (Node* n : {n1.get(), n2.get(), n3.get()}) {
    EXPECT_EQ(n->cluster->LiveMembers(), (std::vector<std::string>{"n1", "n2", "n3"}));
    EXPECT_EQ(n->cluster->Stats().links.size(), 2u);
  }
}

TEST_F(ClusterTest, EveryNodeSeesOneTopicInOneOrderWhoeverPublishes) {
  StartThree();
  Received r1, r2, r3;
  ASSERT_TRUE(n1->broker->Subscribe("chat.room", r1.Callback()).ok());
  ASSERT_TRUE(n2->broker->Subscribe("chat.room", r2.Callback()).ok());
  ASSERT_TRUE(n3->broker->Subscribe("chat.>", r3.Callback()).ok());
  for (Node* n : {n1.get(), n2.get(), n3.get()}) WaitInterest(*n, "chat.room");
  std::vector<std::thread> publishers;
  for (Node* n : {n1.get(), n2.get(), n3.get()}) {
    publishers.emplace_back([n] {
      for (int i = 0; i < 200; ++i) {
        Result<PublishAck> a =
            n->broker->Publish("chat.room", n->cluster->node_id() + "-" + std::to_string(i));
        ASSERT_TRUE(a.ok()) << a.status().ToString();
        ASSERT_NE(a->offset, 0u);
      }
    });
  }
  for (auto& t : publishers) t.join();
  ASSERT_TRUE(WaitFor([&] { return r1.size() == 600 && r2.size() == 600 && r3.size() == 600; }))
      << r1.size() << " " << r2.size() << " " << r3.size();
  EXPECT_EQ(r1.Payloads(), r2.Payloads());
  EXPECT_EQ(r1.Payloads(), r3.Payloads());
  EXPECT_EQ(r1.gap_count() + r2.gap_count() + r3.gap_count(), 0u);
  // One numbering: the owner's epoch, offsets contiguous.
  std::lock_guard lock(r3.mu);
  for (size_t i = 1; i < r3.messages.size(); ++i) {
    EXPECT_EQ(r3.messages[i]->epoch, r3.messages[0]->epoch);
    EXPECT_EQ(r3.messages[i]->offset, r3.messages[i - 1]->offset + 1);
  }
}

TEST_F(ClusterTest, AForwardedPublishIsAcknowledgedWithTheOwnersNumbering) {
  StartThree();
  const std::string topic = TopicOwnedBy("n3", "ack.");
  Received r3;
  ASSERT_TRUE(n3->broker->Subscribe(topic, r3.Callback()).ok());
  Result<PublishAck> a = n1->broker->Publish(topic, "x");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return r3.size() == 1; }));
  std::lock_guard lock(r3.mu);
  EXPECT_EQ(r3.messages[0]->epoch, a->epoch);
  EXPECT_EQ(r3.messages[0]->offset, a->offset);
  EXPECT_GE(n1->cluster->Stats().forwards, 1u);
}

TEST_F(ClusterTest, AMessageCrossesALinkOnlyWhenTheFarSideWantsIt) {
  StartThree();
  const std::string topic = TopicOwnedBy("n1", "quiet.");
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(n1->broker->Publish(topic, "x").ok());
  for (const LinkStats& l : n1->cluster->Stats().links) EXPECT_EQ(l.messages_out, 0u) << l.peer_id;
  Received r2;
  ASSERT_TRUE(n2->broker->Subscribe(topic, r2.Callback()).ok());
  WaitInterest(*n1, topic);
  std::map<std::string, uint64_t> before;  // the interest probes crossed too
  for (const LinkStats& l : n1->cluster->Stats().links) before[l.peer_id] = l.messages_out;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(n1->broker->Publish(topic, "y").ok());
  ASSERT_TRUE(WaitFor([&] { return r2.size() == 10; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(r2.size(), 10u);
  for (const LinkStats& l : n1->cluster->Stats().links) {
    EXPECT_EQ(l.messages_out - before[l.peer_id], l.peer_id == "n2" ? 10u : 0u) << l.peer_id;
  }
}

TEST_F(ClusterTest, OverlappingPatternsOfOneNodeCarryAMessageAcrossOnce) {
  StartThree();
  const std::string topic = TopicOwnedBy("n1", "a.b.");
  Received plain, star, full;
  ASSERT_TRUE(n2->broker->Subscribe(topic, plain.Callback()).ok());
  ASSERT_TRUE(n2->broker->Subscribe("a.b.*", star.Callback()).ok());
  ASSERT_TRUE(n2->broker->Subscribe("a.>", full.Callback()).ok());
  WaitInterest(*n1, topic);
  // The probes' deliveries drained: the link's count holds still for 100 ms
  // (a fixed pause was too short on a loaded sanitizer build).
  std::map<std::string, uint64_t> before;
  auto sample = [&] {
    std::map<std::string, uint64_t> now;
    for (const LinkStats& l : n1->cluster->Stats().links) now[l.peer_id] = l.messages_out;
    return now;
  };
  for (int i = 0; i < 50; ++i) {
    std::map<std::string, uint64_t> now = sample();
    if (i > 0 && now == before) break;
    before = std::move(now);
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(n1->broker->Publish(topic, "once").ok());
  ASSERT_TRUE(WaitFor([&] { return plain.size() == 1 && star.size() == 1 && full.size() == 1; }));
  for (const LinkStats& l : n1->cluster->Stats().links) {
    if (l.peer_id == "n2") {
      EXPECT_EQ(l.messages_out - before[l.peer_id], 1u);
    }
  }
}

TEST_F(ClusterTest, AQueueGroupGetsEachMessageOnceAcrossNodes) {
  StartThree();
  Received w1, w3a, w3b;
  SubscribeOptions group;
  group.queue_group = "workers";
  ASSERT_TRUE(n1->broker->Subscribe("jobs.*", w1.Callback(), group).ok());
  ASSERT_TRUE(n3->broker->Subscribe("jobs.*", w3a.Callback(), group).ok());
  ASSERT_TRUE(n3->broker->Subscribe("jobs.*", w3b.Callback(), group).ok());
  // Group interest of every node reached every other node.
  for (Node* n : {n1.get(), n2.get(), n3.get()}) {
    ASSERT_TRUE(WaitFor([&] {
      int probes = 0;
      for (int i = 0; i < 3; ++i) {
        probes += n->broker->RequestSync("jobs.probe", "", 20ms).status().code() !=
                  ErrorCode::kNoResponders;
      }
      return probes == 3;
    }));
  }
  std::this_thread::sleep_for(100ms);
  const size_t before = w1.size() + w3a.size() + w3b.size();
  constexpr int kJobs = 300;
  for (int i = 0; i < kJobs; ++i) {
    Node& publisher = i % 3 == 0 ? *n1 : i % 3 == 1 ? *n2 : *n3;
    ASSERT_TRUE(publisher.broker->Publish("jobs." + std::to_string(i % 7), std::to_string(i)).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return w1.size() + w3a.size() + w3b.size() == before + kJobs; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(w1.size() + w3a.size() + w3b.size(), before + kJobs);
  std::map<std::string, int> seen;
  for (Received* w : {&w1, &w3a, &w3b}) {
    for (const std::string& p : w->Payloads()) ++seen[p];
  }
  for (int i = 0; i < kJobs; ++i) EXPECT_EQ(seen[std::to_string(i)], 1) << i;
  EXPECT_GT(w1.size(), 0u);
  EXPECT_GT(w3a.size() + w3b.size(), 0u);
}

TEST_F(ClusterTest, ARequestOnOneNodeIsAnsweredByAResponderOnAnother) {
  StartThree();
  ASSERT_TRUE(n3->broker
                  ->Subscribe("judge.run",
                              [b = n3->broker.get()](const Delivery& d) {
                                if (d.kind != Delivery::Kind::kMessage) return;
                                (void)b->Reply(d.message->reply_to, "ok:" + d.message->payload);
                              })
                  .ok());
  WaitInterest(*n1, "judge.run");
  Result<MessagePtr> reply = n1->broker->RequestSync("judge.run", "print(1)", 2s);
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_EQ((*reply)->payload, "ok:print(1)");
  // Counted once the reply is queued on the link, which may be after n1 has
  // it (the link's own thread sends it).
  EXPECT_TRUE(WaitFor([&] { return n3->cluster->Stats().replies_routed >= 1; }));
}

TEST_F(ClusterTest, NoRespondersAnywhereIsTheSameErrorAsOnOneNode) {
  StartThree();
  Result<MessagePtr> r = n2->broker->RequestSync("nobody.home", "?", 1s);
  EXPECT_EQ(r.status().code(), ErrorCode::kNoResponders);
}

TEST_F(ClusterTest, AResumeOnANonOwnerReplaysTheOwnersHistoryWithoutLossOrDuplicate) {
  StartThree();
  const std::string topic = TopicOwnedBy("n1", "feed.");
  uint64_t epoch = 0;
  for (int i = 1; i <= 20; ++i) {
    Result<PublishAck> a = n1->broker->Publish(topic, std::to_string(i));
    ASSERT_TRUE(a.ok());
    epoch = a->epoch;
  }
  // A client that saw 1..7 comes back on n2 while publishing goes on.
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 21; i <= 120 && !stop; ++i) {
      ASSERT_TRUE(n1->broker->Publish(topic, std::to_string(i)).ok());
      if (i % 10 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  Received r;
  SubscribeOptions o;
  o.resume.push_back({topic, epoch, 7});
  ASSERT_TRUE(n2->broker->Subscribe(topic, r.Callback(), o).ok());
  publisher.join();
  ASSERT_TRUE(WaitFor([&] { return r.size() == 113; })) << r.size();
  std::this_thread::sleep_for(50ms);
  std::vector<std::string> want;
  for (int i = 8; i <= 120; ++i) want.push_back(std::to_string(i));
  EXPECT_EQ(r.Payloads(), want);
  EXPECT_EQ(r.gap_count(), 0u);
  EXPECT_GE(n2->cluster->Stats().history_fetches, 1u);
}

TEST_F(ClusterTest, AResumeFromALostEpochOnANonOwnerIsAnExplicitGap) {
  StartThree();
  const std::string topic = TopicOwnedBy("n3", "feed.");
  ASSERT_TRUE(n3->broker->Publish(topic, "a").ok());
  Received r;
  SubscribeOptions o;
  o.resume.push_back({topic, 12345, 9});  // an epoch the owner never had
  ASSERT_TRUE(n1->broker->Subscribe(topic, r.Callback(), o).ok());
  ASSERT_TRUE(WaitFor([&] { return r.gap_count() == 1 && r.size() == 1; }));
  std::lock_guard lock(r.mu);
  EXPECT_EQ(r.gaps[0].reason, GapReason::kEpochChanged);
  EXPECT_EQ(r.messages[0]->payload, "a");
}

TEST_F(ClusterTest, WhenTheOwnerDiesItsTopicsMoveAndSubscribersAreToldWithAGap) {
  StartThree();
  const std::string topic = TopicOwnedBy("n3", "orders.");
  const std::string survivor_topic = TopicOwnedBy("n1", "orders.");
  Received on1, on1_survivor;
  ASSERT_TRUE(n1->broker->Subscribe(topic, on1.Callback()).ok());
  ASSERT_TRUE(n1->broker->Subscribe(survivor_topic, on1_survivor.Callback()).ok());
  WaitInterest(*n3, topic);
  WaitInterest(*n2, survivor_topic);
  Result<PublishAck> before = n2->broker->Publish(topic, "before");
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(n2->broker->Publish(survivor_topic, "s1").ok());
  ASSERT_TRUE(WaitFor([&] { return on1.size() == 1 && on1_survivor.size() == 1; }));

  n3.reset();  // the owner leaves
  ASSERT_TRUE(WaitFor([&] { return n1->live() == 2 && n2->live() == 2; }));
  Result<PublishAck> after = n2->broker->Publish(topic, "after");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_NE(after->epoch, before->epoch);
  ASSERT_TRUE(n2->broker->Publish(survivor_topic, "s2").ok());
  ASSERT_TRUE(WaitFor([&] { return on1.size() == 2 && on1_survivor.size() == 2; }));
  // The moved topic: a gap before the new epoch's first message.
  EXPECT_EQ(on1.gap_count(), 1u);
  {
    std::lock_guard lock(on1.mu);
    EXPECT_EQ(on1.gaps[0].reason, GapReason::kEpochChanged);
    EXPECT_EQ(on1.messages[1]->epoch, after->epoch);
  }
  // The survivor's topic: nothing lost, no gap.
  EXPECT_EQ(on1_survivor.gap_count(), 0u);
  EXPECT_EQ(on1_survivor.Payloads(), (std::vector<std::string>{"s1", "s2"}));
}

TEST_F(ClusterTest, ARestartedNodeRejoinsAndTrafficFlowsAgain) {
  StartThree();
  const std::string n1_address = n1->address();
  n3.reset();
  ASSERT_TRUE(WaitFor([&] { return n1->live() == 2; }));
  n3 = std::make_unique<Node>("n3", std::vector<std::string>{n1_address});
  ASSERT_TRUE(WaitFor([&] { return n1->live() == 3 && n2->live() == 3 && n3->live() == 3; }));
  Received r;
  ASSERT_TRUE(n3->broker->Subscribe("back.>", r.Callback()).ok());
  WaitInterest(*n2, "back.x");
  ASSERT_TRUE(n2->broker->Publish("back.x", "hi").ok());
  ASSERT_TRUE(WaitFor([&] { return r.size() == 1; }));
}

TEST(ClusterHandshake, ANodeOfAnotherClusterIsRefusedWithTheReason) {
  Node a("a", {}, "blue");
  Node b("b", {a.address()}, "green");
  ASSERT_TRUE(WaitFor([&] {
    for (const MemberStats& m : b.cluster->Stats().members) {
      if (m.node_id == "a" && m.last_error.find("cluster 'blue'") != std::string::npos) return true;
    }
    return false;
  }));
  EXPECT_EQ(a.live(), 1u);
  EXPECT_EQ(b.live(), 1u);
  EXPECT_GE(a.cluster->Stats().links_refused, 1u);
}

TEST(ClusterHandshake, AWrongSecretIsRefused) {
  Node a("a", {}, "c", "right-secret-0123456789");
  Node b("b", {a.address()}, "c", "wrong-secret-0123456789");
  ASSERT_TRUE(WaitFor([&] { return a.cluster->Stats().links_refused >= 1; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(a.live(), 1u);
  EXPECT_EQ(b.live(), 1u);
}

TEST(ClusterHandshake, TheSameSecretLinks) {
  Node a("a", {}, "c", "right-secret-0123456789");
  Node b("b", {a.address()}, "c", "right-secret-0123456789");
  ASSERT_TRUE(WaitFor([&] { return a.live() == 2 && b.live() == 2; }));
}

// A link whose queue passes max_link_queue_bytes is closed by the next tick
// (the peer is not keeping up) and counted. 16 KiB pass the handshake and
// the heartbeats; a forwarded 64 KiB publish does not.
TEST(ClusterLinks, ALinkOverMaxLinkQueueBytesIsClosedAndCounted) {
  Node a("a", {});
  Node b("b", {a.address()}, "test", "", /*max_link_queue_bytes=*/16 << 10);
  ASSERT_TRUE(WaitFor([&] { return a.live() == 2 && b.live() == 2; }));
  EXPECT_EQ(b.cluster->Stats().link_overflows, 0u);
  std::string topic;
  for (int i = 0; topic.empty(); ++i) {
    if (RendezvousOwner("big." + std::to_string(i), {"a", "b"}) == "a") {
      topic = "big." + std::to_string(i);
    }
  }
  b.broker->PublishAsync(topic, std::string(64 << 10, 'x'), {}, [](Result<PublishAck>) {});
  ASSERT_TRUE(WaitFor([&] { return b.cluster->Stats().link_overflows >= 1; }))
      << b.cluster->Stats().link_overflows;  // herald_cluster_link_overflows_total
  EXPECT_EQ(a.cluster->Stats().link_overflows, 0u);
}

// A broker holding work queues that are not in a store the nodes share
// does not join: each node would hold its own jobs.
TEST(ClusterStart, ABrokerWithWorkQueuesIsRefusedWithTheReason) {
  BrokerOptions bo;
  bo.node_id = "a";
  Broker broker(bo);
  QueueOptions q;
  q.name = "work";
  q.pattern = "jobs.>";
  ASSERT_TRUE(broker.CreateQueue(q).ok());
  ClusterOptions co;
  co.listen = "127.0.0.1:0";
  Cluster cluster(broker, co);
  Status s = cluster.Start();
  EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
  EXPECT_NE(s.message().find(
                "1 work queue(s) ('work'...), which a cluster can serve only from the Redis store"),
            std::string::npos)
      << s.message();
  ASSERT_TRUE(broker.DeleteQueue("work").ok());
  EXPECT_TRUE(cluster.Start().ok());
}

}  // namespace
}  // namespace herald::cluster
