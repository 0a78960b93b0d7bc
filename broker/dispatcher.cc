#include "broker/dispatcher.h"

#include "base/thread_name.h"

namespace herald {

Dispatcher::Dispatcher(
    const std::function<std::shared_ptr<DeliveryInbox>(std::function<void()>)>& make_inbox) {
  inbox_ = make_inbox([this] {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_one();
  });
  thread_ = std::thread([this] {
    NameThisThread("herald-dispatch");
    Run();
  });
}

Dispatcher::~Dispatcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Dispatcher::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return woken_ || stop_; });
    if (!woken_ && stop_) return;
    woken_ = false;
    lock.unlock();
    inbox_->Drain();
    lock.lock();
  }
}

}  // namespace herald
