// The requests one client session has waiting, bounded and ended with it.
//
// Each pending request holds its callback, its reply inbox and a deadline in
// the broker until it is answered or times out. Fronts that let one
// connection make many requests (WebSocket JSON `req`, gRPC Connect) start
// them here, so that
//   - at most `max_pending` of one session's requests wait at once (past it:
//     resource_exhausted, the connection stays usable), and
//   - when the session ends, its requests end too (Broker::CancelRequest)
//     instead of holding memory until their deadlines.
//
//   auto requests = std::make_shared<SessionRequests>(broker, limit);
//   requests->Start(topic, payload, timeout, options, [](Result<MessagePtr> r) {...});
//   ...
//   requests->CancelAll();  // the connection closed
//
// Thread rule: any thread. Callbacks run as Broker::Request's do (on an
// unspecified thread, or inline for an immediate refusal).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "herald/broker.h"

namespace herald::session {

class SessionRequests : public std::enable_shared_from_this<SessionRequests> {
 public:
  SessionRequests(Broker& broker, size_t max_pending) : broker_(broker), max_(max_pending) {}

  void Start(std::string_view topic, std::string payload, std::chrono::milliseconds timeout,
             PublishOptions options, ReplyCallback done);
  // The session ended: every request still waiting completes with kCancelled,
  // and later Start calls are refused the same way.
  void CancelAll();
  size_t pending() const;

 private:
  void Finished(uint64_t key);

  Broker& broker_;
  const size_t max_;
  mutable std::mutex mu_;
  bool closed_ = false;
  uint64_t next_key_ = 0;
  // Our key -> the broker's request id (0 until Broker::Request returned).
  std::unordered_map<uint64_t, uint64_t> live_;
};

}  // namespace herald::session
