// Base64 (RFC 4648 §4, with padding): binary payloads inside JSON and the
// WebSocket opening handshake's key and accept values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald {

std::string Base64Encode(std::string_view bytes);
// RFC 4648 §5 (URL- and filename-safe alphabet), without padding: for
// random tokens that travel inside topic names and URLs.
std::string Base64UrlEncode(std::string_view bytes);
// nullopt when `text` is not canonical padded base64.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace herald
