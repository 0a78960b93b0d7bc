// A setting that a reload replaces while other threads read it: a reader
// takes a snapshot (a shared pointer to an immutable value) and keeps it for
// as long as it needs one consistent view — a connection for its whole
// life, a request or a check for its whole run — so a swap never mixes two
// versions.
//
//   Live<WsOptions> options(initial);
//   std::shared_ptr<const WsOptions> o = options.Get();  // any thread
//   options.Set(next);                                    // any thread
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace herald {

template <typename T>
class Live {
 public:
  explicit Live(T value) : value_(std::make_shared<const T>(std::move(value))) {}
  explicit Live(std::shared_ptr<const T> value) : value_(std::move(value)) {}

  std::shared_ptr<const T> Get() const {
    std::lock_guard lock(mu_);
    return value_;
  }
  void Set(std::shared_ptr<const T> value) {
    std::lock_guard lock(mu_);
    value_.swap(value);  // the old one goes outside the lock, below
    version_.fetch_add(1, std::memory_order_release);
  }
  void Set(T value) { Set(std::make_shared<const T>(std::move(value))); }
  // A new value made from the current one by `change(T&)`, in one step:
  // what `change` leaves alone stays as it was (a front's run-time wiring
  // beside its new limits, say).
  template <typename F>
  void Update(F change) {
    std::shared_ptr<const T> old;  // let go outside the lock
    std::lock_guard lock(mu_);
    auto next = std::make_shared<T>(*value_);
    change(*next);
    old = std::exchange(value_, std::move(next));
    version_.fetch_add(1, std::memory_order_release);
  }
  // Changes with every Set(): a reader that holds a snapshot checks this
  // (no lock) to know whether to take a newer one.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  // A mutex, not std::atomic<std::shared_ptr>: libstdc++'s is a lock too,
  // and this is read once per connection or call, never per message.
  mutable std::mutex mu_;
  std::shared_ptr<const T> value_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace herald
