#include "server/worker_inboxes.h"

namespace herald::server {

WorkerInboxes::WorkerInboxes(Broker& broker, io::WorkerPool& pool) {
  for (size_t i = 0; i < pool.size(); ++i) {
    // The inbox is only known once created: the wake function reaches it
    // through a slot filled right after.
    auto slot = std::make_shared<std::weak_ptr<Inbox>>();
    auto inbox = broker.CreateInbox([slot, handle = pool[i].handle()] {
      // Published from this worker itself (a WebSocket client publishing to
      // subscribers on the same worker): drained later in this loop turn,
      // with no eventfd write and no extra trip through epoll.
      handle->PostOrDefer([slot] {
        if (auto inbox = slot->lock()) inbox->Drain();
      });
    });
    *slot = inbox;
    inboxes_.push_back(std::move(inbox));
    loops_.push_back(&pool[i]);
  }
}

std::shared_ptr<Inbox> WorkerInboxes::For(const io::Loop* loop) const {
  for (size_t i = 0; i < loops_.size(); ++i) {
    if (loops_[i] == loop) return inboxes_[i];
  }
  return nullptr;
}

}  // namespace herald::server
