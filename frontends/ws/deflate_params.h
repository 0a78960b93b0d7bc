// frontends/ws/deflate_params.h — permessage-deflate negotiation (RFC 7692).
//
// The server ALWAYS answers with `server_no_context_takeover` (§7.1.1.1): each
// server message is compressed on its own, so one compressed frame can be
// built once and sent to every subscriber whatever their other parameters.
//
//   DeflateOptions opts{.enabled = true};
//   if (auto p = NegotiateDeflate(extensions_header_value, opts)) {
//     response_headers += "Sec-WebSocket-Extensions: " + p->ResponseValue();
//   }
//
// An invalid offer (unknown parameter, duplicate, bad value, §7.1) is declined,
// not fatal: the next offer is tried and, failing all, the connection simply
// runs uncompressed. Any thread; pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald::ws {

// Server policy.
struct DeflateOptions {
  bool enabled = false;
  // Our compressor's LZ77 window, 9..15. zlib cannot produce raw deflate with
  // an 8-bit window, so offers that demand server_max_window_bits=8 are declined.
  int server_max_window_bits = 15;
  // The largest client window we ask for, 8..15 (only when the client offered
  // client_max_window_bits; otherwise the client may use 15 and we inflate
  // with 15, §7.1.2.2).
  int client_max_window_bits = 15;
  // Ask clients to reset their context per message: saves our inflate
  // window between messages at the cost of their compression ratio.
  bool request_client_no_context_takeover = false;
};

// What both sides agreed on (server_no_context_takeover is implied: always on).
struct DeflateParams {
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
  // Whether the response carries each window parameter (RFC 7692 §7.1.2:
  // client_max_window_bits only when the client offered it).
  bool declare_server_max_window_bits = false;
  bool declare_client_max_window_bits = false;

  // The `Sec-WebSocket-Extensions` response value,
  // e.g. "permessage-deflate; server_no_context_takeover".
  std::string ResponseValue() const;
};

// The first acceptable permessage-deflate offer in `extensions` (all
// `Sec-WebSocket-Extensions` values joined by ", "), or nullopt if there is
// none or `options.enabled` is false.
std::optional<DeflateParams> NegotiateDeflate(std::string_view extensions,
                                              const DeflateOptions& options);

}  // namespace herald::ws
