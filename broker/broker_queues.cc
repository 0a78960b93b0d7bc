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

Status Broker::Impl::AdmitJobs(TopicState& ts, size_t bytes) {
  for (const WorkQueuePtr& q : QueuesFor(ts)) {
    if (Status s = q->Admit(bytes); !s.ok()) return s;
  }
  return Status::Ok();
}

void Broker::Impl::EnqueueJobs(TopicState& ts, const MessagePtr& m) {
  const int64_t now = NowSteadyUs();
  for (const WorkQueuePtr& q : QueuesFor(ts)) {
    WorkQueue::Effects fx;
    q->Enqueue(m, now, fx);
    RunQueueEffects(q, fx);
  }
}

void Broker::Impl::RunQueueEffects(const WorkQueuePtr& q, WorkQueue::Effects& fx) {
  for (auto& [target, job] : fx.sends) {
    DeliveryInbox::Item item;
    item.target = target;
    item.job = std::move(job);
    target->inbox->Push(std::move(item));
  }
  if (!fx.sends.empty()) NoteQueueDeadline(q);
  for (auto& [done, jobs] : fx.pulls) {
    const bool some = jobs.ok() && !jobs->empty();
    done(std::move(jobs));
    if (some) NoteQueueDeadline(q);
  }
  for (WorkQueue::Effects::Dead& d : fx.dead) {
    PublishOptions o;
    o.content_type = d.message->content_type;
    o.headers = d.message->headers;
    o.headers.push_back({std::string(kDeadReasonHeader), std::string(d.reason)});
    o.headers.push_back({std::string(kDeadDeliveriesHeader), std::to_string(d.deliveries)});
    o.headers.push_back({std::string(kDeadQueueHeader), q->name()});
    o.headers.push_back({std::string(kDeadTopicHeader), d.message->topic});
    o.headers.push_back({std::string(kDeadPositionHeader), std::to_string(d.message->epoch) + ":" +
                                                               std::to_string(d.message->offset)});
    std::weak_ptr<WorkQueue> weak = q;
    PublishAsync(q->options().dead_letter, d.message->payload, std::move(o),
                 [this, weak, seq = d.seq](Result<PublishAck> ack) {
                   WorkQueuePtr queue = weak.lock();
                   if (!queue) return;
                   WorkQueue::Effects more;
                   // A refused dead letter (its topic's queues full, say)
                   // stays a job and is tried again a second later.
                   queue->DeadLettered(seq, ack.ok(), 1'000'000, NowSteadyUs(), more);
                   RunQueueEffects(queue, more);
                   if (!ack.ok()) NoteQueueDeadline(queue);
                 });
  }
}

void Broker::Impl::NoteQueueDeadline(const WorkQueuePtr& q) {
  const int64_t due = q->next_deadline();
  {
    std::lock_guard lock(maintenance_mu_);
    if (due >= queue_wake_us_) return;
    queue_wake_us_ = due;
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
    queue_wake_us_ = INT64_MAX;  // recomputed below; earlier ones notify again
  }
  for (const WorkQueuePtr& q : queues_.All()) {
    WorkQueue::Effects fx;
    next = std::min(next, q->Expire(now_us, fx));
    RunQueueEffects(q, fx);
  }
  if (next == INT64_MAX) return RequestTracker::Clock::time_point::max();
  {
    std::lock_guard lock(maintenance_mu_);
    queue_wake_us_ = std::min(queue_wake_us_, next);
  }
  return RequestTracker::Clock::time_point(std::chrono::microseconds(next));
}

Status Broker::Impl::CreateQueue(const QueueOptions& options) {
  if (cluster_.attached()) {
    return Status(ErrorCode::kUnavailable,
                  "work queues are not available in a cluster yet: this node is one of several");
  }
  return queues_.Create(options, options_.topic_limits);
}

Status Broker::Impl::DeleteQueue(std::string_view name) {
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
                                         std::shared_ptr<Inbox> inbox, uint32_t max_in_flight) {
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
  (*q)->Join(target->id, target, max_in_flight, NowSteadyUs(), fx);
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
  if (s.ok() && (kind == SettleKind::kProgress || kind == SettleKind::kNack)) NoteQueueDeadline(q);
  return s;
}

void Broker::Impl::Pull(std::string_view name, size_t max, std::chrono::milliseconds wait,
                        std::function<void(Result<std::vector<Job>>)> done) {
  Result<WorkQueuePtr> q = queues_.Find(name);
  if (!q.ok()) return done(q.status());
  WorkQueue::Effects fx;
  const int64_t wait_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::max(wait, {})).count();
  (*q)->Pull(max, wait_us, options_.max_waiting_pulls, std::move(done), NowSteadyUs(), fx);
  RunQueueEffects(*q, fx);
  if (wait_us > 0) NoteQueueDeadline(*q);
}

// The public facade.

Status Broker::CreateQueue(const QueueOptions& options) { return impl_->CreateQueue(options); }
Status Broker::DeleteQueue(std::string_view name) { return impl_->DeleteQueue(name); }
Result<QueueInfo> Broker::GetQueue(std::string_view name) const { return impl_->GetQueue(name); }
std::vector<QueueInfo> Broker::ListQueues() const { return impl_->ListQueues(); }
Result<uint64_t> Broker::JoinQueue(std::string_view name, std::shared_ptr<Sink> sink,
                                   std::shared_ptr<Inbox> inbox, uint32_t max_in_flight) {
  return impl_->JoinQueue(name, std::move(sink), std::move(inbox), max_in_flight);
}
Result<uint64_t> Broker::JoinQueue(std::string_view name, DeliveryCallback callback,
                                   uint32_t max_in_flight) {
  if (!callback) return Status(ErrorCode::kInvalidArgument, "callback is empty");
  return impl_->JoinQueue(name, std::make_shared<CallbackSink>(std::move(callback)),
                          impl_->dispatcher().inbox(), max_in_flight);
}
bool Broker::LeaveQueue(uint64_t member) { return impl_->LeaveQueue(member); }
Status Broker::Settle(uint64_t member, std::string_view handle, SettleKind kind,
                      std::chrono::milliseconds delay) {
  return impl_->Settle(member, handle, kind, delay);
}
void Broker::Pull(std::string_view name, size_t max, std::chrono::milliseconds wait,
                  std::function<void(Result<std::vector<Job>>)> done) {
  impl_->Pull(name, max, wait, std::move(done));
}

}  // namespace herald
