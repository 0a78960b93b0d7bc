// Helpers for broker tests: a sink that records what it receives, and an
// inbox the test drains by hand so every assertion runs after a known point.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
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

// A work-queue member that acknowledges each job as it comes and records
// where it is from.
struct AckingWorker {
  std::mutex mu;
  std::map<std::pair<std::string, uint64_t>, int> seen;  // (topic, offset) -> times
  std::vector<std::string> payloads;
  std::atomic<size_t> count{0};
  void Join(Broker& b, const std::string& queue) {
    Result<uint64_t> r = b.JoinQueue(queue, [this, &b](const Delivery& d) {
      if (d.kind != Delivery::Kind::kJob) return;
      {
        std::lock_guard lock(mu);
        ++seen[{d.job->message->topic, d.job->message->offset}];
        payloads.push_back(d.job->message->payload);
      }
      EXPECT_TRUE(b.Settle(d.subscription_id, d.job->handle, SettleKind::kAck).ok());
      count.fetch_add(1);
    });
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
};

// A queue that starts from history (`q`, pattern "jobs.>"), created while
// four publishers go on (each has published before the creation and goes
// on after it): each message of each topic becomes one job, none missing,
// some from history and some live. `b`'s history must keep every message
// (up to 20,000 a topic).
inline void ExpectEachMessageOneJob(Broker& b, const QueueOptions& q) {
  constexpr int kTopics = 4;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> published[kTopics] = {};
  std::vector<std::thread> publishers;
  for (int t = 0; t < kTopics; ++t) {
    publishers.emplace_back([&, t] {
      const std::string topic = "jobs." + std::to_string(t);
      while (!stop.load() && published[t].load() < 20'000) {
        ASSERT_TRUE(b.Publish(topic, "x").ok());
        published[t].fetch_add(1);
      }
    });
  }
  auto each_past = [&](uint64_t n) {
    for (auto& p : published) {
      if (p.load() < n) return false;
    }
    return true;
  };
  ASSERT_TRUE(WaitFor([&] { return each_past(200); }, 20000));
  uint64_t at_creation[kTopics];
  for (int t = 0; t < kTopics; ++t) at_creation[t] = published[t].load();
  ASSERT_TRUE(b.CreateQueue(q).ok());
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int t = 0; t < kTopics; ++t) {
          if (published[t].load() < at_creation[t] + 200) return false;
        }
        return true;
      },
      20000));
  stop = true;
  for (std::thread& t : publishers) t.join();
  AckingWorker w;
  w.Join(b, q.name);
  uint64_t total = 0;
  for (auto& p : published) total += p.load();
  ASSERT_TRUE(WaitFor([&] { return w.count == total; }, 30000)) << w.count << " of " << total;
  ASSERT_TRUE(WaitFor([&] { return !b.GetQueue(q.name)->backfilling; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(w.count, total);
  std::lock_guard lock(w.mu);
  for (int t = 0; t < kTopics; ++t) {
    const std::string topic = "jobs." + std::to_string(t);
    for (uint64_t off = 1; off <= published[t].load(); ++off) {
      ASSERT_EQ((w.seen[{topic, off}]), 1) << topic << " " << off;
    }
  }
  const QueueInfo info = *b.GetQueue(q.name);
  EXPECT_GT(info.backfilled, 0u);
  EXPECT_LT(info.backfilled, total);  // and some came live
}

}  // namespace herald::testing
