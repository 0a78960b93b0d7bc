// tests/ws/split_feed.h — feeds a parser input whole, split in two at every
// byte offset, and byte by byte, and checks all give the same result
// (the Seastar websocket_test.cc discipline).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/ws/frame_parser.h"

namespace herald::ws {

inline void PrintTo(const Event& e, std::ostream* os) {
  static const char* kNames[] = {"text", "binary", "ping", "pong", "close"};
  *os << "{" << kNames[static_cast<int>(e.type)] << " \"" << e.payload.substr(0, 64) << "\" ("
      << e.payload.size() << " bytes)";
  if (e.type == EventType::kClose) *os << " code " << e.close_code;
  *os << "}";
}

inline void PrintTo(const ParseError& e, std::ostream* os) {
  *os << "{" << static_cast<int>(e.code) << " " << e.what << "}";
}

// Everything the parser said over a whole stream.
struct Parsed {
  std::vector<Event> events;
  std::optional<ParseError> error;

  bool operator==(const Parsed&) const = default;
  uint16_t error_code() const { return error ? static_cast<uint16_t>(error->code) : 0; }
};

inline void PrintTo(const Parsed& p, std::ostream* os) {
  *os << p.events.size() << " events";
  for (const Event& e : p.events) {
    *os << " ";
    PrintTo(e, os);
  }
  if (p.error) {
    *os << ", error ";
    PrintTo(*p.error, os);
  }
}

inline Parsed FeedChunks(const FrameParserOptions& options,
                         const std::vector<std::string_view>& chunks) {
  FrameParser parser(options);
  Parsed parsed;
  for (std::string_view chunk : chunks) {
    Outcome out = parser.Feed(chunk);
    for (Event& e : out.events) parsed.events.push_back(std::move(e));
    if (out.error && !parsed.error) parsed.error = out.error;
    // Once failed, the parser must keep saying so and say nothing else.
    if (parsed.error) {
      EXPECT_TRUE(out.error.has_value());
      EXPECT_TRUE(parser.failed());
    }
  }
  return parsed;
}

// The result of feeding `input` whole, after checking that every split gives
// the same. Inputs over 4 KiB are split at every offset of their first and
// last 300 bytes and at a stride in between, to keep the test quadratic-free.
inline Parsed ParseAtEverySplit(std::string_view input, const FrameParserOptions& options = {}) {
  Parsed whole = FeedChunks(options, {input});
  const size_t n = input.size();
  for (size_t i = 1; i < n; ++i) {
    if (n > 4096 && i > 300 && i + 300 < n && i % 997 != 0) continue;
    Parsed split = FeedChunks(options, {input.substr(0, i), input.substr(i)});
    EXPECT_EQ(split, whole) << "split at offset " << i << " of " << n;
    if (split != whole) return whole;  // one report is enough
  }
  std::vector<std::string_view> bytes;
  bytes.reserve(n);
  for (size_t i = 0; i < n; ++i) bytes.push_back(input.substr(i, 1));
  EXPECT_EQ(FeedChunks(options, bytes), whole) << "byte by byte";
  return whole;
}

}  // namespace herald::ws
