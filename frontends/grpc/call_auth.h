// What every gRPC service of the front reads of a call's caller (its
// `authorization` metadata) and how it refuses one (the status, with
// Herald's code as `herald-error` trailing metadata).
#pragma once

#include <grpcpp/grpcpp.h>

#include "frontends/grpc/grpc_convert.h"
#include "frontends/grpc/grpc_options.h"
#include "frontends/session/admission.h"

namespace herald::grpcfront {

// What the call's metadata presents (borrowed from the context).
inline session::Credential CredentialOf(grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return session::Credential::None();
  std::string_view v(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (v.size() <= kBearer.size() || !v.starts_with(kBearer)) {
    return session::Credential::Malformed("authorization metadata must be 'Bearer <token>'");
  }
  return session::Credential::Bearer(v.substr(kBearer.size()));
}

// A refusal as gRPC says it, with Herald's code as `herald-error` trailing
// metadata; counted when it is a permission refusal. Free of the service: a
// broker answer (a forward to the owner) may arrive as the service goes away.
inline grpc::Status Refusal(GrpcStats& stats, grpc::CallbackServerContext* ctx, const Status& s) {
  if (s.code() == ErrorCode::kPermissionDenied) GrpcStats::Add(stats.permission_denied);
  // The Herald error code rides along as trailing metadata, so clients can
  // tell "no responders" from an unreachable node (both UNAVAILABLE).
  ctx->AddTrailingMetadata(std::string(kErrorMetadata), std::string(ErrorCodeName(s.code())));
  return ToGrpc(s);
}

// A connection's admission refused (Operations::Connect), counted: by its
// token, or its user's slot (a hook's refusal counts as itself).
inline void CountRefusal(GrpcStats& stats, const Status& s) {
  if (s.code() == ErrorCode::kUnauthenticated) GrpcStats::Add(stats.unauthenticated);
  if (s.code() == ErrorCode::kResourceExhausted) GrpcStats::Add(stats.user_limit_refusals);
}

}  // namespace herald::grpcfront
