// herald/delivery.h — what a subscriber receives, and the Sink that receives it.
//
// A Sink is anything that takes deliveries: a WebSocket session, an SSE
// stream, a gRPC stream, an in-process callback, a peer link. The broker calls
// `Sink::OnDelivery` on the thread that drains the sink's Inbox (see inbox.h),
// never on the publisher's thread, so a sink needs no locking of its own.
//
// A delivery is a message, a job of a work queue (herald/work_queue.h), a
// presence event (herald/presence.h), or a gap notice: "you will not get offsets
// [from, to] of this topic" (history trimmed, epoch changed, or this sink was
// too slow and messages were dropped). A subscriber that sees a gap knows it
// missed something; one that sees none missed nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "herald/message.h"

namespace herald {

enum class GapReason {
  kEpochChanged,  // the topic's numbering restarted (history lost); resume is impossible
  kTrimmed,       // the messages left history (count, bytes, age) before they could be replayed
  kSlowConsumer,  // this subscriber fell behind and the messages were dropped for it
};
std::string_view GapReasonName(GapReason reason);

struct Gap {
  std::string topic;
  GapReason reason = GapReason::kTrimmed;
  uint64_t epoch = 0;        // the epoch the missing range belongs to (the current one)
  uint64_t from_offset = 0;  // first missing offset; 0 when unknown (kEpochChanged)
  uint64_t to_offset = 0;    // last missing offset; 0 when unknown
};

struct Job;            // herald/work_queue.h
struct PresenceEvent;  // herald/presence.h

struct Delivery {
  enum class Kind { kMessage, kGap, kJob, kPresence };
  Kind kind = Kind::kMessage;
  // Which subscription of the sink this is for; kJob: which queue membership.
  uint64_t subscription_id = 0;
  MessagePtr message;        // kMessage
  const Gap* gap = nullptr;  // kGap; valid only during the call
  const Job* job = nullptr;  // kJob (a work queue's delivery); valid only during the call
  // kPresence: a presence subscription's join/leave event; valid only during the call.
  const PresenceEvent* presence = nullptr;
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Called on the sink's inbox thread. Must not block; queue and return.
  virtual void OnDelivery(const Delivery& delivery) = 0;

 private:
  // The broker's count of this sink's subscriptions (for the per-connection
  // limit), kept here rather than in a map: one less allocation per sink.
  friend class SinkAccounting;
  uint32_t subscriptions_ = 0;
};

}  // namespace herald
