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

  // Whether a live epoch-change gap of a held topic says nothing the replay
  // does not: it is pending, or it was delivered for that epoch.
  bool CoversEpochChange(const Gap& gap) const {
    auto it = topics_.find(gap.topic);
    return it != topics_.end() && (!it->second.replayed || it->second.epoch == gap.epoch);
  }

  // The owner's replay of `topic` is being delivered: it covers `epoch` up
  // to `last_offset` and `messages`. Returns the live messages that waited
  // for it, which go through Pass again.
  std::vector<MessagePtr> Replayed(const std::string& topic, uint64_t epoch, uint64_t last_offset,
                                   const std::vector<MessagePtr>& messages) {
    Held& h = topics_[topic];
    std::vector<MessagePtr> waiting = std::move(h.waiting);
    h.waiting.clear();
    h.replayed = true;
    h.epoch = epoch;
    h.last = last_offset;
    for (const MessagePtr& m : messages) {
      if (m->epoch == h.epoch) h.last = std::max(h.last, m->offset);
    }
    return waiting;
  }

 private:
  struct Held {
    bool replayed = false;
    uint64_t epoch = 0;  // what the replay covered (once replayed)
    uint64_t last = 0;
    std::vector<MessagePtr> waiting;
  };
  std::map<std::string, Held, std::less<>> topics_;
};

}  // namespace herald
