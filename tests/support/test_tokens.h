// JWTs made by the tests themselves (HS256 with OpenSSL's HMAC), so that
// nothing of the server's JWT code is trusted to build what it checks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::testing {

// base64url without padding (RFC 7515 §2).
std::string B64Url(std::string_view bytes);
// header.payload (the exact bytes of each) signed with HMAC-SHA256 under
// `key` (any bytes, whatever the header says).
std::string HsToken(std::string_view header, std::string_view payload, std::string_view key);
// `claims_json` (the exact payload bytes) signed with HS256 under `secret`.
std::string Hs256Token(std::string_view secret, std::string_view claims_json);
// Unix seconds now.
int64_t NowSeconds();

}  // namespace herald::testing
