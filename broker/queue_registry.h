// The work queues of a node: by name, by membership, and by the topics they
// take jobs from.
//
// A publish asks Matching(topic) for the queues its message goes into; the
// answer is cached on the topic and valid while generation() is unchanged,
// so a node with no queue pays one atomic load per publish. Definitions are
// checked here (one rule for the config, the APIs and embedding).
//
// Thread rule: any thread. The registry's lock is never held while a
// queue's is taken for long (it hands out shared pointers).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/relaxed.h"
#include "broker/work_queue.h"
#include "herald/topic.h"

namespace herald {

using WorkQueuePtr = std::shared_ptr<WorkQueue>;

// The places a message holds in its topic's work queues between its
// sequencing and its showing (WorkQueue::Reserve).
struct JobPlace {
  WorkQueuePtr queue;
  uint64_t seq = 0;
};
using JobPlaces = std::vector<JobPlace>;

// Handle nonces (WorkQueue): SipHash-2-4 of a counter under a key drawn
// from the OS, so one client's handles say nothing of another's.
std::function<uint64_t()> RandomHandleNonce();

// Whether `options` define a valid queue (name, pattern, bounds, dead
// letters); invalid_argument or invalid_topic naming the field if not.
Status ValidateQueueOptions(const QueueOptions& options, const TopicLimits& limits);

class QueueRegistry {
 public:
  // `store` (null: none) keeps definitions and settlements; `shared` (null:
  // none) is the store brokers share the queues of, `holder` this node's
  // name there (WorkQueue).
  QueueRegistry(size_t max_queues, std::function<uint64_t()> nonce, QueueStore* store = nullptr,
                SharedQueueStore* shared = nullptr, std::string holder = {})
      : max_queues_(max_queues),
        nonce_(std::move(nonce)),
        store_(store),
        shared_(shared),
        holder_(std::move(holder)) {}

  // A queue of the same name and the same options is not an error (the
  // config and a client may both create it); other options are.
  Status Create(const QueueOptions& options, const TopicLimits& limits);
  // A reload: queues held stay (a lower bound refuses new ones).
  void set_max_queues(size_t max_queues) { max_queues_.store(max_queues); }
  // At start: a queue the store kept (not written again, not counted
  // against max_queues, which only bounds new ones).
  WorkQueuePtr Restore(const QueueOptions& options, uint64_t incarnation);
  // Where the queue's reading of history stands (QueueBackfill::Encode),
  // kept with its definition; `finished`: it has read all its start asked
  // for, and the store keeps it as a queue that starts new (a restart
  // reads nothing again).
  void SaveBackfill(const WorkQueuePtr& queue, std::string_view backfill, bool finished);
  // The queue, removed from the registry (closed by the caller); not_found
  // when there is none.
  Result<WorkQueuePtr> Remove(std::string_view name);
  Result<WorkQueuePtr> Find(std::string_view name) const;
  std::vector<WorkQueuePtr> All() const;

  // The queues whose pattern matches `topic`.
  std::vector<WorkQueuePtr> Matching(std::string_view topic) const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  bool empty() const { return count_.load(std::memory_order_relaxed) == 0; }

  // Memberships: a new id for a member of `queue`, its queue by id, and the
  // end of it (the queue, if the membership existed).
  uint64_t AddMember(const WorkQueuePtr& queue);
  WorkQueuePtr MemberQueue(uint64_t member) const;
  WorkQueuePtr RemoveMember(uint64_t member);

  // The payload bytes every queue's jobs hold (max_queue_bytes).
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  // Creations refused at max_queues.
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  Relaxed<size_t> max_queues_;
  const std::function<uint64_t()> nonce_;
  QueueStore* const store_;
  SharedQueueStore* const shared_;
  const std::string holder_;
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> refused_{0};
  mutable std::mutex mu_;
  std::map<std::string, WorkQueuePtr, std::less<>> queues_;
  std::unordered_map<uint64_t, WorkQueuePtr> members_;
  uint64_t next_member_ = 0;
  std::atomic<uint64_t> generation_{1};
  std::atomic<size_t> count_{0};
};

}  // namespace herald
