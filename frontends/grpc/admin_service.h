// frontends/grpc/admin_service.h — `herald.v1.Admin`, the server API over
// gRPC: a codec around session::Operations::Admin (the same permission rule
// and meaning as HTTP's /admin/). Each call is answered when every node it
// names has answered, without holding a gRPC thread.
#pragma once

#include <memory>

#include "frontends/grpc/grpc_options.h"
#include "frontends/session/operations.h"
#include "herald/v1/broker.grpc.pb.h"

namespace herald::grpcfront {

class AdminService final : public v1::Admin::CallbackService {
 public:
  AdminService(Broker& broker, GrpcOptions options);

  grpc::ServerUnaryReactor* Disconnect(grpc::CallbackServerContext* ctx,
                                       const v1::DisconnectRequest* request,
                                       v1::AdminAnswer* response) override;
  grpc::ServerUnaryReactor* Subscribe(grpc::CallbackServerContext* ctx,
                                      const v1::ServerSubscribeRequest* request,
                                      v1::AdminAnswer* response) override;
  grpc::ServerUnaryReactor* Unsubscribe(grpc::CallbackServerContext* ctx,
                                        const v1::ServerUnsubscribeRequest* request,
                                        v1::AdminAnswer* response) override;
  grpc::ServerUnaryReactor* Revoke(grpc::CallbackServerContext* ctx,
                                   const v1::RevokeRequest* request,
                                   v1::AdminAnswer* response) override;
  grpc::ServerUnaryReactor* Connections(grpc::CallbackServerContext* ctx,
                                        const v1::ConnectionsRequest* request,
                                        v1::AdminAnswer* response) override;
  grpc::ServerUnaryReactor* Topics(grpc::CallbackServerContext* ctx,
                                   const v1::TopicsRequest* request,
                                   v1::AdminAnswer* response) override;

 private:
  grpc::ServerUnaryReactor* Call(grpc::CallbackServerContext* ctx, AdminCall call,
                                 v1::AdminAnswer* response);

  const GrpcOptions options_;
  const std::shared_ptr<const session::Operations> ops_;
};

}  // namespace herald::grpcfront
