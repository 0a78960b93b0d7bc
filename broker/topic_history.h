// One topic's history: the most recent messages within count, byte and age
// bounds, oldest first. Offsets in history are always contiguous: when a
// message cannot be kept, everything older goes too, so a resume never skips
// over a hole without reporting it.
//
// Thread rule: guarded by the owning TopicState's mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "herald/broker_options.h"
#include "herald/message.h"

namespace herald {

class TopicHistory {
 public:
  explicit TopicHistory(HistoryLimits limits) : limits_(limits) {}

  // Memory a message holds while in history: the Message (with its control
  // block and ring slot) and the heap buffers of its fields. Its cached wire
  // encodings are not held: they are dropped once fan-out is done (see
  // Message::PinEncodings), so history costs what is counted here.
  static size_t Cost(const Message& m);
  // Memory of a non-empty ring itself (a deque's map and first block).
  static const size_t kRingCost;

  bool enabled() const { return limits_.max_messages > 0; }
  const HistoryLimits& limits() const { return limits_; }
  // Appends and trims to the count and byte bounds.
  void Append(MessagePtr m);
  // Drops messages older than max_age. Returns the cost freed.
  size_t TrimByAge(int64_t now_us);
  // Drops the oldest message. Returns the cost freed (0 when empty).
  size_t DropOldest();

  bool empty() const { return !ring_; }
  size_t size() const { return ring_ ? ring_->size() : 0; }
  // Bytes held, ring included: what the node-wide history budget is charged.
  size_t cost() const { return cost_; }
  // Offset of the oldest retained message; 0 when empty.
  uint64_t first_offset() const { return ring_ ? ring_->front()->offset : 0; }
  // Messages with offset > after, at most `limit`, in order.
  void CopyAfter(uint64_t after, size_t limit, std::vector<MessagePtr>& out) const;

 private:
  HistoryLimits limits_;
  // Null while empty: a std::deque allocates ~600 bytes even when empty, and
  // most topics (history off, or idle) have none.
  std::unique_ptr<std::deque<MessagePtr>> ring_;
  size_t cost_ = 0;
  size_t payload_bytes_ = 0;
};

}  // namespace herald
