// One topic's remembered message ids (idempotent publish): id -> where its
// message landed, oldest first so expiry and eviction pop from the front.
// An entry is pending while its message waits in the history store; a retry
// of the same id then waits for the first one's outcome.
//
// Thread rule: guarded by the owning TopicState's mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/seeded_hash.h"
#include "broker/cluster_hook.h"

namespace herald {

class DedupTable {
 public:
  struct Entry {
    uint64_t epoch = 0;
    uint64_t offset = 0;
    int64_t timestamp_us = 0;
    bool pending = false;                  // its message is not committed yet
    std::vector<PublishCallback> waiters;  // retries that arrived meanwhile
    uint64_t seq = 0;                      // its place in order_
  };

  // Memory one remembered id holds: the map node, the key, its copy in the
  // expiry order.
  static size_t Cost(std::string_view id);

  Entry* Find(std::string_view id);
  // Remembers `id` (not already present). Returns the memory added.
  size_t Insert(std::string id, Entry entry);
  // Forgets `id`. Returns the memory freed.
  size_t Erase(std::string_view id);
  // Forgets the ids stamped before `cutoff_us`, oldest first, stopping at a
  // pending one. Returns the memory freed.
  size_t ExpireBefore(int64_t cutoff_us);
  // Forgets the oldest id unless it is pending. Returns the memory freed (0:
  // nothing could go).
  size_t DropOldest();

  bool empty() const { return by_id_.empty(); }
  size_t size() const { return by_id_.size(); }
  size_t cost() const { return cost_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return SeededHash{}(s); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };
  struct Ordered {
    uint64_t seq;
    std::string id;
  };
  // Pops order_'s front entries that no longer match a live entry (erased
  // early), so the front is always the oldest live id.
  void SkipStale();

  // Keyed hash: ids are client-chosen.
  std::unordered_map<std::string, Entry, Hash, Eq> by_id_;
  std::deque<Ordered> order_;
  uint64_t next_seq_ = 1;
  size_t cost_ = 0;
};

}  // namespace herald
