// broker/remote_holds.h — a subscription's topics whose resume comes from
// elsewhere (their owner node, or a cluster's shared store; see
// ClusterView): the replay is on its way, and live messages of such a topic
// wait until it is delivered; after it, live messages it already covered
// are dropped until a newer one passes (the owner sends one topic's
// messages in order, so no older one can follow a newer one).
//
// Thread rule: created before the subscription is indexed, then touched only
// by its inbox's thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/delivery.h"

namespace herald {

class RemoteHolds {
 public:
  // What waited for a replay, in arrival order: a live message, or a live
  // epoch-change gap (told in its place, unless the replay covered it).
  struct Waiting {
    MessagePtr message;
    std::shared_ptr<const Gap> gap;
  };

  // `topic` waits for its replay.
  void Hold(const std::string& topic) { topics_.try_emplace(topic); }
  bool empty() const { return topics_.empty(); }

  // Whether a live message may be delivered now. False when it waits for
  // the replay (kept, for Replayed to return) or the replay covered it.
  // Once a newer one passes, the topic is no longer held. When that one
  // does not follow what the replay covered (what is between never reached
  // this subscription: a store's replay read before the owner sent this
  // node the topic, and the hole not filled), `*before` is the gap to tell
  // ahead of it.
  bool Pass(const MessagePtr& m, std::optional<Gap>* before) {
    auto it = topics_.find(m->topic);
    if (it == topics_.end()) return true;
    Held& h = it->second;
    if (!h.replayed) {
      h.waiting.push_back({m, nullptr});
      return false;
    }
    if (m->epoch == h.epoch && m->offset <= h.last) return false;  // the replay had it
    // Of an epoch older than the replay's (a store's head read after the
    // owner started a new one, this still on its way): the replay told the
    // client that epoch ended, and what it held of it is not to follow.
    if (m->epoch < h.epoch) return false;
    if (h.epoch != 0 && m->epoch == h.epoch && m->offset > h.last + 1) {
      *before = Gap{m->topic, GapReason::kTrimmed, h.epoch, h.last + 1, m->offset - 1};
    }
    topics_.erase(it);
    return true;
  }

  // Whether a live epoch-change gap of a held topic is not to be told now:
  // the replay is pending (the gap is kept in its place among the waiting
  // messages), or the replay was of that epoch (it told the client).
  bool HoldsEpochChange(const std::shared_ptr<const Gap>& gap) {
    auto it = topics_.find(gap->topic);
    if (it == topics_.end()) return false;
    Held& h = it->second;
    if (h.replayed) return h.epoch == gap->epoch;
    h.waiting.push_back({nullptr, gap});
    return true;
  }

  // The replay of `topic` is being delivered: it covers `epoch` up to
  // `last_offset` and `messages`. Returns what waited for it, in order;
  // each message goes through Pass again, each gap through
  // HoldsEpochChange.
  std::vector<Waiting> Replayed(const std::string& topic, uint64_t epoch, uint64_t last_offset,
                                const std::vector<MessagePtr>& messages) {
    Held& h = topics_[topic];
    std::vector<Waiting> waiting = std::move(h.waiting);
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
    std::vector<Waiting> waiting;
  };
  std::map<std::string, Held, std::less<>> topics_;
};

}  // namespace herald
