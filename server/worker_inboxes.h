// One broker Inbox per event-loop worker: deliveries for the sinks that live
// on a worker (its WebSocket sessions, SSE streams) are queued on that
// worker's inbox, and one task drains a whole batch on the worker.
//
// The broker keeps its inboxes (and their wake functions) for its own
// lifetime, which may exceed the server's; the wake function therefore posts
// through the loop's LoopHandle, which does nothing once the loop stopped.
#pragma once

#include <memory>
#include <vector>

#include "herald/broker.h"
#include "io/worker_pool.h"

namespace herald::server {

class WorkerInboxes {
 public:
  WorkerInboxes(Broker& broker, io::WorkerPool& pool);

  // The inbox of the worker running `loop` (a worker of the pool).
  std::shared_ptr<Inbox> For(const io::Loop* loop) const;

 private:
  std::vector<std::shared_ptr<Inbox>> inboxes_;
  std::vector<const io::Loop*> loops_;
};

}  // namespace herald::server
