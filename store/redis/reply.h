// store/redis/reply.h — one Redis reply, owned.
//
// hiredis frees a reply when its callback returns; a Reply is the copy that
// outlives it. Values are binary-safe (a bulk string may hold any byte).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;

namespace herald::redis {

struct Reply {
  enum class Type { kString, kStatus, kError, kInteger, kNil, kArray };

  Type type = Type::kNil;
  std::string str;  // kString, kStatus (e.g. "OK"), kError (e.g. "ERR ...")
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray

  static Reply Copy(const redisReply& r);

  bool is_error() const { return type == Type::kError; }
  bool is_status(std::string_view s) const { return type == Type::kStatus && str == s; }
  // For messages: the reply in one line, strings shortened.
  std::string Describe() const;
};

// A decimal the store wrote (a field, an answer of one of its scripts);
// nullopt for anything else (empty, signed, not ours, damaged).
std::optional<uint64_t> ParseDecimal(std::string_view s);

}  // namespace herald::redis
