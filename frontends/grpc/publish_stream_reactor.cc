#include "frontends/grpc/publish_stream_reactor.h"

#include "frontends/grpc/call_auth.h"
#include "frontends/grpc/grpc_convert.h"
#include "herald/topic.h"

namespace herald::grpcfront {
namespace {

// The read buffer keeps every sub-message a request had (protobuf reuses
// them): after a request this large it is replaced, so one huge request
// does not stay allocated for the rest of the stream.
constexpr int kKeepReadBufferUpTo = 1024;

bool SameOutcome(const Result<PublishAck>& a, const Result<PublishAck>& b) {
  if (a.ok() != b.ok()) return false;
  return a.ok() ||
         (a.status().code() == b.status().code() && a.status().message() == b.status().message());
}

}  // namespace

PublishStreamReactor::PublishStreamReactor(std::shared_ptr<const session::Operations> ops,
                                           const GrpcOptions& options)
    : ops_(std::move(ops)),
      broker_(ops_->broker()),
      stats_(options.stats),
      ack_every_(options.ack_every == 0 ? 1 : options.ack_every),
      max_pending_(options.max_pending_answers == 0 ? 1 : options.max_pending_answers),
      max_refusal_runs_(options.max_refusals_per_request == 0 ? 1
                                                              : options.max_refusals_per_request) {
  guard_->reactor = this;
}

void PublishStreamReactor::Start(const std::shared_ptr<Guard>& guard,
                                 grpc::CallbackServerContext* ctx, Result<session::Admitted> who) {
  std::lock_guard lock(guard->mu);
  PublishStreamReactor* r = guard->reactor;
  if (!r) return;  // the call ended while the hook was asked
  if (!who.ok()) {
    CountRefusal(*r->stats_, who.status());
    std::lock_guard state(r->mu_);
    r->finish_called_ = true;
    r->Finish(Refusal(*r->stats_, ctx, who.status()));
    return;
  }
  r->identity_ = std::move(who->identity);
  r->user_slot_ = std::move(who->slot);
  r->StartRead(&r->request_);
}

void PublishStreamReactor::OnDone() {
  {
    std::lock_guard lock(guard_->mu);
    guard_->reactor = nullptr;
  }
  delete this;
}

PublishStreamReactor::~PublishStreamReactor() {
  stats_->answers_queued.fetch_sub(static_cast<int64_t>(answers_.size()),
                                   std::memory_order_relaxed);
}

void PublishStreamReactor::PushLocked(v1::PublishStreamResponse r) {
  if (broken_) return;  // nothing more goes out
  answers_.push_back(std::move(r));
  open_error_serial_ = 0;
  stats_->answers_queued.fetch_add(1, std::memory_order_relaxed);
}

void PublishStreamReactor::QueueBatchLocked() {
  v1::PublishStreamResponse r;
  r.mutable_batch()->set_accepted(accepted_);
  r.mutable_batch()->set_refused(refused_);
  PushLocked(std::move(r));
  since_batch_ = 0;
}

PublishStreamReactor::Next PublishStreamReactor::NextLocked() {
  Next n;
  // The totals at half-close wait for every message read to have its
  // result: with a history store, results come after the read ends.
  if (read_done_ && in_flight_ == 0 && !totals_queued_) {
    totals_queued_ = true;
    if (!broken_) QueueBatchLocked();
  }
  if (!broken_ && !writing_ && !answers_.empty()) {
    writing_ = true;
    n.write = &answers_.front();
  }
  if (read_wanted_ && !read_done_ && answers_.size() < max_pending_ && in_flight_ < max_pending_) {
    read_wanted_ = false;
    n.read = true;
  }
  if (read_done_ && in_flight_ == 0 && !writing_ && (answers_.empty() || broken_) &&
      !finish_called_) {
    finish_called_ = true;
    n.finish = true;
  }
  return n;
}

void PublishStreamReactor::Run(const Next& next) {
  if (next.write) StartWrite(next.write);
  if (next.read) StartRead(&request_);
  if (next.finish) {
    Finish(broken_ ? grpc::Status(grpc::CANCELLED, "stream broken") : grpc::Status::OK);
  }
}

namespace {
// The reactor publishing on this thread right now: a result delivered while
// it is set came back inline, inside PublishAsync.
thread_local const void* tls_publishing = nullptr;
}  // namespace

void PublishStreamReactor::Publish(v1::PublishRequest& m, Slot* slot) {
  // The read buffer is reused for the next message: take the payload rather
  // than copy it.
  std::string payload;
  payload.swap(*m.mutable_payload());
  if (ops_->Hooked(HookEvent::kPublish, m.topic())) {
    // Each such message waits on the backend: at most
    // max_in_flight_per_connection of this stream's at once, so one request
    // cannot take the node's whole max_in_flight (the rest are refused).
    const size_t max = ops_->hooks()->options().max_in_flight_per_connection;
    if (hook_waiting_.fetch_add(1, std::memory_order_relaxed) >= max) {
      hook_waiting_.fetch_sub(1, std::memory_order_relaxed);
      ops_->broker().RecordRefusedPublish(ErrorCode::kResourceExhausted);
      return OnPublished(slot, Status(ErrorCode::kResourceExhausted,
                                      "too many publishes of this stream wait on the publish "
                                      "hook (max_in_flight_per_connection)"));
    }
    ops_->Publish(*identity_, m.topic(), std::move(payload), OptionsOf(m),
                  [this, slot](Result<PublishAck> ack) {
                    hook_waiting_.fetch_sub(1, std::memory_order_relaxed);
                    if (!ack.ok() && ack.status().code() == ErrorCode::kPermissionDenied) {
                      GrpcStats::Add(stats_->permission_denied);
                    }
                    OnPublished(slot, std::move(ack));
                  },
                  {{}, "grpc", {}});
    return;
  }
  // Two pointers: the callback fits std::function's inline storage. A
  // refusal (the admission's, or the broker's) comes back inline.
  ops_->Publish(*identity_, m.topic(), std::move(payload), OptionsOf(m),
                [this, slot](Result<PublishAck> ack) {
                  if (!ack.ok() && ack.status().code() == ErrorCode::kPermissionDenied) {
                    GrpcStats::Add(stats_->permission_denied);
                  }
                  OnPublished(slot, std::move(ack));
                });
}

void PublishStreamReactor::OnPublished(Slot* slot, Result<PublishAck> ack) {
  Batch& batch = *slot->batch;
  if (tls_publishing == this) {
    // Inline results arrive in index order: extend the last run when alike.
    if (!batch.inline_runs.empty()) {
      Outcome& last = batch.inline_runs.back();
      if (last.index + last.count == slot->index && SameOutcome(last.result, ack)) {
        ++last.count;
        if (ack.ok()) last.result = std::move(ack);  // the run's last ack
        return;
      }
    }
    if (!ack.ok()) ++batch.inline_error_runs;
    batch.inline_runs.push_back(Outcome{slot->index, 1, std::move(ack)});
    return;
  }
  Next next;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    ApplyLocked(batch, slot->index, 1, ack);
    ReleaseLocked(&batch);
    next = NextLocked();
  }
  Run(next);
}

void PublishStreamReactor::QueueErrorLocked(Batch& batch, int index, uint32_t count, int code,
                                            const std::string& message, bool forced) {
  if (broken_) return;  // nothing more goes out
  // The last answer may be extended unless it is the one being written.
  if (open_error_serial_ == batch.serial && !answers_.empty() &&
      !(writing_ && answers_.size() == 1)) {
    v1::StreamError& e = *answers_.back().mutable_error();
    const uint32_t covered = e.count() == 0 ? 1 : e.count();
    if (e.code() == code && e.index() + covered == static_cast<uint32_t>(index) &&
        e.message() == message) {
      e.set_count(covered + count);
      GrpcStats::Add(stats_->refusals_coalesced, count);
      return;
    }
  }
  if (!forced && batch.error_answers >= max_refusal_runs_) {
    // Only results from other nodes get here (inline ones stop the request
    // at the cap): tallied, and summed up in one error when the request ends.
    if (batch.late_count == 0) {
      batch.late_first = index;
      batch.late_message = message;
    }
    batch.late_count += count;
    GrpcStats::Add(stats_->refusals_coalesced, count);
    return;
  }
  ++batch.error_answers;
  v1::PublishStreamResponse r;
  r.mutable_error()->set_sequence(batch.sequence);
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_message(message);
  r.mutable_error()->set_index(static_cast<uint32_t>(index));
  if (count > 1) {
    r.mutable_error()->set_count(count);
    if (!forced)
      GrpcStats::Add(stats_->refusals_coalesced, count - 1);  // a run from inline results
  }
  PushLocked(std::move(r));
  open_error_serial_ = batch.serial;
}

void PublishStreamReactor::ApplyLocked(Batch& batch, int index, int count,
                                       const Result<PublishAck>& ack) {
  const auto n = static_cast<uint32_t>(count);
  if (ack.ok()) {
    accepted_ += n;
    if (index + count - 1 > batch.last_ok_index) {
      batch.last_ok_index = index + count - 1;
      batch.last_ok = *ack;
    }
  } else {
    refused_ += n;
    GrpcStats::Add(stats_->publish_refused, n);
    // An error is always reported, sequence or not: a refused message must
    // never pass silently.
    QueueErrorLocked(batch, index, n, ToGrpcCode(ack.status()), ack.status().message(), false);
  }
  since_batch_ += n;
}

void PublishStreamReactor::ReleaseLocked(Batch* batch) {
  if (--batch->remaining != 0) return;
  if (batch->late_count > 0) {
    QueueErrorLocked(*batch, batch->late_first, batch->late_count, grpc::RESOURCE_EXHAUSTED,
                     std::to_string(batch->late_count) +
                         " more messages of this request were refused from index " +
                         std::to_string(batch->late_first) +
                         " on, not itemized past max_refusals_per_request (the first: " +
                         batch->late_message + ")",
                     true);
  }
  if (batch->sequence != 0 && batch->last_ok_index >= 0) {
    v1::PublishStreamResponse r;
    r.mutable_ack()->set_sequence(batch->sequence);
    r.mutable_ack()->set_epoch(batch->last_ok.epoch);
    r.mutable_ack()->set_offset(batch->last_ok.offset);
    PushLocked(std::move(r));
  }
  // The totals once ack_every messages were counted: at the end of a
  // request, so that one request adds at most one of them.
  if (since_batch_ >= ack_every_) QueueBatchLocked();
  delete batch;
}

void PublishStreamReactor::OnReadDone(bool ok) {
  if (!ok) {
    Next next;
    {
      std::lock_guard lock(mu_);
      // Half-close (or a broken call): the totals once every result is
      // in (NextLocked), then the end.
      read_done_ = true;
      next = NextLocked();
    }
    Run(next);
    return;
  }
  const int count = (request_.has_message() ? 1 : 0) + request_.batch_size();
  auto* batch = new Batch;
  batch->serial = ++next_serial_;
  batch->sequence = request_.sequence();
  batch->remaining = count + 1;  // +1: released below, once every message is published
  batch->slots.resize(static_cast<size_t>(count));
  {
    std::lock_guard lock(mu_);
    in_flight_ += static_cast<size_t>(count);
  }
  // Published without holding mu_ (results from other nodes take it).
  int cut_from = count;  // the first message not published, past the refusal cap
  tls_publishing = this;
  for (int i = 0; i < count; ++i) {
    v1::PublishRequest& m = request_.has_message() ? (i == 0 ? *request_.mutable_message()
                                                             : *request_.mutable_batch(i - 1))
                                                   : *request_.mutable_batch(i);
    batch->slots[static_cast<size_t>(i)] = Slot{batch, i};
    Publish(m, &batch->slots[static_cast<size_t>(i)]);
    if (batch->inline_error_runs > static_cast<int>(max_refusal_runs_)) {
      // Message i began one run of refusals too many: it and the rest of the
      // request are answered by one error instead (i was refused anyway).
      batch->inline_runs.pop_back();
      --batch->inline_error_runs;
      cut_from = i;
      break;
    }
  }
  tls_publishing = nullptr;
  if (count > kKeepReadBufferUpTo) v1::PublishStreamRequest().Swap(&request_);
  Next next;
  {
    std::lock_guard lock(mu_);
    // Inline results, in publishing order (remote ones may already have been
    // applied: each message is counted once, whichever way it came back).
    for (const Outcome& run : batch->inline_runs) {
      in_flight_ -= static_cast<size_t>(run.count);
      ApplyLocked(*batch, run.index, run.count, run.result);
      batch->remaining -= run.count;
    }
    batch->inline_runs.clear();
    if (cut_from < count) {
      const int cut = count - cut_from;
      in_flight_ -= static_cast<size_t>(cut);
      batch->remaining -= cut;
      refused_ += static_cast<uint32_t>(cut);
      since_batch_ += static_cast<uint32_t>(cut);
      GrpcStats::Add(stats_->publish_refused, static_cast<uint64_t>(cut));
      GrpcStats::Add(stats_->requests_cut);
      QueueErrorLocked(*batch, cut_from, static_cast<uint32_t>(cut), grpc::RESOURCE_EXHAUSTED,
                       "more than " + std::to_string(max_refusal_runs_) +
                           " runs of refused messages in one request: messages " +
                           std::to_string(cut_from) + " to " + std::to_string(count - 1) +
                           " were not published",
                       true);
    }
    read_wanted_ = true;
    ReleaseLocked(batch);
    next = NextLocked();
  }
  Run(next);
}

void PublishStreamReactor::OnWriteDone(bool ok) {
  Next next;
  {
    std::lock_guard lock(mu_);
    answers_.pop_front();
    stats_->answers_queued.fetch_sub(1, std::memory_order_relaxed);
    if (answers_.empty()) open_error_serial_ = 0;
    writing_ = false;
    if (!ok) {
      broken_ = true;
      // Nothing more goes out: what is queued is freed now, not at the end.
      stats_->answers_queued.fetch_sub(static_cast<int64_t>(answers_.size()),
                                       std::memory_order_relaxed);
      answers_.clear();
      open_error_serial_ = 0;
      // The call is over. A read still pending completes with ok=false and
      // ends it; if none is pending (reading was paused), end it here.
      if (read_wanted_) {
        read_wanted_ = false;
        read_done_ = true;
      }
    }
    next = NextLocked();
  }
  Run(next);
}

}  // namespace herald::grpcfront
