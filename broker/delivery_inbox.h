// The broker's Inbox implementation: a batched multi-producer queue drained by
// the one thread that owns the inbox's sinks.
//
// A publish pushes one item per inbox (not per subscriber): the message plus
// the slice of the match result that lives on this inbox; Drain() fans it out
// to those subscribers. The producer side takes a short lock and wakes the
// owner only on the empty -> non-empty edge, so a burst of publishes costs one
// wake-up. Past max_pending items, new deliveries are dropped and each
// affected subscription gets one coalesced kSlowConsumer gap per topic, after
// the deliveries that were already queued.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "broker/counters.h"
#include "broker/match_result.h"
#include "herald/inbox.h"

namespace herald {

class DeliveryInbox final : public Inbox {
 public:
  struct Item {
    MessagePtr message;    // null for a gap item
    MatchResultPtr match;  // fan-out: deliver to match->plain[slice]
    uint32_t slice = 0;
    SubscriptionPtr target;  // single target: a queue-group member or a replay
    int group = -1;          // >= 0: target was picked from match->groups[group]
    std::shared_ptr<const Gap> gap;
  };
  // Called when a queue-group delivery finds its chosen member gone: picks
  // another live member (any thread may run it; here the owner's).
  using Redispatch = std::function<void(const MessagePtr&, const Subscription& gone)>;

  DeliveryInbox(std::function<void()> wake, size_t max_pending, BrokerCounters* counters,
                Redispatch redispatch);

  // Any thread.
  void Push(Item item);
  size_t pending() const override;
  // Owner thread.
  size_t Drain() override;

 private:
  struct Dropped {
    MatchResultPtr keep_match;
    SubscriptionPtr keep_target;
    Subscription* sub;
    Gap gap;
  };
  void RecordDropLocked(const Item& item);
  void NoteDrop(Subscription* sub, const Item& item);
  size_t DeliverItem(const Item& item);

  const std::function<void()> wake_;
  const size_t max_pending_;
  BrokerCounters* const counters_;
  const Redispatch redispatch_;

  mutable std::mutex mu_;
  std::vector<Item> pending_;
  bool wake_pending_ = false;
  std::map<std::pair<uint64_t, std::string>, Dropped> dropped_;  // (subscription, topic)
  std::vector<Item> draining_;  // owner thread only; kept to reuse its capacity
};

}  // namespace herald
