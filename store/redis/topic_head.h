// store/redis/topic_head.h — a topic's head as Redis holds it (its P:{T}:m
// hash, see scripts.h), read back from the replies of `HMGET` and of
// `GET P:lost`. Loading a topic to write it and reading its head to resume
// a client both go through here, so a head means the same to both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"
#include "store/redis/reply.h"

namespace herald::redis {

struct TopicHead {
  uint64_t epoch = 0;
  uint64_t last_offset = 0;
  uint64_t first_offset = 1;  // the first offset of `epoch` held (last + 1: none)
  uint64_t bytes = 0;         // payload bytes held
  int64_t first_timestamp_us = 0;
  // P:lost when the epoch began (0 for a head written before it was kept).
  uint64_t lost_mark = 0;

  // Whether the epoch began before a master that cannot show it kept what
  // was acknowledged (`lost`: P:lost now).
  bool Unproven(uint64_t lost) const { return lost_mark < lost; }
};

// `HMGET <meta>` with these fields, in this order, reads a head.
std::vector<std::string> HeadCommand(const std::string& meta_key);

// The answer to HeadCommand: nullopt when Redis never held the topic, an
// error (naming `topic`) when the hash is not one of ours or the read failed.
Result<std::optional<TopicHead>> ParseHead(std::string_view topic, const Result<Reply>& r);

// The answer to `GET P:lost` (nil: 0).
Result<uint64_t> ParseLost(const Result<Reply>& r);

}  // namespace herald::redis
