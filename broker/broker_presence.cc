// Presence: the broker's side of PresenceTable (broker/presence_table.h) —
// queries, and the maintenance thread's flush of coalesced events.
#include "broker/broker_impl.h"
#include "herald/topic.h"

namespace herald {

Result<PresenceSnapshot> Broker::Impl::Presence(std::string_view topic,
                                                const PresenceQuery& query) const {
  if (Status s = ValidateTopic(topic, options_.topic_limits); !s.ok()) {
    return Status(ErrorCode::kInvalidTopic, "topic '" + std::string(topic) + "': " + s.message());
  }
  return presence_.Query(std::string(topic), query);
}

RequestTracker::Clock::time_point Broker::Impl::FlushPresence(
    RequestTracker::Clock::time_point now) {
  const int64_t next = presence_.Flush(SteadyUs(now));
  if (next == INT64_MAX) return RequestTracker::Clock::time_point::max();
  return RequestTracker::Clock::time_point(std::chrono::microseconds(next));
}

Result<PresenceSnapshot> Broker::Presence(std::string_view topic,
                                          const PresenceQuery& query) const {
  return impl_->Presence(topic, query);
}

}  // namespace herald
