// Pending requests: each has a unique, unguessable reply inbox topic, a
// deadline and the callback to run once. The first reply completes it; later
// ones are counted as late and dropped. Deadlines are on the steady clock.
//
// Inboxes are `_INBOX.<node_id>.<22 random base64url characters>` (128 bits
// from the kernel's CSPRNG): knowing one inbox tells nothing about another,
// so a client cannot answer a request it was never sent by guessing where
// the reply goes. (Fronts additionally allow a reply only to an inbox their
// connection received; see frontends/session/reply_permits.h.)
//
// Thread rule: any thread. Callbacks run outside the tracker's lock.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/relaxed.h"
#include "broker/counters.h"
#include "herald/broker.h"

namespace herald {

class RequestTracker {
 public:
  using Clock = std::chrono::steady_clock;

  // At most `max_pending` requests wait at once (0: no limit).
  RequestTracker(std::string node_id, size_t max_pending, BrokerCounters* counters);
  // A reload: requests waiting stay (a lower bound refuses new ones until
  // enough are answered).
  void set_max_pending(size_t max_pending) { max_pending_.store(max_pending); }
  size_t max_pending() const { return max_pending_; }

  struct Added {
    uint64_t id = 0;        // for Cancel(); 0 when refused
    std::string inbox;      // the reply topic
    bool earliest = false;  // its deadline is now the nearest one
  };
  // Registers a pending request under a fresh inbox. Refused (id 0, the
  // callback not run and handed back untouched in `callback`) when
  // max_pending requests already wait.
  Added Add(Clock::time_point deadline, ReplyCallback& callback);
  // Completes the request waiting on `inbox` with `outcome` (a reply, or an
  // error). False if none was waiting (a late or unknown reply).
  bool Complete(std::string_view inbox, Result<MessagePtr> outcome);
  // Completes request `id` with kCancelled, if it still waits (its caller
  // went away). False if it was already completed.
  bool Cancel(uint64_t id);
  // Fails every request whose deadline has passed with kTimeout. Returns the
  // next deadline, or time_point::max() when none is pending.
  Clock::time_point ExpireDue(Clock::time_point now);
  // Fails everything still pending (shutdown).
  void FailAll(const Status& status);
  size_t pending() const;

 private:
  struct Pending {
    uint64_t id = 0;
    ReplyCallback callback;
    Clock::time_point start;
    std::multimap<Clock::time_point, std::string>::iterator deadline_it;
  };

  std::string NewInboxLocked();
  // Removes and returns the request waiting on `inbox` (lock held).
  Pending TakeLocked(std::unordered_map<std::string, Pending>::iterator it);

  const std::string prefix_;
  Relaxed<size_t> max_pending_;
  BrokerCounters* const counters_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 0;
  // Random bytes fetched from the kernel in blocks: one getrandom(2) per 256
  // inboxes instead of one per request.
  std::array<unsigned char, 4096> random_{};
  size_t random_used_ = sizeof(random_);
  std::unordered_map<std::string, Pending> pending_;
  std::unordered_map<uint64_t, std::string> by_id_;
  std::multimap<Clock::time_point, std::string> deadlines_;
};

}  // namespace herald
