// broker/remote_holds.h — a subscription's topics whose resume comes from
// their owner node (cluster only; see ClusterView). The owner's history is on
// its way: live messages of such a topic wait until it is delivered; after
// it, live messages it already covered are dropped until a newer one passes
// (the owner sends one topic's messages in order, so no older one can follow
// a newer one).
//
// Thread rule: created before the subscription is indexed, then touched only
// by its inbox's thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/delivery.h"

namespace herald {

class RemoteHolds {
 public:
  // `topic` waits for its owner's replay.
  void Hold(const std::string& topic) { topics_.try_emplace(topic); }
  bool empty() const { return topics_.empty(); }

  // Whether a live message may be delivered now. False when it waits for
  // the replay (kept, for Replayed to return) or the replay covered it.
  // Once a newer one passes, the topic is no longer held.
  bool Pass(const MessagePtr& m) {
    auto it = topics_.find(m->topic);
    if (it == topics_.end()) return true;
    Held& h = it->second;
    if (!h.replayed) {
      h.waiting.push_back(m);
      return false;
    }
    if (m->epoch == h.epoch && m->offset <= h.last) return false;  // the replay had it
    topics_.erase(it);
    return true;
  }

  // Whether a live epoch-change gap of a held topic is not to be told now:
  // it was delivered for that epoch, or the replay is pending (it is kept:
  // a replay read before the change is of the older epoch, and then the
  // gap is told after it, by Replayed).
  bool CoversEpochChange(const Gap& gap) {
    auto it = topics_.find(gap.topic);
    if (it == topics_.end()) return false;
    Held& h = it->second;
    if (h.replayed) return h.epoch == gap.epoch;
    h.epoch_change = gap;
    return true;
  }

  struct Released {
    // The live messages that waited for the replay (they go through Pass
    // again), and the epoch change that came while they waited when the
    // replay is of another epoch (told before them).
    std::vector<MessagePtr> waiting;
    std::optional<Gap> epoch_change;
  };
  // The owner's replay of `topic` is being delivered: it covers `epoch` up
  // to `last_offset` and `messages`.
  Released Replayed(const std::string& topic, uint64_t epoch, uint64_t last_offset,
                    const std::vector<MessagePtr>& messages) {
    Held& h = topics_[topic];
    Released out;
    out.waiting = std::move(h.waiting);
    h.waiting.clear();
    if (h.epoch_change && epoch != 0 && h.epoch_change->epoch != epoch) {
      out.epoch_change = std::move(h.epoch_change);
    }
    h.epoch_change.reset();
    h.replayed = true;
    h.epoch = epoch;
    h.last = last_offset;
    for (const MessagePtr& m : messages) {
      if (m->epoch == h.epoch) h.last = std::max(h.last, m->offset);
    }
    return out;
  }

 private:
  struct Held {
    bool replayed = false;
    uint64_t epoch = 0;  // what the replay covered (once replayed)
    uint64_t last = 0;
    std::vector<MessagePtr> waiting;
    std::optional<Gap> epoch_change;  // the newest told while the replay was pending
  };
  std::map<std::string, Held, std::less<>> topics_;
};

}  // namespace herald
