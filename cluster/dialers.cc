// Dialing and backoff (dialers.h).
#include "cluster/dialers.h"

#include <algorithm>
#include <random>

#include "cluster/admin_calls.h"
#include "cluster/peer_auth.h"
#include "cluster/presence_sync.h"

namespace herald::cluster {
namespace {

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

Dialers::Dialers(Cluster& cluster, const ClusterOptions& options, std::string node_id)
    : cluster_(cluster), options_(options), node_id_(std::move(node_id)) {}

void Dialers::Start(std::shared_ptr<grpc::ChannelCredentials> creds, std::string advertise) {
  creds_ = std::move(creds);
  advertise_ = std::move(advertise);
}

void Dialers::AddSeed(const std::string& address) {
  Dialer& d = dialers_[address];
  d.address = address;
}

void Dialers::Learned(const std::string& id, const std::string& address) {
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

void Dialers::Forget(const std::string& id) {
  for (auto d = dialers_.begin(); d != dialers_.end();) {
    const bool seed =
        std::find(options_.seeds.begin(), options_.seeds.end(), d->first) != options_.seeds.end();
    if (d->second.known_id == id && !seed && !d->second.attempt) {
      d = dialers_.erase(d);
    } else {
      ++d;
    }
  }
}

std::vector<Dialers::Dial> Dialers::Due(Clock::time_point now,
                                        const std::function<bool(const std::string&)>& linked) {
  std::vector<Dial> dials;
  for (auto& [address, d] : dialers_) {
    if (d.attempt || now < d.next) continue;
    if (!d.known_id.empty() && linked(d.known_id)) continue;  // linked the other way
    dials.push_back(Prepare(d));
  }
  return dials;
}

Dialers::Dial Dialers::Prepare(Dialer& d) {
  if (!d.channel) {
    d.channel = grpc::CreateCustomChannel(d.address, creds_, LinkChannelArgs(options_));
  }
  auto link = std::make_shared<DialedLink>(cluster_, d.address, d.channel);
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
  h->add_features(std::string(kPresenceFeature));
  h->add_features(std::string(kAdminFeature));
  return {std::move(link), std::move(hello)};
}

void Dialers::LinkedUp(const PeerLink& link, const std::string& id) {
  Dialer& d = dialers_[link.address()];
  d.known_id = id;
  d.failures = 0;
  d.parked = false;
}

void Dialers::AttemptEnded(const std::shared_ptr<PeerLink>& link) {
  auto d = dialers_.find(link->address());
  if (d == dialers_.end() || d->second.attempt != link) return;
  d->second.attempt.reset();
  if (d->second.parked) {
    d->second.next = Clock::now() + options_.reconnect_max;
  } else {
    d->second.next = Clock::now() + Backoff(d->second.failures++);
  }
}

void Dialers::Refused(const std::string& address, const std::string& node_id,
                      pb::Refuse::Code code) {
  auto d = dialers_.find(address);
  if (d == dialers_.end()) return;
  if (!node_id.empty()) d->second.known_id = node_id;
  d->second.parked = true;  // DIAL_BACK, or a misconfiguration: retry slowly
  if (code == pb::Refuse::SAME_NODE) {
    d->second.next = Clock::time_point::max();  // never dial ourselves again
  }
}

void Dialers::AppendAttempts(std::vector<std::shared_ptr<PeerLink>>& out) const {
  for (const auto& [address, d] : dialers_) {
    if (d.attempt) out.push_back(d.attempt);
  }
}

Dialers::Clock::duration Dialers::Backoff(int failures) const {
  // Full jitter: uniform in [0, min(max, min * 2^failures)], at least `min`/2.
  const auto cap = std::min<int64_t>(options_.reconnect_max.count(), options_.reconnect_min.count()
                                                                         << std::min(failures, 20));
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> pick(options_.reconnect_min.count() / 2,
                                              std::max<int64_t>(cap, 1));
  return std::chrono::milliseconds(pick(rng));
}

}  // namespace herald::cluster
