// A setting read on every operation and swapped at a reload: an atomic read
// and written with relaxed order. Each value stands alone (nothing else is
// published with it), so a reader sees the old or the new one, never a
// torn one, and pays a plain load.
#pragma once

#include <atomic>

namespace herald {

template <typename T>
class Relaxed {
 public:
  Relaxed() = default;
  explicit Relaxed(T v) : v_(v) {}
  Relaxed(const Relaxed&) = delete;
  Relaxed& operator=(const Relaxed&) = delete;

  T load() const { return v_.load(std::memory_order_relaxed); }
  operator T() const { return load(); }  // NOLINT: reads like the plain value it replaces
  void store(T v) { v_.store(v, std::memory_order_relaxed); }

 private:
  std::atomic<T> v_{};
};

}  // namespace herald
