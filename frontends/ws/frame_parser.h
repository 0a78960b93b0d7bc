// frontends/ws/frame_parser.h — incremental server-side frame parser.
//
// Bytes in, events out; no sockets, no allocation beyond the message being
// assembled. Correct at every TCP split point: feeding a stream whole, byte by
// byte or split anywhere yields the same events and the same error.
//
//   FrameParser parser({.max_message_size = 1 << 20, .deflate = negotiated});
//   Outcome out = parser.Feed(bytes_from_socket);
//   for (Event& e : out.events) ...;           // in wire order
//   if (out.error) send_close(out.error->code);  // then stop reading
//
// Events: complete text/binary messages (reassembled from fragments, inflated
// when compressed, payload contiguous) and control frames, which may arrive
// between the fragments of a message (RFC 6455 §5.4). After a close frame the
// parser ignores further bytes (§5.5.1); after an error every Feed returns
// that error again. Text is validated incrementally: invalid UTF-8 fails as
// soon as the bad byte arrives (§8.1), not at the end of the message.
//
// Not thread-safe: one parser per connection, used by its loop thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/ws/deflate.h"
#include "frontends/ws/deflate_params.h"
#include "frontends/ws/frame.h"
#include "frontends/ws/utf8.h"

namespace herald::ws {

struct FrameParserOptions {
  // Largest message accepted after reassembly and inflation (RFC 6455 §10.4);
  // larger ones fail with 1009 before their payload is buffered.
  uint64_t max_message_size = 1 << 20;
  // Set when permessage-deflate was negotiated: RSV1 then marks a compressed
  // message (RFC 7692 §6). Without it, RSV1 is a protocol error.
  std::optional<DeflateParams> deflate;
  // Empty non-final data frames in a row (they add nothing to a message and
  // pass every size limit): past this many the connection fails with 1008.
  uint32_t max_empty_fragments = 1024;
};

enum class EventType : uint8_t { kText, kBinary, kPing, kPong, kClose };

struct Event {
  EventType type;
  // The message, the ping/pong application data, or the close reason.
  std::string payload;
  // kClose only: the peer's code, or 1005 (kNoStatus) if the frame had none.
  uint16_t close_code = 0;

  bool operator==(const Event&) const = default;
};

struct ParseError {
  CloseCode code;         // what our close frame should carry
  std::string_view what;  // static text for logs and the close reason

  bool operator==(const ParseError&) const = default;
};

struct Outcome {
  std::vector<Event> events;
  std::optional<ParseError> error;
};

class FrameParser {
 public:
  explicit FrameParser(FrameParserOptions options = {});
  ~FrameParser();
  FrameParser(const FrameParser&) = delete;
  FrameParser& operator=(const FrameParser&) = delete;

  Outcome Feed(std::string_view bytes);

  bool closed() const { return state_ == State::kClosed; }
  // Between frames, with no message and no compression context held: the
  // parser holds nothing a fresh one would not (so a caller may free it).
  bool at_rest() const {
    return state_ == State::kHeader && header_size_ == 0 && !message_open_ &&
           (!inflater_ || (options_.deflate && options_.deflate->client_no_context_takeover));
  }
  bool failed() const { return state_ == State::kFailed; }

 private:
  enum class State : uint8_t { kHeader, kPayload, kClosed, kFailed };

  // Each returns false after recording an error in `*out`.
  bool CheckFirstBytes(Outcome* out);
  bool CheckHeader(Outcome* out);
  bool ConsumePayload(std::string_view chunk, Outcome* out);
  bool FinishFrame(Outcome* out);
  bool FinishControlFrame(Outcome* out);
  bool CheckNewText(size_t from, Outcome* out);
  bool Fail(CloseCode code, std::string_view what, Outcome* out);
  void ResetFrame();

  FrameParserOptions options_;
  State state_ = State::kHeader;
  std::optional<ParseError> error_;

  // The frame being read (RFC 6455 §5.2).
  uint8_t header_[14];
  uint8_t header_size_ = 0;
  uint8_t header_needed_ = 2;
  bool fin_ = false;
  bool rsv1_ = false;
  uint8_t opcode_ = 0;
  uint8_t mask_[4] = {};
  uint64_t remaining_ = 0;
  uint64_t frame_offset_ = 0;
  std::string control_;

  // The message being assembled across fragments (RFC 6455 §5.4).
  bool message_open_ = false;
  uint32_t empty_fragments_ = 0;  // in a row, in the open message
  bool message_text_ = false;
  bool message_compressed_ = false;
  std::string message_;
  Utf8Validator utf8_;
  std::unique_ptr<Inflater> inflater_;  // created on the first compressed message
  std::string scratch_;                 // unmasked compressed bytes
};

}  // namespace herald::ws
