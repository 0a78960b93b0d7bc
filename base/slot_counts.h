// Counts of live things per key (connections per address, per user) with a
// cap: Take() hands out a slot that gives itself back when the last copy of
// it goes, so the count follows the thing's whole life without a hook at
// its end. Thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace herald {

class SlotCounts {
 public:
  explicit SlotCounts(size_t max) : max_(max) {}

  // A slot for `key`, or null when `key` holds `max` already (max 0: no cap).
  std::shared_ptr<void> Take(const std::string& key) {
    {
      std::lock_guard lock(state_->mu);
      size_t& n = state_->counts[key];
      const size_t max = max_.load(std::memory_order_relaxed);
      if (max != 0 && n >= max) {
        if (n == 0) state_->counts.erase(key);
        return nullptr;
      }
      ++n;
    }
    return std::make_shared<Slot>(state_, key);
  }

  size_t max() const { return max_.load(std::memory_order_relaxed); }
  // A reload: later Take()s use `max`; slots held stay (a lower cap
  // refuses new ones until the count is under it).
  void set_max(size_t max) { max_.store(max, std::memory_order_relaxed); }

 private:
  struct State {
    std::mutex mu;
    std::unordered_map<std::string, size_t> counts;
  };
  struct Slot {
    Slot(std::shared_ptr<State> s, std::string k) : state(std::move(s)), key(std::move(k)) {}
    ~Slot() {
      std::lock_guard lock(state->mu);
      auto it = state->counts.find(key);
      if (it != state->counts.end() && --it->second == 0) state->counts.erase(it);
    }
    std::shared_ptr<State> state;
    std::string key;
  };

  std::atomic<size_t> max_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace herald
