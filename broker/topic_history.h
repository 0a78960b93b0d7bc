// One topic's history: the most recent messages within count, byte and age
// bounds, oldest first. Offsets in history are always contiguous: when a
// message cannot be kept, everything older goes too, so a resume never skips
// over a hole without reporting it.
//
// Thread rule: guarded by the owning TopicState's mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "herald/broker_options.h"
#include "herald/message.h"

namespace herald {

class TopicHistory {
 public:
  explicit TopicHistory(HistoryLimits limits) : limits_(limits) {}

  // Approximate memory a message holds while in history.
  static size_t Cost(const Message& m);

  bool enabled() const { return limits_.max_messages > 0; }
  // Appends and trims to the count and byte bounds.
  void Append(MessagePtr m);
  // Drops messages older than max_age. Returns the cost freed.
  size_t TrimByAge(int64_t now_us);
  // Drops the oldest message. Returns the cost freed (0 when empty).
  size_t DropOldest();

  bool empty() const { return ring_.empty(); }
  size_t size() const { return ring_.size(); }
  size_t cost() const { return cost_; }
  // Offset of the oldest retained message; 0 when empty.
  uint64_t first_offset() const { return ring_.empty() ? 0 : ring_.front()->offset; }
  // Messages with offset > after, at most `limit`, in order.
  void CopyAfter(uint64_t after, size_t limit, std::vector<MessagePtr>& out) const;

 private:
  HistoryLimits limits_;
  std::deque<MessagePtr> ring_;
  size_t cost_ = 0;
  size_t payload_bytes_ = 0;
};

}  // namespace herald
