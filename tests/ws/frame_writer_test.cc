#include "frontends/ws/frame_writer.h"

#include <gtest/gtest.h>

#include <string>

#include "frontends/ws/deflate.h"
#include "frontends/ws/frame_parser.h"

namespace herald::ws {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

TEST(FrameWriter, MatchesTheRfcUnmaskedExamples) {
  // RFC 6455 §5.7.
  EXPECT_EQ(BuildFrame(Opcode::kText, "Hello"), Bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  EXPECT_EQ(BuildFrame(Opcode::kText, "Hel", {.fin = false}),
            Bytes({0x01, 0x03, 0x48, 0x65, 0x6c}));
  EXPECT_EQ(BuildFrame(Opcode::kContinuation, "lo"), Bytes({0x80, 0x02, 0x6c, 0x6f}));
  EXPECT_EQ(BuildFrame(Opcode::kPing, "Hello"), Bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(FrameWriter, MatchesTheRfcMaskedExample) {
  // RFC 6455 §5.7: masked "Hello" with key 37 fa 21 3d.
  EXPECT_EQ(BuildClientFrame(0x1, "Hello", {0x37, 0xfa, 0x21, 0x3d}),
            Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST(FrameWriter, UsesSevenSixteenAndSixtyFourBitLengths) {
  // RFC 6455 §5.7: 256 bytes -> 7E 0100; 64 KiB -> 7F 0000000000010000.
  EXPECT_EQ(MakeFrameHeader(Opcode::kBinary, 125).view(), Bytes({0x82, 0x7D}));
  EXPECT_EQ(MakeFrameHeader(Opcode::kBinary, 126).view(), Bytes({0x82, 0x7E, 0x00, 0x7E}));
  EXPECT_EQ(MakeFrameHeader(Opcode::kBinary, 256).view(), Bytes({0x82, 0x7E, 0x01, 0x00}));
  EXPECT_EQ(MakeFrameHeader(Opcode::kBinary, 65535).view(), Bytes({0x82, 0x7E, 0xFF, 0xFF}));
  EXPECT_EQ(MakeFrameHeader(Opcode::kBinary, 65536).view(),
            Bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
  EXPECT_EQ(MakeFrameHeader(Opcode::kBinary, 0x0102030405060708ULL).view(),
            Bytes({0x82, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(FrameWriter, HeaderIntoACallerBuffer) {
  char buf[kMaxServerHeaderSize];
  EXPECT_EQ(WriteFrameHeader(buf, Opcode::kText, 5), 2u);
  EXPECT_EQ(WriteFrameHeader(buf, Opcode::kText, 1000), 4u);
  EXPECT_EQ(WriteFrameHeader(buf, Opcode::kText, 100000), 10u);
}

TEST(FrameWriter, SetsRsv1ForCompressedMessages) {
  // RFC 7692 §7.2.3.1: c1 07 f2 48 cd c9 c9 07 00.
  Deflater d;
  std::string z;
  ASSERT_TRUE(d.Compress("Hello", &z));
  EXPECT_EQ(BuildFrame(Opcode::kText, z, {.rsv1 = true}),
            Bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
}

TEST(FrameWriter, CloseFrameCarriesCodeAndReason) {
  EXPECT_EQ(BuildCloseFrame(1000, "bye"), Bytes({0x88, 0x05, 0x03, 0xe8, 'b', 'y', 'e'}));
  EXPECT_EQ(BuildCloseFrame(1009), Bytes({0x88, 0x02, 0x03, 0xf1}));
  EXPECT_EQ(BuildEmptyCloseFrame(), Bytes({0x88, 0x00}));
}

TEST(FrameWriter, LongCloseReasonIsCutAtAUtf8Boundary) {
  std::string reason;
  for (int i = 0; i < 50; ++i) reason += "€";  // 150 bytes of 3-byte sequences
  std::string frame = BuildCloseFrame(1001, reason);
  ASSERT_LE(frame.size(), 2u + 125u);
  std::string_view cut = std::string_view(frame).substr(4);
  EXPECT_EQ(cut.size(), 123u);  // 41 whole euro signs
  EXPECT_EQ(cut, std::string_view(reason).substr(0, 123));
}

TEST(FrameWriter, ControlPayloadIsCutTo125Bytes) {
  std::string frame = BuildFrame(Opcode::kPing, std::string(300, 'p'));
  EXPECT_EQ(frame.size(), 2u + 125u);
}

TEST(FrameWriter, ClientFramesParseBack) {
  FrameParser parser;
  std::string big(70000, 'z');
  Outcome out = parser.Feed(BuildClientFrame(0x2, big, {1, 2, 3, 4}));
  ASSERT_FALSE(out.error);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].payload, big);
}

}  // namespace
}  // namespace herald::ws
