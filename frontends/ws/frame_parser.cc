#include "frontends/ws/frame_parser.h"

#include <algorithm>
#include <cstring>

#include "frontends/ws/mask.h"

namespace herald::ws {
namespace {

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kRsv1 = 0x40;
constexpr uint8_t kRsv23 = 0x30;
constexpr uint8_t kOpcodeBits = 0x0F;
constexpr uint8_t kMaskBit = 0x80;
constexpr uint8_t kLen7 = 0x7F;

bool IsKnownOpcode(uint8_t op) {
  // RFC 6455 §5.2: 0x3-0x7 and 0xB-0xF are reserved.
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

}  // namespace

FrameParser::FrameParser(FrameParserOptions options) : options_(std::move(options)) {}
FrameParser::~FrameParser() = default;

bool FrameParser::Fail(CloseCode code, std::string_view what, Outcome* out) {
  state_ = State::kFailed;
  error_ = ParseError{code, what};
  out->error = error_;
  return false;
}

void FrameParser::ResetFrame() {
  state_ = State::kHeader;
  header_size_ = 0;
  header_needed_ = 2;
  frame_offset_ = 0;
  control_.clear();
}

Outcome FrameParser::Feed(std::string_view bytes) {
  Outcome out;
  if (state_ == State::kFailed) {
    out.error = error_;
    return out;
  }
  while (state_ == State::kHeader || state_ == State::kPayload) {
    if (state_ == State::kHeader) {
      if (bytes.empty()) break;
      size_t take = std::min<size_t>(header_needed_ - header_size_, bytes.size());
      std::memcpy(header_ + header_size_, bytes.data(), take);
      header_size_ = static_cast<uint8_t>(header_size_ + take);
      bytes.remove_prefix(take);
      if (header_size_ < header_needed_) break;
      if (header_needed_ == 2) {
        if (!CheckFirstBytes(&out)) break;
        if (header_size_ < header_needed_) continue;
      }
      if (!CheckHeader(&out)) break;
      state_ = State::kPayload;
      if (remaining_ == 0 && !FinishFrame(&out)) break;
      continue;
    }
    // kPayload
    if (bytes.empty()) break;
    size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
    if (!ConsumePayload(bytes.substr(0, take), &out)) break;
    bytes.remove_prefix(take);
    remaining_ -= take;
    frame_offset_ += take;
    if (remaining_ == 0 && !FinishFrame(&out)) break;
  }
  return out;
}

bool FrameParser::CheckFirstBytes(Outcome* out) {
  const uint8_t b0 = header_[0], b1 = header_[1];
  fin_ = (b0 & kFin) != 0;
  rsv1_ = (b0 & kRsv1) != 0;
  opcode_ = b0 & kOpcodeBits;
  const uint8_t len7 = b1 & kLen7;
  // RFC 6455 §5.2: RSV2/RSV3 must be 0 unless an extension defines them.
  if (b0 & kRsv23) return Fail(CloseCode::kProtocolError, "reserved bits RSV2/RSV3 set", out);
  if (!IsKnownOpcode(opcode_)) return Fail(CloseCode::kProtocolError, "reserved opcode", out);
  if (IsControl(static_cast<Opcode>(opcode_))) {
    // RFC 7692 §6.1: RSV1 means "compressed" only on the first data frame.
    if (rsv1_) return Fail(CloseCode::kProtocolError, "RSV1 set on a control frame", out);
    // RFC 6455 §5.5: control frames are never fragmented and carry <= 125 bytes.
    if (!fin_) return Fail(CloseCode::kProtocolError, "fragmented control frame", out);
    if (len7 > kMaxControlPayload) {
      return Fail(CloseCode::kProtocolError, "control frame payload over 125 bytes", out);
    }
  } else if (opcode_ == static_cast<uint8_t>(Opcode::kContinuation)) {
    // RFC 6455 §5.4: a continuation belongs to an open fragmented message.
    if (!message_open_) return Fail(CloseCode::kProtocolError, "continuation without a start", out);
    // RFC 7692 §6.1: RSV1 is set on the first frame of a message only.
    if (rsv1_) return Fail(CloseCode::kProtocolError, "RSV1 set on a continuation frame", out);
  } else {
    // RFC 6455 §5.4: fragments of one message are not interleaved with another.
    if (message_open_) {
      return Fail(CloseCode::kProtocolError, "new data frame inside a fragmented message", out);
    }
    // RFC 6455 §5.2 / RFC 7692 §6: RSV1 needs a negotiated extension.
    if (rsv1_ && !options_.deflate) {
      return Fail(CloseCode::kProtocolError, "RSV1 set without a negotiated extension", out);
    }
  }
  // RFC 6455 §5.1: a server must fail on an unmasked client frame.
  if (!(b1 & kMaskBit)) return Fail(CloseCode::kProtocolError, "unmasked client frame", out);
  header_needed_ = static_cast<uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
  return true;
}

bool FrameParser::CheckHeader(Outcome* out) {
  const uint8_t len7 = header_[1] & kLen7;
  const uint8_t* p = header_ + 2;
  // RFC 6455 §5.2: 16- and 64-bit lengths in network byte order. A length
  // that would have fit a shorter form is allowed ("minimal" is a SHOULD for
  // senders we need not police).
  uint64_t len = len7;
  if (len7 == 126) {
    len = uint64_t{p[0]} << 8 | p[1];
    p += 2;
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = len << 8 | p[i];
    p += 8;
    // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    if (len >> 63) return Fail(CloseCode::kProtocolError, "64-bit length with the MSB set", out);
  }
  std::memcpy(mask_, p, 4);
  remaining_ = len;
  frame_offset_ = 0;
  if (IsControl(static_cast<Opcode>(opcode_))) return true;
  if (len == 0 && !fin_) {
    if (++empty_fragments_ > options_.max_empty_fragments) {
      return Fail(CloseCode::kPolicyViolation, "too many empty fragments in a row", out);
    }
  } else {
    empty_fragments_ = 0;
  }

  if (opcode_ != static_cast<uint8_t>(Opcode::kContinuation)) {
    message_open_ = true;
    message_text_ = opcode_ == static_cast<uint8_t>(Opcode::kText);
    message_compressed_ = rsv1_;
    message_.clear();
    utf8_.Reset();
    if (message_compressed_ && !inflater_) {
      // Always a 15-bit window, whatever client_max_window_bits says. zlib
      // checks back-references against its window plus the output of the
      // current call, so with a smaller window a client that (wrongly)
      // reaches further back would be accepted or refused depending on how
      // its bytes were split across reads (found by fuzz_frame_parser). With
      // the full window every valid DEFLATE stream inflates the same way.
      inflater_ = std::make_unique<Inflater>(15, options_.deflate->client_no_context_takeover);
    }
  }
  if (!message_compressed_) {
    // RFC 6455 §10.4: refuse an oversized message from its header, before
    // buffering a byte of it. Compressed sizes are bounded while inflating.
    if (len > options_.max_message_size -
                  std::min<uint64_t>(message_.size(), options_.max_message_size)) {
      return Fail(CloseCode::kMessageTooBig, "message exceeds the maximum size", out);
    }
    // Grow geometrically (many small fragments stay linear), never past the cap.
    const uint64_t need = message_.size() + len;
    if (need > message_.capacity()) {
      uint64_t grown = std::max<uint64_t>(need, 2 * uint64_t{message_.capacity()});
      message_.reserve(static_cast<size_t>(std::min(grown, options_.max_message_size)));
    }
  }
  return true;
}

bool FrameParser::CheckNewText(size_t from, Outcome* out) {
  // RFC 6455 §8.1: fail fast on the first byte that cannot be UTF-8.
  if (message_text_ && !utf8_.Feed(std::string_view(message_).substr(from))) {
    return Fail(CloseCode::kInvalidPayload, "invalid UTF-8 in a text message", out);
  }
  return true;
}

bool FrameParser::ConsumePayload(std::string_view chunk, Outcome* out) {
  const MaskKey key = {mask_[0], mask_[1], mask_[2], mask_[3]};
  const size_t offset = static_cast<size_t>(frame_offset_ & 3);
  if (IsControl(static_cast<Opcode>(opcode_))) {
    size_t from = control_.size();
    control_.append(chunk);
    ApplyMask(control_.data() + from, chunk.size(), key, offset);
    return true;
  }
  const size_t from = message_.size();
  if (!message_compressed_) {
    message_.append(chunk);
    ApplyMask(message_.data() + from, chunk.size(), key, offset);
    return CheckNewText(from, out);
  }
  scratch_.assign(chunk);
  ApplyMask(scratch_.data(), scratch_.size(), key, offset);
  InflateResult r = inflater_->Inflate(scratch_, options_.max_message_size, &message_);
  // Text inflated before a failure is checked first, so the error does not
  // depend on how the compressed bytes were split.
  if (!CheckNewText(from, out)) return false;
  if (r == InflateResult::kTooLarge) {
    return Fail(CloseCode::kMessageTooBig, "inflated message exceeds the maximum size", out);
  }
  if (r == InflateResult::kCorrupt) {
    return Fail(CloseCode::kInvalidPayload, "invalid DEFLATE data", out);
  }
  return true;
}

bool FrameParser::FinishFrame(Outcome* out) {
  if (IsControl(static_cast<Opcode>(opcode_))) return FinishControlFrame(out);
  if (fin_) {
    if (message_compressed_) {
      const size_t from = message_.size();
      InflateResult r = inflater_->FinishMessage(options_.max_message_size, &message_);
      if (!CheckNewText(from, out)) return false;
      if (r == InflateResult::kTooLarge) {
        return Fail(CloseCode::kMessageTooBig, "inflated message exceeds the maximum size", out);
      }
      if (r == InflateResult::kCorrupt) {
        return Fail(CloseCode::kInvalidPayload, "invalid DEFLATE data", out);
      }
    }
    if (message_text_ && !utf8_.AtBoundary()) {
      return Fail(CloseCode::kInvalidPayload, "text message ends inside a UTF-8 sequence", out);
    }
    out->events.push_back(
        Event{message_text_ ? EventType::kText : EventType::kBinary, std::move(message_), 0});
    message_ = std::string();
    message_open_ = false;
  }
  ResetFrame();
  return true;
}

bool FrameParser::FinishControlFrame(Outcome* out) {
  switch (static_cast<Opcode>(opcode_)) {
    case Opcode::kPing:
      out->events.push_back(Event{EventType::kPing, std::move(control_), 0});
      break;
    case Opcode::kPong:
      out->events.push_back(Event{EventType::kPong, std::move(control_), 0});
      break;
    default: {  // kClose, RFC 6455 §5.5.1
      uint16_t code = static_cast<uint16_t>(CloseCode::kNoStatus);
      std::string reason;
      if (control_.size() == 1) {
        return Fail(CloseCode::kProtocolError, "close frame with a 1-byte payload", out);
      }
      if (control_.size() >= 2) {
        code = static_cast<uint16_t>(static_cast<uint8_t>(control_[0]) << 8 |
                                     static_cast<uint8_t>(control_[1]));
        // RFC 6455 §7.4: only defined codes and 3000-4999 may be sent.
        if (!IsValidWireCloseCode(code)) {
          return Fail(CloseCode::kProtocolError, "invalid close code", out);
        }
        reason = control_.substr(2);
        // RFC 6455 §5.5.1: the reason is UTF-8 (§8.1 applies).
        if (!IsValidUtf8(reason)) {
          return Fail(CloseCode::kInvalidPayload, "invalid UTF-8 in a close reason", out);
        }
      }
      out->events.push_back(Event{EventType::kClose, std::move(reason), code});
      state_ = State::kClosed;  // §5.5.1: nothing follows a close frame
      control_.clear();
      return true;
    }
  }
  ResetFrame();
  return true;
}

}  // namespace herald::ws
