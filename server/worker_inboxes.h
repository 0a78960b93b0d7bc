// One broker Inbox per event-loop worker: deliveries for the sinks that live
// on a worker (its WebSocket sessions, SSE streams) are queued on that
// worker's inbox, and one posted task drains a whole batch on the worker.
//
// The broker keeps its inboxes (and their wake functions) for its own
// lifetime, which may exceed the server's; the wake function therefore goes
// through a shared LoopRef that Stop() disconnects, so a late publish wakes
// nothing instead of touching a stopped loop.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "herald/broker.h"
#include "io/worker_pool.h"

namespace herald::server {

class WorkerInboxes {
 public:
  WorkerInboxes(Broker& broker, io::WorkerPool& pool);
  ~WorkerInboxes();  // Disconnect()s

  // The inbox of the worker running `loop` (a worker of the pool).
  std::shared_ptr<Inbox> For(const io::Loop* loop) const;
  // After this, wake-ups are ignored. Call before stopping the pool.
  void Disconnect();

 private:
  struct LoopRef {
    std::mutex mu;
    io::Loop* loop = nullptr;  // null once disconnected
    std::weak_ptr<Inbox> inbox;
  };
  std::vector<std::shared_ptr<LoopRef>> refs_;
  std::vector<std::shared_ptr<Inbox>> inboxes_;
  std::vector<const io::Loop*> loops_;
};

}  // namespace herald::server
