#include "herald/topic.h"

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

Status Validate(std::string_view name, const TopicLimits& limits, bool allow_wildcards) {
  const char* what = allow_wildcards ? "pattern" : "topic";
  if (name.empty()) return Invalid(std::string("empty ") + what);
  if (name.size() > limits.max_length) {
    return Invalid(std::string(what) + " is " + std::to_string(name.size()) +
                   " bytes, over the limit of " + std::to_string(limits.max_length));
  }
  size_t token = 0;
  size_t token_start = 0;
  for (size_t i = 0; i <= name.size();) {
    if (i == name.size() || name[i] == '.') {
      std::string_view tok = name.substr(token_start, i - token_start);
      if (tok.empty()) return Invalid("empty token" + At(token));
      const bool last = i == name.size();
      if (tok == "*" || tok == ">") {
        if (!allow_wildcards) {
          return Invalid("wildcard '" + std::string(tok) + "' in a topic" + At(token) +
                         "; wildcards are for subscription patterns");
        }
        if (tok == ">" && !last) return Invalid("'>' must be the last token" + At(token));
      } else if (tok.find_first_of("*>") != std::string_view::npos) {
        return Invalid("'*' and '>' must be whole tokens" + At(token));
      }
      ++token;
      if (token > limits.max_tokens) {
        return Invalid(std::string(what) + " has more than " + std::to_string(limits.max_tokens) +
                       " tokens");
      }
      if (last) break;
      token_start = ++i;
      continue;
    }
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) return Invalid("control character" + At(token));
    if (c == ' ') return Invalid("whitespace" + At(token));
    const size_t n = ValidUtf8At(name, i);
    if (n == 0) return Invalid("invalid UTF-8" + At(token));
    i += n;
  }
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
