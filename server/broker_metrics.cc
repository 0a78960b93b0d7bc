#include "server/broker_metrics.h"

#include <string>

namespace herald::server {

namespace {

// herald_queue_*: one sample per work queue, labelled with its name.
void QueueFamily(MetricTable& t, const std::string& name, const std::string& type,
                 const std::string& help, uint64_t QueueInfo::*field, Trip trip = Trip::kNo) {
  t.Family(
      name, type, help,
      [field](const MetricSnapshot& x, std::vector<MetricSample>& out) {
        for (const QueueInfo& q : x.broker.queues) {
          out.push_back(
              {"", "queue=\"" + LabelValue(q.options.name) + "\"", static_cast<double>(q.*field)});
        }
      },
      trip);
}

void AddQueueMetrics(MetricTable& t) {
  t.Gauge("herald_queues", "Work queues on this node.",
          [](const MetricSnapshot& x) { return x.broker.queues.size(); });
  t.Counter(
      "herald_queue_creations_refused_total", "Work queues not created: max_queues.",
      [](const MetricSnapshot& x) { return x.broker.queues_refused; }, Trip::kYes);
  t.Gauge("herald_queue_bytes", "Payload bytes of every work queue's jobs (max_queue_bytes).",
          [](const MetricSnapshot& x) { return x.broker.queue_bytes; });
  QueueFamily(t, "herald_queue_pending", "gauge",
              "Jobs a work queue holds: waiting, delayed and in flight.", &QueueInfo::pending);
  QueueFamily(t, "herald_queue_pending_bytes", "gauge", "Payload bytes of a work queue's jobs.",
              &QueueInfo::pending_bytes);
  QueueFamily(t, "herald_queue_in_flight", "gauge", "Jobs delivered and not yet settled.",
              &QueueInfo::in_flight);
  QueueFamily(t, "herald_queue_delayed", "gauge", "Jobs waiting for a nack's delay or the backoff.",
              &QueueInfo::delayed);
  QueueFamily(t, "herald_queue_members", "gauge", "Members joined to a work queue.",
              &QueueInfo::members);
  QueueFamily(t, "herald_queue_charged_bytes", "gauge",
              "Wire bytes of unsettled jobs charged to members' connection budgets "
              "(max_outbound_bytes).",
              &QueueInfo::charged_bytes);
  QueueFamily(t, "herald_queue_owed", "gauge",
              "Deliveries past ack_wait whose members have not settled them: still charged to "
              "their budgets.",
              &QueueInfo::owed);
  QueueFamily(t, "herald_queue_enqueued_total", "counter", "Jobs a work queue took in.",
              &QueueInfo::enqueued);
  QueueFamily(t, "herald_queue_delivered_total", "counter",
              "Deliveries of jobs (first ones and redeliveries).", &QueueInfo::delivered);
  QueueFamily(t, "herald_queue_redelivered_total", "counter",
              "Deliveries after a job's first (nack, ack_wait passed, member gone).",
              &QueueInfo::redelivered);
  QueueFamily(t, "herald_queue_acked_total", "counter", "Jobs acknowledged.", &QueueInfo::acked);
  QueueFamily(t, "herald_queue_nacked_total", "counter", "Deliveries nacked.", &QueueInfo::nacked);
  QueueFamily(t, "herald_queue_expired_total", "counter",
              "Deliveries whose ack_wait passed without a settlement.", &QueueInfo::expired);
  QueueFamily(t, "herald_queue_termed_total", "counter", "Jobs termed by a member.",
              &QueueInfo::termed);
  QueueFamily(t, "herald_queue_dead_lettered_total", "counter",
              "Jobs published to the dead-letter topic (max_deliver or term).",
              &QueueInfo::dead_lettered);
  QueueFamily(t, "herald_queue_dropped_total", "counter",
              "Jobs past max_deliver or termed with no dead-letter topic: dropped.",
              &QueueInfo::dropped);
  QueueFamily(t, "herald_queue_refused_total", "counter",
              "Publishes refused because the queue was full (max_pending, max_pending_bytes, "
              "max_queue_bytes).",
              &QueueInfo::refused, Trip::kYes);
  QueueFamily(t, "herald_queue_pulls_refused_total", "counter",
              "Pulls refused: max_waiting_pulls were already waiting.", &QueueInfo::pulls_refused,
              Trip::kYes);
  QueueFamily(t, "herald_queue_backfilled_total", "counter",
              "Jobs a work queue made from its topics' history (its start: first or a time).",
              &QueueInfo::backfilled);
  QueueFamily(t, "herald_queue_backfill_skipped_total", "counter",
              "Messages of a work queue's history too large to be its jobs (max_pending_bytes, "
              "max_queue_bytes): not made jobs.",
              &QueueInfo::backfill_skipped);
}

}  // namespace

void AddPresenceMetrics(MetricTable& t) {
  t.Gauge("herald_presence_topics", "Topics with presence members or watchers.",
          [](const MetricSnapshot& x) { return x.broker.presence_topics; });
  t.Gauge("herald_presence_members", "Presence members of every topic.",
          [](const MetricSnapshot& x) { return x.broker.presence_members; });
  t.Gauge("herald_presence_bytes", "Memory presence members hold (max_presence_bytes).",
          [](const MetricSnapshot& x) { return x.broker.presence_bytes; });
  t.Counter("herald_presence_events_total",
            "Presence events sent (one per topic per event_interval at most).",
            [](const MetricSnapshot& x) { return x.broker.presence_events; });
  t.Counter("herald_presence_deliveries_total", "Presence events handed to watchers.",
            [](const MetricSnapshot& x) { return x.broker.presence_deliveries; });
  t.Counter("herald_presence_coalesced_total",
            "Presence changes sent together with others, or cancelled (join and leave).",
            [](const MetricSnapshot& x) { return x.broker.presence_coalesced; });
  t.Counter("herald_presence_resyncs_total",
            "Presence events that said only resync (over max_event_members changes).",
            [](const MetricSnapshot& x) { return x.broker.presence_resyncs; });
  t.Counter(
      "herald_presence_refused_total", "Presence joins refused: a topic's max_members.",
      [](const MetricSnapshot& x) { return x.broker.presence_refused_full; }, Trip::kYes);
  t.Counter(
      "herald_presence_refused_bytes_total", "Presence joins refused: max_presence_bytes.",
      [](const MetricSnapshot& x) { return x.broker.presence_refused_bytes; }, Trip::kYes);
  t.Gauge("herald_presence_peer_members",
          "Presence members of other cluster nodes, mirrored here (in herald_presence_members).",
          [](const MetricSnapshot& x) { return x.broker.presence_peer_members; });
  t.Counter(
      "herald_presence_peer_dropped_total",
      "Other nodes' presence joins not mirrored here: max_presence_bytes was reached.",
      [](const MetricSnapshot& x) { return x.broker.presence_peer_dropped; }, Trip::kYes);
  t.Counter(
      "herald_presence_dropped_total",
      "Presence events dropped over a connection's outbound budget (a resync is owed instead).",
      [](const MetricSnapshot& x) { return x.broker.presence_dropped; }, Trip::kYes);
  t.Gauge("herald_clients", "Client connections registered for the server API.",
          [](const MetricSnapshot& x) { return x.broker.clients; });
  t.Gauge("herald_revocations", "Revoked tokens and users remembered (max_revocations).",
          [](const MetricSnapshot& x) { return x.broker.revocations; });
  t.Counter("herald_admin_calls_total", "Server API calls made with an admin grant.",
            [](const MetricSnapshot& x) { return x.broker.admin_calls; });
  t.Counter(
      "herald_admin_denied_total", "Server API calls refused: no admin grant covering them.",
      [](const MetricSnapshot& x) { return x.broker.admin_denied; }, Trip::kYes);
  t.Counter("herald_admin_disconnects_total",
            "Connections ended by the server API: a disconnect or a revocation.",
            [](const MetricSnapshot& x) { return x.broker.admin_disconnects; });
  t.Counter("herald_auth_revoked_total", "Tokens refused because they were revoked.",
            [](const MetricSnapshot& x) { return x.broker.revoked_refusals; });
  t.Counter(
      "herald_revocations_refused_total", "Revocations refused: max_revocations were held.",
      [](const MetricSnapshot& x) { return x.broker.revocations_refused; }, Trip::kYes);
}

void AddBrokerMetrics(MetricTable& t) {
  t.Counter("herald_messages_in_total", "Messages published.",
            [](const MetricSnapshot& x) { return x.broker.messages_in; });
  t.Counter("herald_bytes_in_total", "Payload bytes published.",
            [](const MetricSnapshot& x) { return x.broker.bytes_in; });
  t.Counter("herald_messages_out_total", "Messages delivered to subscribers.",
            [](const MetricSnapshot& x) { return x.broker.deliveries; });
  t.Counter("herald_bytes_out_total", "Payload bytes delivered to subscribers.",
            [](const MetricSnapshot& x) { return x.broker.delivery_bytes; });
  t.Counter("herald_dropped_total",
            "Deliveries dropped for slow consumers, or at a worker's full inbox (reported to "
            "the subscribers as gaps).",
            [](const MetricSnapshot& x) { return x.broker.dropped; });
  t.Counter(
      "herald_inbox_dropped_total",
      "Of those, dropped because a worker's inbox held max_inbox_pending deliveries (the "
      "worker was behind, not the client).",
      [](const MetricSnapshot& x) { return x.broker.inbox_dropped; }, Trip::kYes);
  t.Counter(
      "herald_slow_consumer_disconnects_total",
      "Connections closed because they could not keep up.",
      [](const MetricSnapshot& x) { return x.broker.slow_consumer_disconnects; }, Trip::kYes);
  t.Counter("herald_publish_errors_total",
            "Publishes refused, by the broker (a bad topic, its size, a limit, the store) or "
            "before it (a client's grants, a publish hook).",
            [](const MetricSnapshot& x) { return x.broker.publish_errors; });
  t.Family(
      "herald_publish_refused_total", "counter",
      "The same by error code: invalid_topic (max_topic_length, max_topic_tokens, the naming "
      "rules), payload_too_large (max_payload_bytes), invalid_argument (headers, content type, "
      "message id), too_many_topics (max_topics), resource_exhausted (a full work queue, the "
      "store's queue or disk, a publish hook's max_in_flight), unavailable "
      "(max_held_publish_bytes, "
      "a store or an owner that cannot take it), and any other seen, permission_denied among "
      "them.",
      [](const MetricSnapshot& x, std::vector<MetricSample>& out) {
        for (size_t i = 1; i < kErrorCodeCount; ++i) {
          const auto code = static_cast<ErrorCode>(i);
          const uint64_t n = x.broker.publish_errors_by_code[i];
          const bool always =
              code == ErrorCode::kInvalidTopic || code == ErrorCode::kPayloadTooLarge ||
              code == ErrorCode::kInvalidArgument || code == ErrorCode::kResourceExhausted ||
              code == ErrorCode::kUnavailable;
          if (n == 0 && !always) continue;
          out.push_back(
              {"", "code=\"" + std::string(ErrorCodeName(code)) + "\"", static_cast<double>(n)});
        }
      },
      Trip::kYes);
  t.Counter("herald_requests_total", "Requests sent (request/reply).",
            [](const MetricSnapshot& x) { return x.broker.requests; });
  t.Counter("herald_request_timeouts_total", "Requests that got no reply before the deadline.",
            [](const MetricSnapshot& x) { return x.broker.request_timeouts; });
  t.Counter("herald_request_no_responders_total", "Requests that matched no subscriber.",
            [](const MetricSnapshot& x) { return x.broker.request_no_responders; });
  t.Counter("herald_late_replies_total", "Replies that arrived after their request was answered.",
            [](const MetricSnapshot& x) { return x.broker.late_replies; });
  t.Counter("herald_requests_cancelled_total",
            "Requests abandoned because their connection or session ended.",
            [](const MetricSnapshot& x) { return x.broker.requests_cancelled; });
  t.Counter(
      "herald_requests_refused_total",
      "Requests refused: max_pending_requests on the node, or "
      "max_pending_requests_per_connection.",
      [](const MetricSnapshot& x) { return x.broker.requests_refused; }, Trip::kYes);
  t.Counter(
      "herald_subscriptions_refused_total",
      "Subscriptions refused: max_subscriptions_per_connection.",
      [](const MetricSnapshot& x) { return x.broker.subscriptions_refused; }, Trip::kYes);
  t.Counter(
      "herald_reply_inboxes_forgotten_total",
      "Reply inboxes a session forgot, oldest first, to stay within "
      "max_reply_inboxes_per_connection (a reply to one is then refused).",
      [](const MetricSnapshot& x) { return x.broker.reply_inboxes_forgotten; }, Trip::kYes);
  t.Counter("herald_replies_refused_total",
            "Replies refused: the session was never sent a request with that reply inbox.",
            [](const MetricSnapshot& x) { return x.broker.replies_refused; });
  t.Counter("herald_history_evictions_total",
            "History messages evicted early to respect the history memory limit.",
            [](const MetricSnapshot& x) { return x.broker.history_evictions; });
  t.Counter("herald_topics_expired_total", "Idle topics forgotten.",
            [](const MetricSnapshot& x) { return x.broker.topics_expired; });
  t.Counter(
      "herald_topics_refused_total",
      "New topics refused at max_topics or max_topic_bytes (too_many_topics).",
      [](const MetricSnapshot& x) { return x.broker.topics_refused; }, Trip::kYes);
  t.Counter("herald_publish_duplicates_total",
            "Publishes with a message id seen before: acknowledged, not published again.",
            [](const MetricSnapshot& x) { return x.broker.duplicates; });
  t.Counter(
      "herald_dedup_evictions_total",
      "Message ids forgotten before their dedup window ended, to respect max_dedup_bytes.",
      [](const MetricSnapshot& x) { return x.broker.dedup_evictions; }, Trip::kYes);
  t.Gauge("herald_dedup_bytes", "Memory remembered message ids hold (idempotent publish).",
          [](const MetricSnapshot& x) { return x.broker.dedup_bytes; });
  t.Counter("herald_store_shared_loads_total",
            "Topics whose head this node loaded from the shared store to number them (it "
            "came to own them, or the store refused an append).",
            [](const MetricSnapshot& x) { return x.broker.shared_loads; });
  t.Counter("herald_store_shared_resumes_total",
            "Resumes (a subscription's replay, a history read) of topics another node owns, "
            "answered from the shared store with no round trip to the owner.",
            [](const MetricSnapshot& x) { return x.broker.shared_resumes; });
  t.Counter("herald_store_shared_catchups_total",
            "Holes in what a topic's owner sent, filled from the shared store.",
            [](const MetricSnapshot& x) { return x.broker.shared_catchups; });
  t.Counter(
      "herald_store_shared_gaps_total",
      "Holes the shared store could not fill (retention, or unreachable): subscribers got a gap.",
      [](const MetricSnapshot& x) { return x.broker.shared_gaps; }, Trip::kYes);
  t.Counter(
      "herald_store_shared_lost_total",
      "Acknowledged messages the shared store no longer held when a topic was loaded again (a "
      "Redis failover or restart lost them): the topic went on in a new epoch, resuming clients "
      "got a gap.",
      [](const MetricSnapshot& x) { return x.broker.shared_lost; }, Trip::kYes);
  t.Counter("herald_store_appends_total", "Messages the history store committed.",
            [](const MetricSnapshot& x) { return x.broker.store.appends; });
  t.Counter("herald_store_commits_total",
            "Groups the history store wrote (appends / commits = mean group size).",
            [](const MetricSnapshot& x) { return x.broker.store.commits; });
  t.Counter("herald_store_syncs_total", "fsyncs of the history store's log.",
            [](const MetricSnapshot& x) { return x.broker.store.syncs; });
  t.Counter(
      "herald_store_append_errors_total",
      "Messages the history store failed to write (their publishers got the error).",
      [](const MetricSnapshot& x) { return x.broker.store.append_errors; }, Trip::kYes);
  t.Counter(
      "herald_store_appends_refused_total",
      "Publishes refused by the history store: max_queued_bytes, max_disk_bytes, "
      "min_free_disk_bytes, or a failed store.",
      [](const MetricSnapshot& x) { return x.broker.store.appends_refused; }, Trip::kYes);
  t.Counter("herald_store_reads_total",
            "Reads of history older than memory holds, answered by the history store.",
            [](const MetricSnapshot& x) { return x.broker.store.reads; });
  t.Counter(
      "herald_store_reads_refused_total",
      "Reads of history refused by the history store: max_pending_reads, or a failed store.",
      [](const MetricSnapshot& x) { return x.broker.store.reads_refused; }, Trip::kYes);
  t.Gauge("herald_store_queued_bytes", "Bytes of messages waiting for the history store's disk.",
          [](const MetricSnapshot& x) { return x.broker.store.queued_bytes; });
  t.Gauge("herald_store_disk_bytes", "Bytes of the history store's files (tables and logs).",
          [](const MetricSnapshot& x) { return x.broker.store.disk_bytes; });
  t.Gauge("herald_store_disk_free_bytes",
          "Bytes free on the history store's filesystem (min_free_disk_bytes is kept free).",
          [](const MetricSnapshot& x) { return x.broker.store.disk_free_bytes; });
  t.Gauge("herald_store_read_bytes",
          "Replay pages read from the store and not yet delivered (max_store_read_bytes).",
          [](const MetricSnapshot& x) { return x.broker.store_read_bytes; });
  t.Gauge("herald_store_reads_waiting",
          "Replay pages waiting for max_store_read_bytes to free room.",
          [](const MetricSnapshot& x) { return x.broker.store_reads_waiting; });
  t.Gauge("herald_store_held_publish_bytes",
          "Publishes waiting for their topic's head to load from the shared store "
          "(max_held_publish_bytes).",
          [](const MetricSnapshot& x) { return x.broker.held_publish_bytes; });
  t.Gauge("herald_store_up",
          "1 while the history store is reachable (a store on a server: its connections are "
          "ready), else 0.",
          [](const MetricSnapshot& x) { return x.broker.store.reachable ? 1 : 0; });
  t.Counter("herald_store_disconnects_total",
            "Connections to the history store's server lost (each is reconnected with backoff).",
            [](const MetricSnapshot& x) { return x.broker.store.disconnects; });
  t.Counter("herald_store_failovers_total",
            "Times the history store's master moved (Redis Sentinel): writes followed it.",
            [](const MetricSnapshot& x) { return x.broker.store.failovers; });
  t.Counter("herald_store_unreplicated_total",
            "Appends no replica confirmed within redis_wait_timeout_ms (durability = "
            "\"replicated\"): failed as outcome unknown.",
            [](const MetricSnapshot& x) { return x.broker.store.unreplicated; });
  t.Counter("herald_store_tails_unproven_total",
            "Times the history store's server came back unable to show it holds every append "
            "it acknowledged (a restart without fsync, a failover without a replica's "
            "confirmation): the topics written before start new epochs, told as gaps.",
            [](const MetricSnapshot& x) { return x.broker.store.tails_unproven; });
  t.Gauge("herald_topics", "Topics known to this node.",
          [](const MetricSnapshot& x) { return x.broker.topics; });
  t.Gauge("herald_topic_bytes", "Memory held by topic state, history aside.",
          [](const MetricSnapshot& x) { return x.broker.topic_bytes; });
  t.Gauge("herald_subscriptions", "Active subscriptions of this node's clients.",
          [](const MetricSnapshot& x) { return x.broker.subscriptions; });
  t.Gauge("herald_peer_subscriptions",
          "Other cluster nodes' interest held here, one per (pattern, queue group).",
          [](const MetricSnapshot& x) { return x.broker.peer_subscriptions; });
  t.Gauge("herald_history_messages", "Messages retained in history.",
          [](const MetricSnapshot& x) { return x.broker.history_messages; });
  t.Gauge("herald_history_bytes", "Memory held by history: messages, their fields and overhead.",
          [](const MetricSnapshot& x) { return x.broker.history_bytes; });
  t.Gauge("herald_pending_requests", "Requests waiting for a reply.",
          [](const MetricSnapshot& x) { return x.broker.pending_requests; });

  t.Family("herald_request_duration_seconds", "histogram", "Time from request to first reply.",
           [](const MetricSnapshot& x, std::vector<MetricSample>& out) {
             const BrokerStats& s = x.broker;
             uint64_t cumulative = 0;
             for (size_t i = 0; i < kLatencyBucketsUs.size(); ++i) {
               cumulative += s.request_latency_buckets[i];
               char le[32];
               std::snprintf(le, sizeof le, "le=\"%g\"",
                             static_cast<double>(kLatencyBucketsUs[i]) / 1e6);
               out.push_back({"_bucket", le, static_cast<double>(cumulative)});
             }
             cumulative += s.request_latency_buckets.back();
             out.push_back({"_bucket", "le=\"+Inf\"", static_cast<double>(cumulative)});
             out.push_back({"_sum", "", static_cast<double>(s.request_latency_sum_us) / 1e6});
             out.push_back({"_count", "", static_cast<double>(s.request_latency_count)});
           });
  AddQueueMetrics(t);
  AddPresenceMetrics(t);
}

}  // namespace herald::server
