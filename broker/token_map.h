// A flat open-addressing map from a topic token to a trie child, for the
// subscription index's literal branches.
//
// Why not std::unordered_map: a lookup there touches the bucket array, then a
// heap node holding the key, then the child — three cache misses per trie
// level once the index is larger than the cache (100k subscriptions are tens
// of megabytes). Here the hash and the key (short tokens fit std::string's
// inline buffer) sit in the probed slot itself, so a level costs one miss for
// the slot and one for the child.
//
// Linear probing at a load factor of at most 1/2; erase shifts the following
// run back (no tombstones), so lookups never slow down with churn.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/seeded_hash.h"

namespace herald {

template <typename T>
class TokenMap {
 public:
  T* Find(std::string_view key) const {
    if (size_ == 0) return nullptr;
    const size_t h = Hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.value) return nullptr;
      if (s.hash == h && s.key == key) return s.value.get();
    }
  }

  // Returns the child for `key`, creating it if absent.
  T* FindOrInsert(std::string_view key) {
    if (T* found = Find(key)) return found;
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    const size_t h = Hash(key);
    size_t i = h & mask_;
    while (slots_[i].value) i = (i + 1) & mask_;
    slots_[i].hash = h;
    slots_[i].key = std::string(key);
    slots_[i].value = std::make_unique<T>();
    ++size_;
    return slots_[i].value.get();
  }

  bool Erase(std::string_view key) {
    if (size_ == 0) return false;
    const size_t h = Hash(key);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i].value) return false;
      if (slots_[i].hash == h && slots_[i].key == key) break;
    }
    // Backward-shift deletion: move later members of the probe run into the
    // hole when their home slot is at or before it (cyclically).
    for (size_t j = (i + 1) & mask_; slots_[j].value; j = (j + 1) & mask_) {
      const size_t home = slots_[j].hash & mask_;
      const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        slots_[i] = std::move(slots_[j]);
        i = j;
      }
    }
    slots_[i] = Slot{};
    --size_;
    return true;
  }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

 private:
  struct Slot {
    size_t hash = 0;
    std::string key;
    std::unique_ptr<T> value;  // null: empty slot
  };

  // Keyed: tokens are client-chosen, and a crafted run of colliding tokens
  // would turn linear probing into a scan of the whole map.
  static size_t Hash(std::string_view key) { return SeededHash{}(key); }

  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_ = std::vector<Slot>(old.empty() ? 4 : old.size() * 2);
    mask_ = slots_.size() - 1;
    for (Slot& s : old) {
      if (!s.value) continue;
      size_t i = s.hash & mask_;
      while (slots_[i].value) i = (i + 1) & mask_;
      slots_[i] = std::move(s);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace herald
