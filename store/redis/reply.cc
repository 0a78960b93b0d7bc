#include "store/redis/reply.h"

#include <hiredis/hiredis.h>

#include <charconv>

namespace herald::redis {

Reply Reply::Copy(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(Copy(*r.element[i]));
      break;
    default:  // REDIS_REPLY_NIL; RESP3 types are never asked for (no HELLO 3)
      out.type = Type::kNil;
      break;
  }
  return out;
}

std::string Reply::Describe() const {
  constexpr size_t kMax = 120;
  auto shortened = [](const std::string& s) {
    return s.size() <= kMax ? s : s.substr(0, kMax) + "...";
  };
  switch (type) {
    case Type::kString:
      return "\"" + shortened(str) + "\"";
    case Type::kStatus:
      return shortened(str);
    case Type::kError:
      return "error: " + shortened(str);
    case Type::kInteger:
      return std::to_string(integer);
    case Type::kNil:
      return "nil";
    case Type::kArray: {
      std::string s = "[";
      for (size_t i = 0; i < elements.size() && s.size() < kMax; ++i) {
        if (i) s += ", ";
        s += elements[i].Describe();
      }
      return s + "]";
    }
  }
  return "?";
}

std::optional<uint64_t> ParseDecimal(std::string_view s) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace herald::redis
