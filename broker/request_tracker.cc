#include "broker/request_tracker.h"

#include <vector>

#include "herald/topic.h"

namespace herald {

RequestTracker::RequestTracker(std::string node_id, BrokerCounters* counters)
    : prefix_(std::string(kInboxPrefix) + node_id + "."), counters_(counters) {}

std::string RequestTracker::NewInbox() {
  std::lock_guard lock(mu_);
  return prefix_ + std::to_string(++next_id_);
}

bool RequestTracker::Add(std::string inbox, Clock::time_point deadline, ReplyCallback callback) {
  std::lock_guard lock(mu_);
  auto deadline_it = deadlines_.emplace(deadline, inbox);
  pending_.emplace(std::move(inbox), Pending{std::move(callback), Clock::now(), deadline_it});
  return deadline_it == deadlines_.begin();
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
    done = std::move(it->second);
    deadlines_.erase(done.deadline_it);
    pending_.erase(it);
  }
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - done.start).count();
  if (outcome.ok()) counters_->RecordRequestLatency(static_cast<uint64_t>(us));
  done.callback(std::move(outcome));
  return true;
}

RequestTracker::Clock::time_point RequestTracker::ExpireDue(Clock::time_point now) {
  std::vector<ReplyCallback> expired;
  Clock::time_point next = Clock::time_point::max();
  {
    std::lock_guard lock(mu_);
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto it = pending_.find(deadlines_.begin()->second);
      expired.push_back(std::move(it->second.callback));
      pending_.erase(it);
      deadlines_.erase(deadlines_.begin());
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
  }
  for (auto& [inbox, p] : all) p.callback(status);
}

size_t RequestTracker::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace herald
