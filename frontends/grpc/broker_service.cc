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

// A streaming call refused before it starts (no token, or no grant).
template <typename Base>
class Refused final : public Base {
 public:
  explicit Refused(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

grpc::Status Unauthenticated(const Status& why) {
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, why.message());
}

grpc::Status Denied(std::string_view what, const std::string& topic) {
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "permission denied: " + std::string(what) + " '" + topic + "'");
}

grpc::Status TooManyForUser() {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "too many connections for this user (max_connections_per_user)");
}

}  // namespace

std::shared_ptr<void> BrokerService::UserSlot(const auth::Identity& id) const {
  static const std::shared_ptr<void> kUnlimited = std::make_shared<int>(0);
  std::shared_ptr<void> slot =
      options_.verifier ? options_.verifier->TakeConnectionSlot(id) : kUnlimited;
  if (!slot) GrpcStats::Add(options_.stats->user_limit_refusals);
  return slot;
}

Result<std::shared_ptr<const auth::Identity>> BrokerService::Authenticate(
    grpc::CallbackServerContext* ctx) const {
  if (!options_.verifier) {
    static const auto kOpen = [] {
      auto id = std::make_shared<auth::Identity>();
      id->subject = "anonymous";
      id->anonymous = true;
      id->grants.all = true;
      return std::shared_ptr<const auth::Identity>(id);
    }();
    return kOpen;
  }
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  Result<auth::Identity> id = Status(ErrorCode::kInternal, "");
  if (it == md.end()) {
    id = options_.verifier->Anonymous();
  } else {
    std::string_view v(it->second.data(), it->second.size());
    constexpr std::string_view kBearer = "Bearer ";
    if (v.size() <= kBearer.size() || !v.starts_with(kBearer)) {
      return Status(ErrorCode::kInvalidArgument, "authorization metadata must be 'Bearer <token>'");
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    id = options_.verifier->Verify(v.substr(kBearer.size()), now);
  }
  if (!id.ok()) {
    GrpcStats::Add(options_.stats->unauthenticated);
    return id.status();
  }
  return std::make_shared<const auth::Identity>(std::move(*id));
}

grpc::ServerUnaryReactor* BrokerService::Publish(grpc::CallbackServerContext* ctx,
                                                 const v1::PublishRequest* request,
                                                 v1::PublishAck* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Result<std::shared_ptr<const auth::Identity>> who = Authenticate(ctx);
  if (!who.ok()) {
    reactor->Finish(Unauthenticated(who.status()));
    return reactor;
  }
  if (!(*who)->grants.MayPublish(request->topic())) {
    GrpcStats::Add(options_.stats->permission_denied);
    reactor->Finish(Denied("publish to", request->topic()));
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
BrokerService::PublishStream(grpc::CallbackServerContext* ctx) {
  Result<std::shared_ptr<const auth::Identity>> who = Authenticate(ctx);
  if (!who.ok()) {
    return new Refused<
        grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>>(
        Unauthenticated(who.status()));
  }
  std::shared_ptr<void> slot = UserSlot(**who);
  if (!slot) {
    return new Refused<
        grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>>(
        TooManyForUser());
  }
  auto* r = new PublishStreamReactor(broker_, options_, std::move(*who));
  r->HoldUserSlot(std::move(slot));
  return r;
}

grpc::ServerUnaryReactor* BrokerService::Request(grpc::CallbackServerContext* ctx,
                                                 const v1::RequestRequest* request,
                                                 v1::Message* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Result<std::shared_ptr<const auth::Identity>> who = Authenticate(ctx);
  if (!who.ok()) {
    reactor->Finish(Unauthenticated(who.status()));
    return reactor;
  }
  if (!(*who)->grants.MayPublish(request->topic())) {
    GrpcStats::Add(options_.stats->permission_denied);
    reactor->Finish(Denied("request on", request->topic()));
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
    grpc::CallbackServerContext* ctx, const v1::SubscribeRequest* request) {
  using Refuse = Refused<grpc::ServerWriteReactor<v1::SubscribeResponse>>;
  Result<std::shared_ptr<const auth::Identity>> who = Authenticate(ctx);
  if (!who.ok()) return new Refuse(Unauthenticated(who.status()));
  // The pattern's grant also covers the history of its resume topics.
  if (!(*who)->grants.MaySubscribe(request->pattern())) {
    GrpcStats::Add(options_.stats->permission_denied);
    return new Refuse(Denied("subscribe to", request->pattern()));
  }
  std::shared_ptr<void> slot = UserSlot(**who);
  if (!slot) return new Refuse(TooManyForUser());
  auto* r = new SubscribeReactor(broker_, deliveries_, *request, options_, (*who)->expires_at_s);
  r->HoldUserSlot(std::move(slot));
  return r;
}

grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>* BrokerService::Connect(
    grpc::CallbackServerContext* ctx) {
  Result<std::shared_ptr<const auth::Identity>> who = Authenticate(ctx);
  if (!who.ok()) {
    return new Refused<grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>>(
        Unauthenticated(who.status()));
  }
  std::shared_ptr<void> slot = UserSlot(**who);
  if (!slot) {
    return new Refused<grpc::ServerBidiReactor<v1::ClientCommand, v1::ServerEvent>>(
        TooManyForUser());
  }
  auto* r = new ConnectReactor(broker_, deliveries_, options_, std::move(*who));
  r->HoldUserSlot(std::move(slot));
  return r;
}

}  // namespace herald::grpcfront
