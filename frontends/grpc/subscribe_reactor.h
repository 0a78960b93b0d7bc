// frontends/grpc/subscribe_reactor.h — one `Subscribe` server stream.
//
// A broker callback subscription feeds a queue the reactor drains one write
// at a time (gRPC allows one outstanding write per stream). The queue is
// bounded by the node's slow-consumer policy, so a subscriber that stops
// reading loses messages (and is told with a Gap) or its stream
// (RESOURCE_EXHAUSTED) — never holds up the broker or other subscribers.
//
// Lifetime: gRPC owns the reactor and calls OnDone last; the state the broker
// callback touches is shared, so a delivery racing the end is harmless.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "frontends/grpc/grpc_options.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

class SubscribeReactor final : public grpc::ServerWriteReactor<v1::SubscribeResponse> {
 public:
  SubscribeReactor(Broker& broker, const v1::SubscribeRequest& request, const GrpcOptions& options);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  struct Shared;

 private:
  Broker& broker_;
  std::shared_ptr<Shared> shared_;
  uint64_t subscription_ = 0;
};

}  // namespace herald::grpcfront
