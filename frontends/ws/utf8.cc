// Byte classes and transitions follow RFC 3629 §4 (UTF8-octets ABNF), which
// excludes overlong forms, surrogates (U+D800..DFFF) and code points above
// U+10FFFF.
#include "frontends/ws/utf8.h"

#include <array>
#include <cstring>

namespace herald::ws {
namespace {

// Byte classes: which ranges behave alike in the ABNF.
enum : uint8_t {
  kAscii = 0,   // 00..7F
  kCont8 = 1,   // 80..8F
  kCont9 = 2,   // 90..9F
  kContA = 3,   // A0..BF
  kBad = 4,     // C0..C1, F5..FF: never valid
  kLead2 = 5,   // C2..DF
  kE0 = 6,      // E0: next A0..BF (no overlong)
  kLead3 = 7,   // E1..EC, EE..EF
  kED = 8,      // ED: next 80..9F (no surrogates)
  kF0 = 9,      // F0: next 90..BF (no overlong)
  kLead4 = 10,  // F1..F3
  kF4 = 11,     // F4: next 80..8F (not above U+10FFFF)
  kClasses = 12,
};

constexpr std::array<uint8_t, 256> MakeClassTable() {
  struct Range {
    int lo, hi;
    uint8_t cls;
  };
  constexpr Range kRanges[] = {
      {0x00, 0x7F, kAscii}, {0x80, 0x8F, kCont8}, {0x90, 0x9F, kCont9}, {0xA0, 0xBF, kContA},
      {0xC0, 0xC1, kBad},   {0xC2, 0xDF, kLead2}, {0xE0, 0xE0, kE0},    {0xE1, 0xEC, kLead3},
      {0xED, 0xED, kED},    {0xEE, 0xEF, kLead3}, {0xF0, 0xF0, kF0},    {0xF1, 0xF3, kLead4},
      {0xF4, 0xF4, kF4},    {0xF5, 0xFF, kBad},
  };
  std::array<uint8_t, 256> t{};
  for (const Range& r : kRanges) {
    for (int b = r.lo; b <= r.hi; ++b) t[b] = r.cls;
  }
  return t;
}
constexpr std::array<uint8_t, 256> kClassOf = MakeClassTable();

// States: 0 accept, 1 reject, then "what may come next".
enum : uint8_t {
  A = Utf8Validator::kAccept,
  R = Utf8Validator::kReject,
  kNeed1 = 2,    // one more 80..BF
  kNeed2 = 3,    // two more 80..BF
  kNeed2E0 = 4,  // A0..BF, then one more
  kNeed2ED = 5,  // 80..9F, then one more
  kNeed3 = 6,    // three more 80..BF
  kNeed3F0 = 7,  // 90..BF, then two more
  kNeed3F4 = 8,  // 80..8F, then two more
  kStates = 9,
};

// kNext[state][class].
constexpr uint8_t kNext[kStates][kClasses] = {
    //        asc  80   90   A0   bad  C2     E0        E1     ED        F0        F1     F4
    /* A  */ {A, R, R, R, R, kNeed1, kNeed2E0, kNeed2, kNeed2ED, kNeed3F0, kNeed3, kNeed3F4},
    /* R  */ {R, R, R, R, R, R, R, R, R, R, R, R},
    /* N1 */ {R, A, A, A, R, R, R, R, R, R, R, R},
    /* N2 */ {R, kNeed1, kNeed1, kNeed1, R, R, R, R, R, R, R, R},
    /* E0 */ {R, R, R, kNeed1, R, R, R, R, R, R, R, R},
    /* ED */ {R, kNeed1, kNeed1, R, R, R, R, R, R, R, R, R},
    /* N3 */ {R, kNeed2, kNeed2, kNeed2, R, R, R, R, R, R, R, R},
    /* F0 */ {R, R, kNeed2, kNeed2, R, R, R, R, R, R, R, R},
    /* F4 */ {R, kNeed2, R, R, R, R, R, R, R, R, R, R},
};

constexpr uint64_t kHighBits = 0x8080808080808080ULL;

}  // namespace

bool Utf8Validator::Feed(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  uint8_t state = state_;
  while (p < end) {
    if (state == kAccept) {
      // ASCII fast path: 8 bytes at a time while none has the high bit.
      while (end - p >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        if (word & kHighBits) break;
        p += 8;
      }
      if (p == end) break;
    }
    state = kNext[state][kClassOf[*p++]];
    if (state == kReject) break;
  }
  state_ = state;
  return state != kReject;
}

bool IsValidUtf8(std::string_view bytes) {
  Utf8Validator v;
  return v.Feed(bytes) && v.AtBoundary();
}

}  // namespace herald::ws
