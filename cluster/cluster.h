// cluster/cluster.h — this node's membership in a cluster of broker nodes.
//
// A Cluster attaches to the process's Broker as its ClusterHook and keeps a
// full mesh of peer links (peer_link.h) to the other members:
//   - membership: seeds and gossip (Members frames) name the nodes; the node
//     whose id sorts first dials each pair; heartbeats and gRPC keep-alive
//     detect a dead peer within peer_timeout; dials back off with jitter;
//   - interest: local subscriptions, as (pattern, queue group) increments,
//     become subscriptions of a peer-link sink on every other node, so a
//     message crosses a link only when the far side wants it;
//   - ownership: each topic's owner (rendezvous hashing over live members)
//     sequences it and keeps its history; other nodes forward publishes to
//     it, fetch history from it, and deliver what it sends to their own
//     subscribers only (one hop).
//
//   herald::cluster::Cluster cluster(broker, options);
//   if (Status s = cluster.Start(); !s.ok()) ...;  // before any front starts
//   ...
//   cluster.Stop();  // after the fronts stopped publishing
//
// Threads: gRPC's callback threads read links; one thread of the cluster's
// own drains peer deliveries and runs heartbeats, timeouts and dials.
#pragma once

#include <grpcpp/grpcpp.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "broker/broker_cluster.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_link.h"
#include "cluster/peer_tls.h"
#include "herald/broker.h"
#include "herald/cluster_options.h"

namespace herald::cluster {

struct LinkStats {
  std::string peer_id;
  std::string address;
  std::string direction;  // "dialed" | "accepted"
  std::string state;      // "handshake" | "up" | "closed"
  uint64_t messages_in = 0, messages_out = 0;
  uint64_t bytes_in = 0, bytes_out = 0;
  uint64_t frames_in = 0, frames_out = 0;
  size_t queue_frames = 0, queue_bytes = 0;
  uint64_t reconnects = 0;  // times a link to this peer came up again
  double up_seconds = 0;
};

struct MemberStats {
  std::string node_id;
  std::string address;
  bool live = false;
  bool self = false;
  std::string last_error;  // why the last link to it ended or was refused
};

struct ClusterStats {
  std::string node_id;
  std::string cluster_name;
  std::string address;
  uint64_t membership_generation = 0;
  std::vector<MemberStats> members;
  std::vector<LinkStats> links;
  uint64_t forwards = 0, forward_failures = 0;
  uint64_t history_fetches = 0, history_failures = 0;
  uint64_t replies_routed = 0;
  uint64_t links_refused = 0;  // incoming, every reason
  // Incoming links refused, by reason (label, count), every reason listed.
  std::vector<std::pair<std::string, uint64_t>> refused_by_reason;
  // Nodes this one dialled that did not prove the cluster secret (a
  // listener posing as a member, or one with another secret).
  uint64_t dialed_unproven = 0;
  uint64_t members_ignored = 0;  // malformed, or over max_members
};

class Cluster final : public ClusterHook {
 public:
  Cluster(Broker& broker, ClusterOptions options);
  ~Cluster() override;  // Stop()
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Listens for peers, attaches to the broker and starts dialling the seeds.
  Status Start();
  // Closes every link, detaches from the broker and joins the thread.
  void Stop();

  uint16_t port() const { return port_; }
  const std::string& node_id() const { return node_id_; }
  const std::string& address() const { return advertise_; }
  const ClusterOptions& options() const { return options_; }
  ClusterStats Stats() const;
  // Live members (node ids, this one included), sorted.
  std::vector<std::string> LiveMembers() const;

  // ClusterHook.
  uint64_t membership_generation() const override {
    return generation_.load(std::memory_order_acquire);
  }
  std::string OwnerOf(std::string_view topic) const override;
  void Forward(const std::string& owner, MessagePtr message, PublishCallback done) override;
  bool RouteReply(std::string_view node, MessagePtr reply) override;
  void FetchHistory(const std::string& owner, const std::string& topic, uint64_t epoch,
                    uint64_t after_offset, HistoryCallback done) override;
  void InterestChanged(const std::string& pattern, const std::string& queue_group,
                       bool added) override;

  // From links and the peer service.
  void OnFrame(PeerLink& link, pb::PeerFrame& frame);
  void OnLinkDone(std::shared_ptr<PeerLink> link);
  void ReactorStarted();
  void ReactorFinished();
  grpc::ServerBidiReactor<pb::LinkBatch, pb::LinkBatch>* Accept(grpc::CallbackServerContext* ctx);

 private:
  using Clock = std::chrono::steady_clock;
  struct Dialer {
    std::string address;
    std::string known_id;  // learned at a handshake or from gossip
    std::shared_ptr<PeerLink> attempt;
    // One channel per address for the cluster's life: gRPC 1.51 shares one
    // completion queue among callback channels by reference count, and
    // channels created and destroyed per attempt on several threads race on
    // it (a double free seen under ASan). Channels go only in Stop().
    std::shared_ptr<grpc::Channel> channel;
    int failures = 0;
    bool parked = false;  // the peer dials us (or refused us): retry slowly
    Clock::time_point next{};
  };
  struct Pending {
    std::string peer;
    Clock::time_point deadline;
    PublishCallback on_ack;      // a forward
    HistoryCallback on_history;  // a history fetch
    // History paging.
    std::string topic;
    ResumeResult collected;
  };
  struct KnownMember {
    std::string address;
    std::string last_error;
    Clock::time_point heard{};  // last linked, or first named
  };

  void Run();
  void Tick(Clock::time_point now);
  std::pair<std::shared_ptr<DialedLink>, pb::PeerFrame> PrepareDial(Dialer& d);
  Clock::duration Backoff(int failures);
  void LearnMember(const std::string& id, const std::string& address);
  void IgnoreMember(const std::string& why);
  // mu_ held. Room for one more member once max_members are known: the one
  // not linked for longest is forgotten (with its dialer, unless a seed).
  // False when every known member is linked.
  bool MakeRoomLocked();
  pb::PeerFrame MembersFrame() const;
  pb::PeerFrame MembersFrameLocked() const;
  void GossipMembers();
  void LinkUp(const std::shared_ptr<PeerLink>& link, const std::string& address);
  void RebuildLiveLocked();
  std::shared_ptr<PeerLink> UpLink(std::string_view id) const;
  void FailPending(const std::string& peer, const Status& why);
  uint64_t AddPending(Pending p);
  std::optional<Pending> TakePending(uint64_t id);
  // The question `id` answered by `from`: a forward's result, or (history)
  // a history page. Nothing when `from` was not asked or the kinds differ.
  std::optional<Pending> TakeAnswered(uint64_t id, const PeerLink& from, bool history);

  // Frame handlers (cluster_frames.cc).
  void OnHello(PeerLink& link, pb::Hello& hello);
  void OnChallenge(PeerLink& link, const pb::Challenge& challenge);
  void OnProof(PeerLink& link, const pb::Proof& proof);
  void OnWelcome(PeerLink& link, pb::Welcome& welcome);
  void OnRefuse(PeerLink& link, const pb::Refuse& refuse);
  void OnInterest(PeerLink& link, pb::InterestUpdate& update);
  void OnForward(PeerLink& link, pb::Forward& forward);
  void OnForwardResult(PeerLink& link, const pb::ForwardResult& result);
  void OnDelivery(PeerLink& link, pb::Delivery& delivery);
  void OnHistoryRequest(PeerLink& link, const pb::HistoryRequest& request);
  void OnHistory(PeerLink& link, pb::HistoryResponse& response);
  void OnReply(pb::Reply& reply);
  // Refuses an incoming link: code UNSPECIFIED is a protocol error.
  void Refuse(PeerLink& link, pb::Refuse::Code code, std::string reason);
  Transcript TranscriptOf(const PeerLink& link) const;

  Broker& broker_;
  const ClusterOptions options_;
  const std::string node_id_;
  std::string advertise_;
  uint16_t port_ = 0;

  PeerCredentials creds_;  // plaintext or mutual TLS (peer_tls.h)
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpc::Server> server_;

  // Registry: links that are up, by peer id; every member ever heard of;
  // the dialers, by address.
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<PeerLink>, std::less<>> links_;
  std::map<std::string, KnownMember> known_;
  std::map<std::string, Dialer> dialers_;
  std::map<std::string, uint64_t> ups_;  // link-ups per peer id
  std::set<std::shared_ptr<PeerLink>> handshaking_;
  bool stopping_ = false;

  mutable std::mutex live_mu_;
  std::shared_ptr<const std::vector<std::string>> live_;
  std::atomic<uint64_t> generation_{1};

  // Local interest (refcounted) and the links it is announced on.
  std::mutex interest_mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> interest_;
  std::vector<std::shared_ptr<PeerLink>> announced_;

  std::mutex pending_mu_;
  uint64_t next_pending_ = 0;
  std::map<uint64_t, Pending> pending_;

  // The cluster thread: peer deliveries and the periodic tick.
  std::shared_ptr<Inbox> inbox_;
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool inbox_ready_ = false;
  bool run_stop_ = false;
  Clock::time_point last_beat_{};  // cluster thread only
  std::thread thread_;

  std::mutex reactors_mu_;
  std::condition_variable reactors_cv_;
  int reactors_ = 0;

  std::atomic<uint64_t> forwards_{0}, forward_failures_{0};
  std::atomic<uint64_t> history_fetches_{0}, history_failures_{0};
  std::atomic<uint64_t> replies_routed_{0}, members_ignored_{0};
  // By pb::Refuse::Code (0: protocol error).
  std::array<std::atomic<uint64_t>, 8> refused_{};
  std::atomic<uint64_t> dialed_unproven_{0};
  bool attached_ = false;
};

}  // namespace herald::cluster
