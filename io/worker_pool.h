// io/worker_pool.h — N event loops started and stopped together.
//
// A connection lives on one worker for its whole life; a Listener binds one
// socket per worker (SO_REUSEPORT) so the kernel spreads connections.
//
//   herald::io::WorkerPool pool(4);
//   if (Status s = pool.Start(); !s.ok()) return s;
//   pool[0].Post([] { ... });
//   pool.Stop();
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "herald/status.h"
#include "io/loop.h"

namespace herald::io {

class WorkerPool {
 public:
  // `workers` of 0 is treated as 1.
  explicit WorkerPool(size_t workers);
  ~WorkerPool();  // Stop()s.
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts every loop; on failure stops those already started. Owner thread.
  Status Start();
  // Stops every loop (see Loop::Stop). Owner thread; idempotent.
  void Stop();

  // Whether every loop still turns: posts a probe task to each loop and
  // returns whether every probe the previous call posted has run (the first
  // call: true). False means a loop has run nothing since the last call, at
  // least that long (or has stopped). For a watchdog calling it every
  // period (heraldd's WATCHDOG=1 to systemd). Any thread, one at a time.
  bool Probe();

  size_t size() const { return loops_.size(); }
  Loop& operator[](size_t i) { return *loops_[i]; }
  const Loop& operator[](size_t i) const { return *loops_[i]; }

 private:
  std::vector<std::unique_ptr<Loop>> loops_;
  // Per loop, the last probe it ran; shared with the probe tasks, which a
  // loop may still hold once the pool is gone.
  std::shared_ptr<std::vector<std::atomic<uint64_t>>> probed_;
  uint64_t probes_ = 0;  // probes posted
};

}  // namespace herald::io
