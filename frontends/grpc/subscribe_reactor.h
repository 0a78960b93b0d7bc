// frontends/grpc/subscribe_reactor.h — one `Subscribe` server stream.
//
// A broker subscription (a sink on the front's delivery thread) feeds the
// stream's outbox
// (reactor_outbox.h), which writes one event at a time and applies the
// node's slow-consumer policy: a subscriber that stops reading loses messages
// (and is told with a Gap) or its stream (RESOURCE_EXHAUSTED) — it never
// holds up the broker or other subscribers.
//
// Lifetime: gRPC owns the reactor and calls OnDone last; the outbox is shared
// with the broker callback, so a delivery racing the end is harmless.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "frontends/grpc/delivery_thread.h"
#include "frontends/grpc/grpc_options.h"
#include "frontends/grpc/reactor_outbox.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

class SubscribeReactor final : public grpc::ServerWriteReactor<v1::SubscribeResponse> {
 public:
  // Held until the call is done: the caller's place in its user's count.
  void HoldUserSlot(std::shared_ptr<void> slot) { user_slot_ = std::move(slot); }
  // Makes the call reachable by the server API (a disconnect only):
  // `registrar` gets its control and returns the registration, held until
  // the call is done.
  void Register(
      const std::function<std::shared_ptr<void>(std::weak_ptr<ClientControl>)>& registrar) {
    control_ = std::make_shared<OutboxControl<Outbox>>(outbox_);
    registration_ = registrar(control_);
  }
  // `expires_at_s`: the caller's token expires then and the call ends with
  // UNAUTHENTICATED (0: never).
  SubscribeReactor(Broker& broker, DeliveryThread& deliveries, const v1::SubscribeRequest& request,
                   const GrpcOptions& options, int64_t expires_at_s = 0);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  using Outbox = ReactorOutbox<SubscribeReactor, v1::SubscribeResponse>;

  Broker& broker_;
  std::shared_ptr<Outbox> outbox_;
  uint64_t subscription_ = 0;
  grpc::Alarm expiry_;
  std::shared_ptr<void> user_slot_;
  std::shared_ptr<ClientControl> control_;
  std::shared_ptr<void> registration_;
};

}  // namespace herald::grpcfront
