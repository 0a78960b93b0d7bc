#include "frontends/grpc/subscribe_reactor.h"

#include "frontends/grpc/call_auth.h"
#include "frontends/grpc/grpc_convert.h"

namespace herald::grpcfront {
namespace {

v1::SubscribeResponse MessageEvent(const Message& m) {
  v1::SubscribeResponse r;
  ToProto(m, r.mutable_message());
  return r;
}

v1::SubscribeResponse GapEvent(const Gap& g) {
  v1::SubscribeResponse r;
  ToProto(g, r.mutable_gap());
  return r;
}

}  // namespace

SubscribeReactor::SubscribeReactor(Broker& broker, DeliveryThread& deliveries,
                                   const v1::SubscribeRequest& request,
                                   std::shared_ptr<const GrpcOptions> options)
    : broker_(broker),
      deliveries_(deliveries),
      request_(request),
      options_(std::move(options)),
      outbox_(std::make_shared<Outbox>(this, broker, options_->outbound)) {
  guard_->reactor = this;
}

void SubscribeReactor::Start(
    const std::shared_ptr<Guard>& guard, grpc::CallbackServerContext* ctx, const Status& refused,
    int64_t expires_at_s, std::shared_ptr<void> slot,
    const std::function<std::shared_ptr<void>(std::weak_ptr<ClientControl>)>& registrar) {
  std::lock_guard lock(guard->mu);
  SubscribeReactor* r = guard->reactor;
  if (!r) return;  // the call ended while the hooks were asked
  if (!refused.ok()) return r->outbox_->Finish(Refusal(*r->options_->stats, ctx, refused));
  // The call may have been cancelled while the hooks were asked: then
  // nothing starts.
  if (r->outbox_->finishing()) return;
  r->user_slot_ = std::move(slot);
  r->Register(registrar);
  r->Begin(expires_at_s);
}

void SubscribeReactor::Begin(int64_t expires_at_s) {
  const v1::SubscribeRequest& request = request_;
  DeliveryThread& deliveries = deliveries_;
  FinishAtExpiry(expiry_, expires_at_s, outbox_);
  SubscribeOptions o;
  o.queue_group = request.queue_group();
  for (const v1::ResumePoint& p : request.resume()) {
    o.resume.push_back({p.topic(), p.epoch(), p.after_offset()});
  }
  // Headers go out once the subscription is in place, and before any
  // message: a client knows its subscription is live when they arrive, so
  // what is published after that reaches it. Deliveries (a replay's first
  // page, a live message) made before the headers wait behind them.
  outbox_->Hold();
  std::shared_ptr<Outbox> outbox = outbox_;
  auto sink = std::make_shared<FunctionSink>([outbox](const Delivery& d) {
    if (d.kind == Delivery::Kind::kGap) return outbox->Push(GapEvent(*d.gap));
    outbox->Deliver(d.subscription_id, *d.message, MessageEvent, GapEvent);
  });
  Result<uint64_t> id =
      broker_.Subscribe(request.pattern(), std::move(sink), deliveries.inbox(), std::move(o));
  if (!id.ok()) {
    outbox->Finish(ToGrpc(id.status()));
    return;
  }
  subscription_ = *id;
  outbox->Release([this] { StartSendInitialMetadata(); });
}

void SubscribeReactor::OnWriteDone(bool ok) {
  std::shared_ptr<Outbox> outbox = outbox_;  // Finish may end (and free) this reactor
  outbox->WriteDone(ok);
  outbox->FlushOwedGaps(GapEvent);
}

void SubscribeReactor::OnCancel() {
  outbox_->Finish(grpc::Status(grpc::CANCELLED, "cancelled by the client"));
}

void SubscribeReactor::OnDone() {
  {
    std::lock_guard lock(guard_->mu);
    guard_->reactor = nullptr;
  }
  if (subscription_ != 0) broker_.Unsubscribe(subscription_);
  delete this;
}

}  // namespace herald::grpcfront
