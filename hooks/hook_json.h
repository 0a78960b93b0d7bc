// The HTTP hooks' bodies: a HookRequest as JSON, and the backend's JSON
// answer as a HookDecision. The field names are those of herald.v1.Hooks
// (api/herald/v1/hooks.proto), so both transports share one schema; bytes
// (`data`) are base64 as in proto3's JSON mapping, and `info` is the JSON
// object itself.
#pragma once

#include <string>
#include <string_view>

#include "herald/hooks.h"
#include "herald/status.h"

namespace herald::hooks {

std::string EncodeHookRequest(const HookRequest& request);

// kInvalidArgument naming what is wrong when the answer is not an object
// of the documented fields (unknown fields are ignored). Only the shape is
// checked here; what the values may be is the node's rule
// (session::HookGate).
Result<HookDecision> DecodeHookDecision(std::string_view body);

}  // namespace herald::hooks
