#include "bench/ws_loadgen/ws_codec.h"

namespace herald::wsbench {
namespace {

uint32_t Rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

void Sha1Block(uint32_t h[5], const uint8_t* b) {
  uint32_t w[80];
  for (int i = 0; i < 16; ++i) {
    w[i] = (uint32_t{b[4 * i]} << 24) | (uint32_t{b[4 * i + 1]} << 16) |
           (uint32_t{b[4 * i + 2]} << 8) | b[4 * i + 3];
  }
  for (int i = 16; i < 80; ++i) w[i] = Rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; ++i) {
    uint32_t f, k;
    if (i < 20) {
      f = (bb & c) | (~bb & d);
      k = 0x5A827999;
    } else if (i < 40) {
      f = bb ^ c ^ d;
      k = 0x6ED9EBA1;
    } else if (i < 60) {
      f = (bb & c) | (bb & d) | (c & d);
      k = 0x8F1BBCDC;
    } else {
      f = bb ^ c ^ d;
      k = 0xCA62C1D6;
    }
    uint32_t t = Rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = Rol(bb, 30);
    bb = a;
    a = t;
  }
  h[0] += a;
  h[1] += bb;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

}  // namespace

void Sha1(const void* data, size_t n, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const auto* p = static_cast<const uint8_t*>(data);
  size_t full = n / 64 * 64;
  for (size_t i = 0; i < full; i += 64) Sha1Block(h, p + i);
  uint8_t tail[128] = {};
  size_t rest = n - full;
  std::memcpy(tail, p + full, rest);
  tail[rest] = 0x80;
  size_t tail_len = rest + 9 <= 64 ? 64 : 128;
  uint64_t bits = uint64_t{n} * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  for (size_t i = 0; i < tail_len; i += 64) Sha1Block(h, tail + i);
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  }
}

std::string Base64(const uint8_t* data, size_t n) {
  static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t{data[i]} << 16;
    if (i + 1 < n) v |= uint32_t{data[i + 1]} << 8;
    if (i + 2 < n) v |= data[i + 2];
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += i + 1 < n ? kTable[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kTable[v & 63] : '=';
  }
  return out;
}

std::string WebSocketAccept(std::string_view key) {
  std::string s(key);
  s += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  uint8_t digest[20];
  Sha1(s.data(), s.size(), digest);
  return Base64(digest, sizeof digest);
}

void AppendClientFrame(std::string& out, uint8_t opcode,
                       std::initializer_list<std::string_view> parts, uint32_t mask) {
  uint64_t len = 0;
  for (std::string_view part : parts) len += part.size();
  out.push_back(static_cast<char>(0x80 | opcode));
  if (len < 126) {
    out.push_back(static_cast<char>(0x80 | len));
  } else if (len < 65536) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(len >> (8 * i)));
  }
  uint8_t key[4];
  std::memcpy(key, &mask, 4);
  out.append(reinterpret_cast<const char*>(key), 4);
  const size_t start = out.size();
  for (std::string_view part : parts) out.append(part);
  // XOR 8 bytes at a time; the key repeats every 4 bytes, so a doubled key
  // lines up with any 8-byte-aligned offset from the payload start.
  char* p = out.data() + start;
  uint64_t k8;
  std::memcpy(&k8, key, 4);
  std::memcpy(reinterpret_cast<char*>(&k8) + 4, key, 4);
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k8;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < len; ++i) p[i] = static_cast<char>(p[i] ^ key[i & 3]);
}

}  // namespace herald::wsbench
