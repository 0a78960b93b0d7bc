// Helpers shared by the end-to-end benchmarks: a delivery counter the
// publishing thread can wait on, and a thread that owns an Inbox.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "herald/broker.h"

namespace herald::bench {

// 32 bytes: past the small-string buffer, so each Publish pays for one payload
// allocation as a real publisher would.
inline const std::string kPayload(32, 'x');

// Publishes kPayload; a failed publish would make the wait hang, so abort.
inline void MustPublish(Broker& broker, std::string_view topic) {
  if (auto ack = broker.Publish(topic, kPayload); !ack.ok()) {
    std::fprintf(stderr, "publish to %.*s failed\n", static_cast<int>(topic.size()), topic.data());
    std::abort();
  }
}

// Counts deliveries on ONE thread (the one that drains the inbox: plain load
// and store, no read-modify-write per delivery) and wakes a waiter when a
// cumulative target is reached.
class DeliveryCounter {
 public:
  // Delivering thread.
  void Add() {
    const uint64_t n = count_.load(std::memory_order_relaxed) + 1;
    count_.store(n, std::memory_order_relaxed);
    if (n == target_.load(std::memory_order_relaxed)) {
      done_.store(true, std::memory_order_release);
      done_.notify_one();
    }
  }

  // Waiting thread: call before publishing the `n` deliveries to wait for.
  // The target becomes visible to the delivering thread through the inbox's
  // own synchronisation (it is set before the messages are queued).
  void Expect(uint64_t n) {
    done_.store(false, std::memory_order_relaxed);
    expected_ += n;
    target_.store(expected_, std::memory_order_relaxed);
  }
  // Waiting thread: blocks (futex, no busy loop) until the target is reached.
  void Wait() {
    while (!done_.load(std::memory_order_acquire)) done_.wait(false, std::memory_order_acquire);
  }

 private:
  alignas(64) std::atomic<uint64_t> count_{0};
  alignas(64) std::atomic<uint64_t> target_{~uint64_t{0}};
  std::atomic<bool> done_{false};
  uint64_t expected_ = 0;  // waiting thread only
};

// A sink that only counts.
class CountingSink final : public Sink {
 public:
  explicit CountingSink(DeliveryCounter* counter) : counter_(counter) {}
  void OnDelivery(const Delivery& delivery) override {
    if (delivery.kind == Delivery::Kind::kMessage) counter_->Add();
  }

 private:
  DeliveryCounter* counter_;
};

// A thread that owns an Inbox of `broker`, as an event-loop worker would:
// the inbox's wake function signals it and it calls Drain(). With `spin` it
// polls an atomic flag (yielding) instead of sleeping on a condition variable.
class InboxThread {
 public:
  InboxThread(Broker& broker, bool spin) : spin_(spin) {
    inbox_ = broker.CreateInbox([this] { Wake(); });
    thread_ = std::thread([this] { Run(); });
  }
  ~InboxThread() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    flag_.store(true, std::memory_order_release);
    cv_.notify_one();
    thread_.join();
  }
  InboxThread(const InboxThread&) = delete;
  InboxThread& operator=(const InboxThread&) = delete;

  const std::shared_ptr<Inbox>& inbox() const { return inbox_; }
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  void Wake() {
    if (spin_) {
      flag_.store(true, std::memory_order_release);
      return;
    }
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_one();
  }

  void Run() {
    if (spin_) {
      for (;;) {
        while (!flag_.load(std::memory_order_acquire)) std::this_thread::yield();
        flag_.store(false, std::memory_order_relaxed);
        {
          std::lock_guard lock(mu_);
          if (stop_) break;
        }
        wakeups_.fetch_add(1, std::memory_order_relaxed);
        inbox_->Drain();
      }
      inbox_->Drain();
      return;
    }
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return woken_ || stop_; });
      if (!woken_ && stop_) return;
      woken_ = false;
      lock.unlock();
      wakeups_.fetch_add(1, std::memory_order_relaxed);
      inbox_->Drain();
      lock.lock();
    }
  }

  const bool spin_;
  std::shared_ptr<Inbox> inbox_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stop_ = false;
  std::atomic<bool> flag_{false};
  std::atomic<uint64_t> wakeups_{0};
  std::thread thread_;
};

}  // namespace herald::bench
