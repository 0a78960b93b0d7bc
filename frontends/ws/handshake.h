// frontends/ws/handshake.h — validates a client's opening handshake and
// builds the server's answer (RFC 6455 §4.2, RFC 7692 §5).
//
// Independent of any HTTP library: the caller passes the method, the HTTP
// version and the headers as name/value views (duplicates allowed, in order).
//
//   HandshakeRequest req{.method = "GET", .http_major = 1, .http_minor = 1,
//                        .headers = {{"Host", "x"}, {"Upgrade", "websocket"}, ...}};
//   HandshakeResult r = ValidateHandshake(req, options);
//   if (r.ok()) write(r.response);                     // "HTTP/1.1 101 ..."
//   else respond(r.status, r.message, r.error_headers);  // 400, 403, 405, 426
//
// Any thread; a pure function of its inputs.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frontends/ws/deflate_params.h"

namespace herald::ws {

struct HeaderField {
  std::string_view name;
  std::string_view value;
};

struct HandshakeRequest {
  std::string_view method;
  int http_major = 1;
  int http_minor = 1;
  std::span<const HeaderField> headers;
};

struct HandshakeOptions {
  // Exact `Origin` values accepted; empty accepts every origin. A request
  // without `Origin` (a non-browser client) is accepted either way: the check
  // exists to stop other sites' pages, and browsers always send it.
  std::vector<std::string> allowed_origins;
  // Subprotocols we speak, most preferred first (RFC 6455 §4.2.2 item 5.4).
  std::vector<std::string> subprotocols;
  DeflateOptions deflate;
};

struct HandshakeResult {
  int status = 101;     // 101 on success; otherwise 400, 403, 405 or 426
  std::string message;  // why the handshake failed, for a human; empty on success
  std::vector<std::pair<std::string, std::string>> error_headers;  // e.g. Sec-WebSocket-Version: 13

  std::string response;                  // the complete 101 response, headers and blank line
  std::string subprotocol;               // chosen subprotocol, empty if none
  std::optional<DeflateParams> deflate;  // set when permessage-deflate was agreed

  bool ok() const { return status == 101; }
};

HandshakeResult ValidateHandshake(const HandshakeRequest& request, const HandshakeOptions& options);

}  // namespace herald::ws
