// broker/live_limits.h — the broker's BrokerLimits as they apply now.
//
// Read on every operation that checks one (a publish, a subscribe, a pull)
// and swapped by Broker::SetLimits at a reload, so each is a relaxed atomic
// (base/relaxed.h): a plain load on the hot path, no lock. The caps that a
// component counts against (topics, pending requests, queues, revocations,
// the store read budget) are that component's own; SetLimits hands them
// over, and these copies answer Broker::limits().
#pragma once

#include <cstdint>

#include "base/relaxed.h"
#include "herald/broker_options.h"

namespace herald {

// Every field of BrokerLimits, once.
#define HERALD_BROKER_LIMITS(X)       \
  X(max_payload_bytes)                \
  X(max_subscriptions_per_sink)       \
  X(max_topics)                       \
  X(max_topic_bytes)                  \
  X(max_history_bytes)                \
  X(max_store_read_bytes)             \
  X(max_held_publish_bytes)           \
  X(max_request_timeout)              \
  X(max_pending_requests)             \
  X(max_pending_requests_per_session) \
  X(max_reply_inboxes_per_session)    \
  X(max_dedup_bytes)                  \
  X(max_queues)                       \
  X(max_queue_bytes)                  \
  X(max_waiting_pulls)                \
  X(max_revocations)                  \
  X(max_revocation_ttl)               \
  X(max_admin_results)

struct LiveLimits {
  explicit LiveLimits(const BrokerLimits& l) { Set(l); }

  void Set(const BrokerLimits& l) {
#define HERALD_SET(name) name.store(l.name);
    HERALD_BROKER_LIMITS(HERALD_SET)
#undef HERALD_SET
  }
  BrokerLimits Get() const {
    BrokerLimits l;
#define HERALD_GET(name) l.name = name.load();
    HERALD_BROKER_LIMITS(HERALD_GET)
#undef HERALD_GET
    return l;
  }

#define HERALD_FIELD(name) Relaxed<decltype(BrokerLimits::name)> name;
  HERALD_BROKER_LIMITS(HERALD_FIELD)
#undef HERALD_FIELD
};

// A field added to BrokerLimits and not to the list above fails here (on
// 64-bit targets, where every field is 8 bytes and there is no padding).
#define HERALD_COUNT(name) +1
static_assert(sizeof(size_t) != 8 ||
                  sizeof(BrokerLimits) == (0 HERALD_BROKER_LIMITS(HERALD_COUNT)) * sizeof(uint64_t),
              "HERALD_BROKER_LIMITS must name every field of BrokerLimits");
#undef HERALD_COUNT

}  // namespace herald
