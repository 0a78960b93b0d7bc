// Helpers for broker tests: a sink that records what it receives, and an
// inbox the test drains by hand so every assertion runs after a known point.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "herald/broker.h"

namespace herald::testing {

struct Received {
  uint64_t subscription_id = 0;
  bool is_gap = false;
  MessagePtr message;
  Gap gap;
};

class RecordingSink : public Sink {
 public:
  void OnDelivery(const Delivery& d) override {
    Received r;
    r.subscription_id = d.subscription_id;
    if (d.kind == Delivery::Kind::kGap) {
      r.is_gap = true;
      r.gap = *d.gap;
    } else {
      r.message = d.message;
    }
    std::lock_guard lock(mu_);
    received_.push_back(std::move(r));
  }
  std::vector<Received> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::vector<std::string> payloads() const {
    std::vector<std::string> out;
    for (const auto& r : received()) {
      if (!r.is_gap) out.push_back(r.message->payload);
    }
    return out;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return received_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<Received> received_;
};

// An inbox whose owner is the test itself: wake-ups are counted, Drain is
// called explicitly.
struct ManualInbox {
  explicit ManualInbox(Broker& broker)
      : wakes(std::make_shared<std::atomic<int>>(0)),
        inbox(broker.CreateInbox([w = wakes] { w->fetch_add(1); })) {}
  std::shared_ptr<std::atomic<int>> wakes;
  std::shared_ptr<Inbox> inbox;
};

// A work-queue member (a callback on the dispatcher thread) that records
// its jobs and settles them only when the test says so.
struct QueueWorker {
  std::mutex mu;
  std::vector<Job> jobs;
  uint64_t id = 0;
  void Join(Broker& b, const std::string& queue, uint32_t max_in_flight = 0) {
    Result<uint64_t> r = b.JoinQueue(
        queue,
        [this](const Delivery& d) {
          if (d.kind != Delivery::Kind::kJob) return;
          std::lock_guard lock(mu);
          jobs.push_back(*d.job);
        },
        max_in_flight);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    id = *r;
  }
  size_t count() {
    std::lock_guard lock(mu);
    return jobs.size();
  }
  Job at(size_t i) {
    std::lock_guard lock(mu);
    return jobs.at(i);
  }
};

// Waits (bounded) until `pred` holds; for callback deliveries, which run on
// the broker's dispatcher thread.
template <typename Pred>
bool WaitFor(Pred pred, int timeout_ms = 5000) {
  for (int i = 0; i < timeout_ms; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

}  // namespace herald::testing
