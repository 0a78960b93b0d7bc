// frontends/grpc/broker_service.h — herald.v1.Broker on the gRPC callback API.
//
// Unary calls answer from whichever thread the broker finishes on (a
// Request's reply arrives on the replier's thread); streams are reactors
// (subscribe_reactor.h, publish_stream_reactor.h). Nothing here blocks a
// gRPC thread.
#pragma once

#include "frontends/grpc/delivery_thread.h"
#include "frontends/grpc/grpc_options.h"
#include "frontends/session/operations.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

class BrokerService final : public v1::Broker::CallbackService {
 public:
  BrokerService(Broker& broker, GrpcOptions options);

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* ctx,
                                    const v1::PublishRequest* request,
                                    v1::PublishAck* response) override;
  grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>* PublishStream(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* Request(grpc::CallbackServerContext* ctx,
                                    const v1::RequestRequest* request,
                                    v1::Message* response) override;
  grpc::ServerWriteReactor<v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx, const v1::SubscribeRequest* request) override;
  grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>* Connect(
      grpc::CallbackServerContext* ctx) override;

 private:
  // Admission (session::Admission) of a call, counted: who it is, from its
  // `authorization: Bearer` metadata, and for streams its user's slot.
  Result<session::IdentityPtr> Authenticate(grpc::CallbackServerContext* ctx) const;
  Result<session::Admitted> Admit(grpc::CallbackServerContext* ctx) const;

  Broker& broker_;
  const GrpcOptions options_;
  // What each call means and who may make it: the session layer's.
  const std::shared_ptr<const session::Operations> ops_;
  // Declared last: destroyed first, after gRPC has ended every stream.
  DeliveryThread deliveries_;
};

}  // namespace herald::grpcfront
