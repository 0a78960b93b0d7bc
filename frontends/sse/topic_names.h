// frontends/sse/topic_names.h — the node's memory of topic names its SSE
// event ids shortened to a hash, so a reconnecting stream can resume those
// topics from history at once.
//
// Bounded: at most `capacity` names, the oldest forgotten first. A hash not
// (or no longer) known here — the id came from another node, from before a
// restart, or was pushed out — is resolved by the stream itself when the
// topic's next message arrives (sse_stream.h). Any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace herald::sse {

class TopicNames {
 public:
  explicit TopicNames(size_t capacity) : capacity_(capacity) {}

  // Remembers `topic` under its TopicHash (`hash`).
  void Remember(uint64_t hash, std::string_view topic);
  std::optional<std::string> Find(uint64_t hash) const;
  size_t size() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::string> names_;
  std::deque<uint64_t> order_;  // insertion order, oldest first
};

}  // namespace herald::sse
