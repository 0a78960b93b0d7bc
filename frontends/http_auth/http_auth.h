// Who an HTTP request (a WebSocket upgrade, an SSE stream, an HTTP API call)
// is: the JWT it presents — `Authorization: Bearer <token>`, or a `token`
// query parameter, since browsers cannot set headers on WebSocket or
// EventSource — checked by the node's verifier, or anonymous. Shared by the
// fronts so all of them answer alike: 401 with `WWW-Authenticate: Bearer`
// for a missing or bad token, 403 for an operation the grants do not cover.
// Neither answer, nor anything logged, contains the token.
#pragma once

#include <memory>
#include <string_view>

#include "auth/jwt_verifier.h"
#include "frontends/http/request.h"
#include "frontends/http/response.h"

namespace herald::httpauth {

using IdentityPtr = std::shared_ptr<const auth::Identity>;

// `verifier` null: authentication is not configured; every request gets an
// identity that may do everything.
Result<IdentityPtr> Authenticate(const auth::JwtVerifier* verifier, const http::Request& req);

// The token a request presents, if any.
std::optional<std::string_view> PresentedToken(const http::Request& req);

void SendUnauthenticated(http::Response& res, const Status& why);
void SendDenied(http::Response& res, std::string_view what);

// The identity's token has expired (never for anonymous or open identities).
int64_t NowSeconds();
inline bool Expired(const auth::Identity& id, int64_t now_s) {
  return id.expires_at_s != 0 && now_s >= id.expires_at_s;
}

}  // namespace herald::httpauth
