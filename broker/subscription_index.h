// The subscription index: a token trie with wildcard slots plus a cache of
// topic -> MatchResult.
//
// The trie has one level per token; each node has literal children, a `*`
// child, and the subscriptions whose pattern ends here or ends in `>` here.
// Matching walks literal and `*` branches together, so its cost grows with the
// topic's depth and the number of wildcard branches, not with the number of
// subscriptions. The cache answers repeated topics with one hash lookup; a
// subscription change evicts only the cached topics its pattern matches (as
// NATS's sublist does), so unrelated hot topics stay cached.
//
// Thread rule: all methods are safe from any thread. Match takes a shared lock
// on a miss and a short exclusive one on the cache.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/match_result.h"
#include "broker/subscription.h"

namespace herald {

class SubscriptionIndex {
 public:
  explicit SubscriptionIndex(size_t cache_capacity = 16384);
  ~SubscriptionIndex();

  // `sub->pattern` must be a valid pattern.
  void Add(const SubscriptionPtr& sub);
  // Returns false if `sub` was not in the index.
  bool Remove(const SubscriptionPtr& sub);

  // The subscribers of `topic` (a valid topic), cached.
  MatchResultPtr Match(std::string_view topic);
  // The same without touching the cache (benchmarks, tests).
  MatchResultPtr MatchUncached(std::string_view topic) const;

  // Changes on every Add/Remove; lets callers keep their own cached results.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  size_t size() const;
  size_t cache_size() const;
  void set_cache_enabled(bool enabled);

 private:
  struct Node;
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Cache = std::unordered_map<std::string, MatchResultPtr, TransparentHash, std::equal_to<>>;

  void InvalidateLocked(std::string_view pattern);

  mutable std::shared_mutex trie_mu_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;

  mutable std::mutex cache_mu_;
  Cache cache_;
  size_t cache_capacity_;
  bool cache_enabled_ = true;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace herald
