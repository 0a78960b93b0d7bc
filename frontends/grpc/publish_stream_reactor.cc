#include "frontends/grpc/publish_stream_reactor.h"

#include "frontends/grpc/grpc_convert.h"
#include "herald/topic.h"

namespace herald::grpcfront {

PublishStreamReactor::PublishStreamReactor(Broker& broker, const GrpcOptions& options,
                                           std::shared_ptr<const auth::Identity> identity)
    : broker_(broker),
      identity_(std::move(identity)),
      stats_(options.stats),
      ack_every_(options.ack_every == 0 ? 1 : options.ack_every),
      max_pending_(options.max_pending_answers == 0 ? 1 : options.max_pending_answers) {
  StartRead(&request_);
}

void PublishStreamReactor::QueueBatchLocked() {
  v1::PublishStreamResponse r;
  r.mutable_batch()->set_accepted(accepted_);
  r.mutable_batch()->set_refused(refused_);
  answers_.push_back(std::move(r));
  since_batch_ = 0;
}

PublishStreamReactor::Next PublishStreamReactor::NextLocked() {
  Next n;
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
  if (m.topic().starts_with(kInboxPrefix)) {
    return OnPublished(
        slot, Status(ErrorCode::kInvalidArgument, "topics under _INBOX. are reply inboxes"));
  }
  if (!identity_->grants.MayPublish(m.topic())) {
    GrpcStats::Add(stats_->permission_denied);
    return OnPublished(slot, Status(ErrorCode::kPermissionDenied,
                                    "permission denied: publish to '" + m.topic() + "'"));
  }
  // The read buffer is reused for the next message: take the payload rather
  // than copy it.
  std::string payload;
  payload.swap(*m.mutable_payload());
  // Two pointers: the callback fits std::function's inline storage.
  broker_.PublishAsync(m.topic(), std::move(payload), OptionsFrom(m.content_type(), m.headers()),
                       [this, slot](Result<PublishAck> ack) { OnPublished(slot, std::move(ack)); });
}

void PublishStreamReactor::OnPublished(Slot* slot, Result<PublishAck> ack) {
  if (tls_publishing == this) {
    slot->batch->inline_results.emplace_back(slot->index, std::move(ack));
    return;
  }
  Next next;
  {
    std::lock_guard lock(mu_);
    --in_flight_;
    ApplyLocked(*slot->batch, slot->index, ack);
    ReleaseLocked(slot->batch);
    next = NextLocked();
  }
  Run(next);
}

void PublishStreamReactor::ApplyLocked(Batch& batch, int index, const Result<PublishAck>& ack) {
  if (ack.ok()) {
    ++accepted_;
    if (index > batch.last_ok_index) {
      batch.last_ok_index = index;
      batch.last_ok = *ack;
    }
  } else {
    ++refused_;
    // An error is always reported, sequence or not: a refused message must
    // never pass silently.
    v1::PublishStreamResponse r;
    r.mutable_error()->set_sequence(batch.sequence);
    r.mutable_error()->set_code(ToGrpcCode(ack.status()));
    r.mutable_error()->set_message(ack.status().message());
    r.mutable_error()->set_index(static_cast<uint32_t>(index));
    answers_.push_back(std::move(r));
  }
  if (++since_batch_ >= ack_every_) QueueBatchLocked();
}

void PublishStreamReactor::ReleaseLocked(Batch* batch) {
  if (--batch->remaining != 0) return;
  if (batch->sequence != 0 && batch->last_ok_index >= 0) {
    v1::PublishStreamResponse r;
    r.mutable_ack()->set_sequence(batch->sequence);
    r.mutable_ack()->set_epoch(batch->last_ok.epoch);
    r.mutable_ack()->set_offset(batch->last_ok.offset);
    answers_.push_back(std::move(r));
  }
  delete batch;
}

void PublishStreamReactor::OnReadDone(bool ok) {
  if (!ok) {
    Next next;
    {
      std::lock_guard lock(mu_);
      // Half-close (or a broken call): the totals, then the end.
      read_done_ = true;
      if (!broken_) QueueBatchLocked();
      next = NextLocked();
    }
    Run(next);
    return;
  }
  const int count = (request_.has_message() ? 1 : 0) + request_.batch_size();
  auto* batch = new Batch;
  batch->sequence = request_.sequence();
  batch->remaining = count + 1;  // +1: released below, once every message is published
  batch->slots.resize(static_cast<size_t>(count));
  {
    std::lock_guard lock(mu_);
    in_flight_ += static_cast<size_t>(count);
  }
  // Published without holding mu_ (results from other nodes take it).
  tls_publishing = this;
  for (int i = 0; i < count; ++i) {
    v1::PublishRequest& m = request_.has_message() ? (i == 0 ? *request_.mutable_message()
                                                             : *request_.mutable_batch(i - 1))
                                                   : *request_.mutable_batch(i);
    batch->slots[static_cast<size_t>(i)] = Slot{batch, i};
    Publish(m, &batch->slots[static_cast<size_t>(i)]);
  }
  tls_publishing = nullptr;
  Next next;
  {
    std::lock_guard lock(mu_);
    // Inline results, in publishing order (remote ones may already have been
    // applied: each message is counted once, whichever way it came back).
    for (auto& [index, ack] : batch->inline_results) {
      --in_flight_;
      ApplyLocked(*batch, index, ack);
      --batch->remaining;
    }
    batch->inline_results.clear();
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
    writing_ = false;
    if (!ok) {
      broken_ = true;
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
