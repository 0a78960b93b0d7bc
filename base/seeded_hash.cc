#include "base/seeded_hash.h"

#include <bit>
#include <cstring>
#include <random>

namespace herald {
namespace {

constexpr uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct SipState {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }
};

uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

SipKey RandomKey() {
  std::random_device rd;  // getrandom(2) on Linux
  auto word = [&] { return (uint64_t{rd()} << 32) | rd(); };
  return SipKey{word(), word()};
}

}  // namespace

template <int C, int D>
uint64_t SipHash(const SipKey& key, std::string_view data) {
  SipState s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
             key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
  const size_t n = data.size();
  const char* p = data.data();
  const char* end = p + (n & ~size_t{7});
  for (; p != end; p += 8) {
    const uint64_t m = Load64(p);
    s.v3 ^= m;
    for (int i = 0; i < C; ++i) s.Round();
    s.v0 ^= m;
  }
  uint64_t last = uint64_t{n & 0xff} << 56;
  for (size_t i = 0; i < (n & 7); ++i) {
    last |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  }
  s.v3 ^= last;
  for (int i = 0; i < C; ++i) s.Round();
  s.v0 ^= last;
  s.v2 ^= 0xff;
  for (int i = 0; i < D; ++i) s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

template uint64_t SipHash<1, 3>(const SipKey&, std::string_view);
template uint64_t SipHash<2, 4>(const SipKey&, std::string_view);

const SipKey& ProcessHashKey() {
  static const SipKey key = RandomKey();
  return key;
}

uint64_t SeededHashBytes(std::string_view data) {
  static const SipKey& key = ProcessHashKey();
  return SipHash<1, 3>(key, data);
}

}  // namespace herald
