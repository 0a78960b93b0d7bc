#include "server/readiness.h"

#include <algorithm>

#include "base/thread_name.h"
#include "cluster/cluster.h"
#include "herald/topic.h"

namespace herald::server {
namespace {

// Names tried per member to find a topic a given node owns: with rendezvous
// hashing each is that node's with probability 1/members, so all of
// 64 x members miss with probability about e^-64.
constexpr size_t kOwnedTopicTriesPerMember = 64;

std::string LocalPrefix(const std::string& node) {
  return std::string(kSystemPrefix) + "canary." + node + ".";
}
std::string EchoPrefix(const std::string& node) {
  return std::string(kSystemPrefix) + "echo." + node + ".";
}

}  // namespace

// One target's probes. `seq` numbers them: an answer carries the number of
// the probe it answers and is dropped if that probe is no longer in flight.
struct Readiness::Probe {
  uint64_t seq = 0;
  bool in_flight = false;
  Clock::time_point sent{};
  // The local canary needs both its ack and its delivery.
  bool acked = false;
  bool delivered = false;
  uint64_t request_id = 0;  // a peer's: to cancel on expiry
  Clock::time_point last_live{};
  Target target;
};

struct Readiness::State {
  mutable std::mutex mu;
  bool draining = false;
  bool started = false;
  Probe local;
  std::map<std::string, Probe> peers;  // by node id

  // mu held. Ends `p`'s probe: ok, or failed for `why`.
  static void Complete(Probe& p, bool ok, std::string why) {
    p.in_flight = false;
    ++p.target.probes;
    p.target.ok = ok;
    if (ok) {
      p.target.why.clear();
      p.target.latency_s = std::chrono::duration<double>(Clock::now() - p.sent).count();
    } else {
      ++p.target.failures;
      p.target.why = std::move(why);
    }
  }
  // mu held. The local probe `seq` got its ack or its delivery.
  void LocalProgress(uint64_t seq, bool ack, const Status& status) {
    if (!local.in_flight || local.seq != seq) return;
    if (!status.ok()) return Complete(local, false, "canary publish refused: " + status.ToString());
    (ack ? local.acked : local.delivered) = true;
    if (local.acked && local.delivered) Complete(local, true, "");
  }
};

Readiness::Readiness(Broker& broker, cluster::Cluster* cluster, ReadinessOptions options)
    : broker_(broker),
      cluster_(cluster),
      options_(options),
      node_id_(broker.options().node_id),
      state_(std::make_shared<State>()) {
  state_->local.target.name = std::string(kLocal);
  state_->local.target.why = "no canary has come back yet";
}

Readiness::~Readiness() { Stop(); }

Status Readiness::Start() {
  // The responder: a peer's canary request comes back as its reply.
  Broker* broker = &broker_;
  Result<uint64_t> responder =
      broker_.Subscribe(EchoPrefix(node_id_) + "*", [broker](const Delivery& d) {
        if (d.kind == Delivery::Kind::kMessage && !d.message->reply_to.empty())
          (void)broker->Reply(d.message->reply_to, d.message->payload);
      });
  if (!responder.ok()) return responder.status();
  responder_ = *responder;
  // The local canary's subscriber: its payload is the probe's number.
  std::weak_ptr<State> weak = state_;
  Result<uint64_t> local =
      broker_.Subscribe(LocalPrefix(node_id_) + "*", [weak](const Delivery& d) {
        std::shared_ptr<State> state = weak.lock();
        if (!state || d.kind != Delivery::Kind::kMessage) return;
        std::lock_guard lock(state->mu);
        state->LocalProgress(std::strtoull(d.message->payload.c_str(), nullptr, 10), false,
                             Status::Ok());
      });
  if (!local.ok()) {
    broker_.Unsubscribe(responder_);
    return local.status();
  }
  local_sub_ = *local;
  {
    std::lock_guard lock(state_->mu);
    state_->started = true;
  }
  thread_ = std::thread([this] {
    NameThisThread("herald-ready");
    Run();
  });
  return Status::Ok();
}

void Readiness::Stop() {
  {
    std::lock_guard lock(run_mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (responder_) broker_.Unsubscribe(responder_);
  if (local_sub_) broker_.Unsubscribe(local_sub_);
  responder_ = local_sub_ = 0;
  std::lock_guard lock(state_->mu);
  state_->started = false;
}

void Readiness::SetDraining() {
  std::lock_guard lock(state_->mu);
  state_->draining = true;
}

Readiness::Report Readiness::Check() const {
  Report r;
  std::lock_guard lock(state_->mu);
  r.targets.push_back(state_->local.target);
  for (const auto& [id, p] : state_->peers) r.targets.push_back(p.target);
  r.ready = state_->started && !state_->draining;
  if (!state_->started) r.why = "not started";
  if (state_->draining) r.why = "draining";
  for (const Target& t : r.targets) {
    if (t.name != kLocal && !options_.require_peers) continue;
    if (r.ready && !t.ok) {
      r.ready = false;
      r.why = t.name == kLocal ? "local canary: " + t.why : "peer " + t.name + ": " + t.why;
    }
  }
  return r;
}

void Readiness::Run() {
  std::unique_lock lock(run_mu_);
  while (!stopping_) {
    lock.unlock();
    Tick();
    lock.lock();
    // blocking-ok: the readiness thread's own tick, not a loop or reactor.
    run_cv_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

std::string Readiness::OwnedTopic(const std::string& prefix, const std::string& owner,
                                  size_t members) {
  if (!cluster_) return prefix + "0";
  const uint64_t generation = cluster_->membership_generation();
  if (generation != owned_generation_) {
    owned_.clear();
    owned_generation_ = generation;
  }
  if (auto it = owned_.find(prefix); it != owned_.end()) return it->second;
  const size_t tries = kOwnedTopicTriesPerMember * std::max<size_t>(members, 4);
  for (size_t i = 0; i < tries; ++i) {
    std::string topic = prefix + std::to_string(i);
    if (cluster_->OwnerOf(topic) == owner) return owned_[prefix] = topic;
  }
  return "";
}

void Readiness::Tick() {
  const Clock::time_point now = Clock::now();
  std::vector<std::string> live;
  if (cluster_) {
    live = cluster_->LiveMembers();
    members_ = live.size();
    live.erase(std::remove(live.begin(), live.end(), node_id_), live.end());
  }
  std::vector<std::pair<std::string, uint64_t>> start;  // peer ("" local), probe number
  std::vector<uint64_t> cancel;
  {
    std::lock_guard lock(state_->mu);
    auto expire = [&](Probe& p) {
      if (p.in_flight && now - p.sent > options_.timeout) {
        if (p.request_id) cancel.push_back(p.request_id);
        State::Complete(p, false,
                        "no answer within " + std::to_string(options_.timeout.count()) + " ms");
      }
    };
    expire(state_->local);
    if (!state_->local.in_flight) {
      Probe& p = state_->local;
      p.in_flight = true;
      p.sent = now;
      p.acked = p.delivered = false;
      start.emplace_back("", ++p.seq);
    }
    for (const std::string& peer : live) {
      Probe& p = state_->peers[peer];
      if (p.target.name.empty()) {
        p.target.name = peer;
        p.target.why = "no canary has come back yet";
      }
      p.last_live = now;
    }
    for (auto it = state_->peers.begin(); it != state_->peers.end();) {
      Probe& p = it->second;
      if (std::find(live.begin(), live.end(), it->first) == live.end()) {
        // Not linked: failed while within the grace, then forgotten.
        if (p.in_flight && p.request_id) cancel.push_back(p.request_id);
        if (now - p.last_live > options_.peer_grace) {
          it = state_->peers.erase(it);
          continue;
        }
        if (p.in_flight || p.target.ok) State::Complete(p, false, "not linked");
        p.target.ok = false;
        p.target.why = "not linked";
        ++it;
        continue;
      }
      expire(p);
      if (!p.in_flight) {
        p.in_flight = true;
        p.sent = now;
        p.request_id = 0;
        start.emplace_back(it->first, ++p.seq);
      }
      ++it;
    }
  }
  for (uint64_t id : cancel) broker_.CancelRequest(id);
  // Outside the lock: an answer may come inline.
  for (const auto& [peer, seq] : start) {
    if (peer.empty()) {
      StartLocal(seq);
    } else {
      StartPeer(peer, seq);
    }
  }
}

void Readiness::StartLocal(uint64_t seq) {
  const std::string topic = OwnedTopic(LocalPrefix(node_id_), "", members_);
  std::weak_ptr<State> weak = state_;
  if (topic.empty()) {
    std::lock_guard lock(state_->mu);
    if (state_->local.seq == seq && state_->local.in_flight)
      State::Complete(state_->local, false, "no canary topic this node owns");
    return;
  }
  broker_.PublishAsync(topic, std::to_string(seq), {}, [weak, seq](Result<PublishAck> ack) {
    std::shared_ptr<State> state = weak.lock();
    if (!state) return;
    std::lock_guard lock(state->mu);
    state->LocalProgress(seq, true, ack.status());
  });
}

void Readiness::StartPeer(const std::string& peer, uint64_t seq) {
  std::weak_ptr<State> weak = state_;
  auto fail = [&](const std::string& why) {
    std::lock_guard lock(state_->mu);
    auto it = state_->peers.find(peer);
    if (it != state_->peers.end() && it->second.seq == seq && it->second.in_flight)
      State::Complete(it->second, false, why);
  };
  const std::string topic = OwnedTopic(EchoPrefix(peer), peer, members_);
  if (topic.empty()) return fail("no canary topic the peer owns");
  const uint64_t id = broker_.Request(
      topic, std::to_string(seq), options_.timeout, [weak, peer, seq](Result<MessagePtr> reply) {
        std::shared_ptr<State> state = weak.lock();
        if (!state) return;
        std::lock_guard lock(state->mu);
        auto it = state->peers.find(peer);
        if (it == state->peers.end() || it->second.seq != seq || !it->second.in_flight) return;
        if (reply.ok()) {
          State::Complete(it->second, true, "");
        } else if (reply.status().code() == ErrorCode::kNoResponders) {
          // A peer of a version before readiness (a rolling upgrade): its
          // link is up, but nothing answers canaries there.
          State::Complete(it->second, true, "");
          it->second.target.why = "unverified: the peer has no canary responder";
        } else {
          State::Complete(it->second, false, "canary request: " + reply.status().ToString());
        }
      });
  if (id == 0) return;  // answered already (inline)
  std::lock_guard lock(state_->mu);
  auto it = state_->peers.find(peer);
  if (it != state_->peers.end() && it->second.seq == seq && it->second.in_flight)
    it->second.request_id = id;
}

}  // namespace herald::server
