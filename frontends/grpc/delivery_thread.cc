#include "frontends/grpc/delivery_thread.h"

#include "base/thread_name.h"

namespace herald::grpcfront {

DeliveryThread::DeliveryThread(Broker& broker)
    : inbox_(broker.CreateInbox([this] { Wake(); })), thread_([this] { Run(); }) {}

DeliveryThread::~DeliveryThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void DeliveryThread::Wake() {
  {
    std::lock_guard lock(mu_);
    pending_ = true;
  }
  cv_.notify_one();
}

void DeliveryThread::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void DeliveryThread::Run() {
  NameThisThread("herald-grpc-dlv");
  std::vector<std::function<void()>> tasks;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      // blocking-ok: the delivery thread's own idle wait for work, not a reactor
      cv_.wait(lock, [this] { return stop_ || pending_ || !tasks_.empty(); });
      if (stop_ && !pending_ && tasks_.empty()) return;
      pending_ = false;
      tasks.swap(tasks_);
    }
    inbox_->Drain();
    // Drain stops after a bounded number of rounds; come back for the rest.
    if (inbox_->pending() > 0) {
      std::lock_guard lock(mu_);
      pending_ = true;
    }
    for (auto& t : tasks) t();
    tasks.clear();
  }
}

}  // namespace herald::grpcfront
