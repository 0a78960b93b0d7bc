// Presence: the broker's side of PresenceTable (broker/presence_table.h) —
// queries, and the maintenance thread's flush of coalesced events.
#include "broker/broker_cluster.h"
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
  {
    // Known to the wake-up time, so a change due later than it does not
    // wake this thread again (NoteQueueDeadline returns at once).
    std::lock_guard lock(maintenance_mu_);
    if (next < queue_wake_us_.load(std::memory_order_relaxed)) {
      queue_wake_us_.store(next, std::memory_order_release);
    }
  }
  return RequestTracker::Clock::time_point(std::chrono::microseconds(next));
}

Result<PresenceSnapshot> Broker::Presence(std::string_view topic,
                                          const PresenceQuery& query) const {
  return impl_->Presence(topic, query);
}

namespace {
int64_t NowSteady() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             RequestTracker::Clock::now().time_since_epoch())
      .count();
}
}  // namespace

void BrokerCluster::PeerPresenceJoin(Broker& broker, const std::string& node, const void* link,
                                     const std::string& topic, const PresenceMember& member) {
  broker.impl_->presence().JoinRemote(node, link, topic, member, NowSteady());
}

void BrokerCluster::PeerPresenceLeave(Broker& broker, const std::string& node, const void* link,
                                      const std::string& topic, const std::string& client) {
  broker.impl_->presence().LeaveRemote(node, link, topic, client, NowSteady());
}

void BrokerCluster::PeerPresenceAdopt(Broker& broker, const std::string& node, const void* link) {
  broker.impl_->presence().Adopt(node, link);
}

void BrokerCluster::PeerPresenceBeginReset(Broker& broker, const std::string& node,
                                           const void* link) {
  broker.impl_->presence().BeginReset(node, link);
}

void BrokerCluster::PeerPresenceEndReset(Broker& broker, const std::string& node,
                                         const void* link) {
  broker.impl_->presence().EndReset(node, link, NowSteady());
}

void BrokerCluster::PeerPresenceLost(Broker& broker, const std::string& node, const void* link) {
  broker.impl_->presence().DropNode(node, link, NowSteady());
}

void BrokerCluster::ForEachLocalMember(
    Broker& broker,
    const std::function<void(const std::vector<std::pair<std::string, PresenceMember>>&)>& each) {
  broker.impl_->presence().ForEachLocal(each);
}

}  // namespace herald
