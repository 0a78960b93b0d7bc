#include "broker/topic_history.h"

namespace herald {

size_t TopicHistory::Cost(const Message& m) {
  size_t headers = 0;
  for (const Header& h : m.headers) headers += h.name.size() + h.value.size() + sizeof(Header);
  return sizeof(Message) + m.topic.size() + m.payload.size() + m.content_type.size() + headers;
}

void TopicHistory::Append(MessagePtr m) {
  if (!enabled()) return;
  cost_ += Cost(*m);
  payload_bytes_ += m->payload.size();
  ring_.push_back(std::move(m));
  while (!ring_.empty() &&
         (ring_.size() > limits_.max_messages || payload_bytes_ > limits_.max_bytes)) {
    DropOldest();
  }
}

size_t TopicHistory::TrimByAge(int64_t now_us) {
  const int64_t cutoff =
      now_us - std::chrono::duration_cast<std::chrono::microseconds>(limits_.max_age).count();
  size_t freed = 0;
  while (!ring_.empty() && ring_.front()->timestamp_us < cutoff) freed += DropOldest();
  return freed;
}

size_t TopicHistory::DropOldest() {
  if (ring_.empty()) return 0;
  const size_t c = Cost(*ring_.front());
  payload_bytes_ -= ring_.front()->payload.size();
  cost_ -= c;
  ring_.pop_front();
  return c;
}

void TopicHistory::CopyAfter(uint64_t after, size_t limit, std::vector<MessagePtr>& out) const {
  if (ring_.empty() || limit == 0) return;
  // Offsets are contiguous, so the position of `after + 1` is arithmetic.
  const uint64_t first = ring_.front()->offset;
  size_t start = after < first ? 0 : static_cast<size_t>(after - first + 1);
  for (size_t i = start; i < ring_.size() && limit > 0; ++i, --limit) out.push_back(ring_[i]);
}

}  // namespace herald
