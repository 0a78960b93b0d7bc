#include "io/worker_pool.h"

namespace herald::io {

WorkerPool::WorkerPool(size_t workers) {
  if (workers == 0) workers = 1;
  loops_.reserve(workers);
  for (size_t i = 0; i < workers; ++i) loops_.push_back(std::make_unique<Loop>());
  probed_ = std::make_shared<std::vector<std::atomic<uint64_t>>>(workers);
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

bool WorkerPool::Probe() {
  bool turning = true;
  for (const std::atomic<uint64_t>& ran : *probed_) turning &= ran.load() == probes_;
  const uint64_t probe = ++probes_;
  for (size_t i = 0; i < loops_.size(); ++i) {
    turning &= loops_[i]->Post([probed = probed_, i, probe] { (*probed)[i].store(probe); });
  }
  return turning;
}

void WorkerPool::Stop() {
  for (auto& loop : loops_) loop->Stop();
}

}  // namespace herald::io
