// herald/queue_store.h — where a broker keeps its work queues (herald/
// work_queue.h) so that they outlive the process.
//
// A history store that also implements QueueStore (the disk store does)
// keeps each queue's definition, its jobs and their delivery counts. The
// broker holds the queues in memory and writes every change here; at start
// it reads them back, so a restart loses no job and no acknowledgement
// (but those still on their way to disk when the process died).
//
// A message's jobs are written in the same commit as the message
// (AppendWithJobs), or, for a topic without stored history, in a commit the
// publisher's acknowledgement waits for (PutJobs): an acknowledged publish
// is never a lost job, and a lost publish leaves no job.
//
// Threads: any thread; nothing here waits for I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <functional>

#include "herald/history_store.h"
#include "herald/message.h"
#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald {

struct StoredJob {
  uint64_t seq = 0;
  uint32_t deliveries = 0;  // deliveries made before the restart
  MessagePtr message;
};

struct StoredQueue {
  QueueOptions options;
  // Which creation of the name this is: a queue deleted and created again
  // is another incarnation, and what was written for the old one (a job
  // whose publish raced the delete) is not the new one's.
  uint64_t incarnation = 0;
  std::vector<StoredJob> jobs;  // by seq
  // Where the reading of history for the queue's start stands (written by
  // the broker, opaque to the store); empty: none, or not begun.
  std::string backfill;
  // A SharedQueueStore's queue: its jobs stay in the store (`jobs` is
  // empty), and this is how many it held at open.
  uint64_t shared_pending = 0;
};

// One job of one queue incarnation.
struct JobRef {
  std::string queue;
  uint64_t incarnation = 0;
  uint64_t seq = 0;
  // Its message's topic: a store on several servers keeps a job with its
  // message, on the topic's server, and finds it there again.
  std::string topic;
  // A SharedQueueStore's job: its key there (ClaimedJob::key); else empty.
  std::string key;
};

class QueueStore {
 public:
  using CommitCallback = std::function<void(Status)>;
  virtual ~QueueStore() = default;

  // Called once by the broker as it starts: every stored queue.
  virtual std::vector<StoredQueue> TakeQueues() = 0;

  // The definition, and where its reading of history stands (StoredQueue::
  // backfill), in one record: written again as that reading goes on.
  virtual void PutQueue(const QueueOptions& options, uint64_t incarnation,
                        std::string_view backfill) = 0;
  // The queue (every incarnation of the name) and every job of it.
  virtual void DeleteQueue(std::string_view name) = 0;
  // HistoryStore::Append of `message`, with its jobs in the same commit
  // (same contract: refused at once, or `done` once it is committed).
  virtual Status AppendWithJobs(const MessagePtr& message, const std::vector<JobRef>& jobs,
                                HistoryStore::AppendCallback&& done) = 0;
  // The jobs of a message whose topic keeps no history, in one commit;
  // `done` (may be null) runs once it is committed, on the store's thread.
  // Refused at once like an append (resource_exhausted, unavailable),
  // leaving *done untouched.
  virtual Status PutJobs(const MessagePtr& message, const std::vector<JobRef>& jobs,
                         CommitCallback* done) = 0;
  virtual void SetDeliveries(const JobRef& job, uint32_t deliveries) = 0;
  virtual void DeleteJob(const JobRef& job) = 0;
  // Whether its writes commit in the order they were made, all of them:
  // what a crash keeps is a prefix (one log). A queue reading history for
  // its start needs it: where the reading stands is written before the
  // jobs it covers can be settled, so a settlement kept implies the
  // reading's progress past it was kept too.
  virtual bool KeepsWriteOrder() const = 0;
};

// A store several brokers share (the Redis store on one server): a queue's
// jobs stay in the store, and each broker takes — claims — what its own
// members can take now, for a lease. A job whose lease runs out (its
// broker died, or could not say) is ready again for any broker; a delivery
// is counted when it is claimed. So the death of any broker loses no job:
// what it held comes back once its leases run out. Brokers that share one
// must have different node ids (BrokerOptions::node_id): a holder is
// "<node id>.<run>" (node ids hold no dot).
//
// The QueueStore calls still apply: jobs are written with their messages
// (AppendWithJobs, PutJobs), a settled job goes with DeleteJob (JobRef::key
// set), and SetDeliveries is not used (the claim counts).
//
// Threads: any thread; completions on the store's thread.
struct ClaimedJob {
  std::string key;          // the job's key in the store
  uint32_t deliveries = 0;  // this one included
  MessagePtr message;
  // Where it stood in line (for a release that gives back the claim unused:
  // it keeps its place).
  std::string ready_at;
};

class SharedQueueStore {
 public:
  // The jobs claimed (possibly none) and how many jobs the queue holds in
  // all (ready, delayed and leased), or why not. A job that cannot be read
  // back (damaged) is dropped by the store, not returned.
  using ClaimCallback = std::function<void(Result<std::vector<ClaimedJob>> jobs, uint64_t pending)>;
  virtual ~SharedQueueStore() = default;

  // Up to `max` jobs of `queue` that are ready (or whose lease ran out),
  // leased to `holder` for `lease`. max 0: only the count.
  virtual void Claim(std::string_view queue, std::string_view holder, size_t max,
                     std::chrono::milliseconds lease, ClaimCallback done) = 0;
  // `holder` gives the job back, ready after `delay`; `uncount`: the
  // delivery its claim counted did not happen. Nothing if another holds it.
  // `ready_at` (ClaimedJob::ready_at, with uncount): where it stood in line.
  virtual void Release(std::string_view queue, const std::string& key, std::string_view holder,
                       std::chrono::milliseconds delay, bool uncount,
                       const std::string& ready_at = {}) = 0;
  // The lease of `holder` runs `lease` from now. Nothing if another holds it.
  virtual void Extend(std::string_view queue, const std::string& key, std::string_view holder,
                      std::chrono::milliseconds lease) = 0;
  // At start: the leases of earlier runs of this node (holders starting
  // with `prefix`, but not `holder`) go back at once.
  virtual void ReleaseEarlier(std::string_view queue, std::string_view prefix,
                              std::string_view holder) = 0;
};

}  // namespace herald
