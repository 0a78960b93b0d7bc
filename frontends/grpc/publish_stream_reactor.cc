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
  if (read_wanted_ && !read_done_ && answers_.size() < max_pending_) {
    read_wanted_ = false;
    n.read = true;
  }
  if (read_done_ && !writing_ && (answers_.empty() || broken_) && !finish_called_) {
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

Result<PublishAck> PublishStreamReactor::Publish(v1::PublishRequest& m) {
  if (m.topic().starts_with(kInboxPrefix)) {
    return Status(ErrorCode::kInvalidArgument, "topics under _INBOX. are reply inboxes");
  }
  // The read buffer is reused for the next message: take the payload rather
  // than copy it.
  std::string payload;
  payload.swap(*m.mutable_payload());
  return broker_.Publish(m.topic(), std::move(payload), OptionsFrom(m.content_type(), m.headers()));
}

void PublishStreamReactor::OnReadDone(bool ok) {
  Next next;
  {
    std::lock_guard lock(mu_);
    if (!ok) {
      // Half-close (or a broken call): the totals, then the end.
      read_done_ = true;
      if (!broken_) QueueBatchLocked();
    } else {
      const uint64_t seq = request_.sequence();
      const int count = (request_.has_message() ? 1 : 0) + request_.batch_size();
      PublishAck last{};
      bool acked_any = false;
      for (int i = 0; i < count; ++i) {
        v1::PublishRequest& m = request_.has_message() ? (i == 0 ? *request_.mutable_message()
                                                                 : *request_.mutable_batch(i - 1))
                                                       : *request_.mutable_batch(i);
        Result<PublishAck> ack = Publish(m);
        if (ack.ok()) {
          ++accepted_;
          last = *ack;
          acked_any = true;
        } else {
          ++refused_;
          // An error is always reported, sequence or not: a refused message
          // must never pass silently.
          v1::PublishStreamResponse r;
          r.mutable_error()->set_sequence(seq);
          r.mutable_error()->set_code(ToGrpcCode(ack.status()));
          r.mutable_error()->set_message(ack.status().message());
          r.mutable_error()->set_index(static_cast<uint32_t>(i));
          answers_.push_back(std::move(r));
        }
        since_batch_ += 1;
      }
      if (seq != 0 && acked_any) {
        v1::PublishStreamResponse r;
        r.mutable_ack()->set_sequence(seq);
        r.mutable_ack()->set_epoch(last.epoch);
        r.mutable_ack()->set_offset(last.offset);
        answers_.push_back(std::move(r));
      }
      if (since_batch_ >= ack_every_) QueueBatchLocked();
      read_wanted_ = true;
    }
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
