// cluster/membership.h — membership and gossip: the members this node knows
// of (at most max_members), the links that are up (one per peer id) or
// still in their handshake, the dialers (dialers.h), and the live member
// list the topic owners are hashed over (rendezvous.h).
//
// One mutex (mu_) guards members, links and dialers: they change together
// (a link coming up names a member and resets its dialer; forgetting a
// member takes its dialers). The live list has a lock of its own so that
// OwnerOf, called by the broker on every publish, never waits on the
// registry. Nothing is sent or closed under mu_: the callers get the links
// back and act on them outside it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_stats.h"
#include "cluster/dialers.h"
#include "cluster/peer_link.h"
#include "herald/cluster_options.h"

namespace herald::cluster {

class Membership {
 public:
  using Clock = std::chrono::steady_clock;

  Membership(Cluster& cluster, const ClusterOptions& options, std::string node_id);

  // Before the cluster thread starts: what dials need, and the seeds.
  void Start(std::shared_ptr<grpc::ChannelCredentials> creds, const std::string& advertise);
  // No more links are taken, and the tick prepares no more dials.
  void Stop();
  // Every link, up or in its handshake, and every dial attempt (to close).
  std::vector<std::shared_ptr<PeerLink>> AllLinks() const;
  // After the links ended: the registry is emptied (channels included).
  void Clear();

  // An incoming link starts its handshake; false once stopping.
  bool AddHandshaking(const std::shared_ptr<PeerLink>& link);
  // A peer (or the handshake) names member `id` at `address`. Malformed
  // names, and new ones past max_members, are ignored and counted.
  void Learn(const std::string& id, const std::string& address);
  // The peer at `link`'s address refused our link.
  void Refused(const PeerLink& link, const pb::Refuse& refuse);

  struct Up {
    bool ok = false;                     // false: stopping, nothing changed
    std::shared_ptr<PeerLink> replaced;  // an older link to the same peer
    uint64_t ups = 0;                    // times a link to this peer came up
  };
  // The handshake of `link` (peer id set) succeeded; the peer is at `address`.
  Up LinkUp(const std::shared_ptr<PeerLink>& link, const std::string& address);
  // `link` ended with `reason`. True when it was the peer's current link
  // (the peer left the live list), false when it was replaced or never up.
  bool LinkDown(const std::shared_ptr<PeerLink>& link, const std::string& reason);

  // What the tick acts on, gathered under the lock.
  struct Due {
    bool stopping = false;
    std::vector<std::shared_ptr<PeerLink>> up, silent, overflowed;
    std::vector<Dialers::Dial> dials;  // prepared, to Begin() outside the lock
  };
  Due Tick(Clock::time_point now);

  std::shared_ptr<PeerLink> UpLink(std::string_view id) const;
  // Live members (node ids, this one included), sorted.
  std::vector<std::string> Live() const;
  // The owner of `topic` among the live members; empty for this node.
  std::string OwnerOf(std::string_view topic) const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // This node and its linked peers, as a Members frame.
  pb::PeerFrame MembersFrame() const;
  // Sends MembersFrame() on every link that is up.
  void Gossip();

  uint64_t ignored() const { return ignored_.load(std::memory_order_relaxed); }
  // Members and links (this node first).
  void FillStats(ClusterStats& s) const;

 private:
  struct KnownMember {
    std::string address;
    std::string last_error;
    Clock::time_point heard{};  // last linked, or first named
  };

  void Ignore(const std::string& why);
  // mu_ held. Room for one more member once max_members are known: the one
  // not linked for longest is forgotten (with its dialer, unless a seed).
  // False when every known member is linked.
  bool MakeRoomLocked();
  pb::PeerFrame MembersFrameLocked() const;
  // mu_ held. Publishes the live list and a new generation.
  void RebuildLiveLocked();

  const ClusterOptions& options_;
  const std::string node_id_;
  std::string advertise_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<PeerLink>, std::less<>> links_;  // up, by peer id
  std::map<std::string, KnownMember> known_;                             // every member heard of
  std::map<std::string, uint64_t> ups_;                                  // link-ups per peer id
  std::set<std::shared_ptr<PeerLink>> handshaking_;
  Dialers dialers_;
  bool stopping_ = false;

  mutable std::mutex live_mu_;
  std::shared_ptr<const std::vector<std::string>> live_;
  std::atomic<uint64_t> generation_{1};

  std::atomic<uint64_t> ignored_{0};
};

}  // namespace herald::cluster
