// The rules for what travels beside a payload: the content type and headers.
//
// They are checked once, where every message enters the core (Publish,
// Request, Reply), because any of them may be copied into an HTTP response
// head later (POST /request answers with the reply's content type and
// `Herald-*` headers): a CR or LF there would let one client write header
// lines — a Set-Cookie — into another client's response.
#pragma once

#include <string_view>

#include "herald/message.h"
#include "herald/status.h"

namespace herald {

inline constexpr size_t kMaxContentTypeBytes = 256;
inline constexpr size_t kMaxHeaderNameBytes = 256;
inline constexpr size_t kMaxHeaderValueBytes = 8192;

// Empty, or `type/subtype` (RFC 9110 tokens) optionally followed by `;`
// parameters made of field-value bytes; header names are tokens, values are
// field values. invalid_argument naming the first offence otherwise.
Status ValidateMessageMeta(std::string_view content_type, const Headers& headers);

inline constexpr size_t kMaxMsgIdBytes = 128;
// A publish's msg_id: empty (none), or 1-128 printable ASCII characters
// (no space, no control): it may be echoed in headers and logs.
Status ValidateMsgId(std::string_view msg_id);

}  // namespace herald
