#include "frontends/grpc/broker_service.h"

#include "frontends/grpc/call_auth.h"
#include "frontends/grpc/connect_reactor.h"
#include "frontends/grpc/grpc_convert.h"
#include "frontends/grpc/publish_stream_reactor.h"
#include "frontends/grpc/subscribe_reactor.h"

namespace herald::grpcfront {
namespace {

// A streaming call refused before it starts (no token, no grant, no slot).
template <typename Base>
class Refused final : public Base {
 public:
  explicit Refused(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

BrokerService::BrokerService(Broker& broker, GrpcOptions options)
    : broker_(broker),
      options_(std::move(options)),
      ops_(std::make_shared<session::Operations>(
          broker, session::Admission(broker.options().topic_limits, options_.verifier, &broker))),
      deliveries_(broker) {}

Result<session::IdentityPtr> BrokerService::Authenticate(grpc::CallbackServerContext* ctx) const {
  Result<session::IdentityPtr> who = ops_->admission().Authenticate(CredentialOf(ctx));
  if (!who.ok()) GrpcStats::Add(options_.stats->unauthenticated);
  return who;
}

Result<session::Admitted> BrokerService::Admit(grpc::CallbackServerContext* ctx) const {
  Result<session::Admitted> who = ops_->admission().Connect(CredentialOf(ctx));
  if (!who.ok()) {
    GrpcStats::Add(who.status().code() == ErrorCode::kUnauthenticated
                       ? options_.stats->unauthenticated
                       : options_.stats->user_limit_refusals);
  }
  return who;
}

grpc::ServerUnaryReactor* BrokerService::Publish(grpc::CallbackServerContext* ctx,
                                                 const v1::PublishRequest* request,
                                                 v1::PublishAck* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) {
    reactor->Finish(Refusal(*options_.stats, ctx, who.status()));
    return reactor;
  }
  // Answered when the message is sequenced: at once, or (in a cluster) when
  // the topic's owner node answers — without holding a gRPC thread.
  ops_->Publish(**who, request->topic(), request->payload(), OptionsOf(*request),
                [stats = options_.stats, ctx, reactor, response](Result<PublishAck> ack) {
                  if (!ack.ok()) return reactor->Finish(Refusal(*stats, ctx, ack.status()));
                  ToProto(*ack, response);
                  reactor->Finish(grpc::Status::OK);
                });
  return reactor;
}

grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>*
BrokerService::PublishStream(grpc::CallbackServerContext* ctx) {
  using Refuse =
      Refused<grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>>;
  Result<session::Admitted> who = Admit(ctx);
  if (!who.ok()) return new Refuse(Refusal(*options_.stats, ctx, who.status()));
  auto* r = new PublishStreamReactor(ops_, options_, std::move(who->identity));
  r->HoldUserSlot(std::move(who->slot));
  return r;
}

grpc::ServerUnaryReactor* BrokerService::Request(grpc::CallbackServerContext* ctx,
                                                 const v1::RequestRequest* request,
                                                 v1::Message* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) {
    reactor->Finish(Refusal(*options_.stats, ctx, who.status()));
    return reactor;
  }
  // The call's deadline is the request's timeout (the broker caps it at
  // max_request_timeout: the client does not choose how long we hold it).
  auto timeout = options_.default_request_timeout;
  const auto deadline = ctx->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::system_clock::now());
    timeout = std::max(left, std::chrono::milliseconds(1));
  }
  ops_->Request(**who, request->topic(), request->payload(), timeout,
                OptionsFrom(request->content_type(), request->headers()),
                [stats = options_.stats, ctx, reactor, response](Result<MessagePtr> reply) {
                  if (!reply.ok()) return reactor->Finish(Refusal(*stats, ctx, reply.status()));
                  ToProto(**reply, response);
                  reactor->Finish(grpc::Status::OK);
                });
  return reactor;
}

grpc::ServerWriteReactor<v1::SubscribeResponse>* BrokerService::Subscribe(
    grpc::CallbackServerContext* ctx, const v1::SubscribeRequest* request) {
  using Refuse = Refused<grpc::ServerWriteReactor<v1::SubscribeResponse>>;
  Result<session::Admitted> who = Admit(ctx);
  if (!who.ok()) return new Refuse(Refusal(*options_.stats, ctx, who.status()));
  // The pattern's grant also covers the history of its resume topics.
  if (Status s =
          ops_->admission().Check(*who->identity, session::Op::kSubscribe, request->pattern());
      !s.ok()) {
    return new Refuse(Refusal(*options_.stats, ctx, s));
  }
  if (request->presence()) {
    return new Refuse(Refusal(
        *options_.stats, ctx,
        Status(ErrorCode::kInvalidArgument, "presence needs a Connect session (a client id)")));
  }
  auto* r =
      new SubscribeReactor(broker_, deliveries_, *request, options_, who->identity->expires_at_s);
  r->HoldUserSlot(std::move(who->slot));
  r->Register([&](std::weak_ptr<ClientControl> control) {
    return ops_->RegisterClient(*who->identity, broker_.NextClientId(), "grpc", std::move(control));
  });
  return r;
}

grpc::ServerUnaryReactor* BrokerService::Answer(grpc::CallbackServerContext* ctx, const Status& s) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(s.ok() ? grpc::Status::OK : Refusal(*options_.stats, ctx, s));
  return reactor;
}

grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>* BrokerService::Connect(
    grpc::CallbackServerContext* ctx) {
  using Refuse = Refused<grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>>;
  Result<session::Admitted> who = Admit(ctx);
  if (!who.ok()) return new Refuse(Refusal(*options_.stats, ctx, who.status()));
  // What the client says of itself in presence, where the node lets it.
  std::string info;
  if (auto it = ctx->client_metadata().find("herald-info"); it != ctx->client_metadata().end()) {
    Result<std::string> checked =
        ops_->ConnectInfo(std::string_view(it->second.data(), it->second.size()));
    if (!checked.ok()) return new Refuse(Refusal(*options_.stats, ctx, checked.status()));
    info = std::move(*checked);
  }
  auto* r = new ConnectReactor(ops_, deliveries_, options_, std::move(who->identity));
  r->HoldUserSlot(std::move(who->slot));
  r->SetConnectInfo(std::move(info));
  return r;
}

}  // namespace herald::grpcfront
