// The Cluster's lifecycle and wiring: Start/Stop, the cluster thread and
// its tick, a link's life (up and down) across the parts, and the
// ClusterHook calls the broker makes. Frame handling is in cluster_frames.cc.
#include "cluster/cluster.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "base/thread_name.h"
#include "cluster/rendezvous.h"

namespace herald::cluster {
namespace {

// The peer service: every incoming Link call becomes an AcceptedLink.
class PeerService final : public pb::Peer::CallbackService {
 public:
  explicit PeerService(Cluster& cluster) : cluster_(cluster) {}
  grpc::ServerBidiReactor<pb::LinkBatch, pb::LinkBatch>* Link(
      grpc::CallbackServerContext* ctx) override {
    return cluster_.Accept(ctx);
  }

 private:
  Cluster& cluster_;
};

}  // namespace

Cluster::Cluster(Broker& broker, ClusterOptions options)
    : broker_(broker),
      options_(std::move(options)),
      node_id_(broker.options().node_id),
      members_(*this, options_, node_id_),
      calls_(options_),
      interest_(broker),
      presence_(broker),
      admin_(broker, options_) {}

Cluster::~Cluster() { Stop(); }

Status Cluster::Start() {
  if (server_) return Status(ErrorCode::kInvalidArgument, "cluster already started");
  if (node_id_.empty() || node_id_.find('.') != std::string::npos) {
    return Status(ErrorCode::kInvalidArgument,
                  "node id '" + node_id_ + "' must be non-empty and contain no '.'");
  }
  if (Status s = BrokerCluster::QueuesClusterable(broker_); !s.ok()) return s;
  // The embedder's clients are not known here: what a library user gets is
  // the loopback rule (heraldd adds the [auth] one, server.cc).
  if (Status s = CheckPeerAuthPolicy(options_, /*clients_authenticated=*/false); !s.ok()) {
    return s;
  }
  Result<PeerCredentials> creds = MakePeerCredentials(options_);
  if (!creds.ok()) return creds.status();
  creds_ = std::move(*creds);
  service_ = std::make_unique<PeerService>(*this);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, creds_.server, &port);
  builder.RegisterService(service_.get());
  const int max = static_cast<int>(std::min<size_t>(options_.max_batch_bytes, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max);
  builder.SetMaxSendMessageSize(max);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(options_.heartbeat_interval.count() * 2));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(options_.peer_timeout.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             static_cast<int>(options_.heartbeat_interval.count()));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    service_.reset();
    return Status(ErrorCode::kUnavailable,
                  options_.listen + ": cannot listen for peer links (address in use or invalid)");
  }
  port_ = static_cast<uint16_t>(port);
  advertise_ = options_.advertise;
  if (advertise_.empty()) {
    const std::string& l = options_.listen;
    advertise_ = l.substr(0, l.rfind(':')) + ":" + std::to_string(port_);
  } else if (advertise_.ends_with(":0")) {
    advertise_ = advertise_.substr(0, advertise_.size() - 1) + std::to_string(port_);
  }

  inbox_ = broker_.CreateInbox([this] {
    {
      std::lock_guard lock(run_mu_);
      inbox_ready_ = true;
    }
    run_cv_.notify_one();
  });
  // Interest present before the cluster existed is announced like any other.
  for (LocalInterest& li : BrokerCluster::Attach(broker_, this, inbox_)) {
    InterestChanged(li.pattern, li.queue_group, true);
  }
  attached_ = true;
  members_.Start(creds_.channel, advertise_);
  thread_ = std::thread([this] {
    NameThisThread("herald-cluster");
    Run();
  });
  const char* auth =
      creds_.tls ? (options_.secret.empty() ? " (mutual TLS)" : " (mutual TLS and shared secret)")
      : options_.secret.empty() ? " (plaintext, peers not authenticated: loopback only)"
                                : " (plaintext, peers prove the shared secret)";
  spdlog::info("cluster: {}", "node '" + node_id_ + "' of cluster '" + options_.name +
                                  "' listening for peers on " + advertise_ + auth);
  return Status::Ok();
}

void Cluster::Stop() {
  if (!server_) return;
  members_.Stop();  // no more links are taken
  // The cluster thread first: once it is joined no dial can be starting
  // while the links below are closed (a link closed in the middle of its
  // Begin() would release a hold it never took).
  {
    std::lock_guard lock(run_mu_);
    run_stop_ = true;
  }
  run_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<PeerLink>> all = members_.AllLinks();
  for (auto& link : all) link->Close("this node is shutting down");
  all.clear();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  {
    std::unique_lock lock(reactors_mu_);
    // blocking-ok: Stop, on the controlling thread, waits for reactors to end
    reactors_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return reactors_ == 0; });
  }
  server_->Wait();
  if (attached_) BrokerCluster::Detach(broker_);
  attached_ = false;
  calls_.FailPeer("", Status(ErrorCode::kUnavailable, "the cluster is shutting down"));
  admin_.FailPeer("");
  members_.Clear();
  interest_.Clear();
  presence_.Clear();
  server_.reset();
  service_.reset();
}

// --- The cluster thread ------------------------------------------------------------

void Cluster::Run() {
  const auto tick =
      std::min<Clock::duration>(options_.heartbeat_interval / 2, std::chrono::milliseconds(100));
  Clock::time_point next_tick = Clock::now();
  for (;;) {
    {
      std::unique_lock lock(run_mu_);
      // blocking-ok: the cluster thread's own tick, not a reactor
      run_cv_.wait_until(lock, next_tick, [this] { return run_stop_ || inbox_ready_; });
      if (run_stop_) break;
      inbox_ready_ = false;
    }
    inbox_->Drain();
    const Clock::time_point now = Clock::now();
    if (now >= next_tick) {
      Tick(now);
      next_tick = now + tick;
    }
  }
}

void Cluster::Tick(Clock::time_point now) {
  Membership::Due due = members_.Tick(now);
  if (due.stopping) return;
  // Started outside the registry's lock: a dial that fails at once reports
  // back (OnLinkDone) on this very thread.
  for (auto& [link, hello] : due.dials) link->Begin(std::move(hello));
  for (auto& link : due.overflowed) {
    if (link->FirstOverflowReport()) link_overflows_.fetch_add(1, std::memory_order_relaxed);
    link->Close("the peer is not keeping up: over " +
                std::to_string(options_.max_link_queue_bytes) + " bytes queued");
  }
  for (auto& link : due.silent) {
    link->Close("no frame from the peer for " + std::to_string(options_.peer_timeout.count()) +
                " ms");
  }
  // Heartbeats (every tick is at most heartbeat_interval / 2 apart; sending
  // one per tick keeps the arithmetic simple and the cost negligible).
  if (now - last_beat_ >= options_.heartbeat_interval) {
    last_beat_ = now;
    pb::PeerFrame beat;
    beat.mutable_heartbeat()->set_sent_us(
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count());
    for (auto& link : due.up) link->Send(beat);
  }
  calls_.Expire(now);
  admin_.Expire(now);
}

// --- A link's life -------------------------------------------------------------------

grpc::ServerBidiReactor<pb::LinkBatch, pb::LinkBatch>* Cluster::Accept(
    grpc::CallbackServerContext* ctx) {
  auto link = std::make_shared<AcceptedLink>(*this, ctx->peer());
  const bool taken = members_.AddHandshaking(link);
  link->Begin();
  if (!taken) link->Close("this node is shutting down");
  return link.get();
}

void Cluster::ReactorStarted() {
  std::lock_guard lock(reactors_mu_);
  ++reactors_;
}

void Cluster::ReactorFinished() {
  std::lock_guard lock(reactors_mu_);
  if (--reactors_ == 0) reactors_cv_.notify_all();
}

void Cluster::LinkUp(const std::shared_ptr<PeerLink>& link, const std::string& address) {
  const std::string& id = link->peer_id();
  const Membership::Up up = members_.LinkUp(link, address);
  if (!up.ok) return;
  if (up.replaced) up.replaced->Close("replaced by a newer link from the same node");
  interest_.Announce(link);
  presence_.Announce(link);
  admin_.Announce(link);
  spdlog::info("cluster: {}",
               "link to node '" + id + "' (" + address + ") is up" + (up.ups > 1 ? " again" : ""));
  // While it could not see this node, the peer may have numbered topics this
  // node owns: those it would own itself without this node. Subscribers here
  // missed what it numbered, so each such topic's next message brings them a
  // gap. (The peer's own subscribers see the epoch change by themselves.)
  std::vector<std::string> others = members_.Live();
  std::erase(others, node_id_);
  BrokerCluster::SuspectOwned(
      broker_, [&](std::string_view topic) { return RendezvousOwner(topic, others) == id; });
  members_.Gossip();
}

void Cluster::OnLinkDone(std::shared_ptr<PeerLink> link) {
  const std::string id = link->peer_id();
  const std::string reason = link->close_reason();
  const bool was_current = members_.LinkDown(link, reason);
  // Whether it was the peer's current link or one a newer link replaced, its
  // interest goes (the reader is done: OnDone follows every reaction).
  interest_.Forget(link);
  presence_.Forget(link);
  if (!link->was_up()) return;
  // Frames queued on the link died with it, even when a newer link to the
  // same peer replaced it: subscribers of the peer's topics get a gap.
  BrokerCluster::PeerLost(broker_, id);
  if (!was_current) return;  // replaced: the peer is still a member
  presence_.Lost(*link);     // its members leave (a new link's reset brings them back)
  calls_.FailPeer(id, Status(ErrorCode::kUnavailable, "the link to node '" + id + "' was lost"));
  admin_.FailPeer(id);
  spdlog::warn("cluster: {}", "link to node '" + id + "' is down: " + reason);
  members_.Gossip();
}

// --- ClusterHook ---------------------------------------------------------------------

std::vector<std::string> Cluster::LiveMembers() const { return members_.Live(); }

std::string Cluster::OwnerOf(std::string_view topic) const { return members_.OwnerOf(topic); }

void Cluster::Forward(const std::string& owner, MessagePtr message, PublishCallback done) {
  calls_.Forward(members_.UpLink(owner), owner, message, std::move(done));
}

bool Cluster::RouteReply(std::string_view node, MessagePtr reply) {
  std::shared_ptr<PeerLink> link = members_.UpLink(node);
  if (!link) return false;
  pb::PeerFrame f;
  ToReply(*reply, f.mutable_reply());
  if (!link->Send(std::move(f))) return false;
  replies_routed_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Cluster::FetchHistory(const std::string& owner, const std::string& topic, uint64_t epoch,
                           uint64_t after_offset, HistoryCallback done) {
  calls_.FetchHistory(members_.UpLink(owner), owner, topic, epoch, after_offset, std::move(done));
}

bool Cluster::InterestChanged(const std::string& pattern, const std::string& queue_group,
                              bool added) {
  return interest_.Changed(pattern, queue_group, added);
}

void Cluster::PresenceChanged(const std::string& topic, const PresenceMember& member, bool joined) {
  presence_.Changed(topic, member, joined);
}

void Cluster::Admin(const AdminCall& call, const std::string& node, AdminCallback done) {
  // The nodes a call is for: the one a client id names, or every live
  // peer. One that cannot take it (no link, or too old to speak "admin")
  // is unreached.
  std::vector<std::string> nodes;
  if (!node.empty()) {
    nodes.push_back(node);
  } else {
    for (std::string& id : members_.Live()) {
      if (id != node_id_) nodes.push_back(std::move(id));
    }
  }
  std::vector<std::shared_ptr<PeerLink>> links;
  std::vector<std::string> missing;
  for (const std::string& id : nodes) {
    std::shared_ptr<PeerLink> link = members_.UpLink(id);
    if (link && link->speaks(kAdminFeature)) {
      links.push_back(std::move(link));
    } else {
      missing.push_back(id);
    }
  }
  admin_.Send(links, call, "",
              [missing = std::move(missing), done = std::move(done)](AdminResult r) {
                for (const std::string& id : missing) r.unreached.push_back(id);
                done(std::move(r));
              });
}

// --- Stats -------------------------------------------------------------------------------

ClusterStats Cluster::Stats() const {
  ClusterStats s;
  s.node_id = node_id_;
  s.cluster_name = options_.name;
  s.address = advertise_;
  s.membership_generation = membership_generation();
  s.forwards = calls_.forwards();
  s.admin_calls = admin_.sent();
  s.admin_unreached = admin_.unreached();
  s.forward_failures = calls_.forward_failures();
  s.history_fetches = calls_.history_fetches();
  s.history_failures = calls_.history_failures();
  s.replies_routed = replies_routed_.load(std::memory_order_relaxed);
  static const char* const kReasons[] = {"protocol",  "version",   "cluster_name", "secret",
                                         "same_node", "dial_back", "node_id",      "address"};
  static_assert(std::size(kReasons) == std::tuple_size_v<decltype(refused_)>);
  for (size_t i = 0; i < refused_.size(); ++i) {
    const uint64_t n = refused_[i].load(std::memory_order_relaxed);
    s.refused_by_reason.emplace_back(kReasons[i], n);
    s.links_refused += n;
  }
  s.dialed_unproven = dialed_unproven_.load(std::memory_order_relaxed);
  s.link_overflows = link_overflows_.load(std::memory_order_relaxed);
  s.members_ignored = members_.ignored();
  members_.FillStats(s);
  return s;
}

}  // namespace herald::cluster
