// herald/broker_options.h — every limit and default of the broker core.
//
// All limits are configurable (heraldd maps them to config keys, see
// docs/CONFIG.md); the defaults suit a single node serving browsers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "herald/presence.h"
#include "herald/topic.h"

namespace herald {

class HistoryStore;

// Bounds of one topic's history. A message leaves history when any bound is hit.
struct HistoryLimits {
  size_t max_messages = 1000;
  size_t max_bytes = 1 << 20;  // payload bytes (the node-wide budget counts all memory)
  std::chrono::milliseconds max_age = std::chrono::hours(1);
};

// History bounds for the topics a pattern matches; first matching rule wins,
// topics no rule matches use BrokerOptions::default_history. max_messages = 0
// turns history off for those topics.
struct HistoryRule {
  std::string pattern;
  HistoryLimits limits;
};

struct BrokerOptions {
  // Names this node in reply inboxes (`_INBOX.<node_id>.<random>`). Dots not allowed.
  std::string node_id = "herald";
  TopicLimits topic_limits;
  size_t max_payload_bytes = 1 << 20;
  size_t max_subscriptions_per_sink = 1024;
  // Topics the node tracks at once, and the memory their state may take
  // (about 0.4 KB plus twice the name each, history aside: see
  // TopicTable::Cost). Publishing to a new topic past either fails with
  // kTooManyTopics; existing topics keep working, idle ones expire.
  size_t max_topics = 100'000;
  size_t max_topic_bytes = 64u << 20;
  // Memory history may hold across all topics (messages with their fields
  // and overhead: TopicHistory::Cost); past it, the oldest history of the
  // topic being published to is trimmed first (resumes then report a gap).
  size_t max_history_bytes = 256u << 20;
  HistoryLimits default_history;
  std::vector<HistoryRule> history_rules;
  // Who is in a topic (herald/presence.h): its bounds and per-topic rules.
  PresenceLimits presence;
  // A topic with no history left and no publish for this long is forgotten;
  // its numbering restarts with a new epoch if it is published to again.
  std::chrono::milliseconds topic_idle_ttl = std::chrono::hours(1);
  // Request/reply. A request's deadline is at most max_request_timeout (a
  // longer one is shortened to it, whichever front or API asked); at most
  // max_pending_requests wait on this node at once (resource_exhausted past
  // it). The two per-session bounds are enforced by every front's session
  // layer (frontends/session/): requests one connection or gRPC session may
  // have waiting, and request inboxes it may answer (the reply_to of requests
  // delivered to it and not yet answered; past it the oldest is forgotten).
  std::chrono::milliseconds max_request_timeout = std::chrono::seconds(60);
  size_t max_pending_requests = 100'000;
  size_t max_pending_requests_per_session = 256;
  size_t max_reply_inboxes_per_session = 1024;
  // Idempotent publish (PublishOptions::msg_id): ids are remembered per
  // topic for dedup_window; with a history store they survive a restart.
  // Their memory (id, position, overhead) across all topics is bounded by
  // max_dedup_bytes: past it the oldest ids of the topic being published to
  // are forgotten first (counted as dedup evictions).
  std::chrono::milliseconds dedup_window = std::chrono::minutes(2);
  size_t max_dedup_bytes = 64u << 20;
  // Deliveries waiting in one inbox before further ones are dropped with a gap.
  size_t max_inbox_pending = 1 << 20;
  // How often the maintenance thread trims history by age and forgets idle topics.
  std::chrono::milliseconds maintenance_interval = std::chrono::seconds(1);
  // Where history is kept beyond memory (herald/history_store.h), e.g. the
  // disk store of herald/disk_store.h; null keeps it in memory only, and a
  // restart starts every topic in a new epoch. The broker loads what the
  // store holds as it is constructed.
  std::shared_ptr<HistoryStore> store;
  // Replay pages read from the store and not yet delivered, across every
  // subscription on the node that resumes from older than memory: a page
  // (up to 1 MiB) is charged from its read until its inbox has delivered it
  // to the subscriber's session. A page that does not fit waits its turn
  // (it is not refused); one page always goes when nothing is held.
  size_t max_store_read_bytes = 64u << 20;
  // With a shared store in a cluster: payload bytes of publishes waiting for
  // their topic's head to load from the store (one round trip, after the
  // topic's owner changed), across every topic on the node. Past it a
  // publish is refused with unavailable.
  size_t max_held_publish_bytes = 16u << 20;
  // Work queues (herald/work_queue.h): at most max_queues on this node;
  // the payload bytes of their jobs at most max_queue_bytes all together (a
  // publish past it is refused: resource_exhausted); at most
  // max_waiting_pulls pulls waiting per queue.
  size_t max_queues = 1024;
  size_t max_queue_bytes = 256u << 20;
  size_t max_waiting_pulls = 1024;
  // The server API (herald/clients.h): at most max_revocations live
  // revocations (resource_exhausted past it), each kept at most
  // max_revocation_ttl; an answer lists at most max_admin_results clients
  // or topics.
  size_t max_revocations = 100'000;
  std::chrono::milliseconds max_revocation_ttl = std::chrono::hours(24 * 30);
  size_t max_admin_results = 10'000;
  // Wall clock in microseconds; replaceable in tests.
  std::function<int64_t()> clock;
};

// The bounds of BrokerOptions a running broker can change
// (Broker::SetLimits, heraldd's reload); see there for what a change does
// to what is already held. The rest of BrokerOptions is read at
// construction only: topic_limits (a topic valid yesterday stays valid),
// max_inbox_pending (the inboxes are made at start), dedup_window (the ids
// already remembered), history rules and presence, the store, the clock.
// Make one with Of(options) or Broker::limits(): a bound left at 0 here
// refuses everything it bounds.
struct BrokerLimits {
  size_t max_payload_bytes = 0;
  size_t max_subscriptions_per_sink = 0;
  size_t max_topics = 0;
  size_t max_topic_bytes = 0;
  size_t max_history_bytes = 0;
  size_t max_store_read_bytes = 0;
  size_t max_held_publish_bytes = 0;
  std::chrono::milliseconds max_request_timeout{0};
  size_t max_pending_requests = 0;
  size_t max_pending_requests_per_session = 0;
  size_t max_reply_inboxes_per_session = 0;
  size_t max_dedup_bytes = 0;
  size_t max_queues = 0;
  size_t max_queue_bytes = 0;
  size_t max_waiting_pulls = 0;
  size_t max_revocations = 0;
  std::chrono::milliseconds max_revocation_ttl{0};
  size_t max_admin_results = 0;

  static BrokerLimits Of(const BrokerOptions& o) {
    return {.max_payload_bytes = o.max_payload_bytes,
            .max_subscriptions_per_sink = o.max_subscriptions_per_sink,
            .max_topics = o.max_topics,
            .max_topic_bytes = o.max_topic_bytes,
            .max_history_bytes = o.max_history_bytes,
            .max_store_read_bytes = o.max_store_read_bytes,
            .max_held_publish_bytes = o.max_held_publish_bytes,
            .max_request_timeout = o.max_request_timeout,
            .max_pending_requests = o.max_pending_requests,
            .max_pending_requests_per_session = o.max_pending_requests_per_session,
            .max_reply_inboxes_per_session = o.max_reply_inboxes_per_session,
            .max_dedup_bytes = o.max_dedup_bytes,
            .max_queues = o.max_queues,
            .max_queue_bytes = o.max_queue_bytes,
            .max_waiting_pulls = o.max_waiting_pulls,
            .max_revocations = o.max_revocations,
            .max_revocation_ttl = o.max_revocation_ttl,
            .max_admin_results = o.max_admin_results};
  }
};

}  // namespace herald
