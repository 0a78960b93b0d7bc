// The Broker facade, the Impl's lifetime, statistics and maintenance.
#include "herald/broker.h"

#include <future>

#include "base/thread_name.h"
#include "broker/broker_impl.h"

#include <cstdio>
#include <random>

namespace herald {

std::string_view GapReasonName(GapReason reason) {
  switch (reason) {
    case GapReason::kEpochChanged:
      return "epoch_changed";
    case GapReason::kTrimmed:
      return "trimmed";
    case GapReason::kSlowConsumer:
      return "slow_consumer";
  }
  return "unknown";
}

namespace {

// How long a stop waits for the dead letters it publishes (the store's
// commit, or a Redis round trip). One still unanswered then stays a job, at
// least once: on a shared store it is not offered again before its lease
// runs out; on this node's own store it comes back at the next start, to be
// delivered again (or dead-lettered, past max_deliver). Its answer may still
// come during the stop: the store's Drain() waits for it, so nothing the
// answer touches (dead_mu_, dead_cv_, the queue) is gone before it runs.
constexpr std::chrono::seconds kStopDeadLetterWindow{5};

// "<node id>.<run>": a run is 64 random bits, so a restart can tell its
// own earlier leases from its current ones (SharedQueueStore::ReleaseEarlier);
// node ids hold no dot, so "<node id>." is no other node's prefix.
std::string QueueHolder(const std::string& node_id) {
  std::random_device rd;
  const uint64_t run = (uint64_t{rd()} << 32) ^ rd();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(run));
  return node_id + "." + hex;
}

}  // namespace

Broker::Impl::Impl(BrokerOptions options)
    : options_(std::move(options)),
      store_(options_.store.get()),
      shared_(dynamic_cast<SharedHistoryStore*>(store_)),
      queue_store_(dynamic_cast<QueueStore*>(store_)),
      revocation_store_(dynamic_cast<RevocationStore*>(store_)),
      shared_queues_(dynamic_cast<SharedQueueStore*>(store_)),
      queue_holder_(QueueHolder(options_.node_id)),
      topics_(options_.max_topics, options_.max_topic_bytes),
      tracker_(options_.node_id, options_.max_pending_requests, &counters_),
      queues_(options_.max_queues, RandomHandleNonce(), queue_store_, shared_queues_,
              queue_holder_),
      presence_(
          options_.presence,
          [](const SubscriptionPtr& watcher, std::shared_ptr<const PresenceEvent> event) {
            DeliveryInbox::Item item;
            item.target = watcher;
            item.presence = std::move(event);
            watcher->inbox->Push(std::move(item));
          },
          // The maintenance thread's wake-up is the queues' (one deadline,
          // the earliest: FlushPresence and ExpireQueues both feed it).
          [this](int64_t due_us) { NoteQueueDeadline(due_us); }),
      read_budget_(options_.max_store_read_bytes, [this] {
        {
          std::lock_guard lock(maintenance_mu_);
          reads_ready_ = true;
        }
        maintenance_cv_.notify_one();
      }) {
  // Peers hear of local members (no-op without a cluster).
  presence_.OnLocalChange([this](const std::string& topic, const PresenceMember& m, bool joined) {
    cluster_.PresenceChanged(topic, m, joined);
  });
  dispatcher_ = std::make_unique<Dispatcher>(
      [this](std::function<void()> wake) { return CreateInbox(std::move(wake)); });
  if (store_) LoadStored(store_->recovery().complete, store_->TakeTopics());
  if (queue_store_) RestoreQueues();
  if (revocation_store_) RestoreRevocations();
  maintenance_ = std::thread([this] {
    NameThisThread("herald-maint");
    MaintenanceLoop();
  });
}

Broker::Impl::~Impl() {
  {
    std::lock_guard lock(maintenance_mu_);
    stopping_ = true;
  }
  maintenance_cv_.notify_one();
  maintenance_.join();
  // Dead letters made just before the stop (a term, a last nack) are
  // published, not dropped: dropped, a shared store would hold the job back
  // until its lease ran out, and a store of this node's own would offer it
  // again at the next start though it was termed. Not on a node that was in
  // a cluster: by now it is detached, and would number a dead-letter topic
  // that another node owns as if it were alone.
  bool clustered;
  {
    std::lock_guard lock(subs_mu_);
    clustered = cluster_.peer_inbox() != nullptr;  // set by Attach, for good
  }
  if (!clustered) FlushDeadLetters(kStopDeadLetterWindow);
  // Waiting pulls are answered (not_found): their callers may wait on them.
  CloseQueues();
  // Replay pages still waiting for the budget are not read: their
  // subscriptions go with the broker.
  read_budget_.Close();
  // Completions still queued in the store refer to this broker.
  if (store_) store_->Drain();
  tracker_.FailAll(Status(ErrorCode::kUnavailable, "broker is shutting down"));
  dispatcher_.reset();
}

void Broker::Impl::MaintenanceLoop() {
  using Clock = RequestTracker::Clock;
  Clock::time_point next_sweep = Clock::now() + options_.maintenance_interval;
  Clock::time_point next_deadline = Clock::time_point::max();
  std::unique_lock lock(maintenance_mu_);
  while (!stopping_) {
    maintenance_cv_.wait_until(lock, std::min(next_sweep, next_deadline), [this] {
      return stopping_ || deadline_changed_ || reads_ready_ || dead_ready_;
    });
    if (stopping_) break;
    deadline_changed_ = false;
    const bool reads_ready = std::exchange(reads_ready_, false);
    const bool dead_ready = std::exchange(dead_ready_, false);
    lock.unlock();
    if (dead_ready) PublishDeadLetters();
    if (reads_ready) {
      for (auto& [start, charge] : read_budget_.TakeReady()) start(std::move(charge));
    }
    const Clock::time_point now = Clock::now();
    next_deadline = std::min({tracker_.ExpireDue(now), ExpireQueues(now), FlushPresence(now)});
    if (now >= next_sweep) {
      RunMaintenance();
      next_sweep = now + options_.maintenance_interval;
    }
    lock.lock();
  }
}

void Broker::Impl::RunMaintenance() {
  const int64_t now = NowUs();
  const int64_t idle_us =
      std::chrono::duration_cast<std::chrono::microseconds>(options_.topic_idle_ttl).count();
  const int64_t ids_before =
      now - std::chrono::duration_cast<std::chrono::microseconds>(options_.dedup_window).count();
  if (store_) store_->ExpireIds(ids_before);
  revocations_.Expire(now / 1'000'000, [this](const Revocation& r) {
    if (revocation_store_) revocation_store_->DeleteRevocation(r);
  });
  // A lowered max_history_bytes or max_dedup_bytes (SetLimits) leaves the
  // node over it: every topic keeps the same share of what it holds, its
  // newest part, so one sweep brings the node within the bound (a publish
  // meanwhile trims only its own topic, and keeps its newest message).
  auto share = [](const BrokerCounters::Counter& held, size_t max) {
    const uint64_t h = held.load(std::memory_order_relaxed);
    return h > max ? static_cast<double>(max) / static_cast<double>(h) : 1.0;
  };
  const double history_share = share(counters_.history_bytes, limits_.max_history_bytes);
  const double dedup_share = share(counters_.dedup_bytes, limits_.max_dedup_bytes);
  std::vector<std::string> stalled;  // holes whose read the store refused
  topics_.RemoveIf([&](TopicState& ts) {
    std::lock_guard lock(ts.mu);
    if (ts.catching_up && ts.catch_up_stalled) stalled.push_back(ts.name);
    BrokerCounters::Sub(counters_.history_bytes, ts.history.TrimByAge(now));
    if (history_share < 1) KeepShare(ts, history_share);
    if (ts.dedup) {
      BrokerCounters::Sub(counters_.dedup_bytes, ts.dedup->ExpireBefore(ids_before));
      if (dedup_share < 1) KeepIdShare(ts, dedup_share);
      if (ts.dedup->empty()) ts.dedup.reset();
    }
    // The store applies the topic's retention to what it holds (once per
    // sweep, not once per message); memory holds its newest part.
    RetainStored(ts, now);
    const bool stored = store_ && ts.history.enabled() && ts.store_first <= ts.last_offset;
    if (!ts.history.empty() || stored || ts.store_pending > 0 || ts.dedup || ts.catching_up ||
        ts.shared_load == TopicState::SharedLoad::kLoading || now - ts.last_activity_us < idle_us) {
      return false;
    }
    // A shared store's topics outlive this node's interest in them: other
    // nodes write and read them (its retention trims them).
    if (store_ && ts.history.enabled() && !SharedNumbering(ts)) store_->Forget(ts.name);
    ts.removed = true;
    BrokerCounters::Add(counters_.topics_expired, 1);
    return true;
  });
  RetryStalledCatchUps(stalled);
  RetryReplays();
}

void Broker::Impl::KeepShare(TopicState& ts, double share) {
  const size_t before = ts.history.cost();
  const auto keep = static_cast<size_t>(static_cast<double>(before) * share);
  while (!ts.history.empty() && ts.history.cost() > keep) {
    ts.history.DropOldest();
    ts.history_evicted = true;  // with a store, older history is read from it
    BrokerCounters::Add(counters_.history_evictions, 1);
  }
  BrokerCounters::Sub(counters_.history_bytes, before - ts.history.cost());
}

void Broker::Impl::KeepIdShare(TopicState& ts, double share) {
  const size_t before = ts.dedup->cost();
  const auto keep = static_cast<size_t>(static_cast<double>(before) * share);
  while (ts.dedup->cost() > keep && ts.dedup->DropOldest() != 0) {
    BrokerCounters::Add(counters_.dedup_evictions, 1);
  }
  BrokerCounters::Sub(counters_.dedup_bytes, before - ts.dedup->cost());
}

void Broker::Impl::RecordRefused(bool reply) {
  BrokerCounters::Add(reply ? counters_.replies_refused : counters_.requests_refused, 1);
}

void Broker::Impl::RecordSlowConsumer(uint64_t dropped, bool disconnected) {
  BrokerCounters::Add(counters_.dropped, dropped);
  if (disconnected) BrokerCounters::Add(counters_.slow_consumer_disconnects, 1);
}

BrokerStats Broker::Impl::Stats() const {
  auto get = [](const BrokerCounters::Counter& c) { return c.load(std::memory_order_relaxed); };
  BrokerStats s;
  if (store_) s.store = store_->Stats();
  s.queues = ListQueues();
  s.queue_bytes = queues_.bytes();
  const PresenceCounters& pc = presence_.counters();
  s.presence_topics = get(pc.topics);
  s.presence_members = get(pc.members);
  s.presence_bytes = get(pc.bytes);
  s.presence_events = get(pc.events);
  s.presence_deliveries = get(pc.deliveries);
  s.presence_coalesced = get(pc.coalesced);
  s.presence_resyncs = get(pc.resyncs);
  s.presence_refused_full = get(pc.refused_full);
  s.presence_refused_bytes = get(pc.refused_bytes);
  s.presence_peer_members = get(pc.peer_members);
  s.presence_peer_dropped = get(pc.peer_dropped);
  s.presence_dropped = get(pc.dropped);
  s.clients = clients_->size();
  s.revocations = revocations_.size();
  s.admin_calls = get(counters_.admin_calls);
  s.admin_denied = get(counters_.admin_denied);
  s.admin_disconnects = get(counters_.admin_disconnects);
  s.revoked_refusals = get(counters_.revoked_refusals);
  s.revocations_refused = get(counters_.revocations_refused);
  const TopicTable::Totals totals = topics_.Sum();
  s.messages_in = totals.messages_in + get(counters_.replies_in);
  s.bytes_in = totals.bytes_in + get(counters_.reply_bytes_in);
  s.history_messages = totals.history_messages;
  s.topics = topics_.size();
  s.topic_bytes = topics_.bytes();
  s.topics_refused = topics_.refused();
  s.subscriptions_refused = get(counters_.subscriptions_refused);
  s.inbox_dropped = get(counters_.inbox_dropped);
  s.reply_inboxes_forgotten = get(counters_.reply_inboxes_forgotten);
  s.queues_refused = queues_.refused();
  s.deliveries = get(counters_.deliveries);
  s.delivery_bytes = get(counters_.delivery_bytes);
  s.dropped = get(counters_.dropped);
  s.slow_consumer_disconnects = get(counters_.slow_consumer_disconnects);
  s.publish_errors = get(counters_.publish_errors);
  for (size_t i = 0; i < kErrorCodeCount; ++i) {
    s.publish_errors_by_code[i] = get(counters_.publish_errors_by_code[i]);
  }
  s.requests = get(counters_.requests);
  s.request_timeouts = get(counters_.request_timeouts);
  s.request_no_responders = get(counters_.request_no_responders);
  s.late_replies = get(counters_.late_replies);
  s.requests_cancelled = get(counters_.requests_cancelled);
  s.requests_refused = get(counters_.requests_refused);
  s.replies_refused = get(counters_.replies_refused);
  s.history_evictions = get(counters_.history_evictions);
  s.duplicates = get(counters_.duplicates);
  s.dedup_evictions = get(counters_.dedup_evictions);
  s.shared_loads = get(counters_.shared_loads);
  s.shared_resumes = get(counters_.shared_resumes);
  s.shared_catchups = get(counters_.shared_catchups);
  s.shared_gaps = get(counters_.shared_gaps);
  s.shared_lost = get(counters_.shared_lost);
  s.dedup_bytes = get(counters_.dedup_bytes);
  s.topics_expired = get(counters_.topics_expired);
  s.subscriptions = get(counters_.subscriptions);
  s.peer_subscriptions = get(counters_.peer_subscriptions);
  s.history_bytes = get(counters_.history_bytes);
  s.store_read_bytes = read_budget_.held();
  s.store_reads_waiting = read_budget_.waiting();
  s.held_publish_bytes = get(counters_.held_publish_bytes);
  s.pending_requests = tracker_.pending();
  for (size_t i = 0; i < s.request_latency_buckets.size(); ++i) {
    s.request_latency_buckets[i] = get(counters_.latency_buckets[i]);
  }
  s.request_latency_sum_us = get(counters_.latency_sum_us);
  s.request_latency_count = get(counters_.latency_count);
  return s;
}

// --- Facade -----------------------------------------------------------------

Broker::Broker(BrokerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Broker::~Broker() = default;

Result<PublishAck> Broker::Publish(std::string_view topic, std::string payload,
                                   PublishOptions options) {
  return impl_->Publish(topic, std::move(payload), std::move(options));
}

void Broker::PublishAsync(std::string_view topic, std::string payload, PublishOptions options,
                          std::function<void(Result<PublishAck>)> done) {
  impl_->PublishAsync(topic, std::move(payload), std::move(options), std::move(done));
}

std::shared_ptr<Inbox> Broker::CreateInbox(std::function<void()> wake) {
  return impl_->CreateInbox(std::move(wake));
}

Result<uint64_t> Broker::Subscribe(std::string_view pattern, std::shared_ptr<Sink> sink,
                                   std::shared_ptr<Inbox> inbox, SubscribeOptions options) {
  return impl_->Subscribe(pattern, std::move(sink), std::move(inbox), std::move(options));
}

Result<uint64_t> Broker::Subscribe(std::string_view pattern, DeliveryCallback callback,
                                   SubscribeOptions options) {
  if (!callback) return Status(ErrorCode::kInvalidArgument, "callback is empty");
  return impl_->Subscribe(pattern, std::make_shared<CallbackSink>(std::move(callback)),
                          impl_->dispatcher().inbox(), std::move(options));
}

bool Broker::Unsubscribe(uint64_t subscription_id) { return impl_->Unsubscribe(subscription_id); }

uint64_t Broker::Request(std::string_view topic, std::string payload,
                         std::chrono::milliseconds timeout, ReplyCallback on_reply,
                         PublishOptions options) {
  return impl_->Request(topic, std::move(payload), timeout, std::move(on_reply),
                        std::move(options));
}

bool Broker::CancelRequest(uint64_t request_id) { return impl_->CancelRequest(request_id); }

Status Broker::Reply(std::string_view reply_to, std::string payload, PublishOptions options) {
  return impl_->Reply(reply_to, std::move(payload), std::move(options));
}

void Broker::RecordRefusedReply() { impl_->RecordRefused(/*reply=*/true); }
void Broker::RecordRefusedRequest() { impl_->RecordRefused(/*reply=*/false); }
void Broker::RecordRefusedPublish(ErrorCode code) { impl_->counters().PublishError(code); }
void Broker::RecordForgottenReplyInbox() {
  BrokerCounters::Add(impl_->counters().reply_inboxes_forgotten, 1);
}
void Broker::RecordRefusedSubscription() {
  BrokerCounters::Add(impl_->counters().subscriptions_refused, 1);
}

Result<MessagePtr> Broker::RequestSync(std::string_view topic, std::string payload,
                                       std::chrono::milliseconds timeout, PublishOptions options) {
  auto done = std::make_shared<std::promise<Result<MessagePtr>>>();
  auto future = done->get_future();
  impl_->Request(
      topic, std::move(payload), timeout,
      [done](Result<MessagePtr> r) { done->set_value(std::move(r)); }, std::move(options));
  return future.get();
}

void Broker::ResumeAsync(std::string_view topic, uint64_t epoch, uint64_t after_offset,
                         size_t limit, ResumeCallback done) {
  impl_->ResumeAsync(topic, epoch, after_offset, limit, std::move(done));
}

Result<ResumeResult> Broker::Resume(std::string_view topic, uint64_t epoch, uint64_t after_offset,
                                    size_t limit) {
  auto done = std::make_shared<std::promise<Result<ResumeResult>>>();
  std::future<Result<ResumeResult>> answer = done->get_future();
  impl_->ResumeAsync(topic, epoch, after_offset, limit,
                     [done](Result<ResumeResult> r) { done->set_value(std::move(r)); });
  return answer.get();
}

void Broker::RecordPresenceDropped() {
  impl_->presence().counters().dropped.fetch_add(1, std::memory_order_relaxed);
}

void Broker::RecordSlowConsumer(uint64_t dropped, bool disconnected) {
  impl_->RecordSlowConsumer(dropped, disconnected);
}

BrokerStats Broker::Stats() const { return impl_->Stats(); }
void Broker::RunMaintenance() { impl_->RunMaintenance(); }
const BrokerOptions& Broker::options() const { return impl_->options(); }
void Broker::SetLimits(const BrokerLimits& next) { impl_->SetLimits(next); }
BrokerLimits Broker::limits() const { return impl_->limits(); }

void Broker::Impl::SetLimits(const BrokerLimits& next) {
  // One at a time, so limits() and the components' caps are one call's.
  std::lock_guard lock(set_limits_mu_);
  limits_.Set(next);
  topics_.set_limits(next.max_topics, next.max_topic_bytes);
  tracker_.set_max_pending(next.max_pending_requests);
  queues_.set_max_queues(next.max_queues);
  revocations_.set_max(next.max_revocations);
  read_budget_.set_max_bytes(next.max_store_read_bytes);
}

}  // namespace herald
