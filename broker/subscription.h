// One subscription: a pattern, an optional queue group, and the sink and
// inbox its deliveries go to. Shared by the index, match results and inbox
// items, so a subscription removed while deliveries are in flight stays valid
// memory; `active` tells the inbox to skip it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "broker/remote_holds.h"
#include "herald/delivery.h"

namespace herald {

class DeliveryInbox;

// The broker's access to Sink's private subscription count (guarded by the
// broker's subscription mutex).
class SinkAccounting {
 public:
  static uint32_t& Count(Sink& sink) { return sink.subscriptions_; }
};

struct Subscription {
  uint64_t id = 0;
  std::string pattern;
  std::string queue_group;  // empty: plain subscriber
  std::shared_ptr<Sink> sink;
  // Owned by the broker's inbox registry, which outlives every subscription.
  // Not a shared_ptr: an inbox's queued items hold match results that hold
  // subscriptions, and that would be a reference cycle.
  DeliveryInbox* inbox = nullptr;
  std::atomic<bool> active{true};
  // Cluster only: topics whose resume comes from their owner node. Kept here,
  // not in a side table, because the inbox checks it on every delivery (a
  // null check for everyone else). Whether the subscription is a peer's
  // interest is ClusterView's to say (by its inbox).
  std::unique_ptr<RemoteHolds> held;
  // How many times this node had announced new interest to its peers once
  // this subscription was made, its own included (Broker::Impl::
  // interest_seq_).
  uint64_t interest_seq = 0;
  // A work-queue membership: its jobs pushed to the inbox and not yet
  // drained (the queue's in-flight bound counts them).
  std::atomic<uint32_t> queued_jobs{0};
  // A presence subscription: the client it made a member of its topic
  // (empty: none). Its end is that member's leave.
  std::string presence_client;
};

using SubscriptionPtr = std::shared_ptr<Subscription>;

}  // namespace herald
