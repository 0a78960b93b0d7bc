#include "frontends/grpc/admin_service.h"

#include "frontends/grpc/call_auth.h"

namespace herald::grpcfront {
namespace {

void Select(const v1::ClientSelector& s, AdminCall& call) {
  call.client = s.client();
  call.user = s.user();
}

void ToProto(const AdminResult& r, v1::AdminAnswer* out) {
  out->set_nodes(r.nodes);
  for (const std::string& n : r.unreached) out->add_unreached(n);
  out->set_matched(r.matched);
  out->set_applied(r.applied);
  out->set_refused(r.refused);
  for (const std::string& e : r.errors) out->add_errors(e);
  for (const ClientRecord& c : r.clients) {
    v1::ClientInfo* i = out->add_clients();
    i->set_client(c.client);
    i->set_user(c.user);
    i->set_anonymous(c.anonymous);
    i->set_jti(c.token_id);
    i->set_issued_at(c.issued_at_s);
    i->set_expires_at(c.expires_at_s);
    i->set_transport(c.transport);
    i->set_connected_at_ms(c.connected_at_ms);
  }
  for (const TopicCount& t : r.topics) {
    v1::TopicSubscribers* s = out->add_topics();
    s->set_pattern(t.pattern);
    s->set_subscribers(t.subscribers);
  }
  out->set_truncated(r.truncated);
}

}  // namespace

AdminService::AdminService(Broker& broker, GrpcOptions options)
    : options_(std::move(options)),
      ops_(std::make_shared<session::Operations>(
          broker, session::Admission(broker.options().topic_limits, options_.verifier, &broker))) {}

grpc::ServerUnaryReactor* AdminService::Call(grpc::CallbackServerContext* ctx, AdminCall call,
                                             v1::AdminAnswer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  Result<session::IdentityPtr> who = ops_->admission().Authenticate(CredentialOf(ctx));
  if (!who.ok()) {
    GrpcStats::Add(options_.stats->unauthenticated);
    reactor->Finish(Refusal(*options_.stats, ctx, who.status()));
    return reactor;
  }
  ops_->Admin(**who, std::move(call),
              [stats = options_.stats, ctx, reactor, response](Result<AdminResult> r) {
                if (!r.ok()) return reactor->Finish(Refusal(*stats, ctx, r.status()));
                ToProto(*r, response);
                reactor->Finish(grpc::Status::OK);
              });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Disconnect(grpc::CallbackServerContext* ctx,
                                                   const v1::DisconnectRequest* request,
                                                   v1::AdminAnswer* response) {
  AdminCall call;
  call.op = AdminCall::Op::kDisconnect;
  Select(request->target(), call);
  // Out of range stays out of range (refused), never wraps into it. The
  // code's range says whether to come back (4500-4999: not); a code left
  // out follows no_reconnect.
  call.notice.code = request->code() == 0      ? (request->no_reconnect() ? 4500 : 4000)
                     : request->code() > 65535 ? 0
                                               : static_cast<uint16_t>(request->code());
  call.notice.reason = request->reason();
  call.notice.reconnect = !request->no_reconnect() && call.notice.code < 4500;
  return Call(ctx, std::move(call), response);
}

grpc::ServerUnaryReactor* AdminService::Subscribe(grpc::CallbackServerContext* ctx,
                                                  const v1::ServerSubscribeRequest* request,
                                                  v1::AdminAnswer* response) {
  AdminCall call;
  call.op = AdminCall::Op::kSubscribe;
  Select(request->target(), call);
  call.topic = request->topic();
  call.presence = request->presence();
  return Call(ctx, std::move(call), response);
}

grpc::ServerUnaryReactor* AdminService::Unsubscribe(grpc::CallbackServerContext* ctx,
                                                    const v1::ServerUnsubscribeRequest* request,
                                                    v1::AdminAnswer* response) {
  AdminCall call;
  call.op = AdminCall::Op::kUnsubscribe;
  Select(request->target(), call);
  call.topic = request->topic();
  return Call(ctx, std::move(call), response);
}

grpc::ServerUnaryReactor* AdminService::Revoke(grpc::CallbackServerContext* ctx,
                                               const v1::RevokeRequest* request,
                                               v1::AdminAnswer* response) {
  AdminCall call;
  call.op = AdminCall::Op::kRevoke;
  Revocation& r = call.revocation;
  r.kind = request->has_jti() ? Revocation::Kind::kToken : Revocation::Kind::kUser;
  r.key = request->has_jti() ? request->jti() : request->user();
  r.issued_before_s = request->issued_before();
  r.until_s = request->until();
  if (request->has_jti() && r.issued_before_s != 0) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(
        Refusal(*options_.stats, ctx,
                Status(ErrorCode::kInvalidArgument, "issued_before applies to a user, not a jti")));
    return reactor;
  }
  return Call(ctx, std::move(call), response);
}

grpc::ServerUnaryReactor* AdminService::Connections(grpc::CallbackServerContext* ctx,
                                                    const v1::ConnectionsRequest* request,
                                                    v1::AdminAnswer* response) {
  AdminCall call;
  call.op = AdminCall::Op::kConnections;
  Select(request->target(), call);
  call.limit = request->limit() == 0 ? 1000 : request->limit();
  return Call(ctx, std::move(call), response);
}

grpc::ServerUnaryReactor* AdminService::Topics(grpc::CallbackServerContext* ctx,
                                               const v1::TopicsRequest* request,
                                               v1::AdminAnswer* response) {
  AdminCall call;
  call.op = AdminCall::Op::kTopics;
  call.topic = request->prefix();
  call.limit = request->limit() == 0 ? 1000 : request->limit();
  return Call(ctx, std::move(call), response);
}

}  // namespace herald::grpcfront
