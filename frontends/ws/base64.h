// frontends/ws/base64.h — base64 (RFC 4648 §4) for the opening handshake.
//
// The handshake needs exactly two things: decode `Sec-WebSocket-Key` to check
// it is 16 bytes (RFC 6455 §4.2.1 item 5) and encode the SHA-1 digest for
// `Sec-WebSocket-Accept` (§4.2.2). Strict: canonical padding, no whitespace,
// no URL-safe alphabet. Not a general-purpose MIME decoder.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald::ws {

std::string Base64Encode(std::string_view bytes);

// The decoded bytes, or nullopt if `text` is not canonical padded base64
// (length a multiple of 4, '=' only at the end, unused bits zero).
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace herald::ws
