// frontends/ws/frame.h — the vocabulary of RFC 6455 §5.2 frames and §7.4
// close codes, shared by the parser and the writer.
#pragma once

#include <cstdint>

namespace herald::ws {

// RFC 6455 §5.2: 0x3-0x7 and 0xB-0xF are reserved.
enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// RFC 6455 §5.5: control frames have the high bit of the opcode set.
constexpr bool IsControl(Opcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; }

// RFC 6455 §7.4.1 codes this codec sends or reports, and Herald's own.
enum class CloseCode : uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,
  kProtocolError = 1002,
  kUnsupportedData = 1003,
  kNoStatus = 1005,  // never on the wire: "the close frame had no code"
  kInvalidPayload = 1007,
  kPolicyViolation = 1008,
  kMessageTooBig = 1009,
  kInternalError = 1011,
  // Herald's own (§7.4.2 private use): the connection's token expired. A
  // client fetches a new token before it reconnects; with any other code
  // it may retry the one it has.
  kTokenExpired = 4001,
};

// RFC 6455 §5.5: control frame payloads are at most 125 bytes.
constexpr uint64_t kMaxControlPayload = 125;

// RFC 6455 §7.4: codes a peer may put in a close frame. §7.4.1 defines
// 1000-1003 and 1007-1011; 1004, 1005, 1006 and 1015 are reserved and never
// valid on the wire; 3000-4999 are for libraries and applications (§7.4.2).
// Everything else in 0-2999 is unassigned here and rejected.
constexpr bool IsValidWireCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace herald::ws
