// bench/ws_loadgen/ws_codec.h — the client side of RFC 6455 the load generator
// needs, and nothing more: SHA-1/base64 for the handshake, masked client
// frames, and a streaming parser of server frames that never buffers a data
// payload (bytes are handed to the sink as they arrive).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

namespace herald::wsbench {

enum Opcode : uint8_t {
  kOpCont = 0,
  kOpText = 1,
  kOpBinary = 2,
  kOpClose = 8,
  kOpPing = 9,
  kOpPong = 10,
};

void Sha1(const void* data, size_t n, uint8_t out[20]);
std::string Base64(const uint8_t* data, size_t n);
// base64(SHA-1(key + the RFC 6455 GUID)): what the server must answer.
std::string WebSocketAccept(std::string_view key);

// Appends one final client frame (masked with `mask`) whose payload is the
// concatenation of `parts`.
void AppendClientFrame(std::string& out, uint8_t opcode,
                       std::initializer_list<std::string_view> parts, uint32_t mask);

// Streaming parser of server-to-client frames. Sink must provide:
//   void OnWsData(const char* p, size_t n);        // data payload bytes (text/binary/cont)
//   void OnWsMessageEnd();                         // the final fragment ended
//   void OnWsControl(uint8_t op, std::string_view payload);  // ping, pong, close
// Feed() returns false on a protocol error (error() says which).
template <class Sink>
class FrameParser {
 public:
  bool Feed(const char* p, size_t n, Sink& sink) {
    while (n > 0) {
      if (!in_payload_) {
        size_t take = std::min(n, need_ - have_);
        std::memcpy(hdr_ + have_, p, take);
        have_ += take;
        p += take;
        n -= take;
        if (have_ < need_) return true;
        if (need_ == 2) {
          if (hdr_[1] & 0x80) return Fail("masked server frame");
          uint8_t len7 = hdr_[1] & 0x7f;
          need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
          if (have_ < need_) continue;
        }
        if (!StartFrame(sink)) return false;
        continue;
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
      if (control_) {
        ctrl_.append(p, take);
      } else {
        sink.OnWsData(p, take);
      }
      p += take;
      n -= take;
      remaining_ -= take;
      if (remaining_ == 0) EndFrame(sink);
    }
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const char* what) {
    error_ = what;
    return false;
  }
  bool StartFrame(Sink& sink) {
    const uint8_t b0 = hdr_[0];
    if (b0 & 0x70) return Fail("reserved bits set (no extension negotiated)");
    opcode_ = b0 & 0x0f;
    fin_ = (b0 & 0x80) != 0;
    uint8_t len7 = hdr_[1] & 0x7f;
    if (len7 < 126) {
      remaining_ = len7;
    } else if (len7 == 126) {
      remaining_ = (uint64_t{hdr_[2]} << 8) | hdr_[3];
    } else {
      remaining_ = 0;
      for (int i = 0; i < 8; ++i) remaining_ = (remaining_ << 8) | hdr_[2 + i];
      if (remaining_ >> 63) return Fail("64-bit length with the top bit set");
    }
    control_ = (opcode_ & 0x08) != 0;
    if (control_) {
      if (!fin_ || remaining_ > 125) return Fail("fragmented or oversized control frame");
      if (opcode_ != kOpClose && opcode_ != kOpPing && opcode_ != kOpPong) {
        return Fail("unknown control opcode");
      }
      ctrl_.clear();
    } else if (opcode_ == kOpCont) {
      if (!in_message_) return Fail("continuation without a message");
    } else if (opcode_ == kOpText || opcode_ == kOpBinary) {
      if (in_message_) return Fail("new data frame inside a fragmented message");
      in_message_ = true;
    } else {
      return Fail("unknown data opcode");
    }
    in_payload_ = true;
    if (remaining_ == 0) EndFrame(sink);
    return true;
  }
  void EndFrame(Sink& sink) {
    in_payload_ = false;
    have_ = 0;
    need_ = 2;
    if (control_) {
      sink.OnWsControl(opcode_, ctrl_);
    } else if (fin_) {
      in_message_ = false;
      sink.OnWsMessageEnd();
    }
  }

  uint8_t hdr_[10];
  size_t have_ = 0;
  size_t need_ = 2;
  bool in_payload_ = false;
  bool in_message_ = false;
  bool control_ = false;
  bool fin_ = false;
  uint8_t opcode_ = 0;
  uint64_t remaining_ = 0;
  std::string ctrl_;
  std::string error_;
};

}  // namespace herald::wsbench
