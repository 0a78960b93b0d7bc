// Limits and behaviour of the WebSocket front; heraldd's [websocket] config
// section (docs/CONFIG.md) maps onto these.
#pragma once

#include <memory>

#include "auth/jwt_verifier.h"
#include "frontends/session/hook_gate.h"
#include "herald/front_limits.h"

namespace herald::ws {

// The limits are herald::WebSocketLimits, declared once in
// herald/front_limits.h; this adds what the server wires in at run time.
struct WsOptions : WebSocketLimits {
  WsOptions() = default;
  // Implicit: the public limits are a whole set of options.
  WsOptions(const WebSocketLimits& limits) : WebSocketLimits(limits) {}
  // Null: no authentication (everyone may do everything). Otherwise the
  // upgrade needs a valid token (or allowed anonymous access), each command
  // a grant, and the connection closes (4001) when the token expires.
  std::shared_ptr<const auth::JwtVerifier> verifier;
  // The backend's hooks (null: none), shared by every front.
  std::shared_ptr<const session::HookGate> hooks;
};

}  // namespace herald::ws
