#include "broker/dedup_table.h"

#include "broker/memory_cost.h"

namespace herald {

size_t DedupTable::Cost(std::string_view id) {
  // A hash node (next pointer, cached hash, key, Entry), its bucket slot,
  // the deque slot, and the id's heap bytes twice (key and order copy).
  const size_t node = MallocBytes(2 * sizeof(void*) + sizeof(std::string) + sizeof(Entry));
  const size_t heap = id.size() > 15 ? 2 * MallocBytes(id.size() + 1) : 0;
  return node + sizeof(void*) + sizeof(Ordered) + heap;
}

DedupTable::Entry* DedupTable::Find(std::string_view id) {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

size_t DedupTable::Insert(std::string id, Entry entry) {
  const size_t c = Cost(id);
  entry.seq = next_seq_++;
  order_.push_back({entry.seq, id});
  by_id_.emplace(std::move(id), std::move(entry));
  cost_ += c;
  return c;
}

size_t DedupTable::Erase(std::string_view id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return 0;
  const size_t c = Cost(id);
  by_id_.erase(it);
  cost_ -= c;
  SkipStale();
  return c;
}

void DedupTable::SkipStale() {
  while (!order_.empty()) {
    auto it = by_id_.find(order_.front().id);
    if (it != by_id_.end() && it->second.seq == order_.front().seq) return;
    order_.pop_front();
  }
}

size_t DedupTable::ExpireBefore(int64_t cutoff_us) {
  size_t freed = 0;
  for (;;) {
    SkipStale();
    if (order_.empty()) break;
    const Entry& oldest = by_id_.find(order_.front().id)->second;
    if (oldest.pending || oldest.timestamp_us >= cutoff_us) break;
    freed += DropOldest();
  }
  return freed;
}

size_t DedupTable::DropOldest() {
  SkipStale();
  if (order_.empty()) return 0;
  auto it = by_id_.find(order_.front().id);
  if (it->second.pending) return 0;
  const size_t c = Cost(it->first);
  by_id_.erase(it);
  order_.pop_front();
  cost_ -= c;
  return c;
}

}  // namespace herald
