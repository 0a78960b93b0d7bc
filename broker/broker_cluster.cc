// The core's side of a cluster: what it does when ClusterView says a topic's
// owner moved, peer interest as subscriptions, and injecting what peers send
// (sequenced messages, replies, history). See docs/CLUSTER.md for the model.
#include "broker/broker_cluster.h"

#include <future>

#include "broker/broker_impl.h"
#include "herald/topic.h"

namespace herald {

namespace {

// Messages of one page of a replay read here for a subscription.
constexpr size_t kReplayPageMessages = 1024;

}  // namespace

bool Broker::Impl::OwnedHere(TopicState& ts) {
  const ClusterView::Settled settled = cluster_.Settle(ts.cluster, ts.name);
  if (settled.moved) RestartNumbering(ts, settled.here);
  return settled.here;
}

void Broker::Impl::RestartNumbering(TopicState& ts, bool here) {
  // On a shared store the numbering is the store's, and goes on.
  if (SharedNumbering(ts)) return HandOverShared(ts);
  // What this node numbered (or mirrored) is no longer authoritative: the
  // numbering restarts under the new owner, so resumes see an epoch change
  // instead of offsets that mean something else now.
  DropHistory(ts);
  ts.last_offset = 0;
  ts.epoch = here ? NextEpoch() : 0;
  // Messages still queued for the store belong to the old epoch now.
  ts.store_pending = 0;
  if (store_ && ts.history.enabled()) {
    if (here) {
      StartEpochStored(ts);
    } else {
      store_->Forget(ts.name);  // another node numbers it now
      ts.store_first = 1;
    }
  }
}

void Broker::Impl::SuspectOwned(const std::function<bool(std::string_view)>& moved_meanwhile) {
  // A link came up: the peer is told this node's whole interest anew.
  interest_seq_.fetch_add(1, std::memory_order_acq_rel);
  topics_.RemoveIf([&](TopicState& ts) {
    std::lock_guard lock(ts.mu);
    // On a shared store what the peer numbered went through the store. It
    // may have numbered any topic this node owns (a partition: it owned
    // them all), so each is loaded again before it is numbered or read here.
    if (SharedNumbering(ts)) {
      if (ClusterView::OwnedBy(ts.cluster, "") && ts.shared_load == TopicState::SharedLoad::kYes) {
        HandOverShared(ts);
      }
      return false;
    }
    if (ClusterView::OwnedBy(ts.cluster, "") && ClusterView::Delivered(ts.cluster) &&
        moved_meanwhile(ts.name)) {
      ClusterView::Suspect(ts.cluster);
    }
    return false;
  });
}

void Broker::Impl::NoteEpoch(TopicState& ts, const MatchResult& match, uint64_t epoch) {
  if (!ClusterView::Announce(ts.cluster, epoch)) return;
  auto gap = std::make_shared<const Gap>(Gap{ts.name, GapReason::kEpochChanged, epoch, 0, 0});
  for (const SubscriptionPtr& sub : match.owners) {
    if (ClusterView::IsPeerInterest(*sub) || !sub->queue_group.empty()) continue;
    DeliveryInbox::Item item;
    item.target = sub;
    item.gap = gap;
    sub->inbox->Push(std::move(item));
  }
}

std::vector<LocalInterest> Broker::Impl::AttachCluster(ClusterHook* hook,
                                                       std::shared_ptr<Inbox> inbox) {
  std::vector<LocalInterest> present;
  std::lock_guard lock(subs_mu_);
  subscriptions_.ForEach([&](const Subscription& sub) {
    if (!ClusterView::IsPeerInterest(sub)) present.push_back({sub.pattern, sub.queue_group});
  });
  cluster_.Attach(hook, std::move(inbox));
  return present;
}

void Broker::Impl::DetachCluster() {
  std::lock_guard lock(subs_mu_);
  cluster_.Detach();
}

Result<uint64_t> Broker::Impl::SubscribePeer(const std::string& pattern, const std::string& group,
                                             std::shared_ptr<Sink> sink) {
  SubscribeOptions options;
  options.queue_group = group;
  if (Status s = CheckSubscribe(pattern, options); !s.ok()) return s;
  auto sub = std::make_shared<Subscription>();
  sub->pattern = pattern;
  sub->queue_group = group;
  sub->sink = std::move(sink);
  {
    std::lock_guard lock(subs_mu_);
    sub->inbox = cluster_.peer_inbox();  // what makes it a peer's interest
    if (!sub->inbox) return Status(ErrorCode::kUnavailable, "no cluster is attached");
    ++SinkAccounting::Count(*sub->sink);
    subscriptions_.Insert(sub);
  }
  index_.Add(sub);
  BrokerCounters::Add(counters_.peer_subscriptions, 1);
  return sub->id;
}

void Broker::Impl::PublishOwned(std::string topic, std::string payload, PublishOptions options,
                                PublishCallback done) {
  HereResult r = PublishHere(topic, std::move(payload), std::move(options),
                             {.forwarded_by_peer = true, .done = &done});
  if (!r.deferred) done(std::move(r.ack));
}

void Broker::Impl::DeliverRemote(MessagePtr m, const std::string& pattern,
                                 const std::string& group) {
  if (!group.empty()) {
    // The owner picked this node for one delivery to the group: pick one
    // local member (the group's other members here are peers' interest).
    MatchResultPtr match = index_.Match(m->topic);
    for (const MatchResult::GroupSlice& g : match->groups) {
      const Subscription& first = *g.members.front();
      if (first.queue_group != group || first.pattern != pattern) continue;
      const size_t n = g.members.size();
      const uint64_t start = g.cursor->next.fetch_add(1, std::memory_order_relaxed);
      for (size_t i = 0; i < n; ++i) {
        const SubscriptionPtr& member = g.members[(start + i) % n];
        if (ClusterView::IsPeerInterest(*member) ||
            !member->active.load(std::memory_order_acquire)) {
          continue;
        }
        DeliveryInbox::Item item;
        item.message = m;
        item.from_peer = true;
        item.target = member;
        item.group = static_cast<int>(&g - match->groups.data());
        member->inbox->Push(std::move(item));
        return;
      }
    }
    BrokerCounters::Add(counters_.dropped, 1);  // the group's last member here left meanwhile
    return;
  }
  for (;;) {
    Result<TopicStatePtr> found =
        topics_.GetOrCreate(m->topic, [this](std::string_view name) { return MakeTopic(name); });
    if (!found.ok()) {
      BrokerCounters::Add(counters_.dropped, 1);
      return;
    }
    TopicState& ts = **found;
    std::lock_guard lock(ts.mu);
    if (ts.removed) continue;
    if (SharedNumbering(ts)) {
      if (OwnedHere(ts) && ts.shared_load != TopicState::SharedLoad::kNo) {
        // Another node numbered the topic meanwhile (views differed): the
        // head this node loaded is behind. It loads it again, and the load
        // brings this message and any before it to local subscribers.
        const bool beyond = m->epoch != ts.epoch || m->offset > ts.last_offset + ts.store_pending;
        if (ts.shared_load == TopicState::SharedLoad::kYes && beyond) {
          HandOverShared(ts);
          if (!LoadShared(*found).ok()) ClusterView::Suspect(ts.cluster);
        }
        return;
      }
      return MirrorShared(*found, std::move(m));
    }
    if (!cluster_.attached() || !OwnedHere(ts)) {
      ts.epoch = m->epoch;
      ts.last_offset = m->offset;
    }
    DeliverMirrored(ts, m);
    return;
  }
}

void Broker::Impl::DeliverMirrored(TopicState& ts, const MessagePtr& m) {
  ts.last_activity_us = NowUs();
  ts.mirrored_at_seq = interest_seq_.load(std::memory_order_acquire);
  const MatchResultPtr& match = MatchFor(ts);
  if (ClusterView::EpochUnannounced(ts.cluster, m->epoch)) NoteEpoch(ts, *match, m->epoch);
  // Local plain subscribers only: queue groups were served by the owner's
  // pick, and peers' interest is never served from here (one hop).
  for (uint32_t i = 0; i < match->plain.size(); ++i) {
    if (ClusterView::IsPeerInbox(match->plain[i].inbox)) continue;
    DeliveryInbox::Item item;
    item.message = m;
    item.match = match.get();
    item.slice = i;
    match->plain[i].inbox->Push(std::move(item), match);
  }
}

void Broker::Impl::PeerLost(const std::string& node) {
  topics_.RemoveIf([&](TopicState& ts) {
    std::lock_guard lock(ts.mu);
    // On a shared store what the lost frames carried is in the store: the
    // next message fills the hole from it (MirrorShared).
    if (SharedNumbering(ts)) return false;
    if (ClusterView::OwnedBy(ts.cluster, node)) ClusterView::Suspect(ts.cluster);
    return false;
  });
}

// How many sweeps a replay whose owner cannot be asked waits for the view
// to name a live one (a dead node's link goes at once; its membership, and
// so its topics, within a heartbeat timeout).
constexpr int kReplayRetries = 5;

void Broker::Impl::RetryReplays() {
  std::vector<ReplayRetry> due;
  {
    std::lock_guard lock(replay_retries_mu_);
    due.swap(replay_retries_);
  }
  for (ReplayRetry& r : due) {
    if (!cluster_.attached()) break;
    FetchReplay(cluster_.OwnerOf(r.point.topic), r.point, r.sub, r.attempt);
  }
}

void Broker::Impl::FetchReplay(const std::string& owner, const ResumePoint& point,
                               const SubscriptionPtr& sub, int attempt) {
  if (!owner.empty() && ResumesFromStore(point.topic)) {
    bool receives = false;
    if (TopicStatePtr ts = topics_.Find(point.topic)) {
      std::lock_guard lock(ts->mu);
      // The subscription is indexed by now (a message after its own
      // interest counts, not one before), and a link may have come up
      // since (the interest it was told counts too).
      receives = !ts->removed &&
                 ReceivesShared(*ts, std::max(sub->interest_seq,
                                              interest_seq_.load(std::memory_order_acquire)));
    }
    if (receives) return ReplayFromStore(owner, point, sub, attempt);
  }
  AskReplay(owner, point, sub, attempt);
}

void Broker::Impl::AskReplay(const std::string& owner, const ResumePoint& point,
                             const SubscriptionPtr& sub, int attempt) {
  const uint64_t seen_epoch = point.epoch;
  // A page at a time: the next is asked for once this one is delivered, so
  // a replay holds one page however much history the owner keeps.
  HistoryCallback page = [this, owner, sub, point, attempt, topic = point.topic,
                          seen_epoch](Result<ResumeResult> r) {
    // On a shared store the next owner answers from the store: a dead
    // owner's replay waits for the view to move on rather than end in a gap.
    if (!r.ok() && shared_ && seen_epoch != 0 && attempt < kReplayRetries &&
        (r.status().code() == ErrorCode::kUnavailable ||
         r.status().code() == ErrorCode::kTimeout)) {
      std::lock_guard lock(replay_retries_mu_);
      replay_retries_.push_back({point, sub, attempt + 1});
      return;
    }
    auto replay = std::make_shared<RemoteReplay>();
    replay->topic = topic;
    if (r.ok()) {
      replay->gap = std::move(r->gap);
      replay->messages = std::move(r->messages);
      replay->epoch = r->epoch;
      replay->last_offset = r->last_offset;
      if (r->truncated && !replay->messages.empty()) {
        ResumePoint next{topic, r->epoch, replay->messages.back()->offset};
        replay->next = [this, owner, next, sub] { AskReplay(owner, next, sub, 0); };
      }
    } else if (seen_epoch != 0) {
      // The owner could not be asked: whatever the client missed is
      // unknown, which it is told rather than left to assume nothing.
      replay->gap = Gap{topic, GapReason::kEpochChanged, 0, 0, 0};
    }
    DeliveryInbox::Item item;
    item.target = sub;
    item.replay = std::move(replay);
    sub->inbox->Push(std::move(item));
  };
  if (owner.empty()) {
    // Owned here, on a shared store: answered once this node has loaded it.
    return ResumeHere(topics_.Find(point.topic), point.topic, point.epoch, point.after_offset,
                      kReplayPageMessages, std::move(page));
  }
  cluster_.FetchHistory(owner, point.topic, point.epoch, point.after_offset, std::move(page));
}

// --- BrokerCluster ------------------------------------------------------------

Status BrokerCluster::QueuesClusterable(const Broker& broker) {
  const Broker::Impl& b = *broker.impl_;
  if (b.queues_shared()) return Status::Ok();
  const std::vector<QueueInfo> queues = b.ListQueues();
  if (queues.empty()) return Status::Ok();
  return Status(ErrorCode::kUnavailable,
                "the broker holds " + std::to_string(queues.size()) + " work queue(s) ('" +
                    queues.front().options.name +
                    "'...), which a cluster can serve only from the Redis store on one server "
                    "([store] kind = \"redis\", no shards): every node would hold its own jobs");
}

std::vector<LocalInterest> BrokerCluster::Attach(Broker& broker, ClusterHook* hook,
                                                 std::shared_ptr<Inbox> peer_inbox) {
  return broker.impl_->AttachCluster(hook, std::move(peer_inbox));
}

void BrokerCluster::Detach(Broker& broker) { broker.impl_->DetachCluster(); }

Result<uint64_t> BrokerCluster::SubscribePeer(Broker& broker, const std::string& pattern,
                                              const std::string& queue_group,
                                              std::shared_ptr<Sink> sink) {
  return broker.impl_->SubscribePeer(pattern, queue_group, std::move(sink));
}

void BrokerCluster::PublishOwned(Broker& broker, std::string topic, std::string payload,
                                 PublishOptions options, PublishCallback done) {
  broker.impl_->PublishOwned(std::move(topic), std::move(payload), std::move(options),
                             std::move(done));
}

void BrokerCluster::DeliverRemote(Broker& broker, MessagePtr message, const std::string& pattern,
                                  const std::string& queue_group) {
  broker.impl_->DeliverRemote(std::move(message), pattern, queue_group);
}

void BrokerCluster::CompleteReply(Broker& broker, MessagePtr reply) {
  broker.impl_->CompleteReply(std::move(reply));
}

void BrokerCluster::SuspectOwned(Broker& broker,
                                 const std::function<bool(std::string_view)>& moved_meanwhile) {
  broker.impl_->SuspectOwned(moved_meanwhile);
}

void BrokerCluster::PeerLost(Broker& broker, const std::string& node) {
  broker.impl_->PeerLost(node);
}

void BrokerCluster::ResumeOwned(Broker& broker, const std::string& topic, uint64_t epoch,
                                uint64_t after_offset, size_t limit, ResumeCallback done) {
  broker.impl_->ResumeOwned(topic, epoch, after_offset, limit, std::move(done));
}

void BrokerCluster::ApplyAdmin(Broker& broker, AdminCall call, AdminCallback done) {
  // A peer is trusted to route, not to be right: its call is checked as a
  // client's would be.
  if (Status s = broker.impl_->CheckAdmin(call); !s.ok()) {
    AdminResult r;
    r.nodes = 1;
    r.refused = 1;
    r.errors.push_back("node '" + broker.options().node_id + "' refused the call: " + s.message());
    return done(std::move(r));
  }
  broker.impl_->AdminLocal(call, std::move(done));
}

std::vector<Revocation> BrokerCluster::Revocations(const Broker& broker) {
  return broker.impl_->revocations().All();
}

}  // namespace herald
