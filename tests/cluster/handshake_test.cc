// The peer handshake driven frame by frame against a real Cluster: a test
// link stands for the gRPC stream, so what the node writes can be read and
// what a stranger sends can be exact.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "cluster/cluster.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_link.h"

namespace herald::cluster {
namespace {

const std::string kSecret = "handshake-test-secret-0123456789";

class TestLink final : public PeerLink {
 public:
  explicit TestLink(Cluster& c) : PeerLink(c, Side::kAccepted, "127.0.0.1:1") {}

  void Feed(std::vector<pb::PeerFrame> frames) {
    pb::LinkBatch b;
    for (auto& f : frames) *b.add_frames() = std::move(f);
    HandleRead(b);
    for (;;) {  // completes writes, one at a time as gRPC does
      {
        std::lock_guard lock(mu_);
        if (!writing_) break;
        writing_ = false;
      }
      HandleWriteDone(true);
    }
  }
  std::vector<pb::PeerFrame> written() {
    std::lock_guard lock(mu_);
    return written_;
  }
  void Done() { HandleDone(); }

 private:
  void StartWriteBatch(const pb::LinkBatch* batch) override {
    std::lock_guard lock(mu_);
    for (const auto& f : batch->frames()) written_.push_back(f);
    writing_ = true;
  }
  void EndStream() override {}
  std::mutex mu_;
  bool writing_ = false;
  std::vector<pb::PeerFrame> written_;
};

struct Node {
  Node()
      : broker(BrokerOptions{.node_id = "n5"}), cluster(broker, [] {
          ClusterOptions o;
          o.listen = "127.0.0.1:0";
          o.secret = kSecret;
          return o;
        }()) {
    EXPECT_TRUE(cluster.Start().ok());
  }
  uint64_t Refused(const std::string& reason) {
    for (const auto& [r, n] : cluster.Stats().refused_by_reason) {
      if (r == reason) return n;
    }
    return 0;
  }
  Broker broker;
  Cluster cluster;
};

pb::PeerFrame Hello(const std::string& id, const std::string& nonce) {
  pb::PeerFrame f;
  pb::Hello* h = f.mutable_hello();
  h->set_protocol_version(kProtocolVersion);
  h->set_cluster_name("herald");
  h->set_node_id(id);
  h->set_address("127.0.0.1:9");
  h->set_nonce(nonce);
  return f;
}

pb::PeerFrame Proof(std::string mac) {
  pb::PeerFrame f;
  f.mutable_proof()->set_mac(std::move(mac));
  return f;
}

bool Knows(Node& n, const std::string& id) {
  for (const MemberStats& m : n.cluster.Stats().members) {
    if (m.node_id == id) return true;
  }
  return false;
}

TEST(PeerHandshake, AStrangerGetsOneGuessAndIsNeverLearned) {
  Node n;
  auto link = std::make_shared<TestLink>(n.cluster);
  const std::string nonce(kNonceBytes, 'd');
  link->Feed({Hello("n1", nonce)});
  std::vector<pb::PeerFrame> out = link->written();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].has_challenge());
  EXPECT_EQ(out[0].challenge().node_id(), "n5");
  EXPECT_EQ(out[0].challenge().nonce().size(), kNonceBytes);
  EXPECT_FALSE(Knows(n, "n1"));  // the hello alone teaches nothing
  std::vector<pb::PeerFrame> guesses;
  for (char c = 'a'; c < 'a' + 8; ++c) guesses.push_back(Proof(std::string(32, c)));
  link->Feed(std::move(guesses));
  out = link->written();
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[1].has_refuse());
  EXPECT_EQ(out[1].refuse().code(), pb::Refuse::SECRET);
  EXPECT_EQ(n.Refused("secret"), 1u);  // eight guesses in one batch: one counted, seven dropped
  EXPECT_EQ(n.Refused("protocol"), 0u);
  EXPECT_FALSE(Knows(n, "n1"));
  link->Done();
  for (const auto& f : out) EXPECT_EQ(f.SerializeAsString().find(kSecret), std::string::npos);
}

TEST(PeerHandshake, TheRightProofIsAnsweredWithTheAcceptorsProof) {
  Node n;
  auto link = std::make_shared<TestLink>(n.cluster);
  const std::string nonce(kNonceBytes, 'd');
  link->Feed({Hello("n1", nonce)});
  const pb::Challenge c = link->written().at(0).challenge();
  const Transcript t{"herald", "n1", "127.0.0.1:9", "n5", nonce, c.nonce()};
  link->Feed({Proof(PeerProof(kSecret, Prover::kDialer, t))});
  std::vector<pb::PeerFrame> out = link->written();
  ASSERT_GE(out.size(), 2u);
  ASSERT_TRUE(out[1].has_welcome()) << out[1].DebugString();
  EXPECT_TRUE(ProofMatches(kSecret, Prover::kAcceptor, t, out[1].welcome().mac()));
  EXPECT_EQ(link->state(), PeerLink::State::kUp);
  EXPECT_TRUE(Knows(n, "n1"));
  for (const auto& f : out) EXPECT_EQ(f.SerializeAsString().find(kSecret), std::string::npos);
  link->Close("test over");
  link->Done();
}

TEST(PeerHandshake, FramesOutOfTurnEndTheHandshake) {
  Node n;
  auto early = std::make_shared<TestLink>(n.cluster);
  early->Feed({Proof(std::string(32, 'p'))});  // a proof before any hello
  EXPECT_EQ(n.Refused("protocol"), 1u);
  early->Done();
  auto old = std::make_shared<TestLink>(n.cluster);
  pb::PeerFrame v1 = Hello("n1", std::string(kNonceBytes, 'd'));
  v1.mutable_hello()->set_protocol_version(1);
  old->Feed({std::move(v1)});
  EXPECT_EQ(n.Refused("version"), 1u);
  old->Done();
  auto short_nonce = std::make_shared<TestLink>(n.cluster);
  short_nonce->Feed({Hello("n1", "short")});
  EXPECT_EQ(n.Refused("protocol"), 2u);
  short_nonce->Done();
}

}  // namespace
}  // namespace herald::cluster
