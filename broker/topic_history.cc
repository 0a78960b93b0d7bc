#include "broker/topic_history.h"

#include "broker/memory_cost.h"

namespace herald {

// libstdc++'s deque: a map of 8 block pointers and one 512-byte block.
const size_t TopicHistory::kRingCost =
    sizeof(std::deque<MessagePtr>) + MallocBytes(8 * sizeof(void*)) + MallocBytes(512);

size_t TopicHistory::Cost(const Message& m) {
  size_t headers = m.headers.capacity() ? MallocBytes(m.headers.capacity() * sizeof(Header)) : 0;
  for (const Header& h : m.headers) headers += StringHeapBytes(h.name) + StringHeapBytes(h.value);
  return SharedBytesOf<Message>() + sizeof(MessagePtr) + StringHeapBytes(m.topic) +
         StringHeapBytes(m.payload) + StringHeapBytes(m.content_type) +
         StringHeapBytes(m.reply_to) + headers;
}

void TopicHistory::Append(MessagePtr m) {
  if (!enabled()) return;
  if (!ring_) {
    ring_ = std::make_unique<std::deque<MessagePtr>>();
    cost_ += kRingCost;
  }
  cost_ += Cost(*m);
  payload_bytes_ += m->payload.size();
  ring_->push_back(std::move(m));
  while (ring_ && (ring_->size() > limits_.max_messages || payload_bytes_ > limits_.max_bytes)) {
    DropOldest();
  }
}

size_t TopicHistory::TrimByAge(int64_t now_us) {
  const int64_t cutoff =
      now_us - std::chrono::duration_cast<std::chrono::microseconds>(limits_.max_age).count();
  size_t freed = 0;
  while (ring_ && ring_->front()->timestamp_us < cutoff) freed += DropOldest();
  return freed;
}

size_t TopicHistory::DropOldest() {
  if (!ring_) return 0;
  size_t c = Cost(*ring_->front());
  payload_bytes_ -= ring_->front()->payload.size();
  ring_->pop_front();
  if (ring_->empty()) {
    ring_.reset();
    c += kRingCost;
  }
  cost_ -= c;
  return c;
}

void TopicHistory::CopyAfter(uint64_t after, size_t limit, std::vector<MessagePtr>& out) const {
  if (!ring_ || limit == 0) return;
  // Offsets are contiguous, so the position of `after + 1` is arithmetic.
  const uint64_t first = ring_->front()->offset;
  size_t start = after < first ? 0 : static_cast<size_t>(after - first + 1);
  for (size_t i = start; i < ring_->size() && limit > 0; ++i, --limit) out.push_back((*ring_)[i]);
}

}  // namespace herald
