// frontends/session/outbound.h — the slow-consumer policy, written once for
// every front (WebSocket, SSE, gRPC).
//
// A front asks its Outbound before it queues a broker message for its
// client. The guard (herald/outbound_guard.h) judges the bytes against the
// connection's budget; this class turns the verdict into what the front does
// and records it in the broker's stats itself, so no front can apply the
// policy and forget to count it:
//
//   send       Admit returns true (a gap notice owed for the topic has gone
//              to the port first); the front queues the message.
//   drop       Admit returns false; counted as dropped, a gap is owed.
//   cut        Admit returns false; the port closes the connection, counted
//              as a slow-consumer disconnect (once: see CloseSlowConsumer).
//
// The port is given with each call, so a front may build it on the stack
// (an idle connection pays nothing for it).
//
// Thread rule: the front's — one Outbound per connection, used where the
// front serialises its output (its loop thread, or under its lock).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "herald/broker.h"
#include "herald/outbound_guard.h"

namespace herald::session {

// What the policy asks of the front it guards.
class OutboundPort {
 public:
  // Tells the client that the messages of `gap` are missing (a protocol
  // that cannot say it ignores it).
  virtual void SendGapNotice(const Gap& gap) = 0;
  // Closes the connection as a slow consumer. False when it is already
  // closing (or closed): then nothing happened and nothing is counted.
  virtual bool CloseSlowConsumer() = 0;

 protected:
  ~OutboundPort() = default;
};

class Outbound {
 public:
  Outbound(Broker& broker, OutboundLimits limits)
      : broker_(broker), limits_(limits), guard_(limits) {}

  // A message of `bytes` for subscription `subscription_id`, with `queued`
  // bytes already held for this client (every byte it makes us hold: the
  // socket's backlog, and anything else the front keeps for it). True: send
  // it now. False: it is not to be sent (dropped or the connection cut;
  // counted either way).
  [[nodiscard]] bool Admit(OutboundPort& port, uint64_t subscription_id, const Message& m,
                           size_t bytes, size_t queued);
  // A flush left `backlog` bytes that the kernel refused: a burst queued in
  // one turn is as far behind as one built up slowly. Under kDisconnect,
  // past the limit, the connection is cut.
  void Blocked(OutboundPort& port, size_t backlog);
  // The queue has drained to `queued`: the gap notices owed (topics that had
  // drops and no message since) go to the port, if it is low enough.
  void Drained(OutboundPort& port, size_t queued);
  // Cuts the connection as a slow consumer, counted if the port did.
  void Cut(OutboundPort& port);
  // The notices owed for `topic`, taken out of line: a front that holds the
  // topic's messages back puts them in line with those (see SseStream).
  std::vector<Gap> TakeGapsFor(std::string_view topic) { return guard_.TakeGapsFor(topic); }

  bool owes_gaps() const { return guard_.owes_gaps(); }
  const OutboundLimits& limits() const { return limits_; }

 private:
  Broker& broker_;
  const OutboundLimits limits_;
  OutboundGuard guard_;
};

}  // namespace herald::session
