#include "broker/topic_table.h"

#include "broker/memory_cost.h"

namespace herald {

size_t TopicTable::Cost(std::string_view name) {
  // A hash map node (next pointer, key, value, cached hash) plus about one
  // bucket pointer per entry.
  constexpr size_t kEntry =
      MallocBytes(sizeof(void*) + sizeof(std::string) + sizeof(TopicStatePtr) + sizeof(size_t)) +
      sizeof(void*);
  // The match result a topic keeps (MatchFor), even with no subscriber.
  constexpr size_t kMatch = SharedBytesOf<MatchResult>();
  return SharedBytesOf<TopicState>() + kEntry + kMatch + 2 * StringHeapBytes(name.size());
}

TopicStatePtr TopicTable::Find(std::string_view name) const {
  const Hashed key = Hash(name);
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.topics.find(key);
  return it == shard.topics.end() ? nullptr : it->second;
}

Result<TopicStatePtr> TopicTable::GetOrCreate(std::string_view name, const Factory& make) {
  const Hashed key = Hash(name);
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  if (auto it = shard.topics.find(key); it != shard.topics.end()) return it->second;
  if (const size_t max = max_topics_; count_.load(std::memory_order_relaxed) >= max) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return Status(ErrorCode::kTooManyTopics,
                  "the broker holds the maximum of " + std::to_string(max) + " topics");
  }
  // Reserve first, so racing creators on other shards cannot overshoot.
  const size_t cost = Cost(name);
  if (const size_t max = max_bytes_;
      bytes_.fetch_add(cost, std::memory_order_relaxed) + cost > max) {
    bytes_.fetch_sub(cost, std::memory_order_relaxed);
    refused_.fetch_add(1, std::memory_order_relaxed);
    return Status(ErrorCode::kTooManyTopics,
                  "topic state is at its memory limit of " + std::to_string(max) +
                      " bytes (max_topic_bytes); publish to an existing topic or wait for idle "
                      "topics to expire");
  }
  TopicStatePtr state = make(name);
  shard.topics.emplace(std::string(name), state);
  count_.fetch_add(1, std::memory_order_relaxed);
  return state;
}

void TopicTable::RemoveIf(const std::function<bool(TopicState&)>& visit) {
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    for (auto it = shard.topics.begin(); it != shard.topics.end();) {
      if (visit(*it->second)) {
        shard.forgotten_messages += it->second->messages_in;
        shard.forgotten_bytes += it->second->bytes_in;
        bytes_.fetch_sub(Cost(it->first), std::memory_order_relaxed);
        it = shard.topics.erase(it);
        count_.fetch_sub(1, std::memory_order_relaxed);
      } else {
        ++it;
      }
    }
  }
}

TopicTable::Totals TopicTable::Sum() const {
  Totals t;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    t.messages_in += shard.forgotten_messages;
    t.bytes_in += shard.forgotten_bytes;
    for (auto& [name, state] : shard.topics) {
      std::lock_guard topic_lock(state->mu);
      t.messages_in += state->messages_in;
      t.bytes_in += state->bytes_in;
      t.history_messages += state->history.size();
    }
  }
  return t;
}

}  // namespace herald
