#include "herald/topic.h"

#include <array>
#include <cstdint>
#include <string>

namespace herald {
namespace {

std::string At(size_t token_index) { return " (token " + std::to_string(token_index + 1) + ")"; }

// Length of the UTF-8 sequence starting with `lead`, or 0 if it cannot start one.
size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Validates one UTF-8 sequence at s[i] (RFC 3629 §4: no overlongs, no
// surrogates, nothing above U+10FFFF). Returns its length or 0.
size_t ValidUtf8At(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t n = Utf8Length(lead);
  if (n <= 1 || i + n > s.size()) return n == 1 ? 1 : 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (lead == 0xE0 && second < 0xA0) return 0;  // overlong
  if (lead == 0xED && second > 0x9F) return 0;  // surrogate
  if (lead == 0xF0 && second < 0x90) return 0;  // overlong
  if (lead == 0xF4 && second > 0x8F) return 0;  // above U+10FFFF
  return n;
}

Status Invalid(std::string message) { return {ErrorCode::kInvalidTopic, std::move(message)}; }

// Byte classes for the single validation pass; plain bytes are the common case
// and cost one table lookup each.
enum ByteClass : uint8_t { kPlain, kDot, kWildcard, kControl, kSpace, kHigh };

constexpr std::array<uint8_t, 256> MakeClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = kControl;
  t[0x7F] = kControl;
  t[' '] = kSpace;
  t['.'] = kDot;
  t['*'] = kWildcard;
  t['>'] = kWildcard;
  for (int c = 0x80; c < 0x100; ++c) t[c] = kHigh;
  return t;
}
constexpr std::array<uint8_t, 256> kClasses = MakeClasses();

Status Validate(std::string_view name, const TopicLimits& limits, bool allow_wildcards) {
  const char* what = allow_wildcards ? "pattern" : "topic";
  if (name.empty()) return Invalid(std::string("empty ") + what);
  if (name.size() > limits.max_length) {
    return Invalid(std::string(what) + " is " + std::to_string(name.size()) +
                   " bytes, over the limit of " + std::to_string(limits.max_length));
  }
  size_t token = 0;        // index of the current token
  size_t token_start = 0;  // where it starts
  const size_t n = name.size();
  for (size_t i = 0; i < n;) {
    const auto c = static_cast<unsigned char>(name[i]);
    switch (kClasses[c]) {
      case kPlain:
        ++i;
        continue;
      case kDot:
        if (i == token_start) return Invalid("empty token" + At(token));
        if (++token >= limits.max_tokens) {
          return Invalid(std::string(what) + " has more than " + std::to_string(limits.max_tokens) +
                         " tokens");
        }
        token_start = ++i;
        continue;
      case kWildcard: {
        const bool whole = i == token_start && (i + 1 == n || name[i + 1] == '.');
        if (!whole) return Invalid("'*' and '>' must be whole tokens" + At(token));
        if (!allow_wildcards) {
          return Invalid(std::string("wildcard '") + name[i] + "' in a topic" + At(token) +
                         "; wildcards are for subscription patterns");
        }
        if (c == '>' && i + 1 != n) return Invalid("'>' must be the last token" + At(token));
        ++i;
        continue;
      }
      case kControl:
        return Invalid("control character" + At(token));
      case kSpace:
        return Invalid("whitespace" + At(token));
      default: {
        const size_t len = ValidUtf8At(name, i);
        if (len == 0) return Invalid("invalid UTF-8" + At(token));
        i += len;
      }
    }
  }
  if (token_start == n) return Invalid("empty token" + At(token));
  return Status::Ok();
}

}  // namespace

Status ValidateTopic(std::string_view topic, const TopicLimits& limits) {
  return Validate(topic, limits, false);
}

Status ValidatePattern(std::string_view pattern, const TopicLimits& limits) {
  return Validate(pattern, limits, true);
}

bool PatternMatches(std::string_view pattern, std::string_view topic) {
  // Only a literal first token reaches the nodes' own topics.
  if (IsSystemTopic(topic) && !IsSystemTopic(pattern)) return false;
  for (;;) {
    const size_t pdot = pattern.find('.');
    const size_t tdot = topic.find('.');
    std::string_view ptok = pattern.substr(0, pdot);
    std::string_view ttok = topic.substr(0, tdot);
    if (ptok == ">") return true;  // one or more tokens remain in topic
    if (ptok != "*" && ptok != ttok) return false;
    if (pdot == std::string_view::npos || tdot == std::string_view::npos) {
      return pdot == std::string_view::npos && tdot == std::string_view::npos;
    }
    pattern.remove_prefix(pdot + 1);
    topic.remove_prefix(tdot + 1);
  }
}

}  // namespace herald
