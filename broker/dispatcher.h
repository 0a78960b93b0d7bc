// The thread that runs in-process callback subscriptions: it owns one inbox
// and drains it whenever the inbox wakes it. Callbacks therefore run one at a
// time, in order, never on a publisher's thread (so a callback may publish).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "broker/delivery_inbox.h"
#include "herald/broker.h"

namespace herald {

class CallbackSink final : public Sink {
 public:
  explicit CallbackSink(DeliveryCallback callback) : callback_(std::move(callback)) {}
  void OnDelivery(const Delivery& delivery) override { callback_(delivery); }

 private:
  DeliveryCallback callback_;
};

class Dispatcher {
 public:
  // `make_inbox` creates the inbox, given the wake function to call.
  explicit Dispatcher(
      const std::function<std::shared_ptr<DeliveryInbox>(std::function<void()>)>& make_inbox);
  ~Dispatcher();  // drains what is queued, then joins

  const std::shared_ptr<DeliveryInbox>& inbox() const { return inbox_; }

 private:
  void Run();

  std::shared_ptr<DeliveryInbox> inbox_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace herald
