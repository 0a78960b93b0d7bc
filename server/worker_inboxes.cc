#include "server/worker_inboxes.h"

namespace herald::server {

WorkerInboxes::WorkerInboxes(Broker& broker, io::WorkerPool& pool) {
  for (size_t i = 0; i < pool.size(); ++i) {
    auto ref = std::make_shared<LoopRef>();
    ref->loop = &pool[i];
    auto inbox = broker.CreateInbox([ref] {
      std::lock_guard lock(ref->mu);
      if (!ref->loop) return;
      auto drain = [weak = ref->inbox] {
        if (auto inbox = weak.lock()) inbox->Drain();
      };
      // Published from this worker itself (a WebSocket client publishing to
      // subscribers on the same worker): drain later in this loop turn, with
      // no eventfd write and no extra trip through epoll.
      if (ref->loop->InLoopThread()) {
        ref->loop->Defer(std::move(drain));
      } else {
        ref->loop->Post(std::move(drain));
      }
    });
    {
      std::lock_guard lock(ref->mu);
      ref->inbox = inbox;
    }
    refs_.push_back(ref);
    inboxes_.push_back(std::move(inbox));
    loops_.push_back(&pool[i]);
  }
}

WorkerInboxes::~WorkerInboxes() { Disconnect(); }

std::shared_ptr<Inbox> WorkerInboxes::For(const io::Loop* loop) const {
  for (size_t i = 0; i < loops_.size(); ++i) {
    if (loops_[i] == loop) return inboxes_[i];
  }
  return nullptr;
}

void WorkerInboxes::Disconnect() {
  for (auto& ref : refs_) {
    std::lock_guard lock(ref->mu);
    ref->loop = nullptr;
  }
}

}  // namespace herald::server
