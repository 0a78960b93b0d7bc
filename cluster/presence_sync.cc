// Presence members between this broker and its peers (presence_sync.h).
#include "cluster/presence_sync.h"

#include "broker/broker_cluster.h"

namespace herald::cluster {
namespace {

// Members per frame of a reset: one frame stays far below the batch limit.
constexpr size_t kResetChunk = 500;

void Fill(pb::PresenceChange* c, const std::string& topic, const PresenceMember& m) {
  c->set_topic(topic);
  c->set_client(m.client);
  c->set_user(m.user);
  c->set_info(m.info);
}

}  // namespace

void PresenceSync::Changed(const std::string& topic, const PresenceMember& member, bool joined) {
  std::lock_guard lock(mu_);
  if (announced_.empty()) return;
  pb::PeerFrame f;
  pb::PresenceUpdate* u = f.mutable_presence();
  if (joined) {
    Fill(u->add_join(), topic, member);
  } else {
    pb::PresenceChange* c = u->add_leave();
    c->set_topic(topic);
    c->set_client(member.client);
  }
  for (auto& link : announced_) link->Send(f);
}

void PresenceSync::Announce(const std::shared_ptr<PeerLink>& link) {
  if (!link->speaks(kPresenceFeature)) {
    // A node that does not speak presence (an older release, restarted):
    // what it had before is not its state any more.
    BrokerCluster::PeerPresenceLost(broker_, link->peer_id(), nullptr);
    return;
  }
  // The node's members are this link's now: a link it replaced, and that
  // link's end, change nothing (even if this one ends before its reset).
  BrokerCluster::PeerPresenceAdopt(broker_, link->peer_id(), link.get());
  {
    std::lock_guard lock(mu_);
    announced_.push_back(link);
    pb::PeerFrame begin;
    begin.mutable_presence()->set_reset_begin(true);
    link->Send(std::move(begin));
  }
  BrokerCluster::ForEachLocalMember(
      broker_, [&](const std::vector<std::pair<std::string, PresenceMember>>& members) {
        for (size_t i = 0; i < members.size(); i += kResetChunk) {
          pb::PeerFrame f;
          pb::PresenceUpdate* u = f.mutable_presence();
          for (size_t j = i; j < std::min(members.size(), i + kResetChunk); ++j) {
            Fill(u->add_join(), members[j].first, members[j].second);
          }
          link->Send(std::move(f));
        }
      });
  pb::PeerFrame end;
  end.mutable_presence()->set_reset_end(true);
  link->Send(std::move(end));
}

void PresenceSync::Forget(const std::shared_ptr<PeerLink>& link) {
  std::lock_guard lock(mu_);
  std::erase(announced_, link);
}

void PresenceSync::Apply(PeerLink& link, const pb::PresenceUpdate& update) {
  const std::string& node = link.peer_id();
  const void* tag = &link;
  if (update.reset_begin()) BrokerCluster::PeerPresenceBeginReset(broker_, node, tag);
  for (const pb::PresenceChange& c : update.leave()) {
    BrokerCluster::PeerPresenceLeave(broker_, node, tag, c.topic(), c.client());
  }
  for (const pb::PresenceChange& c : update.join()) {
    BrokerCluster::PeerPresenceJoin(broker_, node, tag, c.topic(),
                                    PresenceMember{c.client(), c.user(), c.info()});
  }
  if (update.reset_end()) BrokerCluster::PeerPresenceEndReset(broker_, node, tag);
}

void PresenceSync::Lost(const PeerLink& link) {
  BrokerCluster::PeerPresenceLost(broker_, link.peer_id(), &link);
}

void PresenceSync::Clear() {
  std::lock_guard lock(mu_);
  announced_.clear();
}

}  // namespace herald::cluster
