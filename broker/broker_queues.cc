// Work queues (herald/work_queue.h) in the broker: a message becomes a job
// of every matching queue as it is shown (sequenced in memory, or committed
// by the history store), in the same step as its fan-out; a queue full for
// it refuses the publish before anything is sequenced. Deadlines are the
// maintenance thread's, which already wakes for request timeouts.
#include <climits>

#include "broker/broker_impl.h"
#include "broker/dispatcher.h"

namespace herald {

int64_t Broker::Impl::SteadyUs(RequestTracker::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

namespace {

// How often a shared queue whose members wait asks the store for jobs
// other brokers published (its own publishes wake it at once).
constexpr int64_t kSharedQueuePollUs = 50'000;

int64_t NowSteadyUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             RequestTracker::Clock::now().time_since_epoch())
      .count();
}

}  // namespace

const std::vector<WorkQueuePtr>& Broker::Impl::QueuesFor(TopicState& ts) {
  if (!ts.queues) ts.queues = std::make_unique<TopicState::Queues>();
  const uint64_t generation = queues_.generation();
  if (ts.queues->generation != generation) {
    ts.queues->matching = queues_.Matching(ts.name);
    ts.queues->generation = generation;
  }
  return ts.queues->matching;
}

Status Broker::Impl::ReserveJobs(TopicState& ts, size_t bytes, JobPlaces& places) {
  const std::vector<WorkQueuePtr>& queues = QueuesFor(ts);
  if (queues.empty()) return Status::Ok();
  // The node-wide bound, for a copy in every matching queue.
  if (const size_t max = limits_.max_queue_bytes; queues_.bytes() + bytes * queues.size() > max) {
    for (const WorkQueuePtr& q : queues) q->CountRefused();
    return Status(ErrorCode::kResourceExhausted,
                  "the work queues of this node hold max_queue_bytes " + std::to_string(max) +
                      " of jobs: nothing was published");
  }
  for (const WorkQueuePtr& q : queues) {
    Result<uint64_t> seq = q->Reserve(bytes);
    if (!seq.ok()) {
      for (const JobPlace& p : places) p.queue->Release(p.seq, bytes, ts.name);
      places.clear();
      return seq.status();
    }
    if (*seq != 0) places.push_back({q, *seq});
  }
  return Status::Ok();
}

std::vector<JobRef> Broker::Impl::JobRefs(const JobPlaces& places, std::string_view topic) {
  std::vector<JobRef> refs;
  refs.reserve(places.size());
  for (const JobPlace& p : places) refs.push_back(p.queue->Ref(p.seq, topic));
  return refs;
}

Status Broker::Impl::PutJobs(const MessagePtr& m, JobPlaces& places,
                             QueueStore::CommitCallback* committed) {
  if (!queue_store_ || places.empty()) return Status::Ok();
  if (Status s = queue_store_->PutJobs(m, JobRefs(places, m->topic), committed); !s.ok()) {
    ReleaseJobs(m, places);
    return s;
  }
  return Status::Ok();
}

void Broker::Impl::FillJobs(const MessagePtr& m, JobPlaces& places) {
  if (places.empty()) return;  // most publishes feed no queue: no clock read
  const int64_t now = NowSteadyUs();
  for (const JobPlace& p : places) {
    WorkQueue::Effects fx;
    p.queue->Fill(p.seq, m, now, fx);
    RunQueueEffects(p.queue, fx);
  }
  places.clear();
}

void Broker::Impl::ReleaseJobs(const MessagePtr& m, JobPlaces& places) {
  for (const JobPlace& p : places) p.queue->Release(p.seq, m->payload.size(), m->topic);
  places.clear();
}

void Broker::Impl::RestoreQueues() {
  const int64_t now = NowSteadyUs();
  for (StoredQueue& stored : queue_store_->TakeQueues()) {
    WorkQueuePtr q = queues_.Restore(stored.options, stored.incarnation);
    // What an earlier run of this node held is ready again at once, not
    // when its leases run out.
    if (shared_queues_) {
      shared_queues_->ReleaseEarlier(q->name(), options_.node_id + ".", queue_holder_);
    }
    WorkQueue::Effects fx;
    q->Restore(std::move(stored.jobs), stored.shared_pending, now, fx);
    RunQueueEffects(q, fx);
    // Created to read history, and a restart cut that short: it reads on
    // from where it last said it stood (or lists the topics anew), making
    // no job twice of those the store kept.
    if (QueueBackfill* bf = q->backfill()) {
      if (!stored.backfill.empty() && bf->Restore(stored.backfill)) {
        for (const auto& [topic, epoch] : bf->Cuts()) {
          if (TopicStatePtr ts = topics_.Find(topic)) {
            std::lock_guard lock(ts->mu);
            bf->ClampCut(topic, epoch, ts->last_offset + ts->store_pending + 1);
          }
        }
      }
      bf->Skip(q->HeldPositions());
      NoteQueueDeadline(now);
    }
  }
}

void Broker::Impl::MaybeClaim(const WorkQueuePtr& q, bool poll) {
  size_t n = q->StartClaim(poll, NowSteadyUs());
  // Nobody here waits: now and then, the store's count alone.
  if (n == 0 && !(poll && q->StartRefresh(NowSteadyUs()))) return;
  // Completes on the store's thread; the queue may be deleted meanwhile
  // (Adopt gives back what it claimed then).
  shared_queues_->Claim(q->name(), queue_holder_, n, q->Lease(),
                        [this, q, n](Result<std::vector<ClaimedJob>> jobs, uint64_t pending) {
                          WorkQueue::Effects fx;
                          const int64_t now = NowSteadyUs();
                          const bool found = q->Adopt(std::move(jobs), pending, n, now, fx);
                          RunQueueEffects(q, fx);
                          // Members still wait: polled (the maintenance
                          // thread may sleep a whole sweep otherwise).
                          if (!found && q->Hungry()) NoteQueueDeadline(now + kSharedQueuePollUs);
                        });
}

void Broker::Impl::RunQueueEffects(const WorkQueuePtr& q, WorkQueue::Effects& fx, bool poll) {
  for (auto& [target, job] : fx.sends) {
    DeliveryInbox::Item item;
    item.target = target;
    item.job = std::move(job);
    target->inbox->Push(std::move(item));
  }
  for (auto& [done, jobs] : fx.pulls) done(std::move(jobs));
  if (!fx.dead.empty()) {
    // Published by the maintenance thread, never inline: a settlement may
    // come from a callback that holds a topic's lock (a pull answered by a
    // publish), and a dead letter's publish takes another.
    {
      std::lock_guard lock(dead_mu_);
      for (WorkQueue::Effects::Dead& d : fx.dead) dead_letters_.push_back({q, std::move(d)});
    }
    {
      std::lock_guard lock(maintenance_mu_);
      dead_ready_ = true;
    }
    maintenance_cv_.notify_one();
  }
  NoteQueueDeadline(fx.next_deadline);
  if (q->shared()) MaybeClaim(q, poll);
}

void Broker::Impl::PublishDeadLetters() {
  std::vector<DeadLetter> batch;
  {
    std::lock_guard lock(dead_mu_);
    batch.swap(dead_letters_);
  }
  for (DeadLetter& dl : batch) {
    WorkQueuePtr q = dl.queue.lock();
    if (!q) continue;
    const WorkQueue::Effects::Dead& d = dl.dead;
    PublishOptions o;
    o.content_type = d.message->content_type;
    o.headers = d.message->headers;
    o.headers.push_back({std::string(kDeadReasonHeader), std::string(d.reason)});
    o.headers.push_back({std::string(kDeadDeliveriesHeader), std::to_string(d.deliveries)});
    o.headers.push_back({std::string(kDeadQueueHeader), q->name()});
    o.headers.push_back({std::string(kDeadTopicHeader), d.message->topic});
    o.headers.push_back({std::string(kDeadPositionHeader), std::to_string(d.message->epoch) + ":" +
                                                               std::to_string(d.message->offset)});
    {
      std::lock_guard lock(dead_mu_);
      ++dead_publishing_;
    }
    PublishAsync(q->options().dead_letter, d.message->payload, std::move(o),
                 [this, weak = dl.queue, seq = d.seq](Result<PublishAck> ack) {
                   if (WorkQueuePtr queue = weak.lock()) {
                     WorkQueue::Effects more;
                     // A refused dead letter (its topic's queues full, say)
                     // stays a job and is tried again a second later.
                     queue->DeadLettered(seq, ack.ok(), 1'000'000, NowSteadyUs(), more);
                     RunQueueEffects(queue, more);
                   }
                   {
                     std::lock_guard lock(dead_mu_);
                     --dead_publishing_;
                   }
                   dead_cv_.notify_all();
                 });
  }
}

void Broker::Impl::FlushDeadLetters(std::chrono::milliseconds window) {
  const auto until = std::chrono::steady_clock::now() + window;
  for (;;) {
    PublishDeadLetters();
    std::unique_lock lock(dead_mu_);
    // The stopping thread's wait (the broker's destructor), not a loop's.
    dead_cv_.wait_until(lock, until,
                        [this] { return dead_publishing_ == 0 || !dead_letters_.empty(); });
    if (dead_letters_.empty() && dead_publishing_ == 0) return;
    if (std::chrono::steady_clock::now() >= until) return;
  }
}

void Broker::Impl::NoteQueueDeadline(int64_t due) {
  // Most calls change nothing (a later ack deadline than one already
  // awaited): one atomic load, no lock.
  if (due >= queue_wake_us_.load(std::memory_order_acquire)) return;
  {
    std::lock_guard lock(maintenance_mu_);
    if (due >= queue_wake_us_.load(std::memory_order_relaxed)) return;
    queue_wake_us_.store(due, std::memory_order_release);
    deadline_changed_ = true;
  }
  maintenance_cv_.notify_one();
}

RequestTracker::Clock::time_point Broker::Impl::ExpireQueues(
    RequestTracker::Clock::time_point now) {
  int64_t next = INT64_MAX;
  const int64_t now_us = SteadyUs(now);
  {
    std::lock_guard lock(maintenance_mu_);
    // Recomputed below; a deadline noted meanwhile wakes the loop again.
    queue_wake_us_.store(INT64_MAX, std::memory_order_release);
  }
  for (const WorkQueuePtr& q : queues_.All()) {
    WorkQueue::Effects fx;
    next = std::min(next, q->Expire(now_us, fx));
    fx.next_deadline = INT64_MAX;  // this thread is the one that would be woken
    RunQueueEffects(q, fx, /*poll=*/true);
    // A shared queue's members wait for jobs other brokers publish: polled.
    if (q->shared() && q->Hungry()) next = std::min(next, now_us + kSharedQueuePollUs);
    if (q->backfill()) next = std::min(next, StepBackfill(q, now_us));
  }
  {
    std::lock_guard lock(maintenance_mu_);
    if (next < queue_wake_us_.load(std::memory_order_relaxed)) {
      queue_wake_us_.store(next, std::memory_order_release);
    }
  }
  if (next == INT64_MAX) return RequestTracker::Clock::time_point::max();
  return RequestTracker::Clock::time_point(std::chrono::microseconds(next));
}

void Broker::Impl::CloseQueues() {
  for (const WorkQueuePtr& q : queues_.All()) {
    // A reading of history still going: where it stands, so that the next
    // start reads on from exactly there (a kill reads on from the last
    // time it was written).
    if (QueueBackfill* bf = q->backfill(); bf && !bf->done() && !bf->cutting()) {
      SaveBackfill(q, *bf);
    }
    WorkQueue::Effects fx;
    q->Close(fx);
    for (auto& [done, jobs] : fx.pulls) done(std::move(jobs));
  }
}

Status Broker::Impl::CreateQueue(const QueueOptions& options) {
  if (cluster_.attached()) {
    // Every node must know every queue (a topic's owner writes its jobs):
    // a queue created on one node alone would miss the others' messages.
    if (Result<WorkQueuePtr> q = queues_.Find(options.name);
        q.ok() && SameQueueDefinition((*q)->options(), options)) {
      return Status::Ok();
    }
    return Status(ErrorCode::kUnavailable,
                  shared_queues_ ? "in a cluster, work queues are created at start, from every "
                                   "node's config ([[queues]]), not one node at a time"
                                 : "work queues in a cluster need the Redis store on one server "
                                   "([store] kind = \"redis\", no shards)");
  }
  if (Status s = queues_.Create(options, options_.topic_limits); !s.ok()) return s;
  // Its history is read on the maintenance thread, starting now.
  if (options.start != QueueOptions::Start::kNew) NoteQueueDeadline(NowSteadyUs());
  return Status::Ok();
}

Status Broker::Impl::DeleteQueue(std::string_view name) {
  if (cluster_.attached()) {
    return Status(ErrorCode::kUnavailable,
                  "in a cluster, a work queue is not deleted one node at a time (the others "
                  "would go on writing its jobs): stop the nodes, delete it on one alone");
  }
  Result<WorkQueuePtr> q = queues_.Remove(name);
  if (!q.ok()) return q.status();
  WorkQueue::Effects fx;
  (*q)->Close(fx);
  RunQueueEffects(*q, fx);
  return Status::Ok();
}

Result<QueueInfo> Broker::Impl::GetQueue(std::string_view name) const {
  Result<WorkQueuePtr> q = queues_.Find(name);
  if (!q.ok()) return q.status();
  return (*q)->Info();
}

std::vector<QueueInfo> Broker::Impl::ListQueues() const {
  std::vector<QueueInfo> out;
  for (const WorkQueuePtr& q : queues_.All()) out.push_back(q->Info());
  return out;
}

Result<uint64_t> Broker::Impl::JoinQueue(std::string_view name, std::shared_ptr<Sink> sink,
                                         std::shared_ptr<Inbox> inbox, uint32_t max_in_flight,
                                         std::shared_ptr<JobBudget> budget) {
  if (!sink) return Status(ErrorCode::kInvalidArgument, "sink is null");
  auto* delivery_inbox = dynamic_cast<DeliveryInbox*>(inbox.get());
  if (!delivery_inbox || !OwnsInbox(delivery_inbox)) {
    return Status(ErrorCode::kInvalidArgument, "inbox was not created by this broker");
  }
  Result<WorkQueuePtr> q = queues_.Find(name);
  if (!q.ok()) return q.status();
  auto target = std::make_shared<Subscription>();
  target->sink = std::move(sink);
  target->inbox = delivery_inbox;
  target->id = queues_.AddMember(*q);
  target->pattern = (*q)->options().pattern;
  WorkQueue::Effects fx;
  if (Status s =
          (*q)->Join(target->id, target, max_in_flight, std::move(budget), NowSteadyUs(), fx);
      !s.ok()) {
    queues_.RemoveMember(target->id);  // deleted meanwhile
    return s;
  }
  const uint64_t id = target->id;
  RunQueueEffects(*q, fx);
  return id;
}

bool Broker::Impl::LeaveQueue(uint64_t member) {
  WorkQueuePtr q = queues_.RemoveMember(member);
  if (!q) return false;
  WorkQueue::Effects fx;
  q->Leave(member, NowSteadyUs(), fx);
  RunQueueEffects(q, fx);
  return true;
}

Status Broker::Impl::ReturnUnsent(std::string_view handle) {
  Result<JobHandle> h = ParseJobHandle(handle);
  if (!h.ok()) return h.status();
  Result<WorkQueuePtr> q = queues_.Find(h->queue);
  if (!q.ok()) return Status(ErrorCode::kUnknownHandle, "the handle names " + q.status().message());
  WorkQueue::Effects fx;
  Status s = (*q)->Unsent(*h, NowSteadyUs(), fx);
  RunQueueEffects(*q, fx);
  return s;
}

Status Broker::Impl::Settle(uint64_t member, std::string_view handle, SettleKind kind,
                            std::chrono::milliseconds delay) {
  Result<JobHandle> h = ParseJobHandle(handle);
  if (!h.ok()) return h.status();
  WorkQueuePtr q;
  if (member == kPullMember) {
    Result<WorkQueuePtr> found = queues_.Find(h->queue);
    if (!found.ok()) {
      return Status(ErrorCode::kUnknownHandle, "the handle names " + found.status().message());
    }
    q = std::move(*found);
  } else {
    q = queues_.MemberQueue(member);
    if (!q) {
      return Status(ErrorCode::kUnknownHandle,
                    "no membership " + std::to_string(member) + " of a work queue");
    }
    if (q->name() != h->queue) {
      return Status(ErrorCode::kUnknownHandle, "the handle is of work queue '" + h->queue +
                                                   "', the membership of '" + q->name() + "'");
    }
  }
  if (delay > std::chrono::hours(24 * 7)) {
    return Status(ErrorCode::kInvalidArgument, "a nack's delay must be at most 7 days");
  }
  const int64_t delay_us =
      delay.count() < 0 ? -1 : std::chrono::duration_cast<std::chrono::microseconds>(delay).count();
  WorkQueue::Effects fx;
  Status s = q->Settle(member, *h, kind, delay_us, NowSteadyUs(), fx);
  RunQueueEffects(q, fx);
  // Room for a reading of history that waits for it (broker_backfill.cc).
  if (QueueBackfill* bf = q->backfill(); bf && s.ok() && bf->TakeFull()) {
    bf->RetryAt(0);
    NoteQueueDeadline(NowSteadyUs());
  }
  return s;
}

uint64_t Broker::Impl::Pull(std::string_view name, size_t max, std::chrono::milliseconds wait,
                            std::function<void(Result<std::vector<Job>>)> done) {
  Result<WorkQueuePtr> q = queues_.Find(name);
  if (!q.ok()) {
    done(q.status());
    return 0;
  }
  WorkQueue::Effects fx;
  // At most a week (the bound of every queue wait), so the deadline cannot overflow.
  const auto bounded = std::clamp<std::chrono::milliseconds>(wait, std::chrono::milliseconds(0),
                                                             std::chrono::hours(24 * 7));
  const int64_t wait_us = std::chrono::duration_cast<std::chrono::microseconds>(bounded).count();
  const uint64_t id =
      (*q)->Pull(max, wait_us, limits_.max_waiting_pulls, std::move(done), NowSteadyUs(), fx);
  RunQueueEffects(*q, fx);
  return id;
}

void Broker::Impl::CancelPull(std::string_view name, uint64_t id) {
  Result<WorkQueuePtr> q = queues_.Find(name);
  if (!q.ok() || id == 0) return;
  WorkQueue::Effects fx;
  (*q)->CancelPull(id, fx);
  RunQueueEffects(*q, fx);
}

// The public facade.

Status Broker::CreateQueue(const QueueOptions& options) { return impl_->CreateQueue(options); }
Status Broker::DeleteQueue(std::string_view name) { return impl_->DeleteQueue(name); }
Result<QueueInfo> Broker::GetQueue(std::string_view name) const { return impl_->GetQueue(name); }
std::vector<QueueInfo> Broker::ListQueues() const { return impl_->ListQueues(); }
Result<uint64_t> Broker::JoinQueue(std::string_view name, std::shared_ptr<Sink> sink,
                                   std::shared_ptr<Inbox> inbox, uint32_t max_in_flight,
                                   std::shared_ptr<JobBudget> budget) {
  return impl_->JoinQueue(name, std::move(sink), std::move(inbox), max_in_flight,
                          std::move(budget));
}
Result<uint64_t> Broker::JoinQueue(std::string_view name, DeliveryCallback callback,
                                   uint32_t max_in_flight) {
  if (!callback) return Status(ErrorCode::kInvalidArgument, "callback is empty");
  return impl_->JoinQueue(name, std::make_shared<CallbackSink>(std::move(callback)),
                          impl_->dispatcher().inbox(), max_in_flight, nullptr);
}
bool Broker::LeaveQueue(uint64_t member) { return impl_->LeaveQueue(member); }
Status Broker::ReturnUnsent(std::string_view handle) { return impl_->ReturnUnsent(handle); }
Status Broker::Settle(uint64_t member, std::string_view handle, SettleKind kind,
                      std::chrono::milliseconds delay) {
  return impl_->Settle(member, handle, kind, delay);
}
uint64_t Broker::Pull(std::string_view name, size_t max, std::chrono::milliseconds wait,
                      std::function<void(Result<std::vector<Job>>)> done) {
  return impl_->Pull(name, max, wait, std::move(done));
}
void Broker::CancelPull(std::string_view name, uint64_t pull) { impl_->CancelPull(name, pull); }

}  // namespace herald
