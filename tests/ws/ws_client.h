// tests/ws/ws_client.h — the client's half of RFC 6455 framing for tests
// that drive a WsSession through a socket: masked frames out, the server's
// unmasked frames read back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tests/support/peer.h"

namespace herald::ws::testing {

inline constexpr uint8_t kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA;

// One client frame (masked, as RFC 6455 §5.3 requires of clients).
inline std::string ClientFrame(uint8_t opcode, std::string_view payload, bool fin = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  const size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  f.append(key, 4);
  for (size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

inline std::string Text(std::string_view s) { return ClientFrame(kText, s); }

inline std::string CloseFrame(uint16_t code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p += reason;
  return ClientFrame(kClose, p);
}

struct ServerFrame {
  int opcode = -1;  // -1: no whole frame arrived
  bool masked = false;
  std::string payload;
  // kClose frames: the code (0 when the frame had none) and the reason.
  uint16_t close_code() const {
    return payload.size() >= 2 ? static_cast<uint16_t>(static_cast<uint8_t>(payload[0]) << 8 |
                                                       static_cast<uint8_t>(payload[1]))
                               : 0;
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : ""; }
};

// The next frame the server sent (uncompressed: no extension negotiated).
inline ServerFrame ReadFrame(herald::testing::Peer& peer, std::chrono::milliseconds deadline =
                                                              herald::testing::Peer::kDeadline) {
  ServerFrame f;
  std::string h = peer.Read(2, deadline);
  if (h.size() < 2) return f;
  uint64_t n = static_cast<uint8_t>(h[1]) & 0x7f;
  f.masked = (static_cast<uint8_t>(h[1]) & 0x80) != 0;
  const size_t ext = n == 126 ? 2 : n == 127 ? 8 : 0;
  if (ext) {
    std::string e = peer.Read(ext, deadline);
    if (e.size() < ext) return f;
    n = 0;
    for (char c : e) n = n << 8 | static_cast<uint8_t>(c);
  }
  f.payload = peer.Read(n, deadline);
  if (f.payload.size() < n) return f;
  f.opcode = static_cast<uint8_t>(h[0]) & 0x0f;
  return f;
}

// The next data frame's payload, skipping the server's keep-alive pings.
inline std::string ReadText(herald::testing::Peer& peer,
                            std::chrono::milliseconds deadline = herald::testing::Peer::kDeadline) {
  for (;;) {
    ServerFrame f = ReadFrame(peer, deadline);
    if (f.opcode == kPing) continue;
    return f.opcode == kText || f.opcode == kBinary ? f.payload
                                                    : "<opcode " + std::to_string(f.opcode) + ">";
  }
}

}  // namespace herald::ws::testing
