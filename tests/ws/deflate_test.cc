#include "frontends/ws/deflate.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>

namespace herald::ws {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

std::string Hex(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// Inflates one whole message payload; "<error>" on failure.
std::string InflateMessage(Inflater& in, std::string_view payload, size_t max = 1 << 20) {
  std::string out;
  if (in.Inflate(payload, max, &out) != InflateResult::kOk) return "<error>";
  if (in.FinishMessage(max, &out) != InflateResult::kOk) return "<error>";
  return out;
}

std::string RunPython(const std::string& script) {
  std::string cmd = "/usr/bin/python3 -c '" + script + "'";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return "<popen failed>";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(Deflate, CompressesHelloAsInRfc7692) {
  // RFC 7692 §7.2.3.1.
  Deflater d;
  std::string out;
  ASSERT_TRUE(d.Compress("Hello", &out));
  EXPECT_EQ(Hex(out), "f248cdc9c90700");
}

TEST(Deflate, EmptyMessageIsOneZeroByte) {
  // RFC 7692 §7.2.3.6.
  Deflater d;
  std::string out;
  ASSERT_TRUE(d.Compress("", &out));
  EXPECT_EQ(Hex(out), "00");
  Inflater in(15, false);
  EXPECT_EQ(InflateMessage(in, out), "");
}

TEST(Deflate, EveryMessageStandsAlone) {
  // server_no_context_takeover: the same input gives the same bytes each time.
  Deflater d;
  std::string a, b;
  ASSERT_TRUE(d.Compress("Hello", &a));
  ASSERT_TRUE(d.Compress("Hello", &b));
  EXPECT_EQ(a, b);
}

TEST(Deflate, InflatesTheRfc7692Examples) {
  Inflater in(15, false);
  EXPECT_EQ(InflateMessage(in, Bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
  // §7.2.3.2: the second message refers back to the first (context takeover).
  EXPECT_EQ(InflateMessage(in, Bytes({0xf2, 0x00, 0x11, 0x00, 0x00})), "Hello");
  // §7.2.3.3: a stored (uncompressed) block.
  EXPECT_EQ(
      InflateMessage(in, Bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})),
      "Hello");
  // §7.2.3.4: a block with BFINAL set.
  Inflater fresh(15, false);
  EXPECT_EQ(InflateMessage(fresh, Bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})),
            "Hello");
  // §7.2.3.5: two DEFLATE blocks in one message.
  Inflater two(15, false);
  EXPECT_EQ(InflateMessage(two, Bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9,
                                       0xc9, 0x07, 0x00})),
            "Hello");
}

TEST(Deflate, NoContextTakeoverForgetsThePreviousMessage) {
  Inflater in(15, /*no_context_takeover=*/true);
  EXPECT_EQ(InflateMessage(in, Bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})), "Hello");
  // §7.2.3.2's back-reference now points before the start of the window.
  EXPECT_EQ(InflateMessage(in, Bytes({0xf2, 0x00, 0x11, 0x00, 0x00})), "<error>");
}

TEST(Deflate, InflatesIncrementallyAtEverySplit) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "message " + std::to_string(i * 7919 % 1000) + "; ";
  Deflater d;
  std::string z;
  ASSERT_TRUE(d.Compress(text, &z));
  for (size_t i = 0; i <= z.size(); ++i) {
    Inflater in(15, false);
    std::string out;
    ASSERT_EQ(in.Inflate(std::string_view(z).substr(0, i), 1 << 20, &out), InflateResult::kOk);
    ASSERT_EQ(in.Inflate(std::string_view(z).substr(i), 1 << 20, &out), InflateResult::kOk);
    ASSERT_EQ(in.FinishMessage(1 << 20, &out), InflateResult::kOk);
    ASSERT_EQ(out, text) << "split at " << i;
  }
}

TEST(Deflate, RoundTripsRandomAndCompressibleData) {
  std::mt19937 rng(7);
  Deflater d(15, 6);
  Inflater in(15, false);
  for (size_t size : {1u, 100u, 4096u, 70000u, 300000u}) {
    std::string random(size, '\0'), repetitive;
    for (char& c : random) c = static_cast<char>(rng());
    while (repetitive.size() < size) repetitive += "herald.topic.";
    for (const std::string& msg : {random, repetitive}) {
      std::string z;
      ASSERT_TRUE(d.Compress(msg, &z));
      EXPECT_EQ(InflateMessage(in, z, 1 << 20), msg) << size;
    }
  }
}

TEST(Deflate, DecompressionBombGets1009) {
  // 64 MiB of zeros compresses to ~64 KiB; the bound is 1 MiB.
  Deflater d(15, 9);
  std::string z;
  ASSERT_TRUE(d.Compress(std::string(64 << 20, '\0'), &z));
  ASSERT_LT(z.size(), 100u * 1024);
  Inflater in(15, false);
  std::string out;
  const size_t kMax = 1 << 20;
  EXPECT_EQ(in.Inflate(z, kMax, &out), InflateResult::kTooLarge);
  EXPECT_LE(out.size(), kMax);
}

TEST(Deflate, ExactlyTheBoundIsAccepted) {
  Deflater d;
  std::string z;
  ASSERT_TRUE(d.Compress(std::string(1000, 'x'), &z));
  Inflater ok(15, true);
  EXPECT_EQ(InflateMessage(ok, z, 1000), std::string(1000, 'x'));
  Inflater over(15, true);
  EXPECT_EQ(InflateMessage(over, z, 999), "<error>");
}

TEST(Deflate, CorruptStreamIsReported) {
  Inflater in(15, false);
  std::string out;
  // BTYPE 11 is reserved (RFC 1951 §3.2.3).
  EXPECT_EQ(in.Inflate(Bytes({0xff, 0xff, 0xff}), 1 << 20, &out), InflateResult::kCorrupt);
}

TEST(Deflate, PythonZlibInflatesOurOutput) {
  Deflater d;
  std::string z;
  const std::string text = "The quick brown fox jumps over the lazy dog. The quick brown fox.";
  ASSERT_TRUE(d.Compress(text, &z));
  std::string got = RunPython(
      "import zlib,sys; d=zlib.decompressobj(-15); "
      "sys.stdout.write(d.decompress(bytes.fromhex(\"" +
      Hex(z) + "\") + b\"\\x00\\x00\\xff\\xff\").hex())");
  EXPECT_EQ(got, Hex(text));
}

TEST(Deflate, WeInflatePythonZlibOutput) {
  std::string hex = RunPython(
      "import zlib,sys; c=zlib.compressobj(9, zlib.DEFLATED, -15); "
      "z=c.compress(b\"herald \"*500)+c.flush(zlib.Z_SYNC_FLUSH); "
      "assert z.endswith(b\"\\x00\\x00\\xff\\xff\"); sys.stdout.write(z[:-4].hex())");
  ASSERT_FALSE(hex.empty());
  std::string z;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    z += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  Inflater in(15, false);
  std::string expected;
  for (int i = 0; i < 500; ++i) expected += "herald ";
  EXPECT_EQ(InflateMessage(in, z), expected);
}

TEST(Deflate, SmallWindowsRoundTrip) {
  for (int bits = 8; bits <= 15; ++bits) {
    Deflater d(bits);
    Inflater in(bits, false);
    std::string msg;
    for (int i = 0; i < 3000; ++i) msg += static_cast<char>('a' + (i * i) % 26);
    std::string z;
    ASSERT_TRUE(d.Compress(msg, &z));
    EXPECT_EQ(InflateMessage(in, z), msg) << bits;
  }
}

}  // namespace
}  // namespace herald::ws
