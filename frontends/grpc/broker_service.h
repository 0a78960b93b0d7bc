// frontends/grpc/broker_service.h — herald.v1.Broker on the gRPC callback API.
//
// Unary calls answer from whichever thread the broker finishes on (a
// Request's reply arrives on the replier's thread); streams are reactors
// (subscribe_reactor.h, publish_stream_reactor.h). Nothing here blocks a
// gRPC thread.
#pragma once

#include "base/live.h"
#include "frontends/grpc/delivery_thread.h"
#include "frontends/grpc/grpc_options.h"
#include "frontends/session/operations.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

class BrokerService final : public v1::Broker::CallbackService {
 public:
  BrokerService(Broker& broker, GrpcOptions options);
  // A reload: calls from now on get `limits` (those that are not gRPC's
  // own channel settings, which its server took at start). Any thread.
  void SetLimits(const GrpcLimits& limits);

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
  // Work queues (broker_service_queues.cc).
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx, const v1::PullRequest* request,
                                 v1::PullResponse* response) override;
  grpc::ServerUnaryReactor* SettlePulled(grpc::CallbackServerContext* ctx,
                                         const v1::SettlePulledRequest* request,
                                         v1::SettlePulledResponse* response) override;
  grpc::ServerUnaryReactor* CreateQueue(grpc::CallbackServerContext* ctx,
                                        const v1::QueueDefinition* request,
                                        v1::QueueState* response) override;
  grpc::ServerUnaryReactor* DeleteQueue(grpc::CallbackServerContext* ctx,
                                        const v1::QueueRef* request,
                                        v1::DeleteQueueResponse* response) override;
  grpc::ServerUnaryReactor* GetQueue(grpc::CallbackServerContext* ctx, const v1::QueueRef* request,
                                     v1::QueueState* response) override;
  grpc::ServerUnaryReactor* ListQueues(grpc::CallbackServerContext* ctx,
                                       const v1::ListQueuesRequest* request,
                                       v1::ListQueuesResponse* response) override;
  grpc::ServerUnaryReactor* Presence(grpc::CallbackServerContext* ctx,
                                     const v1::PresenceRequest* request,
                                     v1::PresenceResponse* response) override;

 private:
  // Admission (session::Admission) of a call, counted: who it is, from its
  // `authorization: Bearer` metadata, and for streams its user's slot.
  Result<session::IdentityPtr> Authenticate(grpc::CallbackServerContext* ctx) const;
  // A unary call finished at once with `s` (its refusal, or OK).
  grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* ctx, const Status& s);

  Broker& broker_;
  const std::shared_ptr<GrpcStats> stats_;  // the front's counters
  // What each call means and who may make it: the session layer's.
  const std::shared_ptr<const session::Operations> ops_;
  // Replaced by a reload (SetLimits); each call takes the current one when
  // it starts, a stream keeps it for its life.
  Live<GrpcOptions> options_;
  // Declared last: destroyed first, after gRPC has ended every stream.
  DeliveryThread deliveries_;
};

}  // namespace herald::grpcfront
