// The subscription index: a token trie with wildcard slots plus a cache of
// topic -> MatchResult.
//
// The trie has one level per token; each node has literal children, a `*`
// child, and the subscriptions whose pattern ends here or ends in `>` here.
// Matching walks literal and `*` branches together, so its cost grows with the
// topic's depth and the number of wildcard branches, not with the number of
// subscriptions. The cache answers repeated topics with one hash lookup.
//
// A subscription change must cost what it touches, never the cache's size
// (a client can subscribe and unsubscribe in a loop, under the trie's
// exclusive lock): a literal pattern matches exactly one topic, so it erases
// that one cache entry; a wildcard pattern whose first token is literal
// (`chat.*.msgs`, `chat.>`) can only match topics under that first token, so
// it bumps that token's scope generation; a pattern starting with a wildcard
// bumps the generation of the whole cache. Entries filled under an older
// generation are stale and are dropped when next looked up, so the work of a
// change is O(1) and the re-walks it causes are paid one per hot topic by
// the publishers that need them (no more than with the cache off).
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

#include "base/seeded_hash.h"
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
  size_t cache_size() const;      // entries, stale ones not yet dropped included
  uint64_t cache_misses() const;  // Match calls that walked the trie (cache on)
  void set_cache_enabled(bool enabled);

 private:
  struct Node;
  // Cached topics that share a first token: a wildcard change under that
  // token invalidates them all at once by bumping `generation`.
  struct Scope {
    uint64_t generation = 0;
    size_t entries = 0;  // cache entries pointing here; erased at 0
  };
  using Scopes = std::unordered_map<std::string, Scope, SeededHash, std::equal_to<>>;
  struct Entry {
    MatchResultPtr result;
    // Pointer, not iterator: a rehash invalidates iterators but never moves
    // the elements themselves.
    Scopes::value_type* scope;
    uint64_t scope_generation = 0;
    uint64_t wide_generation = 0;
  };
  using Cache = std::unordered_map<std::string, Entry, SeededHash, std::equal_to<>>;

  void InvalidateLocked(std::string_view pattern);
  // Cache lock held.
  bool FreshLocked(const Entry& e) const {
    return e.wide_generation == wide_generation_ &&
           e.scope_generation == e.scope->second.generation;
  }
  void EraseLocked(Cache::iterator it);
  void InsertLocked(std::string_view topic, MatchResultPtr result);

  mutable std::shared_mutex trie_mu_;
  std::unique_ptr<Node> root_;
  size_t count_ = 0;

  mutable std::mutex cache_mu_;
  Cache cache_;
  Scopes scopes_;                 // by first token
  uint64_t wide_generation_ = 0;  // bumped by patterns that start with a wildcard
  size_t cache_capacity_;
  bool cache_enabled_ = true;
  uint64_t cache_misses_ = 0;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace herald
