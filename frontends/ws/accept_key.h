// frontends/ws/accept_key.h — the `Sec-WebSocket-Accept` value.
//
// RFC 6455 §4.2.2 item 5.4: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
//
//   ComputeAcceptKey("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
//
// SHA-1 comes from OpenSSL's libcrypto (EVP interface). Any thread.
#pragma once

#include <string>
#include <string_view>

namespace herald::ws {

// `key` is the header value as received (already validated by the caller).
std::string ComputeAcceptKey(std::string_view key);

}  // namespace herald::ws
