#include "frontends/grpc/publish_stream_reactor.h"

#include "frontends/grpc/grpc_convert.h"
#include "herald/topic.h"

namespace herald::grpcfront {

PublishStreamReactor::PublishStreamReactor(Broker& broker, const GrpcOptions& options)
    : broker_(broker),
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

void PublishStreamReactor::Publish(v1::PublishRequest& m, const std::shared_ptr<Batch>& batch,
                                   int index) {
  if (m.topic().starts_with(kInboxPrefix)) {
    return OnPublished(
        batch, index,
        Status(ErrorCode::kInvalidArgument, "topics under _INBOX. are reply inboxes"));
  }
  // The read buffer is reused for the next message: take the payload rather
  // than copy it.
  std::string payload;
  payload.swap(*m.mutable_payload());
  broker_.PublishAsync(
      m.topic(), std::move(payload), OptionsFrom(m.content_type(), m.headers()),
      [this, batch, index](Result<PublishAck> ack) { OnPublished(batch, index, std::move(ack)); });
}

void PublishStreamReactor::OnPublished(const std::shared_ptr<Batch>& batch, int index,
                                       Result<PublishAck> ack) {
  Next next;
  {
    std::lock_guard lock(mu_);
    if (index >= 0) {
      --in_flight_;
      if (ack.ok()) {
        ++accepted_;
        if (index > batch->last_ok_index) {
          batch->last_ok_index = index;
          batch->last_ok = *ack;
        }
      } else {
        ++refused_;
        // An error is always reported, sequence or not: a refused message
        // must never pass silently.
        v1::PublishStreamResponse r;
        r.mutable_error()->set_sequence(batch->sequence);
        r.mutable_error()->set_code(ToGrpcCode(ack.status()));
        r.mutable_error()->set_message(ack.status().message());
        r.mutable_error()->set_index(static_cast<uint32_t>(index));
        answers_.push_back(std::move(r));
      }
      if (++since_batch_ >= ack_every_) QueueBatchLocked();
    }
    if (--batch->remaining == 0 && batch->sequence != 0 && batch->last_ok_index >= 0) {
      v1::PublishStreamResponse r;
      r.mutable_ack()->set_sequence(batch->sequence);
      r.mutable_ack()->set_epoch(batch->last_ok.epoch);
      r.mutable_ack()->set_offset(batch->last_ok.offset);
      answers_.push_back(std::move(r));
    }
    next = NextLocked();
  }
  Run(next);
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
  // Published without holding mu_: results for topics this node owns come
  // back inline (OnPublished takes the lock).
  const int count = (request_.has_message() ? 1 : 0) + request_.batch_size();
  auto batch = std::make_shared<Batch>();
  batch->sequence = request_.sequence();
  batch->remaining = count + 1;
  {
    std::lock_guard lock(mu_);
    in_flight_ += static_cast<size_t>(count);
  }
  for (int i = 0; i < count; ++i) {
    v1::PublishRequest& m = request_.has_message() ? (i == 0 ? *request_.mutable_message()
                                                             : *request_.mutable_batch(i - 1))
                                                   : *request_.mutable_batch(i);
    Publish(m, batch, i);
  }
  {
    std::lock_guard lock(mu_);
    read_wanted_ = true;
  }
  OnPublished(batch, -1, PublishAck{});
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
