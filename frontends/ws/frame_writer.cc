#include "frontends/ws/frame_writer.h"

#include <algorithm>

namespace herald::ws {
namespace {

size_t WriteHeader(char* out, uint8_t opcode, uint64_t size, FrameFlags flags, bool masked) {
  out[0] = static_cast<char>((flags.fin ? 0x80 : 0) | (flags.rsv1 ? 0x40 : 0) | (opcode & 0x0F));
  const char mask_bit = masked ? '\x80' : '\x00';
  // RFC 6455 §5.2: 0-125 inline, 126 + 16-bit, 127 + 64-bit (network order).
  if (size <= 125) {
    out[1] = static_cast<char>(mask_bit | static_cast<char>(size));
    return 2;
  }
  if (size <= 0xFFFF) {
    out[1] = static_cast<char>(mask_bit | 126);
    out[2] = static_cast<char>(size >> 8);
    out[3] = static_cast<char>(size & 0xFF);
    return 4;
  }
  out[1] = static_cast<char>(mask_bit | 127);
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>(size >> (56 - 8 * i));
  return 10;
}

// Longest prefix of `s` of at most `max` bytes that does not cut a UTF-8
// sequence (continuation bytes are 10xxxxxx).
std::string_view CutAtUtf8Boundary(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

}  // namespace

size_t WriteFrameHeader(char* out, Opcode opcode, uint64_t payload_size, FrameFlags flags) {
  return WriteHeader(out, static_cast<uint8_t>(opcode), payload_size, flags, false);
}

FrameHeader MakeFrameHeader(Opcode opcode, uint64_t payload_size, FrameFlags flags) {
  FrameHeader h;
  h.length = static_cast<uint8_t>(WriteFrameHeader(h.bytes, opcode, payload_size, flags));
  return h;
}

std::string BuildFrame(Opcode opcode, std::string_view payload, FrameFlags flags) {
  if (IsControl(opcode)) payload = payload.substr(0, kMaxControlPayload);
  char header[kMaxServerHeaderSize];
  size_t n = WriteFrameHeader(header, opcode, payload.size(), flags);
  std::string frame;
  frame.reserve(n + payload.size());
  frame.append(header, n).append(payload);
  return frame;
}

std::string BuildCloseFrame(uint16_t code, std::string_view reason) {
  std::string payload;
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(CutAtUtf8Boundary(reason, kMaxControlPayload - 2));
  return BuildFrame(Opcode::kClose, payload);
}

std::string BuildEmptyCloseFrame() { return BuildFrame(Opcode::kClose, {}); }

std::string BuildClientFrame(uint8_t raw_opcode, std::string_view payload, const MaskKey& key,
                             FrameFlags flags) {
  char header[kMaxServerHeaderSize];
  size_t n = WriteHeader(header, raw_opcode, payload.size(), flags, true);
  std::string frame(header, n);
  frame.append(reinterpret_cast<const char*>(key.data()), key.size());
  size_t start = frame.size();
  frame.append(payload);
  ApplyMask(frame.data() + start, payload.size(), key, 0);
  return frame;
}

}  // namespace herald::ws
