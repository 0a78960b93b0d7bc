#include "store/redis/topic_head.h"

namespace herald::redis {

std::vector<std::string> HeadCommand(const std::string& meta_key) {
  return {"HMGET", meta_key, "e", "o", "f", "b", "ft", "g"};
}

Result<std::optional<TopicHead>> ParseHead(std::string_view topic, const Result<Reply>& r) {
  if (!r.ok()) return r.status();
  const bool shaped = r->type == Reply::Type::kArray && r->elements.size() == 6;
  if (shaped && r->elements[0].type == Reply::Type::kNil) return std::optional<TopicHead>();
  std::optional<uint64_t> v[5];
  if (shaped && r->elements[0].type == Reply::Type::kString) {
    for (size_t k = 0; k < 5; ++k) v[k] = ParseDecimal(r->elements[k].str);
  }
  if (!v[0] || !v[1] || !v[2] || !v[3] || !v[4] || *v[2] < 1) {
    return Status(ErrorCode::kInternal, "topic '" + std::string(topic) +
                                            "' has a damaged head in redis (" + r->Describe() +
                                            "): not a Herald store?");
  }
  TopicHead h;
  h.epoch = *v[0];
  h.last_offset = *v[1];
  h.first_offset = *v[2];
  h.bytes = *v[3];
  h.first_timestamp_us = static_cast<int64_t>(*v[4]);
  // A head from before 'g' was kept counts as 0.
  h.lost_mark = ParseDecimal(r->elements[5].str).value_or(0);
  return std::optional<TopicHead>(h);
}

Result<uint64_t> ParseLost(const Result<Reply>& r) {
  if (!r.ok()) return r.status();
  if (r->type == Reply::Type::kNil) return uint64_t{0};
  std::optional<uint64_t> n = r->type == Reply::Type::kString ? ParseDecimal(r->str) : std::nullopt;
  if (!n) {
    return Status(ErrorCode::kInternal, "redis holds a damaged lost count (" + r->Describe() + ")");
  }
  return *n;
}

}  // namespace herald::redis
