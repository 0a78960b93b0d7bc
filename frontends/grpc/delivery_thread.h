// frontends/grpc/delivery_thread.h — the thread that hands broker deliveries
// to gRPC streams.
//
// gRPC streams are broker sinks like WebSocket sessions, so they need an
// inbox drained by a thread of the front's own (gRPC's threads belong to
// gRPC). Owning the thread also gives the strong unsubscribe guarantee of
// the core: Unsubscribe run here (Post) means nothing more is delivered to
// that subscription afterwards, which is what lets a queue-group worker
// leave without losing a message (Connect's unsubscribe answers only after
// every delivery made to it is queued ahead of the answer).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "herald/broker.h"

namespace herald::grpcfront {

class DeliveryThread {
 public:
  explicit DeliveryThread(Broker& broker);
  ~DeliveryThread();  // drains what is queued, then joins
  DeliveryThread(const DeliveryThread&) = delete;
  DeliveryThread& operator=(const DeliveryThread&) = delete;

  const std::shared_ptr<Inbox>& inbox() const { return inbox_; }
  // Any thread. Runs `task` on the delivery thread, in posting order.
  void Post(std::function<void()> task);

 private:
  void Run();
  void Wake();

  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;  // the inbox has deliveries (guarded by mu_)
  bool stop_ = false;
  std::vector<std::function<void()>> tasks_;
  std::shared_ptr<Inbox> inbox_;
  std::thread thread_;
};

// A sink that forwards to a function (on the delivery thread).
class FunctionSink final : public Sink {
 public:
  explicit FunctionSink(std::function<void(const Delivery&)> fn) : fn_(std::move(fn)) {}
  void OnDelivery(const Delivery& d) override { fn_(d); }

 private:
  std::function<void(const Delivery&)> fn_;
};

}  // namespace herald::grpcfront
