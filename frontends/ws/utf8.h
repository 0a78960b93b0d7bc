// frontends/ws/utf8.h — an incremental UTF-8 validator for WebSocket text.
//
// RFC 6455 §8.1: a text message must be valid UTF-8 (RFC 3629) once
// reassembled, and an endpoint that receives invalid text fails the connection
// with 1007 (§7.4.1). Text arrives in fragments split anywhere, even inside a
// code point, so the validator keeps its state between calls and reports a
// failure at the first byte that cannot start or continue a valid sequence:
// a prefix that is valid so far is fine until the message ends.
//
//   Utf8Validator v;
//   if (!v.Feed(chunk1) || !v.Feed(chunk2)) fail(1007);
//   if (!v.AtBoundary()) fail(1007);   // message ended inside a code point
//
// A small DFA (Hoehrmann-style: a byte-class table and a transition table)
// with a word-at-a-time path for ASCII runs. Not a decoder: it never produces
// code points. Any thread; one instance per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald::ws {

class Utf8Validator {
 public:
  // Feeds the next bytes. Returns false at the first byte that makes the
  // stream invalid; the validator then stays failed until Reset().
  bool Feed(std::string_view bytes);

  // True when every byte fed so far forms complete, valid code points.
  bool AtBoundary() const { return state_ == kAccept; }
  bool failed() const { return state_ == kReject; }
  void Reset() { state_ = kAccept; }

  static constexpr uint8_t kAccept = 0;
  static constexpr uint8_t kReject = 1;

 private:
  uint8_t state_ = kAccept;
};

// True if `bytes` is complete, valid UTF-8.
bool IsValidUtf8(std::string_view bytes);

}  // namespace herald::ws
