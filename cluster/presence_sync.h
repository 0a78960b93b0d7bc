// cluster/presence_sync.h — presence members (herald/presence.h) between
// this node and its peers, both ways:
//   - out: this node's members, as increments (a member's first join of a
//     topic, its last leave) to every link whose peer announced the
//     "presence" feature, and in whole when a link comes up: reset_begin,
//     the members one presence shard at a time, reset_end;
//   - in: a peer's members are mirrored into the broker by node id (not by
//     link: a link replaced by a newer one causes no churn; the new link's
//     reset drops what the peer no longer has), and leave when the node is
//     gone (its link ended and no newer one replaced it).
//
// Locking: Changed() runs under the member's presence shard lock (the
// hook's PresenceChanged), so a topic's increments reach peers in order. Its
// mutex is taken there and never held while calling into the broker.
// Announce sends reset_begin under that mutex (no increment precedes it),
// then each shard's members under the shard's lock (the shard's later
// changes follow them), then reset_end: the peer ends up with exactly this
// node's members, whatever changed meanwhile.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cluster/peer_link.h"
#include "herald/broker.h"

namespace herald::cluster {

inline constexpr std::string_view kPresenceFeature = "presence";

class PresenceSync {
 public:
  explicit PresenceSync(Broker& broker) : broker_(broker) {}

  // A local member's first join or last leave (presence shard lock held).
  void Changed(const std::string& topic, const PresenceMember& member, bool joined);
  // `link` is up: if its peer speaks presence, it gets every local member,
  // then every change.
  void Announce(const std::shared_ptr<PeerLink>& link);
  // `link` ended: nothing more is sent on it.
  void Forget(const std::shared_ptr<PeerLink>& link);
  // The peer's update, from `link`'s reader.
  void Apply(PeerLink& link, const pb::PresenceUpdate& update);
  // The peer behind `link` is gone (the link ended, no newer one replaced
  // it): its members leave here, unless a newer link's reset began since.
  void Lost(const PeerLink& link);
  void Clear();

 private:
  Broker& broker_;
  std::mutex mu_;
  std::vector<std::shared_ptr<PeerLink>> announced_;
};

}  // namespace herald::cluster
