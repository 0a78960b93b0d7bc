// Presence in JSON (docs/PROTOCOL.md, "Presence"): the WebSocket `presence`
// event and `members` answer, and the HTTP `GET /presence/<topic>` body.
// A member is {"client":..,"user":..,"info":{..}} ("info" only when set).
#pragma once

#include <string>
#include <string_view>

#include "herald/presence.h"

namespace herald::json {

// {"op":"presence","topic":..,"join":[M..],"leave":[{"client","user"}..],
//  "clients":N,"users":U} plus "snapshot", "truncated", "resync" when true
// (a resync lists no members).
std::string EncodePresence(const PresenceEvent& e);
// {"op":"presence","topic":..,"resync":true,"clients":N,"users":U}: events
// were dropped for this connection (it read too slowly); ask for the
// members again. The counts are the last event's.
std::string EncodePresenceResync(std::string_view topic, uint32_t clients, uint32_t users);
// {"op":"members"[,"id":..],"topic":..,"clients":N,"users":U,"members":[M..][,"next":..]}
std::string EncodeMembers(std::string_view id, std::string_view topic, const PresenceSnapshot& s);
// The HTTP answer: {"topic":..,"clients":N,"users":U,"members":[M..][,"next":..]}
std::string EncodePresenceAnswer(std::string_view topic, const PresenceSnapshot& s);

}  // namespace herald::json
