// The subscribers a topic matches, grouped the way publishing needs them:
// plain subscribers by inbox (one queue push per inbox, not per subscriber),
// and queue groups as member lists from which one member is picked per message.
// Immutable once built and shared between the match cache and in-flight
// deliveries.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "broker/subscription.h"

namespace herald {

struct QueueGroupCursor {
  std::atomic<uint64_t> next{0};  // round-robin position, shared by all results of the group
};

struct MatchResult {
  struct InboxSlice {
    DeliveryInbox* inbox = nullptr;
    std::vector<Subscription*> subscriptions;
  };
  struct GroupSlice {
    std::vector<SubscriptionPtr> members;  // owning: a picked member goes into an inbox item
    std::shared_ptr<QueueGroupCursor> cursor;
  };

  std::vector<InboxSlice> plain;
  std::vector<GroupSlice> groups;
  std::vector<SubscriptionPtr> owners;  // keeps the plain subscriptions above alive

  bool empty() const { return plain.empty() && groups.empty(); }

  // Picks the next live member of groups[g] in round-robin order, skipping
  // `exclude`; nullptr when none is live.
  const SubscriptionPtr* PickMember(size_t g, const Subscription* exclude = nullptr) const;
};

using MatchResultPtr = std::shared_ptr<const MatchResult>;

}  // namespace herald
