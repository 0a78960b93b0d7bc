#include "peer_fuzz_target.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>
#include <atomic>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/cluster.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_link.h"
#include "fuzz_records.h"
#include "herald/broker.h"
#include "herald/topic.h"
#include "quiet_logs.h"

namespace herald::fuzz {
namespace {

using cluster::PeerLink;
namespace pb = cluster::pb;

constexpr std::string_view kPeerId = "fuzz-peer";  // sorts before the node: it is accepted
constexpr std::string_view kSecret = "fuzz-cluster-secret";

// One node for the whole run, as a real node meets one peer after another.
// Never destroyed: libFuzzer exits without tearing down gRPC.
struct Node {
  Node()
      : broker(BrokerOptions{.node_id = "zz-node",
                             .max_payload_bytes = 4096,
                             .max_topics = 4096,
                             .max_history_bytes = 1u << 20}),
        cluster(broker, [] {
          ClusterOptions o;
          o.listen = "127.0.0.1:0";
          o.name = "fuzz";
          o.secret = std::string(kSecret);
          o.forward_timeout = std::chrono::milliseconds(500);
          o.max_link_queue_bytes = 1u << 20;
          o.max_members = 16;
          return o;
        }()) {
    if (Status s = cluster.Start(); !s.ok()) {
      std::fprintf(stderr, "peer fuzz: %s\n", s.message().c_str());
      std::abort();
    }
  }
  Broker broker;
  cluster::Cluster cluster;
};

Node& TheNode() {
  static Node* node = (QuietLogs(), new Node());
  return *node;
}

bool Broken(const std::string& rule) {
  std::fprintf(stderr, "peer fuzz: %s\n", rule.c_str());
  return false;
}

// A peer link whose stream is this harness: reads are fed in, writes are
// collected (the ids of the node's questions) and completed by Pump().
class FuzzLink final : public PeerLink {
 public:
  explicit FuzzLink(cluster::Cluster& c) : PeerLink(c, Side::kAccepted, "127.0.0.1:1") {}

  void Feed(pb::LinkBatch& batch) {
    for (const pb::PeerFrame& f : batch.frames()) {
      if (f.has_hello() && !hello_) {
        hello_ = true;
        dialer_id_ = f.hello().node_id();
        dialer_address_ = f.hello().address();
        dialer_nonce_ = f.hello().nonce();
      }
    }
    HandleRead(batch);
  }
  bool hello_fed() const { return hello_; }
  // The proof the node's challenge asks for (empty before a challenge).
  std::string Proof(std::string_view secret) {
    std::lock_guard lock(mu_);
    if (acceptor_nonce_.empty()) return {};
    return cluster::PeerProof(secret, cluster::Prover::kDialer,
                              {.cluster_name = "fuzz",
                               .dialer_id = dialer_id_,
                               .dialer_address = dialer_address_,
                               .acceptor_id = acceptor_id_,
                               .dialer_nonce = dialer_nonce_,
                               .acceptor_nonce = acceptor_nonce_});
  }
  void Done() { HandleDone(); }
  bool ended() const { return ended_.load(); }

  // Completes writes in flight (one at a time, as gRPC does) until none is.
  void Pump() {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (!writing_) return;
        writing_ = false;
      }
      HandleWriteDone(true);
    }
  }

  // The id of one of the node's questions, chosen by `pick`; `pick` as is
  // when none was asked.
  uint64_t Question(uint64_t pick) {
    std::lock_guard lock(mu_);
    return asked_.empty() ? pick : asked_[pick % asked_.size()];
  }

 private:
  void StartWriteBatch(const pb::LinkBatch* batch) override {
    std::lock_guard lock(mu_);
    for (const pb::PeerFrame& f : batch->frames()) {
      if (f.has_forward() && f.forward().id() != 0) asked_.push_back(f.forward().id());
      if (f.has_history_request()) asked_.push_back(f.history_request().id());
      if (f.has_challenge()) {
        acceptor_id_ = f.challenge().node_id();
        acceptor_nonce_ = f.challenge().nonce();
      }
    }
    writing_ = true;
  }
  void EndStream() override { ended_ = true; }

  std::mutex mu_;
  bool writing_ = false;
  std::vector<uint64_t> asked_;
  std::atomic<bool> ended_{false};
  // The handshake, for the proof: the first hello fed, the challenge seen.
  bool hello_ = false;  // the feeding thread only
  std::string dialer_id_, dialer_address_, dialer_nonce_;
  std::string acceptor_id_, acceptor_nonce_;
};

void SanitizeAddress(std::string* address) {
  if (address->empty()) return;
  bool dialable = address->find(':') != std::string::npos;
  for (char c : *address) {
    dialable =
        dialable && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '.' || c == ':' || c == '-' || c == '[' || c == ']');
  }
  // Anything that could reach a host becomes a closed loopback port; the
  // rest stays, for the node to refuse.
  if (dialable) *address = "127.0.0.1:" + std::to_string(1 + address->size() % 3);
}

void Sanitize(pb::LinkBatch& batch, FuzzLink& link, bool point_answers) {
  for (pb::PeerFrame& f : *batch.mutable_frames()) {
    if (f.has_hello()) SanitizeAddress(f.mutable_hello()->mutable_address());
    auto members = f.has_welcome()   ? f.mutable_welcome()->mutable_members()
                   : f.has_members() ? f.mutable_members()->mutable_members()
                                     : nullptr;
    if (members) {
      for (pb::Member& m : *members) SanitizeAddress(m.mutable_address());
    }
    if (!point_answers) continue;
    // A proof is the answer to the node's challenge: made right, so the
    // fuzzer gets past the handshake with hellos of its own.
    if (f.has_proof()) f.mutable_proof()->set_mac(link.Proof(kSecret));
    if (f.has_forward_result()) {
      f.mutable_forward_result()->set_id(link.Question(f.forward_result().id()));
    }
    if (f.has_history()) f.mutable_history()->set_id(link.Question(f.history().id()));
  }
}

// The handshake of a peer that knows the secret: hello, the node's
// challenge, the proof.
void Handshake(FuzzLink& link) {
  pb::LinkBatch b;
  pb::Hello* h = b.add_frames()->mutable_hello();
  h->set_protocol_version(cluster::kProtocolVersion);
  h->set_cluster_name("fuzz");
  h->set_node_id(std::string(kPeerId));
  h->set_address("127.0.0.1:1");
  h->set_nonce(std::string(cluster::kNonceBytes, 'n'));
  link.Feed(b);
  link.Pump();
  pb::LinkBatch p;
  p.add_frames()->mutable_proof()->set_mac(link.Proof(kSecret));
  link.Feed(p);
  link.Pump();
}

// What the node's own clients see while the peer talks.
struct Local {
  std::atomic<int> acks_expected{0};
  std::atomic<int> acks{0};
  std::atomic<bool> twice{false};
  std::atomic<bool> mismatched{false};
  std::vector<uint64_t> subscriptions;
};

// Local clients ask for what the peer owns: forwards and history fetches.
void AskThePeer(Node& n, const std::shared_ptr<Local>& local) {
  static const char* const kTopics[] = {"t.0", "t.1", "t.2", "t.3", "t.4", "t.5"};
  for (const char* topic : kTopics) {
    if (n.cluster.OwnerOf(topic) != kPeerId) continue;
    local->acks_expected.fetch_add(1);
    auto once = std::make_shared<std::atomic<bool>>(false);
    n.broker.PublishAsync(topic, "x", {}, [local, once](Result<PublishAck>) {
      if (once->exchange(true)) local->twice = true;
      local->acks.fetch_add(1);
    });
    SubscribeOptions o;
    o.resume.push_back({topic, 1, 0});
    Result<uint64_t> sub = n.broker.Subscribe(
        topic,
        [local, t = std::string(topic)](const Delivery& d) {
          if (d.kind == Delivery::Kind::kMessage && d.message->topic != t) local->mismatched = true;
        },
        std::move(o));
    if (sub.ok()) local->subscriptions.push_back(*sub);
  }
  // A queue-group member, for deliveries the peer addresses to a group.
  Result<uint64_t> sub = n.broker.Subscribe(
      "t.*",
      [local](const Delivery& d) {
        if (d.kind == Delivery::Kind::kMessage && !PatternMatches("t.*", d.message->topic)) {
          local->mismatched = true;
        }
      },
      SubscribeOptions{.queue_group = "g"});
  if (sub.ok()) local->subscriptions.push_back(*sub);
}

template <typename Pred>
bool Within(std::chrono::milliseconds limit, Pred&& pred) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace

bool FuzzPeer(const uint8_t* data, size_t size) {
  Node& n = TheNode();
  std::vector<Record> records = SplitRecords(data, size);
  auto link = std::make_shared<FuzzLink>(n.cluster);
  auto local = std::make_shared<Local>();
  bool asked = false;
  for (size_t i = 0; i < records.size() && !link->ended(); ++i) {
    pb::LinkBatch batch;
    if (!batch.ParseFromArray(records[i].bytes.data(), static_cast<int>(records[i].bytes.size()))) {
      continue;
    }
    if (!link->hello_fed() && (batch.frames_size() == 0 || !batch.frames(0).has_hello())) {
      Handshake(*link);
    }
    if (!asked && link->state() == PeerLink::State::kUp) {
      asked = true;
      AskThePeer(n, local);
      link->Pump();
    }
    Sanitize(batch, *link, records[i].kind % 2 == 1);
    link->Feed(batch);
    link->Pump();
  }
  link->Close("the fuzz input ended");
  link->Done();
  for (uint64_t sub : local->subscriptions) n.broker.Unsubscribe(sub);

  bool ok = true;
  if (!Within(std::chrono::seconds(5), [&] { return local->acks >= local->acks_expected; })) {
    ok = Broken("a publish forwarded to the peer was never answered");
  }
  if (local->twice) ok = Broken("a forwarded publish was answered twice");
  if (local->mismatched) ok = Broken("a subscriber got a message its pattern does not match");
  if (!Within(std::chrono::seconds(5), [&] {
        const BrokerStats s = n.broker.Stats();
        return s.subscriptions == 0 && s.peer_subscriptions == 0;
      })) {
    ok = Broken("the peer's interest outlived its link");
  }
  const size_t members = n.cluster.Stats().members.size();
  if (members > n.cluster.options().max_members + 1) {
    ok = Broken("the node counts " + std::to_string(members) + " members");
  }
  if (!Within(std::chrono::seconds(5), [&] { return n.cluster.LiveMembers().size() == 1; })) {
    ok = Broken("the peer is still live after its link ended");
  }
  if (!n.broker.Publish("local.check", "x").ok()) ok = Broken("the node no longer publishes");
  return ok;
}

}  // namespace herald::fuzz
