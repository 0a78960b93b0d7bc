#include "broker/request_tracker.h"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "base/base64.h"
#include "herald/topic.h"

namespace herald {
namespace {

constexpr size_t kInboxRandomBytes = 16;  // 128 bits: not guessable, not enumerable

void FillRandom(unsigned char* out, size_t n) {
  while (n > 0) {
    const ssize_t got = getrandom(out, n, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      // getrandom(2) cannot fail on Linux >= 3.17 once the pool is ready; an
      // inbox from a failed source would be guessable, so do not hand one out.
      std::abort();
    }
    out += got;
    n -= static_cast<size_t>(got);
  }
}

}  // namespace

RequestTracker::RequestTracker(std::string node_id, size_t max_pending, BrokerCounters* counters)
    : prefix_(std::string(kInboxPrefix) + node_id + "."),
      max_pending_(max_pending),
      counters_(counters) {}

std::string RequestTracker::NewInboxLocked() {
  if (random_used_ + kInboxRandomBytes > random_.size()) {
    FillRandom(random_.data(), random_.size());
    random_used_ = 0;
  }
  std::string_view bytes(reinterpret_cast<const char*>(random_.data() + random_used_),
                         kInboxRandomBytes);
  random_used_ += kInboxRandomBytes;
  return prefix_ + Base64UrlEncode(bytes);
}

RequestTracker::Added RequestTracker::Add(Clock::time_point deadline, ReplyCallback& callback) {
  std::lock_guard lock(mu_);
  if (const size_t max = max_pending_; max != 0 && pending_.size() >= max) return {};
  Added added;
  added.id = ++next_id_;
  added.inbox = NewInboxLocked();
  auto deadline_it = deadlines_.emplace(deadline, added.inbox);
  pending_.emplace(added.inbox, Pending{added.id, std::move(callback), Clock::now(), deadline_it});
  by_id_.emplace(added.id, added.inbox);
  added.earliest = deadline_it == deadlines_.begin();
  return added;
}

RequestTracker::Pending RequestTracker::TakeLocked(
    std::unordered_map<std::string, Pending>::iterator it) {
  Pending done = std::move(it->second);
  deadlines_.erase(done.deadline_it);
  by_id_.erase(done.id);
  pending_.erase(it);
  return done;
}

bool RequestTracker::Complete(std::string_view inbox, Result<MessagePtr> outcome) {
  Pending done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(std::string(inbox));
    if (it == pending_.end()) {
      if (outcome.ok()) BrokerCounters::Add(counters_->late_replies, 1);
      return false;
    }
    done = TakeLocked(it);
  }
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - done.start).count();
  if (outcome.ok()) counters_->RecordRequestLatency(static_cast<uint64_t>(us));
  done.callback(std::move(outcome));
  return true;
}

bool RequestTracker::Cancel(uint64_t id) {
  Pending done;
  {
    std::lock_guard lock(mu_);
    auto by_id = by_id_.find(id);
    if (by_id == by_id_.end()) return false;
    done = TakeLocked(pending_.find(by_id->second));
  }
  BrokerCounters::Add(counters_->requests_cancelled, 1);
  done.callback(Status(ErrorCode::kCancelled, "the request's connection closed"));
  return true;
}

RequestTracker::Clock::time_point RequestTracker::ExpireDue(Clock::time_point now) {
  std::vector<ReplyCallback> expired;
  Clock::time_point next = Clock::time_point::max();
  {
    std::lock_guard lock(mu_);
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      expired.push_back(std::move(TakeLocked(pending_.find(deadlines_.begin()->second)).callback));
    }
    if (!deadlines_.empty()) next = deadlines_.begin()->first;
  }
  BrokerCounters::Add(counters_->request_timeouts, expired.size());
  for (auto& cb : expired) cb(Status(ErrorCode::kTimeout, "no reply before the deadline"));
  return next;
}

void RequestTracker::FailAll(const Status& status) {
  std::unordered_map<std::string, Pending> all;
  {
    std::lock_guard lock(mu_);
    all.swap(pending_);
    deadlines_.clear();
    by_id_.clear();
  }
  for (auto& [inbox, p] : all) p.callback(status);
}

size_t RequestTracker::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace herald
