// herald/topic.h — topic names and subscription patterns.
//
// A topic is a name of dot-separated tokens: `chat.room42.msgs`. A pattern
// may also use `*` (exactly one token) and `>` (one or more trailing tokens,
// last only): `chat.*.msgs`, `chat.>`. Tokens are non-empty UTF-8 with no
// whitespace or control characters; `*` and `>` are only ever whole tokens.
// Topics starting with `_INBOX.` are reserved for request/reply inboxes.
// Topics starting with `_HERALD.` are the nodes' own (the readiness canaries,
// herald/server.h): clients may neither publish nor subscribe there, and,
// as with MQTT's `$` topics, a wildcard in a pattern's first token does not
// match them (`>` and `*.x` never see them; `_HERALD.>` does).
//
//   if (auto s = herald::ValidateTopic(name, limits); !s.ok()) reply_error(s);
#pragma once

#include <cstddef>
#include <string_view>

#include "herald/status.h"

namespace herald {

struct TopicLimits {
  size_t max_length = 256;  // bytes, whole name
  size_t max_tokens = 16;   // dot-separated tokens
};

// A concrete topic, as published to: no wildcards.
Status ValidateTopic(std::string_view topic, const TopicLimits& limits = {});
// A subscription pattern: wildcards allowed.
Status ValidatePattern(std::string_view pattern, const TopicLimits& limits = {});
// True when `pattern` (valid) matches `topic` (valid). The reference matcher:
// simple and slow, used by tests and history rules.
bool PatternMatches(std::string_view pattern, std::string_view topic);

inline constexpr std::string_view kInboxPrefix = "_INBOX.";
inline constexpr std::string_view kSystemPrefix = "_HERALD.";
inline bool IsSystemTopic(std::string_view topic) { return topic.starts_with(kSystemPrefix); }

}  // namespace herald
