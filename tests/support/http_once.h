// One HTTP/1.1 request on a fresh loopback connection (Connection: close),
// with a blocking socket: for tests that drive an embedded herald::Server
// from a thread of their own.
#pragma once

#include <cstdint>
#include <string>

namespace herald::testing {

// The whole answer (status line, headers, body), or "connect failed".
std::string HttpOnce(uint16_t port, const std::string& method, const std::string& target,
                     const std::string& body = "", const std::string& extra_headers = "");
// What follows the head of `response`.
std::string BodyOf(const std::string& response);

}  // namespace herald::testing
