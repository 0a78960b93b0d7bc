// Membership and gossip (membership.h).
#include "cluster/membership.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "cluster/member_names.h"
#include "cluster/rendezvous.h"

namespace herald::cluster {

Membership::Membership(Cluster& cluster, const ClusterOptions& options, std::string node_id)
    : options_(options),
      node_id_(std::move(node_id)),
      dialers_(cluster, options, node_id_),
      live_(std::make_shared<const std::vector<std::string>>(std::vector<std::string>{node_id_})) {}

void Membership::Start(std::shared_ptr<grpc::ChannelCredentials> creds,
                       const std::string& advertise) {
  std::lock_guard lock(mu_);
  advertise_ = advertise;
  dialers_.Start(std::move(creds), advertise);
  for (const std::string& seed : options_.seeds) {
    if (seed != advertise_) dialers_.AddSeed(seed);
  }
}

void Membership::Stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
}

std::vector<std::shared_ptr<PeerLink>> Membership::AllLinks() const {
  std::vector<std::shared_ptr<PeerLink>> all;
  std::lock_guard lock(mu_);
  for (auto& [id, link] : links_) all.push_back(link);
  for (auto& link : handshaking_) all.push_back(link);
  dialers_.AppendAttempts(all);
  return all;
}

void Membership::Clear() {
  std::lock_guard lock(mu_);
  links_.clear();
  handshaking_.clear();
  dialers_.Clear();
}

bool Membership::AddHandshaking(const std::shared_ptr<PeerLink>& link) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  handshaking_.insert(link);
  return true;
}

void Membership::Learn(const std::string& id, const std::string& address) {
  if (id == node_id_ || address.empty()) return;
  if (!IsValidNodeId(id) || !IsValidPeerAddress(address)) {
    return Ignore("a malformed node id or address ('" + id + "' at '" + address + "')");
  }
  std::lock_guard lock(mu_);
  if (stopping_ || address == advertise_) return;
  auto known = known_.find(id);
  if (known == known_.end() && known_.size() >= options_.max_members && !MakeRoomLocked()) {
    return Ignore("node '" + id + "': over max_members (" + std::to_string(options_.max_members) +
                  ")");
  }
  // Dialers too: one id gossiped at ever new addresses must not grow them.
  if (!dialers_.Has(address) && dialers_.size() >= options_.max_members + options_.seeds.size()) {
    return Ignore("address '" + address + "': over max_members (" +
                  std::to_string(options_.max_members) + ")");
  }
  KnownMember& k = known_[id];
  if (k.heard == Clock::time_point{}) k.heard = Clock::now();
  k.address = address;
  dialers_.Learned(id, address);
}

bool Membership::MakeRoomLocked() {
  auto oldest = known_.end();
  for (auto it = known_.begin(); it != known_.end(); ++it) {
    if (links_.count(it->first)) continue;
    if (oldest == known_.end() || it->second.heard < oldest->second.heard) oldest = it;
  }
  if (oldest == known_.end()) return false;
  dialers_.Forget(oldest->first);
  ups_.erase(oldest->first);
  known_.erase(oldest);
  return true;
}

void Membership::Ignore(const std::string& why) {
  // Logged at the 1st, 2nd, 4th, 8th… time: a peer repeating itself in
  // every gossip round must not flood the log.
  const uint64_t n = ignored_.fetch_add(1, std::memory_order_relaxed) + 1;
  if ((n & (n - 1)) == 0) {
    spdlog::warn("cluster: ignored a member named by a peer: {} ({} so far)", why, n);
  }
}

void Membership::Refused(const PeerLink& link, const pb::Refuse& refuse) {
  std::lock_guard lock(mu_);
  dialers_.Refused(link.address(), refuse.node_id(), refuse.code());
  const std::string& id = refuse.node_id();
  if (IsValidNodeId(id) &&
      (known_.count(id) || known_.size() < options_.max_members || MakeRoomLocked())) {
    // A refusal is not authenticated: it may name a new member, never
    // move a known one to another address.
    if (known_[id].address.empty()) known_[id].address = link.address();
    if (refuse.code() != pb::Refuse::DIAL_BACK) known_[id].last_error = refuse.reason();
  }
}

Membership::Up Membership::LinkUp(const std::shared_ptr<PeerLink>& link,
                                  const std::string& address) {
  const std::string& id = link->peer_id();
  Up up;
  std::lock_guard lock(mu_);
  if (stopping_) return up;
  up.ok = true;
  handshaking_.erase(link);
  auto it = links_.find(id);
  if (it != links_.end()) up.replaced = it->second;
  if (!known_.count(id) && known_.size() >= options_.max_members) MakeRoomLocked();
  links_[id] = link;
  KnownMember& k = known_[id];
  k.address = address;
  k.last_error.clear();
  k.heard = Clock::now();
  up.ups = ++ups_[id];
  if (link->side() == PeerLink::Side::kDialed) dialers_.LinkedUp(*link, id);
  link->set_up();
  RebuildLiveLocked();
  return up;
}

bool Membership::LinkDown(const std::shared_ptr<PeerLink>& link, const std::string& reason) {
  const std::string& id = link->peer_id();
  std::lock_guard lock(mu_);
  handshaking_.erase(link);
  if (link->side() == PeerLink::Side::kDialed) dialers_.AttemptEnded(link);
  if (id.empty()) return false;
  auto it = links_.find(id);
  if (it == links_.end() || it->second != link) return false;
  links_.erase(it);
  known_[id].last_error = reason;
  known_[id].heard = Clock::now();
  if (!stopping_) RebuildLiveLocked();
  return true;
}

Membership::Due Membership::Tick(Clock::time_point now) {
  Due due;
  std::lock_guard lock(mu_);
  if (stopping_) {
    due.stopping = true;
    return due;
  }
  for (auto& [id, link] : links_) {
    due.up.push_back(link);
    if (now - link->last_heard() > options_.peer_timeout) due.silent.push_back(link);
    if (link->overflowed()) due.overflowed.push_back(link);
  }
  for (auto& link : handshaking_) {
    if (now - link->created() > options_.peer_timeout) due.silent.push_back(link);
  }
  due.dials = dialers_.Due(now, [this](const std::string& id) { return links_.count(id) > 0; });
  return due;
}

// mu_ held.
void Membership::RebuildLiveLocked() {
  std::vector<std::string> live{node_id_};
  for (const auto& [id, link] : links_) live.push_back(id);
  std::sort(live.begin(), live.end());
  {
    std::lock_guard lock(live_mu_);
    live_ = std::make_shared<const std::vector<std::string>>(std::move(live));
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

std::vector<std::string> Membership::Live() const {
  std::lock_guard lock(live_mu_);
  return *live_;
}

std::string Membership::OwnerOf(std::string_view topic) const {
  std::shared_ptr<const std::vector<std::string>> live;
  {
    std::lock_guard lock(live_mu_);
    live = live_;
  }
  std::string owner = RendezvousOwner(topic, *live);
  if (owner == node_id_) owner.clear();
  return owner;
}

std::shared_ptr<PeerLink> Membership::UpLink(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = links_.find(id);
  return it == links_.end() ? nullptr : it->second;
}

pb::PeerFrame Membership::MembersFrame() const {
  std::lock_guard lock(mu_);
  return MembersFrameLocked();
}

pb::PeerFrame Membership::MembersFrameLocked() const {
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

void Membership::Gossip() {
  pb::PeerFrame f;
  std::vector<std::shared_ptr<PeerLink>> up;
  {
    std::lock_guard lock(mu_);
    f = MembersFrameLocked();
    for (auto& [id, link] : links_) up.push_back(link);
  }
  for (auto& link : up) link->Send(f);
}

void Membership::FillStats(ClusterStats& s) const {
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
}

}  // namespace herald::cluster
