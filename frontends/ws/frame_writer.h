// frontends/ws/frame_writer.h — server frames (RFC 6455 §5.2), unmasked.
//
// Server-to-client frames are never masked (§5.1), so one frame's bytes serve
// every subscriber. Two shapes:
//
//   // header in a small buffer, payload shared: send both as two iovecs
//   FrameHeader h = MakeFrameHeader(Opcode::kText, payload.size());
//   iov = {{h.data(), h.size()}, {payload.data(), payload.size()}};
//
//   // or the whole frame once, kept and shared by many connections
//   std::string frame = BuildFrame(Opcode::kBinary, payload, {.rsv1 = compressed});
//
// Lengths use the shortest of the 7-, 16- and 64-bit forms. Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "frontends/ws/frame.h"
#include "frontends/ws/mask.h"

namespace herald::ws {

// 2 bytes + a 64-bit length; server frames carry no masking key.
constexpr size_t kMaxServerHeaderSize = 10;

struct FrameFlags {
  bool fin = true;    // false on all but the last fragment (§5.4)
  bool rsv1 = false;  // permessage-deflate: first frame of a compressed message (RFC 7692 §6)
};

struct FrameHeader {
  char bytes[kMaxServerHeaderSize];
  uint8_t length = 0;

  const char* data() const { return bytes; }
  size_t size() const { return length; }
  std::string_view view() const { return {bytes, length}; }
};

// Writes the header for a `payload_size`-byte payload into `out`, which must
// hold kMaxServerHeaderSize bytes; returns the bytes written (2, 4 or 10).
// The caller keeps control payloads at <= 125 bytes (§5.5).
size_t WriteFrameHeader(char* out, Opcode opcode, uint64_t payload_size, FrameFlags flags = {});
FrameHeader MakeFrameHeader(Opcode opcode, uint64_t payload_size, FrameFlags flags = {});

// A complete frame. Control frame payloads are cut to 125 bytes (§5.5).
std::string BuildFrame(Opcode opcode, std::string_view payload, FrameFlags flags = {});

// A close frame with `code` and `reason` (§5.5.1); the reason is cut to 123
// bytes at a UTF-8 boundary so the payload stays within 125.
std::string BuildCloseFrame(uint16_t code, std::string_view reason = {});
// A close frame without a status code (the peer sees 1005).
std::string BuildEmptyCloseFrame();

// A masked client frame, as a browser would send it: for tests, fuzz seeds
// and a future client side. No length cut; any opcode byte is allowed
// (`raw_opcode` 0-15) so tests can build invalid frames.
std::string BuildClientFrame(uint8_t raw_opcode, std::string_view payload, const MaskKey& key,
                             FrameFlags flags = {});

}  // namespace herald::ws
