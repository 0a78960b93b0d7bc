// Base64 (RFC 4648 §4, with padding), for binary payloads inside JSON.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald::json {

std::string Base64Encode(std::string_view bytes);
// nullopt when `text` is not canonical padded base64.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace herald::json
