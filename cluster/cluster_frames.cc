// What each frame on a peer link means: the handshake, then forwarded
// publishes, sequenced deliveries, history requests and replies served
// here; interest goes to InterestSync, answers to PendingCalls, members to
// Membership. Frames of one link are handled one at a time, in order
// (gRPC reads).
#include <spdlog/spdlog.h>

#include "cluster/cluster.h"
#include "cluster/member_names.h"
#include "cluster/peer_auth.h"
#include "herald/topic.h"

namespace herald::cluster {
namespace {

// History answers are paged so one frame stays far below the batch limit.
constexpr size_t kHistoryPage = 1000;
constexpr TopicLimits kAnyLength{.max_length = SIZE_MAX, .max_tokens = SIZE_MAX};

// The 1st, 2nd, 4th, 8th… time: a stranger dialling in a loop must not
// flood the log.
bool WorthLogging(uint64_t n) { return (n & (n - 1)) == 0; }

PublishOptions OptionsOf(auto& frame) {
  PublishOptions o;
  o.content_type = std::move(*frame.mutable_content_type());
  o.reply_to = std::move(*frame.mutable_reply_to());
  o.msg_id = std::move(*frame.mutable_msg_id());
  for (auto& h : *frame.mutable_headers()) {
    o.headers.push_back({std::move(*h.mutable_name()), std::move(*h.mutable_value())});
  }
  return o;
}

}  // namespace

void Cluster::OnFrame(PeerLink& link, pb::PeerFrame& frame) {
  using K = pb::PeerFrame::KindCase;
  if (link.state() == PeerLink::State::kHandshake) {
    // Each handshake frame in its turn (peer.proto); anything else ends it.
    // Once it failed, the rest of the batch is dropped: one stream gets one
    // guess at the secret.
    PeerLink::Handshake& hs = link.handshake;
    if (hs.ended) return;
    const bool accepted = link.side() == PeerLink::Side::kAccepted;
    switch (frame.kind_case()) {
      case K::kHello:
        if (accepted && !hs.hello_answered) return OnHello(link, *frame.mutable_hello());
        break;
      case K::kProof:
        if (accepted && hs.hello_answered) return OnProof(link, frame.proof());
        break;
      case K::kChallenge:
        if (!accepted && !hs.challenged) return OnChallenge(link, frame.challenge());
        break;
      case K::kWelcome:
        if (!accepted && hs.challenged) return OnWelcome(link, *frame.mutable_welcome());
        break;
      case K::kRefuse:
        if (!accepted) return OnRefuse(link, frame.refuse());
        break;
      default:
        break;
    }
    hs.ended = true;
    if (accepted) refused_[pb::Refuse::UNSPECIFIED].fetch_add(1, std::memory_order_relaxed);
    link.Close("protocol error: a handshake frame out of turn");
    return;
  }
  switch (frame.kind_case()) {
    case K::kInterest:
      return interest_.Apply(link, *frame.mutable_interest());
    case K::kForward:
      return OnForward(link, *frame.mutable_forward());
    case K::kForwardResult:
      return calls_.OnForwardResult(link, frame.forward_result());
    case K::kDelivery:
      return OnDelivery(link, *frame.mutable_delivery());
    case K::kHistoryRequest:
      return OnHistoryRequest(link, frame.history_request());
    case K::kHistory:
      return calls_.OnHistory(link, *frame.mutable_history());
    case K::kReply:
      return OnReply(*frame.mutable_reply());
    case K::kHeartbeat:
      return;  // its arrival is the point (PeerLink records it)
    case K::kMembers:
      for (const pb::Member& m : frame.members().members())
        members_.Learn(m.node_id(), m.address());
      return;
    case K::kPresence:
      return presence_.Apply(link, frame.presence());
    case K::kAdminCall:
      return admin_.Apply(link, frame.admin_call());
    case K::kAdminResult:
      return admin_.OnResult(link, *frame.mutable_admin_result());
    default:
      link.Close("protocol error: unexpected frame after the handshake");
  }
}

void Cluster::Refuse(PeerLink& link, pb::Refuse::Code code, std::string reason) {
  link.handshake.ended = true;
  refused_[static_cast<size_t>(code) < refused_.size() ? code : 0].fetch_add(
      1, std::memory_order_relaxed);
  pb::PeerFrame f;
  pb::Refuse* r = f.mutable_refuse();
  r->set_code(code);
  r->set_reason(reason);
  r->set_node_id(node_id_);
  link.Send(std::move(f));
  link.Close("refused: " + reason, /*flush=*/true);
}

Transcript Cluster::TranscriptOf(const PeerLink& link) const {
  const PeerLink::Handshake& hs = link.handshake;
  return Transcript{.cluster_name = options_.name,
                    .dialer_id = hs.dialer_id,
                    .dialer_address = hs.dialer_address,
                    .acceptor_id = hs.acceptor_id,
                    .dialer_nonce = hs.dialer_nonce,
                    .acceptor_nonce = hs.acceptor_nonce};
}

// Acceptor: what can be checked without the secret, then a challenge.
// Nothing the hello says is believed (learned, dialled) before the proof.
void Cluster::OnHello(PeerLink& link, pb::Hello& hello) {
  const std::string& id = hello.node_id();
  if (hello.protocol_version() != kProtocolVersion) {
    return Refuse(link, pb::Refuse::VERSION,
                  "protocol version " + std::to_string(hello.protocol_version()) +
                      " is not supported (this node speaks " + std::to_string(kProtocolVersion) +
                      ")");
  }
  if (hello.cluster_name() != options_.name) {
    return Refuse(
        link, pb::Refuse::CLUSTER_NAME,
        "this node belongs to cluster '" + options_.name + "', not '" + hello.cluster_name() + "'");
  }
  if (!IsValidNodeId(id)) {
    return Refuse(link, pb::Refuse::BAD_NODE_ID, "invalid node id '" + id + "'");
  }
  if (!hello.address().empty() && !IsValidPeerAddress(hello.address())) {
    return Refuse(link, pb::Refuse::BAD_ADDRESS,
                  "invalid address '" + hello.address() + "' (host:port expected)");
  }
  if (id == node_id_) {
    return Refuse(link, pb::Refuse::SAME_NODE, "node id '" + id + "' is this node's own id");
  }
  if (hello.nonce().size() != kNonceBytes) {
    return Refuse(
        link, pb::Refuse::UNSPECIFIED,
        "protocol error: the hello's nonce is not " + std::to_string(kNonceBytes) + " bytes");
  }
  std::string nonce = NewNonce();
  if (nonce.empty()) {
    link.handshake.ended = true;
    return link.Close("no random bytes for a challenge (OpenSSL RAND_bytes)");
  }
  PeerLink::Handshake& hs = link.handshake;
  hs.hello_answered = true;
  hs.dialer_id = id;
  hs.dialer_address = std::move(*hello.mutable_address());
  hs.dialer_nonce = std::move(*hello.mutable_nonce());
  // Kept small (believed only once the proof checks).
  for (const std::string& f : hello.features()) {
    if (hs.peer_features.size() < 16 && f.size() <= 32) hs.peer_features.push_back(f);
  }
  hs.acceptor_id = node_id_;
  hs.acceptor_nonce = nonce;
  pb::PeerFrame f;
  pb::Challenge* c = f.mutable_challenge();
  c->set_node_id(node_id_);
  c->set_nonce(std::move(nonce));
  link.Send(std::move(f));
}

// Dialler: the acceptor's nonce; our proof first, so a listener posing as a
// member learns nothing it could use on another link.
void Cluster::OnChallenge(PeerLink& link, const pb::Challenge& challenge) {
  const std::string& id = challenge.node_id();
  if (!IsValidNodeId(id) || id == node_id_ || challenge.nonce().size() != kNonceBytes) {
    link.handshake.ended = true;
    return link.Close("the peer at " + link.address() + " sent a malformed challenge (node id '" +
                      id + "')");
  }
  PeerLink::Handshake& hs = link.handshake;
  hs.challenged = true;
  hs.acceptor_id = id;
  hs.acceptor_nonce = challenge.nonce();
  pb::PeerFrame f;
  f.mutable_proof()->set_mac(PeerProof(options_.secret, Prover::kDialer, TranscriptOf(link)));
  link.Send(std::move(f));
}

// Acceptor: the dialler proved the secret; from here it is a member.
void Cluster::OnProof(PeerLink& link, const pb::Proof& proof) {
  if (!ProofMatches(options_.secret, Prover::kDialer, TranscriptOf(link), proof.mac())) {
    const uint64_t n = refused_[pb::Refuse::SECRET].load(std::memory_order_relaxed) + 1;
    if (WorthLogging(n)) {
      spdlog::warn(
          "cluster: refused a peer from {}: wrong shared secret (its proof does not check; {} "
          "so far)",
          link.address(), n);
    }
    return Refuse(link, pb::Refuse::SECRET, "wrong or missing cluster secret");
  }
  const std::string id = link.handshake.dialer_id;
  const std::string address = link.handshake.dialer_address;
  members_.Learn(id, address);
  if (id > node_id_) {
    // One link per pair, dialled by the smaller id: that is us.
    return Refuse(link, pb::Refuse::DIAL_BACK, "node '" + node_id_ + "' dials node '" + id + "'");
  }
  link.set_peer_id(id);
  link.set_peer_features(std::move(link.handshake.peer_features));
  pb::PeerFrame f;
  pb::Welcome* w = f.mutable_welcome();
  w->set_node_id(node_id_);
  w->add_features(std::string(kPresenceFeature));
  w->add_features(std::string(kAdminFeature));
  w->set_mac(PeerProof(options_.secret, Prover::kAcceptor, TranscriptOf(link)));
  *w->mutable_members() = members_.MembersFrame().members().members();
  link.Send(std::move(f));
  LinkUp(link.shared_from_this(), address);
}

void Cluster::OnWelcome(PeerLink& link, pb::Welcome& welcome) {
  const PeerLink::Handshake& hs = link.handshake;
  if (welcome.node_id() != hs.acceptor_id ||
      !ProofMatches(options_.secret, Prover::kAcceptor, TranscriptOf(link), welcome.mac())) {
    const uint64_t n = dialed_unproven_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (WorthLogging(n)) {
      spdlog::error("cluster: the peer at {} does not know the cluster secret ({} so far)",
                    link.address(), n);
    }
    link.handshake.ended = true;
    return link.Close("the peer at " + link.address() + " does not know the cluster secret");
  }
  const std::string id = hs.acceptor_id;
  link.set_peer_id(id);
  std::vector<std::string> features;
  for (const std::string& f : welcome.features()) {
    if (features.size() < 16 && f.size() <= 32) features.push_back(f);
  }
  link.set_peer_features(std::move(features));
  for (const pb::Member& m : welcome.members()) members_.Learn(m.node_id(), m.address());
  LinkUp(link.shared_from_this(), link.address());
}

void Cluster::OnRefuse(PeerLink& link, const pb::Refuse& refuse) {
  link.handshake.ended = true;
  members_.Refused(link, refuse);
  if (refuse.code() != pb::Refuse::DIAL_BACK) {
    spdlog::error("cluster: {} refused the link: {}", link.address(), refuse.reason());
  }
  link.Close("refused: " + refuse.reason());
}

void Cluster::OnForward(PeerLink& link, pb::Forward& forward) {
  const uint64_t id = forward.id();
  link.CountMessageIn();
  // The answer may come later, from the history store's thread (Send is
  // safe from any thread); a link gone meanwhile gets none, as its peer
  // fails the forward when the link drops.
  PublishCallback answer;
  if (id != 0) {
    answer = [id, weak = link.weak_from_this()](Result<PublishAck> ack) {
      std::shared_ptr<PeerLink> link = weak.lock();
      if (!link) return;
      pb::PeerFrame f;
      pb::ForwardResult* r = f.mutable_forward_result();
      r->set_id(id);
      if (ack.ok()) {
        r->set_epoch(ack->epoch);
        r->set_offset(ack->offset);
        if (ack->duplicate) r->set_duplicate(true);
      } else {
        r->set_error_code(std::string(ErrorCodeName(ack.status().code())));
        r->set_error_message(ack.status().message());
      }
      link->Send(std::move(f));
    };
  } else {
    answer = [](Result<PublishAck>) {};
  }
  BrokerCluster::PublishOwned(broker_, std::move(*forward.mutable_topic()),
                              std::move(*forward.mutable_payload()), OptionsOf(forward),
                              std::move(answer));
}

void Cluster::OnDelivery(PeerLink& link, pb::Delivery& delivery) {
  link.CountMessageIn();
  // Only a concrete topic can have been sequenced (lengths are the owner's
  // configuration, not this node's, so only the syntax is checked).
  if (!ValidateTopic(delivery.topic(), kAnyLength).ok()) {
    return link.Close("protocol error: a delivery for '" + delivery.topic() +
                      "', which is not a topic");
  }
  std::string pattern = std::move(*delivery.mutable_pattern());
  std::string group = std::move(*delivery.mutable_queue_group());
  BrokerCluster::DeliverRemote(broker_, FromDelivery(delivery), pattern, group);
}

void Cluster::OnHistoryRequest(PeerLink& link, const pb::HistoryRequest& request) {
  // The answer may come from the history store's reader thread (Send is
  // safe from any thread); a link gone meanwhile gets none.
  BrokerCluster::ResumeOwned(
      broker_, request.topic(), request.epoch(), request.after_offset(), kHistoryPage,
      [id = request.id(), weak = link.weak_from_this()](Result<ResumeResult> r) {
        std::shared_ptr<PeerLink> link = weak.lock();
        if (!link) return;
        pb::PeerFrame f;
        pb::HistoryResponse* h = f.mutable_history();
        h->set_id(id);
        if (!r.ok()) {
          h->set_error_code(std::string(ErrorCodeName(r.status().code())));
          h->set_error_message(r.status().message());
        } else {
          h->set_epoch(r->epoch);
          h->set_last_offset(r->last_offset);
          h->set_truncated(r->truncated && !r->messages.empty());
          if (r->gap) ToGap(*r->gap, h->mutable_gap());
          for (const MessagePtr& m : r->messages) ToDelivery(*m, h->add_messages());
        }
        link->Send(std::move(f));
      });
}

void Cluster::OnReply(pb::Reply& reply) { BrokerCluster::CompleteReply(broker_, FromReply(reply)); }

}  // namespace herald::cluster
