// The topics a node knows: per topic its numbering (epoch, last offset), its
// history and a cached match result. Sharded so publishers to different
// topics rarely meet on a lock; each topic has its own mutex, held while a
// message is sequenced and queued, which is what gives per-topic ordering.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/relaxed.h"
#include "base/seeded_hash.h"
#include "broker/cluster_view.h"
#include "broker/dedup_table.h"
#include "broker/match_result.h"
#include "broker/topic_history.h"
#include "herald/status.h"

namespace herald {

class WorkQueue;

struct TopicState {
  TopicState(std::string n, uint64_t e, HistoryLimits limits)
      : name(std::move(n)), epoch(e), history(limits) {}

  std::mutex mu;
  const std::string name;
  uint64_t epoch;  // on a non-owner node: the owner's, as last delivered here
  uint64_t last_offset = 0;
  int64_t last_activity_us = 0;
  uint64_t messages_in = 0;  // messages sequenced here (not the offset: numbering restarts)
  uint64_t bytes_in = 0;     // their payload bytes
  bool removed = false;      // set when forgotten; a publisher holding it must look again
  // With a history store: messages appended to the store and not yet
  // committed. They hold the offsets after last_offset, which is what has
  // been committed and seen (published, kept in history, fanned out).
  uint64_t store_pending = 0;
  // An append to the store failed: the offsets after last_offset are lost,
  // so the next publish starts a new epoch rather than reuse them.
  bool store_failed = false;
  // With a history store: the first offset of this epoch the store holds,
  // as its retention last reported (it may hold less by now: a read from
  // the store reports what it no longer finds as a gap). History in memory
  // is the newest part of it.
  uint64_t store_first = 1;
  // With a history store: memory gave up older messages for the node's
  // history budget (or held only the newest at start), so history older
  // than memory's is read from the store. Until then memory's first is the
  // exact edge of retention. Cleared once the store's retention catches up.
  bool history_evicted = false;
  // With a shared store in a cluster (SharedHistoryStore): the store keeps
  // the numbering, and this node numbers the topic only once it has loaded
  // the topic's head during its current ownership.
  enum class SharedLoad : uint8_t { kNo, kLoading, kYes };
  SharedLoad shared_load = SharedLoad::kNo;
  // Bumped whenever what this node numbered stops counting (ownership moved,
  // a reload): commits queued under an older numbering are acknowledged to
  // their publishers but not shown (the store's head says what follows).
  uint64_t numbering = 0;
  // Run once the load in progress ends (true: loaded), topic lock not held.
  std::vector<std::function<void(bool)>> load_waiters;
  // Publishes made while the load is in progress, numbered (in order) as it
  // ends; their payloads are charged to BrokerOptions::max_held_publish_bytes.
  struct HeldPublish {
    std::shared_ptr<Message> message;
    PublishCallback done;
  };
  std::vector<HeldPublish> held_publishes;
  // A non-owner filling a hole in what the owner sent from the shared store:
  // the owner's later messages wait here, in order, behind the read.
  bool catching_up = false;
  // The read could not be made or failed (the store is down or busy): it
  // is tried again at the owner's next message or the next maintenance
  // sweep, rather than the hole told as a gap.
  bool catch_up_stalled = false;
  std::vector<MessagePtr> held_live;
  // On a non-owner: how many times this node had announced new interest
  // when the owner's last message of the topic arrived (Broker::Impl::
  // interest_seq_; see ReceivesShared).
  uint64_t mirrored_at_seq = 0;
  // Message ids seen within the dedup window; null until the first one.
  std::unique_ptr<DedupTable> dedup;
  TopicHistory history;
  MatchResultPtr match;  // valid while match_generation == index generation
  uint64_t match_generation = ~uint64_t{0};
  // Who owns the topic and which epoch local subscribers saw: ClusterView's
  // to read and write.
  TopicClusterSlot cluster;
  // The work queues whose pattern matches the topic: allocated once the
  // node has a queue (kept small: most topics of most nodes have none).
  struct Queues {
    std::vector<std::shared_ptr<WorkQueue>> matching;
    uint64_t generation = 0;  // valid while QueueRegistry::generation() is this
  };
  std::unique_ptr<Queues> queues;
};

using TopicStatePtr = std::shared_ptr<TopicState>;

class TopicTable {
 public:
  using Factory = std::function<TopicStatePtr(std::string_view name)>;

  TopicTable(size_t max_topics, size_t max_bytes)
      : max_topics_(max_topics), max_bytes_(max_bytes) {}
  // A reload: later topics are counted against these; the topics held stay
  // (lowered bounds refuse new topics until there is room again).
  void set_limits(size_t max_topics, size_t max_bytes) {
    max_topics_.store(max_topics);
    max_bytes_.store(max_bytes);
  }

  // Memory one topic's state holds, history aside (that has its own budget):
  // the TopicState, its table entry, its name twice and its match result.
  static size_t Cost(std::string_view name);

  TopicStatePtr Find(std::string_view name) const;
  // Finds or creates the topic; kTooManyTopics when the table already holds
  // max_topics, or when the new topic's Cost would take the table's bytes
  // past max_bytes.
  Result<TopicStatePtr> GetOrCreate(std::string_view name, const Factory& make);
  // Calls `visit` for every topic (shard lock held, topic lock not);
  // removes those for which it returns true.
  void RemoveIf(const std::function<bool(TopicState&)>& visit);
  // Totals over every topic, including the ones already forgotten (each
  // shard keeps theirs), so the counters never step back.
  struct Totals {
    uint64_t messages_in = 0;
    uint64_t bytes_in = 0;
    uint64_t history_messages = 0;
  };
  Totals Sum() const;
  size_t size() const { return count_.load(std::memory_order_relaxed); }
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  // A name with its hash, computed once per lookup for both the shard and
  // the shard's map (SipHash is the larger part of a lookup).
  struct Hashed {
    std::string_view name;
    size_t hash;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return SeededHash{}(s); }
    size_t operator()(const Hashed& k) const { return k.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    bool operator()(const Hashed& a, std::string_view b) const { return a.name == b; }
    bool operator()(std::string_view a, const Hashed& b) const { return a == b.name; }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, TopicStatePtr, KeyHash, KeyEq> topics;
    uint64_t forgotten_messages = 0;
    uint64_t forgotten_bytes = 0;
  };
  static constexpr size_t kShards = 64;

  // Keyed hash (base/seeded_hash.h): topic names are client-chosen. The
  // shard uses the top bits, the shard's map the low ones.
  static Hashed Hash(std::string_view name) { return {name, SeededHash{}(name)}; }
  Shard& ShardFor(const Hashed& key) const { return shards_[(key.hash >> 58) % kShards]; }

  Relaxed<size_t> max_topics_;
  Relaxed<size_t> max_bytes_;
  std::atomic<size_t> count_{0};
  std::atomic<size_t> bytes_{0};
  std::atomic<uint64_t> refused_{0};
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace herald
