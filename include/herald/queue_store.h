// herald/queue_store.h — where a broker keeps its work queues (herald/
// work_queue.h) so that they outlive the process.
//
// A history store that also implements QueueStore (the disk store does)
// keeps each queue's definition, its jobs and their delivery counts. The
// broker holds the queues in memory and writes every change here; at start
// it reads them back, so a restart loses no job and no acknowledgement
// (but those still on their way to disk when the process died).
//
// The writes are the store's own ops, queued with its appends and committed
// in the same order: a job put before its message's Append is on disk no
// later than the message, so a publish acknowledged once its message is
// committed is never a lost job.
//
// Threads: any thread; nothing here waits for I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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
  std::vector<StoredJob> jobs;  // by seq
};

class QueueStore {
 public:
  virtual ~QueueStore() = default;

  // Called once by the broker as it starts: every stored queue.
  virtual std::vector<StoredQueue> TakeQueues() = 0;

  virtual void PutQueue(const QueueOptions& options) = 0;
  // The queue and every job of it.
  virtual void DeleteQueue(std::string_view name) = 0;
  // Refused at once like an append (resource_exhausted when the store's
  // queue is full, unavailable once it failed): the publish is then
  // refused too.
  virtual Status PutJob(std::string_view queue, uint64_t seq, const MessagePtr& message) = 0;
  virtual void SetDeliveries(std::string_view queue, uint64_t seq, uint32_t deliveries) = 0;
  virtual void DeleteJob(std::string_view queue, uint64_t seq) = 0;
};

}  // namespace herald
