// A setting that a reload replaces while other threads read it: a reader
// takes a snapshot (a shared pointer to an immutable value) and keeps it for
// as long as it needs one consistent view — a connection for its whole
// life, a check for its whole run — so a swap never mixes two versions.
//
//   Live<WsOptions> options(initial);
//   std::shared_ptr<const WsOptions> o = options.Get();  // any thread
//   options.Set(next);                                    // any thread
#pragma once

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
  }
  void Set(T value) { Set(std::make_shared<const T>(std::move(value))); }

 private:
  // A mutex, not std::atomic<std::shared_ptr>: libstdc++'s is a lock too,
  // and this is read once per connection or call, never per message.
  mutable std::mutex mu_;
  std::shared_ptr<const T> value_;
};

}  // namespace herald
