// The broker's live subscriptions by id: a slot vector with a free list
// instead of a hash map, so a subscription costs one pointer here rather than
// a heap node. An id is (generation << 32 | slot + 1): never 0, and an id of
// a removed subscription never finds the slot's next tenant.
//
// Thread rule: guarded by the broker's subscription mutex.
#pragma once

#include <cstdint>
#include <vector>

#include "broker/subscription.h"

namespace herald {

class SubscriptionSlots {
 public:
  // Stores `sub` and returns its new id (also written to sub->id).
  uint64_t Insert(SubscriptionPtr sub) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& s = slots_[slot];
    s.sub = std::move(sub);
    s.sub->id = (uint64_t{s.generation} << 32) | (uint64_t{slot} + 1);
    return s.sub->id;
  }

  // Removes and returns the subscription with `id`; null if there is none.
  SubscriptionPtr Take(uint64_t id) {
    const uint64_t low = id & 0xffffffffu;
    if (low == 0 || low > slots_.size()) return nullptr;
    const auto slot = static_cast<uint32_t>(low - 1);
    Slot& s = slots_[slot];
    if (!s.sub || s.generation != static_cast<uint32_t>(id >> 32)) return nullptr;
    SubscriptionPtr out = std::move(s.sub);
    ++s.generation;
    free_.push_back(slot);
    return out;
  }

  template <typename Visit>
  void ForEach(Visit&& visit) const {
    for (const Slot& s : slots_) {
      if (s.sub) visit(*s.sub);
    }
  }

 private:
  struct Slot {
    SubscriptionPtr sub;
    uint32_t generation = 1;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

}  // namespace herald
