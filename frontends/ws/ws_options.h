// Limits and behaviour of the WebSocket front; heraldd's [websocket] config
// section (docs/CONFIG.md) maps onto these.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <memory>

#include "auth/jwt_verifier.h"
#include "herald/outbound_guard.h"

namespace herald::ws {

struct WsOptions {
  // Largest message a client may send, after reassembly and inflation: 1009.
  size_t max_message_bytes = 1 << 20;
  // Empty non-final fragments a client may send in a row (1008 past it).
  uint32_t max_empty_fragments = 1024;
  // The server pings a connection this long after it last heard from it...
  std::chrono::milliseconds ping_interval = std::chrono::seconds(20);
  // ...and closes it if nothing at all arrives for this long (dead peer).
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Accept permessage-deflate offers (RFC 7692).
  bool permessage_deflate = true;
  // Exact Origin values allowed to connect; empty: any origin.
  std::vector<std::string> allowed_origins;
  // Outbound bytes queued per connection and what happens past them.
  OutboundLimits outbound;
  // Null: no authentication (everyone may do everything). Otherwise the
  // upgrade needs a valid token (or allowed anonymous access), each command
  // a grant, and the connection closes (1008) when the token expires.
  std::shared_ptr<const auth::JwtVerifier> verifier;
  // Messages a client may send per second (a token bucket holding `burst`);
  // past it each message is refused — the JSON protocol answers
  // `rate_limited` — and a client that goes on past `burst` refusals in a
  // row is closed with 1008. 0: no limit.
  double max_messages_per_second = 0;
  uint32_t message_burst = 100;
};

}  // namespace herald::ws
