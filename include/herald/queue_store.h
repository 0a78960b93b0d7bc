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
};

// One job of one queue incarnation.
struct JobRef {
  std::string queue;
  uint64_t incarnation = 0;
  uint64_t seq = 0;
  // Its message's topic: a store on several servers keeps a job with its
  // message, on the topic's server, and finds it there again.
  std::string topic;
};

class QueueStore {
 public:
  using CommitCallback = std::function<void(Status)>;
  virtual ~QueueStore() = default;

  // Called once by the broker as it starts: every stored queue.
  virtual std::vector<StoredQueue> TakeQueues() = 0;

  virtual void PutQueue(const QueueOptions& options, uint64_t incarnation) = 0;
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
};

}  // namespace herald
