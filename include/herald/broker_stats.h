// herald/broker_stats.h — counters and gauges of the broker core, for /metrics.
#pragma once

#include <array>
#include <cstdint>

#include <vector>

#include "herald/history_store.h"
#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald {

// Upper bounds (microseconds) of the request latency histogram buckets; the
// last bucket is +Inf.
inline constexpr std::array<uint64_t, 12> kLatencyBucketsUs = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

struct BrokerStats {
  HistoryStoreStats store;  // all zero without a history store
  // Counters (monotonic).
  uint64_t messages_in = 0;     // messages published
  uint64_t bytes_in = 0;        // payload bytes published
  uint64_t deliveries = 0;      // messages handed to sinks
  uint64_t delivery_bytes = 0;  // payload bytes handed to sinks
  uint64_t dropped = 0;         // deliveries dropped (slow consumer, inbox overflow)
  uint64_t inbox_dropped = 0;   // of those, at a worker inbox's max_inbox_pending
  uint64_t slow_consumer_disconnects = 0;
  // Publishes refused: by the broker (bad topic, too large, limits, the
  // store) or before it (Broker::RecordRefusedPublish: grants, hooks).
  uint64_t publish_errors = 0;
  // The same by error code (index: ErrorCode), for /metrics' `code` label.
  std::array<uint64_t, kErrorCodeCount> publish_errors_by_code{};
  uint64_t requests = 0;
  uint64_t request_timeouts = 0;
  uint64_t request_no_responders = 0;
  uint64_t late_replies = 0;             // replies to a request already answered or timed out
  uint64_t requests_cancelled = 0;       // abandoned when their connection or session ended
  uint64_t requests_refused = 0;         // over max_pending_requests or the per-session bound
  uint64_t replies_refused = 0;          // replies to an inbox the session was never sent
  uint64_t subscriptions_refused = 0;    // over max_subscriptions_per_connection
  uint64_t reply_inboxes_forgotten = 0;  // past max_reply_inboxes_per_connection, oldest first
  uint64_t queues_refused = 0;           // work queues not created: max_queues
  uint64_t history_evictions = 0;        // history trimmed early to respect max_history_bytes
  uint64_t duplicates = 0;               // publishes acknowledged as duplicates of a msg_id
  uint64_t dedup_evictions = 0;          // ids forgotten early to respect max_dedup_bytes
  uint64_t topics_expired = 0;
  // A shared store in a cluster (SharedHistoryStore): topics whose head this
  // node loaded to number them, holes in what an owner sent filled from the
  // store, and holes it could not fill (told to subscribers as gaps).
  uint64_t shared_loads = 0;
  uint64_t shared_catchups = 0;
  uint64_t shared_gaps = 0;
  // Resumes of topics another node owns, answered from the shared store
  // (its head, then its history): no round trip to the owner.
  uint64_t shared_resumes = 0;
  // Messages this node saw acknowledged in a topic's epoch that the shared
  // store no longer held when the topic was loaded again (a Redis failover
  // or a restart without fsync lost them). The topic went on in a new
  // epoch: resuming clients were told of the gap, no offset was reused.
  uint64_t shared_lost = 0;
  uint64_t topics_refused = 0;  // new topics refused (max_topics or max_topic_bytes)
  // Gauges.
  uint64_t topics = 0;
  uint64_t topic_bytes = 0;         // memory of topic state, history aside (TopicTable::Cost)
  uint64_t subscriptions = 0;       // of this node's own clients
  uint64_t peer_subscriptions = 0;  // other cluster nodes' interest, held here
  uint64_t history_messages = 0;
  uint64_t history_bytes = 0;  // memory history holds (TopicHistory::Cost)
  uint64_t dedup_bytes = 0;    // memory remembered message ids hold (DedupTable::Cost)
  uint64_t pending_requests = 0;
  uint64_t store_read_bytes = 0;     // replay pages read from the store, not yet delivered
  uint64_t store_reads_waiting = 0;  // replay pages waiting for max_store_read_bytes
  uint64_t held_publish_bytes = 0;   // publishes waiting for a shared store's load
  // Request latency histogram: counts per bucket of kLatencyBucketsUs, then +Inf.
  std::array<uint64_t, kLatencyBucketsUs.size() + 1> request_latency_buckets{};
  uint64_t request_latency_sum_us = 0;
  uint64_t request_latency_count = 0;
  // Work queues: each one's settings and counts, and their jobs' payload
  // bytes together (max_queue_bytes).
  std::vector<QueueInfo> queues;
  uint64_t queue_bytes = 0;
  // Presence (herald/presence.h): gauges, then counters.
  uint64_t presence_topics = 0;
  uint64_t presence_members = 0;
  uint64_t presence_bytes = 0;          // what max_presence_bytes bounds
  uint64_t presence_events = 0;         // events sent (one per topic per interval at most)
  uint64_t presence_deliveries = 0;     // events pushed to watchers, snapshots aside
  uint64_t presence_coalesced = 0;      // changes sent together with others, or cancelled
  uint64_t presence_resyncs = 0;        // events that said only `resync`
  uint64_t presence_refused_full = 0;   // joins past a topic's max_members
  uint64_t presence_refused_bytes = 0;  // joins past max_presence_bytes
  uint64_t presence_peer_members = 0;   // gauge: other nodes' members, mirrored here
  uint64_t presence_peer_dropped = 0;   // peers' joins not mirrored (max_presence_bytes)
  uint64_t presence_dropped = 0;        // events dropped over a connection's budget (a resync owed)
  // The server API (herald/clients.h).
  uint64_t clients = 0;              // gauge: registered connections
  uint64_t revocations = 0;          // gauge: live revocations
  uint64_t admin_calls = 0;          // calls made by a client with the grant
  uint64_t admin_denied = 0;         // calls refused: no admin grant
  uint64_t admin_disconnects = 0;    // connections ended by a disconnect or a revocation
  uint64_t revoked_refusals = 0;     // tokens refused because they were revoked
  uint64_t revocations_refused = 0;  // revocations refused: max_revocations
};

}  // namespace herald
