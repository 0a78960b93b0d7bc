#include "frontends/session/outbound.h"

namespace herald::session {

bool Outbound::Admit(OutboundPort& port, uint64_t subscription_id, const Message& m, size_t bytes,
                     size_t queued) {
  OutboundGuard::Admission a = guard_.Admit(subscription_id, m, bytes, queued);
  switch (a.verdict) {
    case OutboundGuard::Verdict::kSend:
      if (a.gap) port.SendGapNotice(*a.gap);
      return true;
    case OutboundGuard::Verdict::kDrop:
      broker_.RecordSlowConsumer(1, false);
      return false;
    case OutboundGuard::Verdict::kDisconnect:
      Cut(port);
      return false;
  }
  return false;
}

void Outbound::Blocked(OutboundPort& port, size_t backlog) {
  if (limits_.policy == SlowConsumerPolicy::kDisconnect && backlog > limits_.max_bytes) Cut(port);
}

void Outbound::Drained(OutboundPort& port, size_t queued) {
  if (!guard_.owes_gaps()) return;
  for (auto& [sub, gap] : guard_.TakeGaps(queued)) port.SendGapNotice(gap);
}

void Outbound::Cut(OutboundPort& port) {
  if (port.CloseSlowConsumer()) broker_.RecordSlowConsumer(0, true);
}

}  // namespace herald::session
