// Pending requests: each has a unique reply inbox topic, a deadline and the
// callback to run once. The first reply completes it; later ones are counted
// as late and dropped. Deadlines are on the steady clock.
//
// Thread rule: any thread. Callbacks run outside the tracker's lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/counters.h"
#include "herald/broker.h"

namespace herald {

class RequestTracker {
 public:
  using Clock = std::chrono::steady_clock;

  RequestTracker(std::string node_id, BrokerCounters* counters);

  // A fresh reply topic: `_INBOX.<node_id>.<n>`.
  std::string NewInbox();
  // Registers a pending request. Returns true if its deadline is now the
  // earliest (the maintenance thread should wake sooner).
  bool Add(std::string inbox, Clock::time_point deadline, ReplyCallback callback);
  // Completes the request waiting on `inbox` with `outcome` (a reply, or an
  // error). False if none was waiting (a late or unknown reply).
  bool Complete(std::string_view inbox, Result<MessagePtr> outcome);
  // Fails every request whose deadline has passed with kTimeout. Returns the
  // next deadline, or time_point::max() when none is pending.
  Clock::time_point ExpireDue(Clock::time_point now);
  // Fails everything still pending (shutdown).
  void FailAll(const Status& status);
  size_t pending() const;

 private:
  struct Pending {
    ReplyCallback callback;
    Clock::time_point start;
    std::multimap<Clock::time_point, std::string>::iterator deadline_it;
  };

  const std::string prefix_;
  BrokerCounters* const counters_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 0;
  std::unordered_map<std::string, Pending> pending_;
  std::multimap<Clock::time_point, std::string> deadlines_;
};

}  // namespace herald
