// The Cluster's lifecycle, registry, dialing and tick, and the ClusterHook
// calls the broker makes. Frame handling is in cluster_frames.cc.
#include "cluster/cluster.h"
#include "cluster/member_names.h"
#include "cluster/peer_tls.h"

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>
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

// A forward that was sent but never answered may have been sequenced by the
// owner before the silence: the publisher is told "unknown", not "failed",
// so it does not retry into a duplicate without knowing it might.
Status OutcomeUnknown(const Status& why) {
  return Status(ErrorCode::kTimeout,
                why.message() + ": the publish may or may not have been sequenced by the owner");
}

grpc::ChannelArguments LinkChannelArgs(const ClusterOptions& o) {
  grpc::ChannelArguments args;
  const int max = static_cast<int>(std::min<size_t>(o.max_batch_bytes, INT32_MAX));
  args.SetMaxReceiveMessageSize(max);
  args.SetMaxSendMessageSize(max);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(o.heartbeat_interval.count() * 2));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(o.peer_timeout.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // A dialer reuses its channel: gRPC's own reconnect back-off must not
  // stretch ours beyond reconnect_max.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::min<int64_t>(o.reconnect_min.count(), 1000)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(std::min<int64_t>(o.reconnect_min.count(), 1000)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(o.reconnect_max.count()));
  return args;
}

}  // namespace

Cluster::Cluster(Broker& broker, ClusterOptions options)
    : broker_(broker),
      options_(std::move(options)),
      node_id_(broker.options().node_id),
      live_(std::make_shared<const std::vector<std::string>>(std::vector<std::string>{node_id_})) {}

Cluster::~Cluster() { Stop(); }

Status Cluster::Start() {
  if (server_) return Status(ErrorCode::kInvalidArgument, "cluster already started");
  if (node_id_.empty() || node_id_.find('.') != std::string::npos) {
    return Status(ErrorCode::kInvalidArgument,
                  "node id '" + node_id_ + "' must be non-empty and contain no '.'");
  }
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
  {
    std::lock_guard lock(mu_);
    for (const std::string& seed : options_.seeds) {
      if (seed == advertise_) continue;
      Dialer& d = dialers_[seed];
      d.address = seed;
    }
  }
  thread_ = std::thread([this] { Run(); });
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
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  // The cluster thread first: once it is joined no dial can be starting
  // while the links below are closed (a link closed in the middle of its
  // Begin() would release a hold it never took).
  {
    std::lock_guard lock(run_mu_);
    run_stop_ = true;
  }
  run_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<PeerLink>> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, link] : links_) all.push_back(link);
    for (auto& link : handshaking_) all.push_back(link);
    for (auto& [address, d] : dialers_) {
      if (d.attempt) all.push_back(d.attempt);
    }
  }
  for (auto& link : all) link->Close("this node is shutting down");
  all.clear();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  {
    std::unique_lock lock(reactors_mu_);
    reactors_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return reactors_ == 0; });
  }
  server_->Wait();
  if (attached_) BrokerCluster::Detach(broker_);
  attached_ = false;
  FailPending("", Status(ErrorCode::kUnavailable, "the cluster is shutting down"));
  {
    std::lock_guard lock(mu_);
    links_.clear();
    handshaking_.clear();
    dialers_.clear();
  }
  {
    std::lock_guard lock(interest_mu_);
    announced_.clear();
  }
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
  std::vector<std::shared_ptr<PeerLink>> up, silent, overflowed;
  std::vector<std::pair<std::shared_ptr<DialedLink>, pb::PeerFrame>> dials;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    for (auto& [id, link] : links_) {
      up.push_back(link);
      if (now - link->last_heard() > options_.peer_timeout) silent.push_back(link);
      if (link->overflowed()) overflowed.push_back(link);
    }
    for (auto& link : handshaking_) {
      if (now - link->created() > options_.peer_timeout) silent.push_back(link);
    }
    for (auto& [address, d] : dialers_) {
      if (d.attempt || now < d.next) continue;
      if (!d.known_id.empty() && links_.count(d.known_id)) continue;  // linked the other way
      dials.push_back(PrepareDial(d));
    }
  }
  // Started outside mu_: a dial that fails at once reports back (OnLinkDone)
  // on this very thread.
  for (auto& [link, hello] : dials) link->Begin(std::move(hello));
  for (auto& link : overflowed) {
    link->Close("the peer is not keeping up: over " +
                std::to_string(options_.max_link_queue_bytes) + " bytes queued");
  }
  for (auto& link : silent) {
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
    for (auto& link : up) link->Send(beat);
  }
  // Expired forwards and history fetches.
  std::vector<Pending> expired;
  {
    std::lock_guard lock(pending_mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Pending& p : expired) {
    Status s(ErrorCode::kUnavailable, "node '" + p.peer + "' did not answer within " +
                                          std::to_string(options_.forward_timeout.count()) + " ms");
    if (p.on_ack) {
      forward_failures_.fetch_add(1, std::memory_order_relaxed);
      p.on_ack(OutcomeUnknown(s));
    }
    if (p.on_history) {
      history_failures_.fetch_add(1, std::memory_order_relaxed);
      p.on_history(s);
    }
  }
}

Cluster::Clock::duration Cluster::Backoff(int failures) {
  // Full jitter: uniform in [0, min(max, min * 2^failures)], at least `min`/2.
  const auto cap = std::min<int64_t>(options_.reconnect_max.count(), options_.reconnect_min.count()
                                                                         << std::min(failures, 20));
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> pick(options_.reconnect_min.count() / 2,
                                              std::max<int64_t>(cap, 1));
  return std::chrono::milliseconds(pick(rng));
}

// mu_ held.
std::pair<std::shared_ptr<DialedLink>, pb::PeerFrame> Cluster::PrepareDial(Dialer& d) {
  if (!d.channel) {
    d.channel = grpc::CreateCustomChannel(d.address, creds_.channel, LinkChannelArgs(options_));
  }
  auto link = std::make_shared<DialedLink>(*this, d.address, d.channel);
  d.attempt = link;
  // The link is not started yet: its handshake state is ours to set.
  PeerLink::Handshake& hs = link->handshake;
  hs.dialer_id = node_id_;
  hs.dialer_address = advertise_;
  hs.dialer_nonce = NewNonce();  // empty if the CSPRNG failed: the peer refuses
  pb::PeerFrame hello;
  pb::Hello* h = hello.mutable_hello();
  h->set_protocol_version(kProtocolVersion);
  h->set_cluster_name(options_.name);
  h->set_node_id(node_id_);
  h->set_address(advertise_);
  h->set_nonce(hs.dialer_nonce);
  return {std::move(link), std::move(hello)};
}

// --- Registry ------------------------------------------------------------------------

grpc::ServerBidiReactor<pb::LinkBatch, pb::LinkBatch>* Cluster::Accept(
    grpc::CallbackServerContext* ctx) {
  auto link = std::make_shared<AcceptedLink>(*this, ctx->peer());
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
    if (!stopping) handshaking_.insert(link);
  }
  link->Begin();
  if (stopping) link->Close("this node is shutting down");
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

void Cluster::LearnMember(const std::string& id, const std::string& address) {
  if (id == node_id_ || address.empty() || address == advertise_) return;
  if (!IsValidNodeId(id) || !IsValidPeerAddress(address)) {
    return IgnoreMember("a malformed node id or address ('" + id + "' at '" + address + "')");
  }
  std::lock_guard lock(mu_);
  if (stopping_) return;
  auto known = known_.find(id);
  if (known == known_.end() && known_.size() >= options_.max_members && !MakeRoomLocked()) {
    return IgnoreMember("node '" + id + "': over max_members (" +
                        std::to_string(options_.max_members) + ")");
  }
  // Dialers too: one id gossiped at ever new addresses must not grow them.
  if (!dialers_.count(address) && dialers_.size() >= options_.max_members + options_.seeds.size()) {
    return IgnoreMember("address '" + address + "': over max_members (" +
                        std::to_string(options_.max_members) + ")");
  }
  KnownMember& k = known_[id];
  if (k.heard == Clock::time_point{}) k.heard = Clock::now();
  k.address = address;
  Dialer& d = dialers_[address];
  if (d.address.empty()) {
    d.address = address;
    // The pair's link is dialled by the smaller id: a larger one is dialled
    // now; a smaller one is only probed slowly (it will dial us once it
    // hears of us, which a probe makes sure of).
    if (id < node_id_) {
      d.parked = true;
      d.next = Clock::now() + options_.reconnect_max;
    }
  }
  d.known_id = id;
}

bool Cluster::MakeRoomLocked() {
  auto oldest = known_.end();
  for (auto it = known_.begin(); it != known_.end(); ++it) {
    if (links_.count(it->first)) continue;
    if (oldest == known_.end() || it->second.heard < oldest->second.heard) oldest = it;
  }
  if (oldest == known_.end()) return false;
  for (auto d = dialers_.begin(); d != dialers_.end();) {
    const bool seed =
        std::find(options_.seeds.begin(), options_.seeds.end(), d->first) != options_.seeds.end();
    if (d->second.known_id == oldest->first && !seed && !d->second.attempt) {
      d = dialers_.erase(d);
    } else {
      ++d;
    }
  }
  ups_.erase(oldest->first);
  known_.erase(oldest);
  return true;
}

void Cluster::IgnoreMember(const std::string& why) {
  // Logged at the 1st, 2nd, 4th, 8th… time: a peer repeating itself in
  // every gossip round must not flood the log.
  const uint64_t n = members_ignored_.fetch_add(1, std::memory_order_relaxed) + 1;
  if ((n & (n - 1)) == 0) {
    spdlog::warn("cluster: ignored a member named by a peer: {} ({} so far)", why, n);
  }
}

pb::PeerFrame Cluster::MembersFrame() const {
  std::lock_guard lock(mu_);
  return MembersFrameLocked();
}

pb::PeerFrame Cluster::MembersFrameLocked() const {
  pb::PeerFrame f;
  pb::Members* m = f.mutable_members();
  pb::Member* self = m->add_members();
  self->set_node_id(node_id_);
  self->set_address(advertise_);
  for (const auto& [id, link] : links_) {
    pb::Member* x = m->add_members();
    x->set_node_id(id);
    auto k = known_.find(id);
    x->set_address(k != known_.end() ? k->second.address : link->address());
  }
  return f;
}

void Cluster::GossipMembers() {
  pb::PeerFrame f = MembersFrame();
  std::vector<std::shared_ptr<PeerLink>> up;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, link] : links_) up.push_back(link);
  }
  for (auto& link : up) link->Send(f);
}

// mu_ held.
void Cluster::RebuildLiveLocked() {
  std::vector<std::string> live{node_id_};
  for (const auto& [id, link] : links_) live.push_back(id);
  std::sort(live.begin(), live.end());
  {
    std::lock_guard lock(live_mu_);
    live_ = std::make_shared<const std::vector<std::string>>(std::move(live));
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

std::vector<std::string> Cluster::LiveMembers() const {
  std::lock_guard lock(live_mu_);
  return *live_;
}

std::shared_ptr<PeerLink> Cluster::UpLink(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = links_.find(id);
  return it == links_.end() ? nullptr : it->second;
}

void Cluster::LinkUp(const std::shared_ptr<PeerLink>& link, const std::string& address) {
  const std::string& id = link->peer_id();
  std::shared_ptr<PeerLink> replaced;
  uint64_t ups;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    handshaking_.erase(link);
    auto it = links_.find(id);
    if (it != links_.end()) replaced = it->second;
    if (!known_.count(id) && known_.size() >= options_.max_members) MakeRoomLocked();
    links_[id] = link;
    KnownMember& k = known_[id];
    k.address = address;
    k.last_error.clear();
    k.heard = Clock::now();
    ups = ++ups_[id];
    if (link->side() == PeerLink::Side::kDialed) {
      Dialer& d = dialers_[link->address()];
      d.known_id = id;
      d.failures = 0;
      d.parked = false;
    }
    link->set_up();
    RebuildLiveLocked();
  }
  if (replaced) replaced->Close("replaced by a newer link from the same node");
  {
    // Announced under interest_mu_, so no increment falls between the
    // snapshot and the link joining the announce list.
    std::lock_guard lock(interest_mu_);
    announced_.push_back(link);
    pb::PeerFrame f;
    pb::InterestUpdate* u = f.mutable_interest();
    u->set_reset(true);
    for (const auto& [key, count] : interest_) {
      pb::Interest* i = u->add_add();
      i->set_pattern(key.first);
      i->set_queue_group(key.second);
    }
    link->Send(std::move(f));
  }
  spdlog::info("cluster: {}",
               "link to node '" + id + "' (" + address + ") is up" + (ups > 1 ? " again" : ""));
  // While it could not see this node, the peer may have numbered topics this
  // node owns: those it would own itself without this node. Subscribers here
  // missed what it numbered, so each such topic's next message brings them a
  // gap. (The peer's own subscribers see the epoch change by themselves.)
  std::vector<std::string> others = LiveMembers();
  std::erase(others, node_id_);
  BrokerCluster::SuspectOwned(
      broker_, [&](std::string_view topic) { return RendezvousOwner(topic, others) == id; });
  GossipMembers();
}

void Cluster::OnLinkDone(std::shared_ptr<PeerLink> link) {
  const std::string id = link->peer_id();
  const std::string reason = link->close_reason();
  bool was_up = false;
  {
    std::lock_guard lock(mu_);
    handshaking_.erase(link);
    if (link->side() == PeerLink::Side::kDialed) {
      auto d = dialers_.find(link->address());
      if (d != dialers_.end() && d->second.attempt == link) {
        d->second.attempt.reset();
        if (d->second.parked) {
          d->second.next = Clock::now() + options_.reconnect_max;
        } else {
          d->second.next = Clock::now() + Backoff(d->second.failures++);
        }
      }
    }
    if (!id.empty()) {
      auto it = links_.find(id);
      if (it != links_.end() && it->second == link) {
        links_.erase(it);
        was_up = true;
        known_[id].last_error = reason;
        known_[id].heard = Clock::now();
        if (!stopping_) RebuildLiveLocked();
      }
    }
  }
  // Whether it was the peer's current link or one a newer link replaced, its
  // interest goes (the reader is done: OnDone follows every reaction).
  {
    std::lock_guard lock(interest_mu_);
    std::erase(announced_, link);
  }
  for (const auto& [key, sub] : link->interest) broker_.Unsubscribe(sub);
  link->interest.clear();
  if (!link->was_up()) return;
  // Frames queued on the link died with it, even when a newer link to the
  // same peer replaced it: subscribers of the peer's topics get a gap.
  BrokerCluster::PeerLost(broker_, id);
  if (!was_up) return;  // replaced: the peer is still a member
  FailPending(id, Status(ErrorCode::kUnavailable, "the link to node '" + id + "' was lost"));
  spdlog::warn("cluster: {}", "link to node '" + id + "' is down: " + reason);
  GossipMembers();
}

// --- Pending answers -------------------------------------------------------------

uint64_t Cluster::AddPending(Pending p) {
  std::lock_guard lock(pending_mu_);
  const uint64_t id = ++next_pending_;
  pending_.emplace(id, std::move(p));
  return id;
}

std::optional<Cluster::Pending> Cluster::TakePending(uint64_t id) {
  std::lock_guard lock(pending_mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  Pending p = std::move(it->second);
  pending_.erase(it);
  return p;
}

std::optional<Cluster::Pending> Cluster::TakeAnswered(uint64_t id, const PeerLink& from,
                                                      bool history) {
  std::lock_guard lock(pending_mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  // Only the node asked may answer, and only in kind: any other answer
  // would take the question from its real answer, leaving its caller
  // waiting (a history fetch holds a subscription's live messages).
  if (it->second.peer != from.peer_id() || (it->second.on_history != nullptr) != history) {
    return std::nullopt;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  return p;
}

void Cluster::FailPending(const std::string& peer, const Status& why) {
  std::vector<Pending> failed;
  {
    std::lock_guard lock(pending_mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (peer.empty() || it->second.peer == peer) {
        failed.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Pending& p : failed) {
    if (p.on_ack) {
      forward_failures_.fetch_add(1, std::memory_order_relaxed);
      p.on_ack(OutcomeUnknown(why));
    }
    if (p.on_history) {
      history_failures_.fetch_add(1, std::memory_order_relaxed);
      p.on_history(why);
    }
  }
}

// --- ClusterHook ---------------------------------------------------------------------

std::string Cluster::OwnerOf(std::string_view topic) const {
  std::shared_ptr<const std::vector<std::string>> live;
  {
    std::lock_guard lock(live_mu_);
    live = live_;
  }
  std::string owner = RendezvousOwner(topic, *live);
  if (owner == node_id_) owner.clear();
  return owner;
}

void Cluster::Forward(const std::string& owner, MessagePtr message, PublishCallback done) {
  std::shared_ptr<PeerLink> link = UpLink(owner);
  if (!link) {
    forward_failures_.fetch_add(1, std::memory_order_relaxed);
    return done(Status(ErrorCode::kUnavailable, "the owner of '" + message->topic + "', node '" +
                                                    owner + "', is unreachable"));
  }
  Pending p;
  p.peer = owner;
  p.deadline = Clock::now() + options_.forward_timeout;
  p.on_ack = std::move(done);
  const uint64_t id = AddPending(std::move(p));
  pb::PeerFrame f;
  pb::Forward* fw = f.mutable_forward();
  fw->set_id(id);
  ToForward(*message, fw);
  forwards_.fetch_add(1, std::memory_order_relaxed);
  if (!link->Send(std::move(f))) {
    if (auto p2 = TakePending(id)) {
      forward_failures_.fetch_add(1, std::memory_order_relaxed);
      p2->on_ack(Status(ErrorCode::kUnavailable, "the link to node '" + owner + "' is closing"));
    }
  }
}

bool Cluster::RouteReply(std::string_view node, MessagePtr reply) {
  std::shared_ptr<PeerLink> link = UpLink(node);
  if (!link) return false;
  pb::PeerFrame f;
  pb::Reply* r = f.mutable_reply();
  r->set_topic(reply->topic);
  r->set_payload(reply->payload);
  r->set_content_type(reply->content_type);
  for (const Header& h : reply->headers) {
    pb::Header* x = r->add_headers();
    x->set_name(h.name);
    x->set_value(h.value);
  }
  if (!link->Send(std::move(f))) return false;
  replies_routed_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void Cluster::FetchHistory(const std::string& owner, const std::string& topic, uint64_t epoch,
                           uint64_t after_offset, HistoryCallback done) {
  history_fetches_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<PeerLink> link = UpLink(owner);
  if (!link) {
    history_failures_.fetch_add(1, std::memory_order_relaxed);
    return done(Status(ErrorCode::kUnavailable,
                       "the owner of '" + topic + "', node '" + owner + "', is unreachable"));
  }
  Pending p;
  p.peer = owner;
  p.deadline = Clock::now() + options_.forward_timeout;
  p.on_history = std::move(done);
  p.topic = topic;
  const uint64_t id = AddPending(std::move(p));
  pb::PeerFrame f;
  pb::HistoryRequest* h = f.mutable_history_request();
  h->set_id(id);
  h->set_topic(topic);
  h->set_epoch(epoch);
  h->set_after_offset(after_offset);
  if (!link->Send(std::move(f))) {
    if (auto p2 = TakePending(id)) {
      history_failures_.fetch_add(1, std::memory_order_relaxed);
      p2->on_history(
          Status(ErrorCode::kUnavailable, "the link to node '" + owner + "' is closing"));
    }
  }
}

void Cluster::InterestChanged(const std::string& pattern, const std::string& queue_group,
                              bool added) {
  std::lock_guard lock(interest_mu_);
  auto key = std::make_pair(pattern, queue_group);
  if (added) {
    if (interest_[key]++ != 0) return;
  } else {
    auto it = interest_.find(key);
    if (it == interest_.end() || --it->second != 0) return;
    interest_.erase(it);
  }
  pb::PeerFrame f;
  pb::Interest* i = added ? f.mutable_interest()->add_add() : f.mutable_interest()->add_remove();
  i->set_pattern(pattern);
  i->set_queue_group(queue_group);
  for (auto& link : announced_) link->Send(f);
}

// --- Stats -------------------------------------------------------------------------------

ClusterStats Cluster::Stats() const {
  ClusterStats s;
  s.node_id = node_id_;
  s.cluster_name = options_.name;
  s.address = advertise_;
  s.membership_generation = membership_generation();
  s.forwards = forwards_.load(std::memory_order_relaxed);
  s.forward_failures = forward_failures_.load(std::memory_order_relaxed);
  s.history_fetches = history_fetches_.load(std::memory_order_relaxed);
  s.history_failures = history_failures_.load(std::memory_order_relaxed);
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
  s.members_ignored = members_ignored_.load(std::memory_order_relaxed);
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  s.members.push_back({node_id_, advertise_, true, true, ""});
  for (const auto& [id, k] : known_) {
    s.members.push_back({id, k.address, links_.count(id) > 0, false, k.last_error});
  }
  for (const auto& [id, link] : links_) {
    LinkStats l;
    l.peer_id = id;
    auto k = known_.find(id);
    l.address = k != known_.end() ? k->second.address : link->address();
    l.direction = link->side() == PeerLink::Side::kDialed ? "dialed" : "accepted";
    l.state = "up";
    const LinkCounters& c = link->counters();
    l.messages_in = c.messages_in.load(std::memory_order_relaxed);
    l.messages_out = c.messages_out.load(std::memory_order_relaxed);
    l.bytes_in = c.bytes_in.load(std::memory_order_relaxed);
    l.bytes_out = c.bytes_out.load(std::memory_order_relaxed);
    l.frames_in = c.frames_in.load(std::memory_order_relaxed);
    l.frames_out = c.frames_out.load(std::memory_order_relaxed);
    l.queue_frames = link->queued_frames();
    l.queue_bytes = link->queued_bytes();
    auto u = ups_.find(id);
    l.reconnects = u != ups_.end() && u->second > 0 ? u->second - 1 : 0;
    l.up_seconds = std::chrono::duration<double>(now - link->created()).count();
    s.links.push_back(std::move(l));
  }
  return s;
}

}  // namespace herald::cluster
