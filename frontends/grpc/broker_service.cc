#include "frontends/grpc/broker_service.h"

#include "frontends/grpc/call_auth.h"
#include "frontends/grpc/connect_reactor.h"
#include "frontends/grpc/grpc_convert.h"
#include "frontends/grpc/publish_stream_reactor.h"
#include "frontends/grpc/subscribe_reactor.h"

namespace herald::grpcfront {

BrokerService::BrokerService(Broker& broker, GrpcOptions options)
    : broker_(broker),
      stats_(options.stats),
      ops_(std::make_shared<session::Operations>(
          broker, session::Admission(broker.options().topic_limits, options.verifier, &broker),
          options.hooks)),
      options_(std::move(options)),
      deliveries_(broker) {}

void BrokerService::SetLimits(const GrpcLimits& limits) {
  options_.Update([&](GrpcOptions& o) { static_cast<GrpcLimits&>(o) = limits; });
}

Result<session::IdentityPtr> BrokerService::Authenticate(grpc::CallbackServerContext* ctx) const {
  Result<session::IdentityPtr> who = ops_->admission().Authenticate(CredentialOf(ctx));
  if (!who.ok()) GrpcStats::Add(stats_->unauthenticated);
  return who;
}

grpc::ServerUnaryReactor* BrokerService::Publish(grpc::CallbackServerContext* ctx,
                                                 const v1::PublishRequest* request,
                                                 v1::PublishAck* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) {
    reactor->Finish(Refusal(*stats_, ctx, who.status()));
    return reactor;
  }
  // Answered when the message is sequenced: at once, or (in a cluster) when
  // the topic's owner node answers — without holding a gRPC thread.
  ops_->Publish(**who, request->topic(), request->payload(), OptionsOf(*request),
                [stats = stats_, ctx, reactor, response](Result<PublishAck> ack) {
                  if (!ack.ok()) return reactor->Finish(Refusal(*stats, ctx, ack.status()));
                  ToProto(*ack, response);
                  reactor->Finish(grpc::Status::OK);
                },
                {{}, "grpc", {}});
  return reactor;
}

grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>*
BrokerService::PublishStream(grpc::CallbackServerContext* ctx) {
  // Reading starts once admitted: at once, or when the connect hook answers.
  auto* r = new PublishStreamReactor(ops_, *options_.Get());
  ops_->Connect(CredentialOf(ctx), {{}, "grpc", {}},
                [guard = r->guard(), ctx](Result<session::Admitted> who) {
                  PublishStreamReactor::Start(guard, ctx, std::move(who));
                });
  return r;
}

grpc::ServerUnaryReactor* BrokerService::Request(grpc::CallbackServerContext* ctx,
                                                 const v1::RequestRequest* request,
                                                 v1::Message* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Result<session::IdentityPtr> who = Authenticate(ctx);
  if (!who.ok()) {
    reactor->Finish(Refusal(*stats_, ctx, who.status()));
    return reactor;
  }
  // The call's deadline is the request's timeout (the broker caps it at
  // max_request_timeout: the client does not choose how long we hold it).
  auto timeout = options_.Get()->default_request_timeout;
  const auto deadline = ctx->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::system_clock::now());
    timeout = std::max(left, std::chrono::milliseconds(1));
  }
  ops_->Request(**who, request->topic(), request->payload(), timeout,
                OptionsFrom(request->content_type(), request->headers()),
                [stats = stats_, ctx, reactor, response](Result<MessagePtr> reply) {
                  if (!reply.ok()) return reactor->Finish(Refusal(*stats, ctx, reply.status()));
                  ToProto(**reply, response);
                  reactor->Finish(grpc::Status::OK);
                },
                nullptr, {{}, "grpc", {}});
  return reactor;
}

grpc::ServerWriteReactor<v1::SubscribeResponse>* BrokerService::Subscribe(
    grpc::CallbackServerContext* ctx, const v1::SubscribeRequest* request) {
  // Who it is, the connect hook, its user's slot; then the pattern's grant
  // (which also covers the history of its resume topics), presence (which
  // needs a client id), and the subscribe hook. The stream starts once all
  // have answered: at once without hooks.
  auto* r = new SubscribeReactor(broker_, deliveries_, *request, options_.Get());
  // The operations weakly: a hook's answer must not keep them (and the
  // hooks' transport they hold) past the front.
  using Ops = std::weak_ptr<const session::Operations>;
  auto start = [guard = r->guard(), ctx](const Status& refused, const session::Admitted* who,
                                         const session::Operations* ops) {
    auto registrar = [&](std::weak_ptr<ClientControl> control) {
      return ops->RegisterClient(*who->identity, who->client, "grpc", std::move(control));
    };
    SubscribeReactor::Start(guard, ctx, refused, who ? who->identity->expires_at_s : 0,
                            who ? who->slot : nullptr, registrar);
  };
  ops_->Connect(
      CredentialOf(ctx), {{}, "grpc", {}},
      [weak = Ops(ops_), stats = stats_, start, pattern = request->pattern(),
       presence = request->presence()](Result<session::Admitted> who) {
        std::shared_ptr<const session::Operations> ops = weak.lock();
        if (!ops) return;  // the front is gone, and the call with it
        if (!who.ok()) {
          CountRefusal(*stats, who.status());
          return start(who.status(), nullptr, ops.get());
        }
        Status refused = ops->admission().Check(*who->identity, session::Op::kSubscribe, pattern);
        if (refused.ok() && presence) {
          refused =
              Status(ErrorCode::kInvalidArgument, "presence needs a Connect session (a client id)");
        }
        if (!refused.ok()) return start(refused, nullptr, ops.get());
        auto admitted = std::make_shared<session::Admitted>(std::move(*who));
        ops->VetSubscribe(*admitted->identity, pattern, {admitted->client, "grpc", {}},
                          [weak, start, admitted](Status s) {
                            if (std::shared_ptr<const session::Operations> ops = weak.lock()) {
                              start(s, admitted.get(), ops.get());
                            }
                          });
      });
  return r;
}

grpc::ServerUnaryReactor* BrokerService::Answer(grpc::CallbackServerContext* ctx, const Status& s) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(s.ok() ? grpc::Status::OK : Refusal(*stats_, ctx, s));
  return reactor;
}

grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>* BrokerService::Connect(
    grpc::CallbackServerContext* ctx) {
  // What the client says of itself in presence, where the node lets it:
  // refused after who it is (a bad token is unauthenticated first).
  std::string info;
  Status bad_info;
  if (auto it = ctx->client_metadata().find("herald-info"); it != ctx->client_metadata().end()) {
    Result<std::string> checked =
        ops_->ConnectInfo(std::string_view(it->second.data(), it->second.size()));
    if (checked.ok()) {
      info = std::move(*checked);
    } else {
      bad_info = checked.status();
    }
  }
  // The session starts once admitted: at once, or when the connect hook
  // has answered (nothing is read before).
  auto* r = new ConnectReactor(ops_, deliveries_, options_.Get());
  r->SetConnectInfo(info);
  ops_->Connect(CredentialOf(ctx), {r->client_id(), "grpc", std::move(info)},
                [lock = r->command_lock(), ctx, bad_info](Result<session::Admitted> who) {
                  if (who.ok() && !bad_info.ok()) who = bad_info;
                  ConnectReactor::Admit(lock, ctx, std::move(who));
                });
  return r;
}

}  // namespace herald::grpcfront
