#include "frontends/ws/frame_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "frontends/ws/frame_writer.h"
#include "split_feed.h"

namespace herald::ws {
namespace {

constexpr MaskKey kKey = {0x37, 0xfa, 0x21, 0x3d};  // RFC 6455 §5.7's key

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

std::string Client(Opcode op, std::string_view payload, FrameFlags flags = {}) {
  return BuildClientFrame(static_cast<uint8_t>(op), payload, kKey, flags);
}

std::string Close(uint16_t code, std::string_view reason = {}) {
  std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return Client(Opcode::kClose, p.append(reason));
}

Event Text(std::string s) { return Event{EventType::kText, std::move(s), 0}; }
Event Binary(std::string s) { return Event{EventType::kBinary, std::move(s), 0}; }

uint16_t ErrorOf(std::string_view input, const FrameParserOptions& o = {}) {
  return ParseAtEverySplit(input, o).error_code();
}

TEST(FrameParser, ParsesTheRfcMaskedHelloExample) {
  // RFC 6455 §5.7: "A single-frame masked text message".
  Parsed p =
      ParseAtEverySplit(Bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_FALSE(p.error);
  EXPECT_EQ(p.events, std::vector<Event>{Text("Hello")});
}

TEST(FrameParser, ParsesTheRfcMaskedPongExample) {
  // RFC 6455 §5.7: "Pong response (masked)".
  Parsed p =
      ParseAtEverySplit(Bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_EQ(p.events, std::vector<Event>{(Event{EventType::kPong, "Hello", 0})});
}

TEST(FrameParser, RejectsTheRfcUnmaskedExamplesFromAClient) {
  // RFC 6455 §5.1: a server fails on unmasked frames; §5.7's unmasked "Hello".
  EXPECT_EQ(ErrorOf(Bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})), 1002);
}

TEST(FrameParser, ReassemblesTheRfcFragmentedHello) {
  // RFC 6455 §5.7's fragmented "Hel" + "lo", masked as a client sends it.
  std::string in =
      Client(Opcode::kText, "Hel", {.fin = false}) + Client(Opcode::kContinuation, "lo");
  EXPECT_EQ(ParseAtEverySplit(in).events, std::vector<Event>{Text("Hello")});
}

TEST(FrameParser, Reads16And64BitLengths) {
  // RFC 6455 §5.7: 256 bytes (16-bit length) and 64 KiB (64-bit length).
  std::string small(256, 'a'), big(65536, 'b');
  Parsed p = ParseAtEverySplit(Client(Opcode::kBinary, small) + Client(Opcode::kBinary, big));
  EXPECT_EQ(p.events, (std::vector<Event>{Binary(small), Binary(big)}));
}

TEST(FrameParser, AcceptsNonMinimalLengthEncodings) {
  // RFC 6455 §5.2 says "minimal number of bytes" for senders; we accept a
  // 5-byte payload in the 16-bit and 64-bit forms.
  std::string payload = "Hello";
  std::string masked = payload;
  ApplyMask(masked.data(), masked.size(), kKey, 0);
  std::string key(reinterpret_cast<const char*>(kKey.data()), 4);
  std::string len16 = Bytes({0x81, 0xFE, 0x00, 0x05}) + key + masked;
  std::string len64 = Bytes({0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x05}) + key + masked;
  EXPECT_EQ(ParseAtEverySplit(len16 + len64).events,
            (std::vector<Event>{Text("Hello"), Text("Hello")}));
}

TEST(FrameParser, Rejects64BitLengthWithTheMsbSet) {
  EXPECT_EQ(ErrorOf(Bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 1, 2, 3, 4})), 1002);
}

TEST(FrameParser, DeliversEmptyMessagesAndFrames) {
  std::string in = Client(Opcode::kText, "") + Client(Opcode::kBinary, "", {.fin = false}) +
                   Client(Opcode::kContinuation, "") + Client(Opcode::kPing, "");
  EXPECT_EQ(ParseAtEverySplit(in).events,
            (std::vector<Event>{Text(""), Binary(""), Event{EventType::kPing, "", 0}}));
}

TEST(FrameParser, FailsWith1008PastTheEmptyFragmentsAllowedInARow) {
  FrameParserOptions o;
  o.max_empty_fragments = 3;
  std::string in = Client(Opcode::kText, "", {.fin = false});
  for (int i = 0; i < 3; ++i) in += Client(Opcode::kContinuation, "", {.fin = false});
  EXPECT_EQ(ErrorOf(in, o), 1008);  // the fourth empty non-final frame in a row
  // A non-empty fragment in between starts the count again.
  std::string ok = Client(Opcode::kText, "", {.fin = false});
  for (int i = 0; i < 2; ++i) ok += Client(Opcode::kContinuation, "", {.fin = false});
  ok += Client(Opcode::kContinuation, "x", {.fin = false});
  for (int i = 0; i < 2; ++i) ok += Client(Opcode::kContinuation, "", {.fin = false});
  ok += Client(Opcode::kContinuation, "y");
  Parsed p = ParseAtEverySplit(ok, o);
  EXPECT_EQ(p.error_code(), 0);
  EXPECT_EQ(p.events, (std::vector<Event>{Text("xy")}));
}

TEST(FrameParser, ControlFramesMayInterleaveFragments) {
  // RFC 6455 §5.4: control frames may be injected in the middle of a message.
  std::string in = Client(Opcode::kText, "one ", {.fin = false}) + Client(Opcode::kPing, "p1") +
                   Client(Opcode::kContinuation, "two ", {.fin = false}) +
                   Client(Opcode::kPong, "p2") + Client(Opcode::kContinuation, "three");
  EXPECT_EQ(ParseAtEverySplit(in).events,
            (std::vector<Event>{Event{EventType::kPing, "p1", 0}, Event{EventType::kPong, "p2", 0},
                                Text("one two three")}));
}

TEST(FrameParser, RejectsReservedOpcode) {
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(ErrorOf(BuildClientFrame(op, "x", kKey)), 1002) << int{op};
  }
}

TEST(FrameParser, RejectsReservedBitsWithoutAnExtension) {
  std::string rsv1 = Client(Opcode::kText, "x", {.rsv1 = true});
  EXPECT_EQ(ErrorOf(rsv1), 1002);
  for (int bit : {0x20, 0x10}) {
    std::string f = Client(Opcode::kText, "x");
    f[0] = static_cast<char>(f[0] | bit);
    EXPECT_EQ(ErrorOf(f), 1002);
  }
}

TEST(FrameParser, RejectsUnmaskedClientFrame) {
  EXPECT_EQ(ErrorOf(BuildFrame(Opcode::kBinary, "data")), 1002);
}

TEST(FrameParser, RejectsOversizedOrFragmentedControlFrames) {
  EXPECT_EQ(ErrorOf(Client(Opcode::kPing, std::string(126, 'p'))), 1002);
  EXPECT_EQ(ErrorOf(Client(Opcode::kPing, "p", {.fin = false})), 1002);
  EXPECT_EQ(ParseAtEverySplit(Client(Opcode::kPing, std::string(125, 'p'))).events.size(), 1u);
}

TEST(FrameParser, RejectsContinuationWithoutAStart) {
  EXPECT_EQ(ErrorOf(Client(Opcode::kContinuation, "x")), 1002);
  // Also after a message that already finished.
  EXPECT_EQ(ErrorOf(Client(Opcode::kText, "a") + Client(Opcode::kContinuation, "b")), 1002);
}

TEST(FrameParser, RejectsNewDataFrameInsideAFragmentedMessage) {
  Parsed p =
      ParseAtEverySplit(Client(Opcode::kText, "a", {.fin = false}) + Client(Opcode::kBinary, "b"));
  EXPECT_EQ(p.error_code(), 1002);
  EXPECT_TRUE(p.events.empty());
}

TEST(FrameParser, ValidatesUtf8AcrossFragments) {
  // "€" (E2 82 AC) split across three fragments is fine.
  std::string ok = Client(Opcode::kText, "\xE2", {.fin = false}) +
                   Client(Opcode::kContinuation, "\x82", {.fin = false}) +
                   Client(Opcode::kContinuation, "\xAC");
  EXPECT_EQ(ParseAtEverySplit(ok).events, std::vector<Event>{Text("\xE2\x82\xAC")});
  // A message that ends inside a code point is not.
  std::string cut =
      Client(Opcode::kText, "ok\xE2\x82", {.fin = false}) + Client(Opcode::kContinuation, "");
  EXPECT_EQ(ErrorOf(cut), 1007);
  // Binary messages are not UTF-8 checked.
  EXPECT_EQ(ParseAtEverySplit(Client(Opcode::kBinary, "\xFF\xFE")).events.size(), 1u);
}

TEST(FrameParser, InvalidUtf8FailsFastMidMessage) {
  // The bad byte arrives in the first fragment; the message never ends, yet
  // the error comes as soon as that byte is fed.
  std::string frame = Client(Opcode::kText, "hello \xC0 and much more text", {.fin = false});
  FrameParser parser;
  Outcome out = parser.Feed(std::string_view(frame).substr(0, 6 + 7));  // header + "hello \xC0"
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->code, CloseCode::kInvalidPayload);
  EXPECT_EQ(ErrorOf(frame), 1007);
}

TEST(FrameParser, MessageOverTheLimitFailsFromItsHeader) {
  FrameParserOptions o{.max_message_size = 100};
  EXPECT_TRUE(ParseAtEverySplit(Client(Opcode::kBinary, std::string(100, 'x')), o).events.size());
  // Only the 8-byte header of a 1 GiB frame: refused before any payload.
  std::string header = Bytes({0x82, 0xFF, 0, 0, 0, 0, 0x40, 0, 0, 0}) + "\x01\x02\x03\x04";
  EXPECT_EQ(ErrorOf(header, o), 1009);
  // Reassembled size counts: 60 + 60 > 100.
  std::string two = Client(Opcode::kText, std::string(60, 'a'), {.fin = false}) +
                    Client(Opcode::kContinuation, std::string(60, 'b'));
  EXPECT_EQ(ErrorOf(two, o), 1009);
}

TEST(FrameParser, ParsesCloseCodeAndReason) {
  Parsed p = ParseAtEverySplit(Close(1000, "bye"));
  EXPECT_EQ(p.events, std::vector<Event>{(Event{EventType::kClose, "bye", 1000})});
  Parsed empty = ParseAtEverySplit(Client(Opcode::kClose, ""));
  EXPECT_EQ(empty.events, std::vector<Event>{(Event{EventType::kClose, "", 1005})});
}

TEST(FrameParser, IgnoresBytesAfterClose) {
  Parsed p = ParseAtEverySplit(Close(1001) + Client(Opcode::kText, "late") + "garbage");
  EXPECT_EQ(p.events.size(), 1u);
  EXPECT_FALSE(p.error);
}

TEST(FrameParser, RejectsOneByteClosePayload) {
  EXPECT_EQ(ErrorOf(Client(Opcode::kClose, "\x03")), 1002);
}

TEST(FrameParser, AcceptsOnlyValidCloseCodes) {
  for (uint16_t code :
       {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
    EXPECT_EQ(ErrorOf(Close(code)), 0) << code;
  }
  for (uint16_t code :
       {0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_EQ(ErrorOf(Close(code)), 1002) << code;
  }
}

TEST(FrameParser, RejectsInvalidUtf8InCloseReason) {
  EXPECT_EQ(ErrorOf(Close(1000, "bad \xFF")), 1007);
  EXPECT_EQ(ErrorOf(Close(1000, "cut \xE2\x82")), 1007);
}

TEST(FrameParser, KeepsFailingAfterAnError) {
  FrameParser parser;
  EXPECT_TRUE(parser.Feed(Client(Opcode::kContinuation, "x")).error);
  Outcome again = parser.Feed(Client(Opcode::kText, "fine"));
  EXPECT_TRUE(again.events.empty());
  ASSERT_TRUE(again.error);
  EXPECT_EQ(again.error->code, CloseCode::kProtocolError);
}

TEST(FrameParser, MessagesBeforeAnErrorAreDelivered) {
  Parsed p = ParseAtEverySplit(Client(Opcode::kText, "first") + Client(Opcode::kText, "\xFF"));
  EXPECT_EQ(p.events, std::vector<Event>{Text("first")});
  EXPECT_EQ(p.error_code(), 1007);
}

TEST(FrameParser, UnmasksEveryKeyPhase) {
  // Payload lengths around the word size exercise the rotated-key path.
  std::string in;
  std::vector<Event> expected;
  for (size_t n = 0; n < 40; ++n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>('a' + (i * 7 + n) % 26);
    in += Client(Opcode::kText, s);
    expected.push_back(Text(s));
  }
  EXPECT_EQ(ParseAtEverySplit(in).events, expected);
}

}  // namespace
}  // namespace herald::ws
