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
//
// The parts, each with its own lock:
//   membership.h     members, links, gossip and the live list (and, under
//                    the same lock, dialers.h: dialing and backoff);
//   pending_calls.h  forwards and history fetches waiting for the owner;
//   interest_sync.h  local interest out to peers, peers' interest in;
//   presence_sync.h  local presence members out to peers, peers' members in;
//   cluster_frames.cc what each frame means, the handshake included.
// This class is the lifecycle and the wiring between them.
#pragma once

#include <grpcpp/grpcpp.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/broker_cluster.h"
#include "cluster/admin_calls.h"
#include "cluster/cluster_stats.h"
#include "cluster/interest_sync.h"
#include "cluster/membership.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_link.h"
#include "cluster/peer_tls.h"
#include "cluster/pending_calls.h"
#include "cluster/presence_sync.h"
#include "herald/broker.h"
#include "herald/cluster_options.h"

namespace herald::cluster {

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
  uint64_t membership_generation() const override { return members_.generation(); }
  std::string OwnerOf(std::string_view topic) const override;
  void Forward(const std::string& owner, MessagePtr message, PublishCallback done) override;
  bool RouteReply(std::string_view node, MessagePtr reply) override;
  void FetchHistory(const std::string& owner, const std::string& topic, uint64_t epoch,
                    uint64_t after_offset, HistoryCallback done) override;
  bool InterestChanged(const std::string& pattern, const std::string& queue_group,
                       bool added) override;
  void PresenceChanged(const std::string& topic, const PresenceMember& member,
                       bool joined) override;
  void Admin(const AdminCall& call, const std::string& node, AdminCallback done) override;

  // From links and the peer service.
  void OnFrame(PeerLink& link, pb::PeerFrame& frame);
  void OnLinkDone(std::shared_ptr<PeerLink> link);
  void ReactorStarted();
  void ReactorFinished();
  grpc::ServerBidiReactor<pb::LinkBatch, pb::LinkBatch>* Accept(grpc::CallbackServerContext* ctx);

 private:
  using Clock = std::chrono::steady_clock;

  void Run();
  void Tick(Clock::time_point now);
  // The wiring of a link's life: membership, interest, the broker's view
  // of the peer's topics, pending calls and gossip.
  void LinkUp(const std::shared_ptr<PeerLink>& link, const std::string& address);

  // Frame handlers (cluster_frames.cc); interest and answers go straight
  // to interest_ and calls_.
  void OnHello(PeerLink& link, pb::Hello& hello);
  void OnChallenge(PeerLink& link, const pb::Challenge& challenge);
  void OnProof(PeerLink& link, const pb::Proof& proof);
  void OnWelcome(PeerLink& link, pb::Welcome& welcome);
  void OnRefuse(PeerLink& link, const pb::Refuse& refuse);
  void OnForward(PeerLink& link, pb::Forward& forward);
  void OnDelivery(PeerLink& link, pb::Delivery& delivery);
  void OnHistoryRequest(PeerLink& link, const pb::HistoryRequest& request);
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

  Membership members_;
  PendingCalls calls_;
  InterestSync interest_;
  PresenceSync presence_;
  AdminCalls admin_;

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

  std::atomic<uint64_t> replies_routed_{0};
  // By pb::Refuse::Code (0: protocol error).
  std::array<std::atomic<uint64_t>, 8> refused_{};
  std::atomic<uint64_t> dialed_unproven_{0};
  std::atomic<uint64_t> link_overflows_{0};  // links closed at max_link_queue_bytes
  bool attached_ = false;
};

}  // namespace herald::cluster
