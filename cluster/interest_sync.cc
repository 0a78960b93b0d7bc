// Interest sync between this broker and its peers (interest_sync.h).
#include "cluster/interest_sync.h"

#include <spdlog/spdlog.h>

#include "broker/broker_cluster.h"

namespace herald::cluster {

bool InterestSync::Changed(const std::string& pattern, const std::string& queue_group, bool added) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(pattern, queue_group);
  if (added) {
    if (local_[key]++ != 0) return false;
  } else {
    auto it = local_.find(key);
    if (it == local_.end() || --it->second != 0) return false;
    local_.erase(it);
  }
  pb::PeerFrame f;
  pb::Interest* i = added ? f.mutable_interest()->add_add() : f.mutable_interest()->add_remove();
  i->set_pattern(pattern);
  i->set_queue_group(queue_group);
  for (auto& link : announced_) link->Send(f);
  return true;
}

void InterestSync::Announce(const std::shared_ptr<PeerLink>& link) {
  std::lock_guard lock(mu_);
  announced_.push_back(link);
  pb::PeerFrame f;
  pb::InterestUpdate* u = f.mutable_interest();
  u->set_reset(true);
  for (const auto& [key, count] : local_) {
    pb::Interest* i = u->add_add();
    i->set_pattern(key.first);
    i->set_queue_group(key.second);
  }
  link->Send(std::move(f));
}

void InterestSync::Forget(const std::shared_ptr<PeerLink>& link) {
  {
    std::lock_guard lock(mu_);
    std::erase(announced_, link);
  }
  for (const auto& [key, sub] : link->interest) broker_.Unsubscribe(sub);
  link->interest.clear();
}

void InterestSync::Apply(PeerLink& link, pb::InterestUpdate& update) {
  auto self = link.shared_from_this();
  if (update.reset()) {
    for (const auto& [key, sub] : link.interest) broker_.Unsubscribe(sub);
    link.interest.clear();
  }
  for (const pb::Interest& i : update.remove()) {
    auto it = link.interest.find({i.pattern(), i.queue_group()});
    if (it == link.interest.end()) continue;
    broker_.Unsubscribe(it->second);
    link.interest.erase(it);
  }
  for (const pb::Interest& i : update.add()) {
    auto key = std::make_pair(i.pattern(), i.queue_group());
    if (link.interest.count(key)) continue;
    Result<uint64_t> sub = BrokerCluster::SubscribePeer(
        broker_, i.pattern(), i.queue_group(),
        std::make_shared<InterestSink>(self, i.pattern(), i.queue_group()));
    if (!sub.ok()) {
      spdlog::warn("cluster: node '{}' announced interest this node cannot hold ({}): {}",
                   link.peer_id(), i.pattern(), sub.status().message());
      continue;
    }
    link.interest.emplace(std::move(key), *sub);
  }
}

void InterestSync::Clear() {
  std::lock_guard lock(mu_);
  announced_.clear();
}

}  // namespace herald::cluster
