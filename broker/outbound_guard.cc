#include "herald/outbound_guard.h"

namespace herald {

OutboundGuard::Admission OutboundGuard::Admit(uint64_t subscription_id, const Message& m,
                                              size_t bytes, size_t queued) {
  // Hysteresis: once over the limit, keep dropping until half of it has
  // drained, so a stalled reader does not flip between send and drop on
  // every message (and its gaps stay few and wide).
  if (dropping_ && queued <= limits_.max_bytes / 2) dropping_ = false;
  if (!dropping_ && queued + bytes > limits_.max_bytes) dropping_ = true;

  Admission a;
  if (dropping_) {
    if (limits_.policy == SlowConsumerPolicy::kDisconnect) {
      a.verdict = Verdict::kDisconnect;
      return a;
    }
    ++dropped_;
    auto [it, fresh] = owed_.try_emplace({subscription_id, m.topic});
    Gap& gap = it->second;
    if (fresh || gap.epoch != m.epoch) {
      gap = Gap{m.topic, GapReason::kSlowConsumer, m.epoch, m.offset, m.offset};
    } else {
      gap.to_offset = m.offset;
    }
    a.verdict = Verdict::kDrop;
    return a;
  }
  if (!owed_.empty()) {
    auto it = owed_.find({subscription_id, m.topic});
    if (it != owed_.end()) {
      a.gap = std::move(it->second);
      owed_.erase(it);
    }
  }
  return a;
}

std::vector<std::pair<uint64_t, Gap>> OutboundGuard::TakeGaps(size_t queued) {
  std::vector<std::pair<uint64_t, Gap>> out;
  if (owed_.empty() || queued > limits_.max_bytes / 2) return out;
  dropping_ = false;
  for (auto& [key, gap] : owed_) out.emplace_back(key.first, std::move(gap));
  owed_.clear();
  return out;
}

std::vector<Gap> OutboundGuard::TakeGapsFor(std::string_view topic) {
  std::vector<Gap> out;
  for (auto it = owed_.begin(); it != owed_.end();) {
    if (it->first.second == topic) {
      out.push_back(std::move(it->second));
      it = owed_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace herald
