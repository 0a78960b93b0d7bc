#include "io/worker_pool.h"

namespace herald::io {

WorkerPool::WorkerPool(size_t workers) {
  if (workers == 0) workers = 1;
  loops_.reserve(workers);
  for (size_t i = 0; i < workers; ++i) loops_.push_back(std::make_unique<Loop>());
}

WorkerPool::~WorkerPool() { Stop(); }

Status WorkerPool::Start() {
  for (auto& loop : loops_) {
    if (Status s = loop->Start(); !s.ok()) {
      Stop();
      return s;
    }
  }
  return Status::Ok();
}

void WorkerPool::Stop() {
  for (auto& loop : loops_) loop->Stop();
}

}  // namespace herald::io
