// herald/outbound_guard.h — the slow-consumer policy for a sink that buffers.
//
// A network sink queues encoded messages for its socket. If the peer stops
// reading, that queue must not grow without bound, and the publisher and the
// other subscribers must not notice. Before queueing each message the sink
// asks its OutboundGuard, which applies a byte limit with a low watermark:
//
//   - kDropWithGap: over the limit, messages are dropped (and counted) until
//     the queue has drained to half the limit; the subscriber then gets one
//     gap notice per topic before that topic's next message, so it knows
//     exactly which offsets it missed and can resume them from history.
//   - kDisconnect: over the limit, the sink should close the connection.
//
//   OutboundGuard guard({.max_bytes = 4 << 20});
//   auto admit = guard.Admit(sub_id, *msg, frame.size(), conn.queued_bytes());
//   if (admit.gap) SendGap(*admit.gap);
//   if (admit.verdict == OutboundGuard::Verdict::kSend) Send(frame);
//
// Thread rule: one guard per sink, used only on the sink's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "herald/delivery.h"
#include "herald/message.h"

namespace herald {

enum class SlowConsumerPolicy { kDropWithGap, kDisconnect };

struct OutboundLimits {
  size_t max_bytes = 16u << 20;  // queued bytes per connection
  SlowConsumerPolicy policy = SlowConsumerPolicy::kDropWithGap;
};

class OutboundGuard {
 public:
  enum class Verdict { kSend, kDrop, kDisconnect };
  struct Admission {
    Verdict verdict = Verdict::kSend;
    std::optional<Gap> gap;  // with kSend: deliver this gap notice first
  };

  explicit OutboundGuard(OutboundLimits limits = {}) : limits_(limits) {}

  // `bytes`: what queueing `m` would add; `queued`: what already waits.
  Admission Admit(uint64_t subscription_id, const Message& m, size_t bytes, size_t queued);
  // Gap notices still owed (topics that had drops and no message since), to
  // send once the queue has drained; clears them.
  std::vector<std::pair<uint64_t, Gap>> TakeGaps(size_t queued);
  // The gap notices owed for `topic` (every subscription), whatever is
  // queued; clears them. For a sink that holds the topic's messages back and
  // must put the notice in line with them rather than before them.
  std::vector<Gap> TakeGapsFor(std::string_view topic);

  bool dropping() const { return dropping_; }
  bool owes_gaps() const { return !owed_.empty(); }
  uint64_t dropped() const { return dropped_; }

 private:
  OutboundLimits limits_;
  bool dropping_ = false;
  uint64_t dropped_ = 0;
  std::map<std::pair<uint64_t, std::string>, Gap> owed_;  // (subscription, topic)
};

}  // namespace herald
