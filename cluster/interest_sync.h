// cluster/interest_sync.h — interest sync, both ways:
//   - out: local subscriptions, refcounted per (pattern, queue group), are
//     announced to every link that is up as increments (add on the first,
//     remove on the last), and in whole (`reset`) when a link comes up;
//   - in: a peer's announced interest becomes subscriptions of InterestSinks
//     on this broker (PeerLink::interest), dropped when its link ends.
//
// Locking: Changed() runs inside the broker's subscription lock (the hook's
// InterestChanged), so increments reach peers in subscription order. Its
// mutex is taken there and never held while calling into the broker. A
// link coming up gets its snapshot under the same mutex, so no increment
// falls between the snapshot and the link joining the announce list.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cluster/peer_link.h"
#include "herald/broker.h"

namespace herald::cluster {

class InterestSync {
 public:
  explicit InterestSync(Broker& broker) : broker_(broker) {}

  // Local interest in (pattern, group) was added or removed (broker's
  // subscription lock held). Returns whether peers are told (the first
  // add, or the last remove).
  bool Changed(const std::string& pattern, const std::string& queue_group, bool added);
  // `link` is up: it gets the whole local interest, then every change.
  void Announce(const std::shared_ptr<PeerLink>& link);
  // `link` ended (its reader is done): nothing more is announced to it and
  // the peer's interest it carried leaves this broker.
  void Forget(const std::shared_ptr<PeerLink>& link);
  // The peer's interest update, from `link`'s reader.
  void Apply(PeerLink& link, pb::InterestUpdate& update);
  // At shutdown, once every link ended.
  void Clear();

 private:
  Broker& broker_;
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> local_;  // refcounts
  std::vector<std::shared_ptr<PeerLink>> announced_;
};

}  // namespace herald::cluster
