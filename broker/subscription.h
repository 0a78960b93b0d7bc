// One subscription: a pattern, an optional queue group, and the sink and
// inbox its deliveries go to. Shared by the index, match results and inbox
// items, so a subscription removed while deliveries are in flight stays valid
// memory; `active` tells the inbox to skip it.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "herald/delivery.h"

namespace herald {

class DeliveryInbox;

// The broker's access to Sink's private subscription count (guarded by the
// broker's subscription mutex).
class SinkAccounting {
 public:
  static uint32_t& Count(Sink& sink) { return sink.subscriptions_; }
};

// A topic of a subscription resuming on a node that does not own it: the
// owner's history is on its way. Live messages wait until it is delivered;
// after it, live messages it already covered are dropped until a newer one
// passes (the owner sends one topic's messages in order, so no older one can
// follow a newer one).
struct RemoteHold {
  bool replayed = false;
  uint64_t epoch = 0;  // what the replay covered (once replayed)
  uint64_t last = 0;
  std::vector<MessagePtr> waiting;
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
  bool peer = false;  // a peer node's interest (cluster), not a local subscriber
  // Topics whose resume comes from their owner node (see RemoteHold).
  // Created before the subscription is indexed, then touched only by the
  // inbox thread.
  std::unique_ptr<std::map<std::string, RemoteHold, std::less<>>> held;
};

using SubscriptionPtr = std::shared_ptr<Subscription>;

}  // namespace herald
