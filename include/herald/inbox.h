// herald/inbox.h — where deliveries wait for the thread that owns a sink.
//
// Publishing may happen on any thread, but a sink (a connection, say) lives on
// one thread. Each such thread owns an Inbox: the broker appends deliveries to
// it and calls the inbox's wake function when it goes from empty to non-empty,
// so one wake-up carries many messages; the owning thread then calls Drain(),
// which hands each delivery to its sink in order.
//
//   auto inbox = broker.CreateInbox([loop] { loop->Post(drain_task); });
//   ...on the loop thread: inbox->Drain();
//
// Not for: in-process callbacks, which the broker's own dispatcher thread
// drains (Broker::Subscribe with a callback).
#pragma once

#include <cstddef>

namespace herald {

class Inbox {
 public:
  virtual ~Inbox() = default;
  // Owning thread only. Delivers everything queued so far; returns how many
  // deliveries were made.
  virtual size_t Drain() = 0;
  // Any thread. Deliveries queued and not yet drained (a gauge for metrics).
  virtual size_t pending() const = 0;
};

}  // namespace herald
