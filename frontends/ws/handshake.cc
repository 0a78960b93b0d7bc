#include "frontends/ws/handshake.h"

#include <algorithm>

#include "base/base64.h"
#include "base/http_tokens.h"
#include "frontends/ws/accept_key.h"

namespace herald::ws {
namespace {

// All values of `name`, joined with ", " as RFC 9110 §5.3 allows for lists.
struct Lookup {
  std::string joined;
  size_t count = 0;
};

Lookup Find(const HandshakeRequest& req, std::string_view name) {
  Lookup l;
  for (const HeaderField& h : req.headers) {
    if (!EqualsIgnoreCase(h.name, name)) continue;
    if (l.count++ > 0) l.joined += ", ";
    l.joined.append(h.value);
  }
  return l;
}

HandshakeResult Error(int status, std::string message) {
  HandshakeResult r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

std::string ChooseSubprotocol(std::string_view offered, const std::vector<std::string>& ours) {
  // RFC 6455 §4.2.2 item 5.4: pick one the client offered, in our order.
  for (const std::string& candidate : ours) {
    bool found = false;
    ForEachListElement(offered, [&](std::string_view element) {
      found = element == candidate;
      return !found;
    });
    if (found) return candidate;
  }
  return {};
}

}  // namespace

HandshakeResult ValidateHandshake(const HandshakeRequest& req, const HandshakeOptions& options) {
  // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
  if (req.method != "GET") {
    HandshakeResult r = Error(405, "WebSocket handshake must use GET");
    r.error_headers.emplace_back("Allow", "GET");
    return r;
  }
  if (req.http_major < 1 || (req.http_major == 1 && req.http_minor < 1)) {
    return Error(400, "WebSocket handshake needs HTTP/1.1 or later");
  }
  // §4.2.1 item 2: a Host header.
  if (Find(req, "Host").count == 0) return Error(400, "missing Host header");
  // §4.2.1 items 3-4: Upgrade contains "websocket", Connection contains
  // "Upgrade", both token lists compared case-insensitively.
  if (!ListHasToken(Find(req, "Upgrade").joined, "websocket")) {
    return Error(400, "Upgrade header must include \"websocket\"");
  }
  if (!ListHasToken(Find(req, "Connection").joined, "upgrade")) {
    return Error(400, "Connection header must include \"Upgrade\"");
  }
  // §4.2.1 item 6 and §4.2.2 item 4: anything but 13 gets 426 with the
  // version we do speak.
  Lookup version = Find(req, "Sec-WebSocket-Version");
  if (version.count != 1 || TrimOws(version.joined) != "13") {
    HandshakeResult r = Error(426, "unsupported Sec-WebSocket-Version (this server speaks 13)");
    r.error_headers.emplace_back("Sec-WebSocket-Version", "13");
    return r;
  }
  // §4.2.1 item 5: base64 of a 16-byte nonce, sent once.
  Lookup key = Find(req, "Sec-WebSocket-Key");
  if (key.count == 0) return Error(400, "missing Sec-WebSocket-Key header");
  if (key.count > 1) return Error(400, "more than one Sec-WebSocket-Key header");
  std::string_view key_value = TrimOws(key.joined);
  auto nonce = Base64Decode(key_value);
  if (!nonce) return Error(400, "Sec-WebSocket-Key is not valid base64");
  if (nonce->size() != 16) return Error(400, "Sec-WebSocket-Key must decode to 16 bytes");
  // §4.2.2 item 4 / §10.2: the server may refuse origins it does not accept.
  Lookup origin = Find(req, "Origin");
  if (origin.count > 0 && !options.allowed_origins.empty()) {
    const auto& allowed = options.allowed_origins;
    if (origin.count > 1 || std::find(allowed.begin(), allowed.end(),
                                      std::string_view(origin.joined)) == allowed.end()) {
      return Error(403, "origin not allowed");
    }
  }

  HandshakeResult r;
  r.subprotocol =
      ChooseSubprotocol(Find(req, "Sec-WebSocket-Protocol").joined, options.subprotocols);
  r.deflate = NegotiateDeflate(Find(req, "Sec-WebSocket-Extensions").joined, options.deflate);

  // §4.2.2 item 5: the 101 response.
  std::string& out = r.response;
  out.reserve(256);
  out += "HTTP/1.1 101 Switching Protocols\r\n";
  out += "Upgrade: websocket\r\n";
  out += "Connection: Upgrade\r\n";
  out += "Sec-WebSocket-Accept: ";
  out += ComputeAcceptKey(key_value);
  out += "\r\n";
  if (!r.subprotocol.empty()) {
    out += "Sec-WebSocket-Protocol: ";
    out += r.subprotocol;
    out += "\r\n";
  }
  if (r.deflate) {
    out += "Sec-WebSocket-Extensions: ";
    out += r.deflate->ResponseValue();
    out += "\r\n";
  }
  out += "\r\n";
  return r;
}

}  // namespace herald::ws
