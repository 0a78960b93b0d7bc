#include "broker/subscription_index.h"

#include <algorithm>
#include <array>

#include "broker/token_map.h"
#include "herald/topic.h"

namespace herald {
namespace {

// Splits a valid topic into tokens without allocating. Topic limits keep the
// depth small; deeper names than kMaxDepth never reach here (validated).
constexpr size_t kMaxDepth = 64;
struct Tokens {
  std::array<std::string_view, kMaxDepth> tok;
  size_t n = 0;
};

void Split(std::string_view s, Tokens& out) {
  out.n = 0;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      if (out.n < kMaxDepth) out.tok[out.n++] = s.substr(start, i - start);
      start = i + 1;
    }
  }
}

}  // namespace

struct SubscriptionIndex::Node {
  struct Group {
    std::string name;
    std::vector<SubscriptionPtr> members;
    std::shared_ptr<QueueGroupCursor> cursor = std::make_shared<QueueGroupCursor>();
  };
  // Subscriptions attached at one point of the trie.
  struct Subs {
    std::vector<SubscriptionPtr> plain;
    // plain[i]->inbox.get(), kept beside the list so a match groups
    // subscribers by inbox without touching each Subscription.
    std::vector<DeliveryInbox*> plain_inbox;
    std::vector<Group> groups;
    bool empty() const { return plain.empty() && groups.empty(); }
  };

  TokenMap<Node> literal;
  std::unique_ptr<Node> star;
  Subs here;  // patterns ending at this node
  Subs tail;  // patterns ending with '>' after this node

  bool empty() const { return literal.empty() && !star && here.empty() && tail.empty(); }
};

const SubscriptionPtr* MatchResult::PickMember(size_t g, const Subscription* exclude) const {
  const GroupSlice& group = groups[g];
  const size_t n = group.members.size();
  const uint64_t start = group.cursor->next.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    const SubscriptionPtr& m = group.members[(start + i) % n];
    if (m.get() != exclude && m->active.load(std::memory_order_acquire)) return &m;
  }
  return nullptr;
}

namespace {

// Collects subscriptions into a MatchResult, one slice per inbox. The walk
// only records which subscription lists it reached; Finish() then sizes every
// vector exactly before filling it (same order as adding one by one), so a
// match costs a handful of allocations instead of one per vector growth.
// A vector that keeps its first N elements inline (no allocation for the
// common case of a few subscription lists and inboxes per match).
template <typename T, size_t N>
class SmallVec {
 public:
  void push_back(const T& v) {
    if (n_ < N) {
      inline_[n_++] = v;
    } else {
      overflow_.push_back(v);
      ++n_;
    }
  }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return i < N ? inline_[i] : overflow_[i - N]; }
  const T& operator[](size_t i) const { return i < N ? inline_[i] : overflow_[i - N]; }

 private:
  std::array<T, N> inline_{};
  std::vector<T> overflow_;
  size_t n_ = 0;
};

template <typename Subs>
class ResultBuilder {
 public:
  void Add(const Subs& subs) {
    if (subs.empty()) return;
    owners_ += subs.plain.size();
    for (DeliveryInbox* inbox : subs.plain_inbox) CountFor(inbox);
    groups_ += subs.groups.size();
    found_.push_back(&subs);
  }

  MatchResultPtr Finish() {
    auto result = std::make_shared<MatchResult>();
    result->owners.reserve(owners_);
    result->groups.reserve(groups_);
    result->plain.resize(inboxes_.size());
    for (size_t i = 0; i < inboxes_.size(); ++i) {
      result->plain[i].inbox = inboxes_[i].inbox;
      result->plain[i].subscriptions.reserve(inboxes_[i].count);
    }
    for (size_t i = 0; i < found_.size(); ++i) Fill(*found_[i], *result);
    return result;
  }

 private:
  struct InboxCount {
    DeliveryInbox* inbox;
    size_t count;
  };

  // Few inboxes per process (one per worker thread), so a linear scan wins.
  // Slices are numbered in first-seen order, as before.
  void CountFor(DeliveryInbox* inbox) {
    for (size_t i = 0; i < inboxes_.size(); ++i) {
      if (inboxes_[i].inbox == inbox) {
        ++inboxes_[i].count;
        return;
      }
    }
    inboxes_.push_back({inbox, 1});
  }

  static void Fill(const Subs& subs, MatchResult& r) {
    for (size_t i = 0; i < subs.plain.size(); ++i) {
      for (auto& slice : r.plain) {
        if (slice.inbox == subs.plain_inbox[i]) {
          slice.subscriptions.push_back(subs.plain[i].get());
          break;
        }
      }
      r.owners.push_back(subs.plain[i]);
    }
    for (const auto& g : subs.groups) {
      MatchResult::GroupSlice slice;
      slice.cursor = g.cursor;
      slice.members = g.members;
      r.groups.push_back(std::move(slice));
    }
  }

  size_t owners_ = 0;
  size_t groups_ = 0;
  SmallVec<InboxCount, 8> inboxes_;
  SmallVec<const Subs*, 16> found_;
};

template <typename NodeT, typename Builder>
void Collect(const NodeT* node, const Tokens& t, size_t level, Builder& out) {
  if (level == t.n) {
    out.Add(node->here);
    return;
  }
  out.Add(node->tail);  // '>' needs at least one more token: there is one
  if (const NodeT* child = node->literal.Find(t.tok[level])) Collect(child, t, level + 1, out);
  if (node->star) Collect(node->star.get(), t, level + 1, out);
}

// Collect from the root, where the nodes' own topics (herald/topic.h) are
// reached only by a literal first token, never by a wildcard.
template <typename NodeT, typename Builder>
void CollectFromRoot(const NodeT* root, std::string_view topic, const Tokens& t, Builder& out) {
  if (!IsSystemTopic(topic)) return Collect(root, t, 0, out);
  if (const NodeT* child = root->literal.Find(t.tok[0])) Collect(child, t, 1, out);
}

template <typename Subs>
void AddTo(Subs& subs, const SubscriptionPtr& sub) {
  if (sub->queue_group.empty()) {
    subs.plain.push_back(sub);
    subs.plain_inbox.push_back(sub->inbox);
    return;
  }
  for (auto& g : subs.groups) {
    if (g.name == sub->queue_group) {
      g.members.push_back(sub);
      return;
    }
  }
  subs.groups.push_back({sub->queue_group, {sub}, std::make_shared<QueueGroupCursor>()});
}

template <typename Subs>
bool RemoveFrom(Subs& subs, const SubscriptionPtr& sub) {
  auto erase = [&](std::vector<SubscriptionPtr>& v) {
    auto it = std::find(v.begin(), v.end(), sub);
    if (it == v.end()) return false;
    v.erase(it);  // keep order: round-robin fairness depends on stable positions
    return true;
  };
  if (sub->queue_group.empty()) {
    auto it = std::find(subs.plain.begin(), subs.plain.end(), sub);
    if (it == subs.plain.end()) return false;
    subs.plain_inbox.erase(subs.plain_inbox.begin() + (it - subs.plain.begin()));
    subs.plain.erase(it);
    return true;
  }
  for (auto g = subs.groups.begin(); g != subs.groups.end(); ++g) {
    if (g->name != sub->queue_group) continue;
    if (!erase(g->members)) return false;
    if (g->members.empty()) subs.groups.erase(g);
    return true;
  }
  return false;
}

}  // namespace

SubscriptionIndex::SubscriptionIndex(size_t cache_capacity)
    : root_(std::make_unique<Node>()), cache_capacity_(cache_capacity) {}

SubscriptionIndex::~SubscriptionIndex() = default;

void SubscriptionIndex::Add(const SubscriptionPtr& sub) {
  Tokens t;
  Split(sub->pattern, t);
  std::unique_lock lock(trie_mu_);
  Node* node = root_.get();
  for (size_t i = 0; i < t.n; ++i) {
    if (t.tok[i] == ">") {
      AddTo(node->tail, sub);
      node = nullptr;
      break;
    }
    if (t.tok[i] == "*") {
      if (!node->star) node->star = std::make_unique<Node>();
      node = node->star.get();
      continue;
    }
    node = node->literal.FindOrInsert(t.tok[i]);
  }
  if (node) AddTo(node->here, sub);
  ++count_;
  InvalidateLocked(sub->pattern);
}

bool SubscriptionIndex::Remove(const SubscriptionPtr& sub) {
  Tokens t;
  Split(sub->pattern, t);
  std::unique_lock lock(trie_mu_);
  // Walk down remembering the path so empty nodes can be pruned on the way up.
  std::array<Node*, kMaxDepth + 1> path{};
  Node* node = root_.get();
  path[0] = node;
  bool removed = false;
  size_t depth = 0;
  for (size_t i = 0; i <= t.n; ++i) {
    if (i == t.n) {
      removed = RemoveFrom(node->here, sub);
      break;
    }
    if (t.tok[i] == ">") {
      removed = RemoveFrom(node->tail, sub);
      break;
    }
    Node* next = nullptr;
    if (t.tok[i] == "*") {
      next = node->star.get();
    } else {
      next = node->literal.Find(t.tok[i]);
    }
    if (!next) break;
    node = next;
    path[++depth] = node;
  }
  if (!removed) return false;
  for (size_t d = depth; d > 0 && path[d]->empty(); --d) {
    Node* parent = path[d - 1];
    if (parent->star.get() == path[d]) {
      parent->star.reset();
    } else {
      parent->literal.Erase(t.tok[d - 1]);
    }
  }
  --count_;
  InvalidateLocked(sub->pattern);
  return true;
}

void SubscriptionIndex::InvalidateLocked(std::string_view pattern) {
  std::lock_guard cache_lock(cache_mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  const std::string_view first = pattern.substr(0, pattern.find('.'));
  if (first == "*" || first == ">") {
    ++wide_generation_;
  } else if (pattern.find_first_of("*>") == std::string_view::npos) {
    // Literal: '*' and '>' are whole tokens (validated), so their absence
    // means the pattern matches itself only.
    if (auto it = cache_.find(pattern); it != cache_.end()) EraseLocked(it);
  } else if (auto scope = scopes_.find(first); scope != scopes_.end()) {
    ++scope->second.generation;
  }
}

void SubscriptionIndex::EraseLocked(Cache::iterator it) {
  Scopes::value_type* scope = it->second.scope;
  cache_.erase(it);
  if (--scope->second.entries == 0) scopes_.erase(scopes_.find(std::string_view(scope->first)));
}

void SubscriptionIndex::InsertLocked(std::string_view topic, MatchResultPtr result) {
  if (auto it = cache_.find(topic); it != cache_.end()) EraseLocked(it);  // a racing fill
  if (cache_.size() >= cache_capacity_) {
    cache_.clear();
    scopes_.clear();
  }
  const std::string_view first = topic.substr(0, topic.find('.'));
  auto scope = scopes_.find(first);
  if (scope == scopes_.end()) scope = scopes_.emplace(std::string(first), Scope{}).first;
  ++scope->second.entries;
  cache_.emplace(std::string(topic),
                 Entry{std::move(result), &*scope, scope->second.generation, wide_generation_});
}

MatchResultPtr SubscriptionIndex::MatchUncached(std::string_view topic) const {
  Tokens t;
  Split(topic, t);
  ResultBuilder<Node::Subs> builder;
  std::shared_lock lock(trie_mu_);
  CollectFromRoot(root_.get(), topic, t, builder);
  return builder.Finish();
}

MatchResultPtr SubscriptionIndex::Match(std::string_view topic) {
  {
    std::lock_guard cache_lock(cache_mu_);
    if (!cache_enabled_) {
      // fall through to an uncached walk below
    } else if (auto it = cache_.find(topic); it != cache_.end()) {
      if (FreshLocked(it->second)) return it->second.result;
      EraseLocked(it);  // invalidated by a wildcard change since it was filled
    }
    if (cache_enabled_) ++cache_misses_;
  }
  uint64_t generation;
  MatchResultPtr result;
  {
    Tokens t;
    Split(topic, t);
    ResultBuilder<Node::Subs> builder;
    std::shared_lock lock(trie_mu_);
    generation = generation_.load(std::memory_order_acquire);
    CollectFromRoot(root_.get(), topic, t, builder);
    result = builder.Finish();
  }
  std::lock_guard cache_lock(cache_mu_);
  // A change since the walk may have invalidated what we found: do not cache it.
  if (cache_enabled_ && generation == generation_.load(std::memory_order_acquire)) {
    InsertLocked(topic, result);
  }
  return result;
}

size_t SubscriptionIndex::size() const {
  std::shared_lock lock(trie_mu_);
  return count_;
}

size_t SubscriptionIndex::cache_size() const {
  std::lock_guard cache_lock(cache_mu_);
  return cache_.size();
}

uint64_t SubscriptionIndex::cache_misses() const {
  std::lock_guard cache_lock(cache_mu_);
  return cache_misses_;
}

void SubscriptionIndex::set_cache_enabled(bool enabled) {
  std::lock_guard cache_lock(cache_mu_);
  cache_enabled_ = enabled;
  cache_.clear();
  scopes_.clear();
}

}  // namespace herald
