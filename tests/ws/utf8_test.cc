#include "frontends/ws/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace herald::ws {
namespace {

// Feeds `s` byte by byte; returns the index of the first rejected byte, or
// -1 if none was rejected.
int FirstRejectedByte(std::string_view s) {
  Utf8Validator v;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!v.Feed(s.substr(i, 1))) return static_cast<int>(i);
  }
  return -1;
}

TEST(Utf8Validator, AcceptsAsciiAndEveryEncodingLength) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("Hello, world! 0123456789 long enough for the word path"));
  EXPECT_TRUE(IsValidUtf8("\xC2\x80"));          // U+0080, smallest 2-byte
  EXPECT_TRUE(IsValidUtf8("\xDF\xBF"));          // U+07FF
  EXPECT_TRUE(IsValidUtf8("\xE0\xA0\x80"));      // U+0800, smallest 3-byte
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below surrogates
  EXPECT_TRUE(IsValidUtf8("\xEE\x80\x80"));      // U+E000, just above
  EXPECT_TRUE(IsValidUtf8("\xEF\xBF\xBF"));      // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xF0\x90\x80\x80"));  // U+10000
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8("κόσμε — ∀x∈ℝ 🎉"));
}

TEST(Utf8Validator, RejectsOverlongSurrogatesAndOutOfRange) {
  EXPECT_FALSE(IsValidUtf8("\xC0\x80"));          // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xC1\xBF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xE0\x9F\xBF"));      // overlong 3-byte
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // U+D800 surrogate
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));      // U+DFFF surrogate
  EXPECT_FALSE(IsValidUtf8("\xF0\x8F\xBF\xBF"));  // overlong 4-byte
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("\x80"));   // lone continuation
  EXPECT_FALSE(IsValidUtf8("a\xC2"));  // truncated at the end
}

TEST(Utf8Validator, ReportsTheFirstImpossibleByte) {
  EXPECT_EQ(FirstRejectedByte("abc\xC0\x80"), 3);  // C0 can never start anything
  EXPECT_EQ(FirstRejectedByte("\xE0\x9F"), 1);     // E0 must be followed by A0..BF
  EXPECT_EQ(FirstRejectedByte("\xED\xA0"), 1);     // a surrogate is known at byte 2
  EXPECT_EQ(FirstRejectedByte("\xF4\x90"), 1);     // above U+10FFFF at byte 2
  EXPECT_EQ(FirstRejectedByte("\xE2\x82"
                              "a"),
            2);                                              // sequence cut by ASCII
  EXPECT_EQ(FirstRejectedByte("0123456789abcdef\xFE"), 16);  // after the word path
}

TEST(Utf8Validator, ValidPrefixIsFineUntilTheEnd) {
  Utf8Validator v;
  EXPECT_TRUE(v.Feed("\xF0\x9F"));  // first half of 🎉
  EXPECT_FALSE(v.AtBoundary());
  EXPECT_TRUE(v.Feed("\x8E\x89"));
  EXPECT_TRUE(v.AtBoundary());
}

TEST(Utf8Validator, StaysFailedUntilReset) {
  Utf8Validator v;
  EXPECT_FALSE(v.Feed("\xFF"));
  EXPECT_FALSE(v.Feed("a"));
  EXPECT_TRUE(v.failed());
  v.Reset();
  EXPECT_TRUE(v.Feed("a"));
}

TEST(Utf8Validator, SameVerdictAtEverySplit) {
  const std::string samples[] = {"κόσμε 🎉 ok and some ascii to use the fast path",
                                 "ascii ascii ascii \xED\xA0\x80 tail", "\xF0\x90\x80"};
  for (const std::string& s : samples) {
    bool whole = IsValidUtf8(s);
    for (size_t i = 0; i <= s.size(); ++i) {
      Utf8Validator v;
      bool ok = v.Feed(std::string_view(s).substr(0, i)) && v.Feed(std::string_view(s).substr(i));
      EXPECT_EQ(ok && v.AtBoundary(), whole) << "split at " << i;
    }
  }
}

TEST(Utf8Validator, EveryTwoByteSequenceMatchesTheRfc3629Rule) {
  for (int a = 0xC0; a <= 0xFF; ++a) {
    for (int b = 0; b <= 0xFF; ++b) {
      std::string s{static_cast<char>(a), static_cast<char>(b)};
      bool expected = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF;
      EXPECT_EQ(IsValidUtf8(s), expected) << std::hex << a << " " << b;
    }
  }
}

}  // namespace
}  // namespace herald::ws
