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
#include <mutex>

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
  // Nothing starts until Start: admission may wait on the connect and
  // subscribe hooks.
  SubscribeReactor(Broker& broker, DeliveryThread& deliveries, const v1::SubscribeRequest& request,
                   std::shared_ptr<const GrpcOptions> options);

  // The reactor while it lives, for completions that may come after it.
  struct Guard {
    std::mutex mu;
    SubscribeReactor* reactor = nullptr;
  };
  const std::shared_ptr<Guard>& guard() const { return guard_; }
  // Admitted and allowed (`refused` ok): subscribes, ending the call with
  // UNAUTHENTICATED at `expires_at_s` (0: never), holding `slot`; else the
  // call ends with the refusal. Any thread; the call may be gone by then.
  static void Start(
      const std::shared_ptr<Guard>& guard, grpc::CallbackServerContext* ctx, const Status& refused,
      int64_t expires_at_s, std::shared_ptr<void> slot,
      const std::function<std::shared_ptr<void>(std::weak_ptr<ClientControl>)>& registrar);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  using Outbox = ReactorOutbox<SubscribeReactor, v1::SubscribeResponse>;
  void Begin(int64_t expires_at_s);

  Broker& broker_;
  DeliveryThread& deliveries_;
  const v1::SubscribeRequest request_;
  const std::shared_ptr<const GrpcOptions> options_;  // the service's when the call began
  const std::shared_ptr<Guard> guard_ = std::make_shared<Guard>();
  std::shared_ptr<Outbox> outbox_;
  uint64_t subscription_ = 0;
  grpc::Alarm expiry_;
  std::shared_ptr<void> user_slot_;
  std::shared_ptr<ClientControl> control_;
  std::shared_ptr<void> registration_;
};

}  // namespace herald::grpcfront
