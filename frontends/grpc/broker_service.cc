#include "frontends/grpc/broker_service.h"

#include "frontends/grpc/connect_reactor.h"
#include "frontends/grpc/grpc_convert.h"
#include "frontends/grpc/publish_stream_reactor.h"
#include "frontends/grpc/subscribe_reactor.h"
#include "herald/topic.h"

namespace herald::grpcfront {
namespace {

// The Herald error code rides along as trailing metadata, so clients can
// tell "no responders" from an unreachable node (both UNAVAILABLE).
void Fail(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor, const Status& s) {
  ctx->AddTrailingMetadata(std::string(kErrorMetadata), std::string(ErrorCodeName(s.code())));
  reactor->Finish(ToGrpc(s));
}

// Replies go to reply_to inboxes through Connect; a plain publish there is a
// mistake worth naming.
Status CheckPublishTopic(const std::string& topic) {
  if (topic.starts_with(kInboxPrefix)) {
    return Status(ErrorCode::kInvalidArgument,
                  "topics under _INBOX. are reply inboxes; answer requests with Connect's reply");
  }
  return Status::Ok();
}

}  // namespace

grpc::ServerUnaryReactor* BrokerService::Publish(grpc::CallbackServerContext* ctx,
                                                 const v1::PublishRequest* request,
                                                 v1::PublishAck* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (Status s = CheckPublishTopic(request->topic()); !s.ok()) {
    Fail(ctx, reactor, s);
    return reactor;
  }
  // Answered when the message is sequenced: at once, or (in a cluster) when
  // the topic's owner node answers — without holding a gRPC thread.
  broker_.PublishAsync(request->topic(), request->payload(),
                       OptionsFrom(request->content_type(), request->headers()),
                       [ctx, reactor, response](Result<PublishAck> ack) {
                         if (!ack.ok()) return Fail(ctx, reactor, ack.status());
                         response->set_epoch(ack->epoch);
                         response->set_offset(ack->offset);
                         reactor->Finish(grpc::Status::OK);
                       });
  return reactor;
}

grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>*
BrokerService::PublishStream(grpc::CallbackServerContext*) {
  return new PublishStreamReactor(broker_, options_);
}

grpc::ServerUnaryReactor* BrokerService::Request(grpc::CallbackServerContext* ctx,
                                                 const v1::RequestRequest* request,
                                                 v1::Message* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The call's deadline is the request's timeout.
  auto timeout = options_.default_request_timeout;
  const auto deadline = ctx->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::system_clock::now());
    timeout = std::max(left, std::chrono::milliseconds(1));
  }
  broker_.Request(
      request->topic(), request->payload(), timeout,
      [ctx, reactor, response](Result<MessagePtr> reply) {
        if (!reply.ok()) return Fail(ctx, reactor, reply.status());
        ToProto(**reply, response);
        reactor->Finish(grpc::Status::OK);
      },
      OptionsFrom(request->content_type(), request->headers()));
  return reactor;
}

grpc::ServerWriteReactor<v1::SubscribeResponse>* BrokerService::Subscribe(
    grpc::CallbackServerContext*, const v1::SubscribeRequest* request) {
  return new SubscribeReactor(broker_, deliveries_, *request, options_);
}

grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>* BrokerService::Connect(
    grpc::CallbackServerContext*) {
  return new ConnectReactor(broker_, deliveries_, options_);
}

}  // namespace herald::grpcfront
