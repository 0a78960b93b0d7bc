// The server API's JSON (docs/PROTOCOL.md, "Server API"): the HTTP bodies
// of POST /admin/<op> and every answer, and what a WebSocket JSON client is
// told when the server acts on it. Every kind of bad input gets a specific
// message.
#pragma once

#include <string>
#include <string_view>

#include "herald/clients.h"
#include "herald/status.h"

namespace herald::json {

// The body of POST /admin/<op> for `op` (disconnect, subscribe,
// unsubscribe, revoke):
//   disconnect:  {"client"|"user":..,"code":4000,"reason":"..","reconnect":true}
//   subscribe:   {"client"|"user":..,"topic":..,"presence":false}
//   unsubscribe: {"client"|"user":..,"topic":..}
//   revoke:      {"jti":..} or {"user":..,"issued_before":S}, and "until":S
// Unknown keys are errors; the broker checks the values.
Result<AdminCall> DecodeAdminCall(AdminCall::Op op, std::string_view body);

// {"nodes":N,"unreached":[..],"matched":..,"applied":..,"refused":..,
//  "errors":[..][,"clients":[{..}]][,"topics":[{"pattern":..,"subscribers":..}]]
//  [,"truncated":true]}
std::string EncodeAdminResult(const AdminCall::Op op, const AdminResult& r);

// Told to a WebSocket JSON client before the server closes it:
// {"op":"disconnect","code":C,"reason":"..","reconnect":true}
std::string EncodeDisconnect(const DisconnectNotice& n);
// A server-side subscription's news: {"op":"subscribed"|"unsubscribed",
// "topic":..,"server":true[,"client":..]}
std::string EncodeServerSubscribed(std::string_view op, std::string_view topic,
                                   std::string_view client = {});

}  // namespace herald::json
