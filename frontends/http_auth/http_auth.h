// The HTTP side of admission, for the fronts that start as an HTTP request
// (a WebSocket upgrade, an SSE stream, an HTTP API call): what credential a
// request presents, and how a refusal is rendered. The decision itself is
// the session layer's (session::Admission), the same as for gRPC.
//
// The credential is `Authorization: Bearer <token>`, or a `token` query
// parameter, since browsers cannot set headers on WebSocket or EventSource.
// Refusals: 401 with `WWW-Authenticate: Bearer` for a missing or bad token,
// 429 for a user over max_connections_per_user, 403 for an operation the
// grants do not cover, 400 for a topic that breaks the rules. Neither answer,
// nor anything logged, contains the token.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "frontends/http/request.h"
#include "frontends/http/response.h"
#include "frontends/session/admission.h"

namespace herald::httpauth {

// What `req` presents (borrowed from it: use before the request goes).
session::Credential CredentialOf(const http::Request& req);

// Sends an admission refusal (a non-ok Status from session::Admission).
void SendRefused(http::Response& res, const Status& why);

}  // namespace herald::httpauth
