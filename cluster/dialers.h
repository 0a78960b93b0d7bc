// cluster/dialers.h — dialing and backoff: one Dialer per peer address this
// node may dial (the seeds, and every member it learned of), when each is
// next due, and the Hello that starts each attempt.
//
// The node whose id sorts first dials each pair: a dialer for a larger id
// dials at once and then backs off with full jitter after each failure; a
// dialer for a smaller id (or one the peer refused) is "parked" and only
// probes every reconnect_max, so the peer hears of us and dials us itself.
//
// Not thread-safe: a Dialers lives inside Membership (membership.h) and is
// guarded by its mutex, because members and their dialers change together
// (forgetting a member takes its dialers along; a dial is due only while
// its peer is not linked the other way).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cluster/peer_link.h"
#include "herald/cluster_options.h"

namespace herald::cluster {

class Dialers {
 public:
  using Clock = std::chrono::steady_clock;
  // A dial to start (outside the registry's lock) with its first frame.
  using Dial = std::pair<std::shared_ptr<DialedLink>, pb::PeerFrame>;

  Dialers(Cluster& cluster, const ClusterOptions& options, std::string node_id);

  // Before any dial: the channel credentials and the address this node
  // advertises in its Hello.
  void Start(std::shared_ptr<grpc::ChannelCredentials> creds, std::string advertise);

  void AddSeed(const std::string& address);
  bool Has(const std::string& address) const { return dialers_.count(address) > 0; }
  size_t size() const { return dialers_.size(); }

  // Member `id` is at `address`: dial it there (parked when `id` sorts
  // before this node's, which dials us).
  void Learned(const std::string& id, const std::string& address);
  // Member `id` was forgotten: its dialers go too, except seeds and one in
  // the middle of an attempt.
  void Forget(const std::string& id);

  // The attempts due at `now`, prepared (not started). `linked(id)` says
  // whether a peer is already linked (the other way).
  std::vector<Dial> Due(Clock::time_point now,
                        const std::function<bool(const std::string&)>& linked);
  // A dialled link to `id` came up: the failures are forgiven.
  void LinkedUp(const PeerLink& link, const std::string& id);
  // An attempt ended (up or not): the next one is due after a backoff.
  void AttemptEnded(const std::shared_ptr<PeerLink>& link);
  // The peer at `address` refused our link.
  void Refused(const std::string& address, const std::string& node_id, pb::Refuse::Code code);

  // Every attempt in progress (to close at shutdown).
  void AppendAttempts(std::vector<std::shared_ptr<PeerLink>>& out) const;
  void Clear() { dialers_.clear(); }

 private:
  struct Dialer {
    std::string address;
    std::string known_id;  // learned at a handshake or from gossip
    std::shared_ptr<PeerLink> attempt;
    // One channel per address for the cluster's life: gRPC 1.51 shares one
    // completion queue among callback channels by reference count, and
    // channels created and destroyed per attempt on several threads race on
    // it (a double free seen under ASan). Channels go only in Clear().
    std::shared_ptr<grpc::Channel> channel;
    int failures = 0;
    bool parked = false;  // the peer dials us (or refused us): retry slowly
    Clock::time_point next{};
  };

  Dial Prepare(Dialer& d);
  Clock::duration Backoff(int failures) const;

  Cluster& cluster_;
  const ClusterOptions& options_;
  const std::string node_id_;
  std::shared_ptr<grpc::ChannelCredentials> creds_;
  std::string advertise_;
  std::map<std::string, Dialer> dialers_;  // by address
};

}  // namespace herald::cluster
