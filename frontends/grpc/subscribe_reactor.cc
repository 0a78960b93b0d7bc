#include "frontends/grpc/subscribe_reactor.h"

#include <deque>
#include <mutex>

#include "frontends/grpc/grpc_convert.h"

namespace herald::grpcfront {

struct SubscribeReactor::Shared {
  std::mutex mu;
  SubscribeReactor* reactor;
  Broker& broker;
  OutboundGuard guard;
  std::deque<std::pair<v1::SubscribeResponse, size_t>> queue;  // front: being written
  size_t queued_bytes = 0;
  bool writing = false;
  bool finishing = false;  // no more writes are started
  bool finish_called = false;
  grpc::Status finish_status;

  Shared(SubscribeReactor* r, Broker& b, OutboundLimits limits)
      : reactor(r), broker(b), guard(limits) {}

  void PushLocked(v1::SubscribeResponse response) {
    const size_t bytes = response.ByteSizeLong();
    queued_bytes += bytes;
    queue.emplace_back(std::move(response), bytes);
  }

  // Lock held. What to write next, or null; the caller starts it unlocked.
  const v1::SubscribeResponse* NextLocked() {
    if (writing || finishing || queue.empty()) return nullptr;
    writing = true;
    return &queue.front().first;
  }

  // Lock held. Stops the stream; Finish goes out once no write is pending.
  bool FinishLocked(grpc::Status status) {
    if (!finishing) {
      finishing = true;
      finish_status = std::move(status);
    }
    if (writing || finish_called) return false;
    finish_called = true;
    return true;
  }

  void OnDelivery(const Delivery& d) {
    const v1::SubscribeResponse* next = nullptr;
    bool finish = false;
    {
      std::lock_guard lock(mu);
      if (finishing) return;
      if (d.kind == Delivery::Kind::kGap) {
        v1::SubscribeResponse r;
        ToProto(*d.gap, r.mutable_gap());
        PushLocked(std::move(r));
      } else {
        const Message& m = *d.message;
        const size_t estimate = m.payload.size() + m.topic.size() + 48;
        OutboundGuard::Admission a = guard.Admit(d.subscription_id, m, estimate, queued_bytes);
        if (a.verdict == OutboundGuard::Verdict::kDrop) {
          broker.RecordSlowConsumer(1, false);
          return;
        }
        if (a.verdict == OutboundGuard::Verdict::kDisconnect) {
          broker.RecordSlowConsumer(0, true);
          finish = FinishLocked(grpc::Status(grpc::RESOURCE_EXHAUSTED,
                                             "slow consumer: the stream fell too far behind"));
        } else {
          if (a.gap) {
            v1::SubscribeResponse g;
            ToProto(*a.gap, g.mutable_gap());
            PushLocked(std::move(g));
          }
          v1::SubscribeResponse r;
          ToProto(m, r.mutable_message());
          PushLocked(std::move(r));
        }
      }
      next = NextLocked();
    }
    if (finish) reactor->Finish(finish_status);
    if (next) reactor->StartWrite(next);
  }
};

SubscribeReactor::SubscribeReactor(Broker& broker, const v1::SubscribeRequest& request,
                                   const GrpcOptions& options)
    : broker_(broker), shared_(std::make_shared<Shared>(this, broker, options.outbound)) {
  SubscribeOptions o;
  o.queue_group = request.queue_group();
  for (const v1::ResumePoint& p : request.resume()) {
    o.resume.push_back({p.topic(), p.epoch(), p.after_offset()});
  }
  std::shared_ptr<Shared> shared = shared_;
  Result<uint64_t> id = broker_.Subscribe(
      request.pattern(), [shared](const Delivery& d) { shared->OnDelivery(d); }, std::move(o));
  if (!id.ok()) {
    bool finish;
    {
      std::lock_guard lock(shared->mu);
      finish = shared->FinishLocked(ToGrpc(id.status()));
    }
    if (finish) Finish(shared->finish_status);
    return;
  }
  subscription_ = *id;
}

void SubscribeReactor::OnWriteDone(bool ok) {
  const v1::SubscribeResponse* next = nullptr;
  bool finish = false;
  {
    std::lock_guard lock(shared_->mu);
    shared_->queued_bytes -= shared_->queue.front().second;
    shared_->queue.pop_front();
    shared_->writing = false;
    if (!ok) {
      // The stream broke (client gone): nothing more can be written.
      shared_->FinishLocked(grpc::Status(grpc::CANCELLED, "stream broken"));
    }
    if (shared_->finishing) {
      finish = !shared_->finish_called;
      shared_->finish_called = true;
    } else {
      if (shared_->queue.empty() && shared_->guard.owes_gaps()) {
        for (auto& [sub, gap] : shared_->guard.TakeGaps(0)) {
          v1::SubscribeResponse g;
          ToProto(gap, g.mutable_gap());
          shared_->PushLocked(std::move(g));
        }
      }
      next = shared_->NextLocked();
    }
  }
  if (finish) Finish(shared_->finish_status);
  if (next) StartWrite(next);
}

void SubscribeReactor::OnCancel() {
  bool finish;
  {
    std::lock_guard lock(shared_->mu);
    finish = shared_->FinishLocked(grpc::Status(grpc::CANCELLED, "cancelled by the client"));
  }
  if (finish) Finish(shared_->finish_status);
}

void SubscribeReactor::OnDone() {
  if (subscription_ != 0) broker_.Unsubscribe(subscription_);
  delete this;
}

}  // namespace herald::grpcfront
