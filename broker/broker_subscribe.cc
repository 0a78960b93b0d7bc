// Subscribing and unsubscribing, including subscribe-with-resume, which
// replays history under the topics' locks so nothing published in between is
// lost or duplicated.
#include <algorithm>

#include "broker/broker_impl.h"
#include "herald/topic.h"

namespace herald {

using Clock = RequestTracker::Clock;

std::shared_ptr<DeliveryInbox> Broker::Impl::CreateInbox(std::function<void()> wake) {
  auto inbox =
      std::make_shared<DeliveryInbox>(std::move(wake), options_.max_inbox_pending, &counters_,
                                      [this](const MessagePtr& m, const Subscription& gone,
                                             bool from_peer) { Redispatch(m, gone, from_peer); });
  std::lock_guard lock(inboxes_mu_);
  inboxes_.push_back(inbox);
  return inbox;
}

bool Broker::Impl::OwnsInbox(const DeliveryInbox* inbox) const {
  std::lock_guard lock(inboxes_mu_);
  for (const auto& mine : inboxes_) {
    if (mine.get() == inbox) return true;
  }
  return false;
}

Status Broker::Impl::CheckSubscribe(std::string_view pattern,
                                    const SubscribeOptions& options) const {
  if (Status s = ValidatePattern(pattern, options_.topic_limits); !s.ok()) return s;
  if (pattern.starts_with(kInboxPrefix)) {
    return {ErrorCode::kInvalidTopic, "topics under _INBOX. are reserved for replies"};
  }
  const std::string& group = options.queue_group;
  if (group.size() > options_.topic_limits.max_length) {
    return {ErrorCode::kInvalidArgument, "queue group name is too long"};
  }
  for (unsigned char c : group) {
    if (c <= 0x20 || c == 0x7F) {
      return {ErrorCode::kInvalidArgument,
              "queue group name contains whitespace or a control character"};
    }
  }
  if (options.presence) {
    if (!ValidateTopic(pattern, options_.topic_limits).ok()) {
      return {ErrorCode::kInvalidArgument, "presence needs one topic, not a pattern"};
    }
    if (!group.empty()) {
      return {ErrorCode::kInvalidArgument, "a queue group member cannot ask for presence"};
    }
    if (options.presence->client.empty()) {
      return {ErrorCode::kInvalidArgument, "presence needs the client's id"};
    }
    if (Status s = presence_.Allowed(pattern); !s.ok()) return s;
  }
  for (const ResumePoint& p : options.resume) {
    if (Status s = ValidateTopic(p.topic, options_.topic_limits); !s.ok()) return s;
    if (!PatternMatches(pattern, p.topic)) {
      return {ErrorCode::kInvalidArgument, "resume topic '" + p.topic +
                                               "' does not match the pattern '" +
                                               std::string(pattern) + "'"};
    }
  }
  return Status::Ok();
}

Result<uint64_t> Broker::Impl::Subscribe(std::string_view pattern, std::shared_ptr<Sink> sink,
                                         std::shared_ptr<Inbox> inbox, SubscribeOptions options) {
  if (Status s = CheckSubscribe(pattern, options); !s.ok()) return s;
  auto* delivery_inbox = dynamic_cast<DeliveryInbox*>(inbox.get());
  if (!sink || !delivery_inbox || !OwnsInbox(delivery_inbox)) {
    return Status(ErrorCode::kInvalidArgument, "a sink and an inbox of this broker are required");
  }
  auto sub = std::make_shared<Subscription>();
  uint64_t announced_before = 0;
  sub->pattern = std::string(pattern);
  sub->queue_group = std::move(options.queue_group);
  sub->inbox = delivery_inbox;
  {
    std::lock_guard lock(subs_mu_);
    uint32_t& count = SinkAccounting::Count(*sink);
    if (const size_t max = limits_.max_subscriptions_per_sink; count >= max) {
      BrokerCounters::Add(counters_.subscriptions_refused, 1);
      return Status(ErrorCode::kTooManySubscriptions,
                    "at most " + std::to_string(max) + " subscriptions per connection");
    }
    ++count;
    subscriptions_.Insert(sub);
    ++local_patterns_[sub->pattern];
    // New interest announced by the subscriptions before this one, and
    // with it (ReceivesShared).
    announced_before = interest_seq_.load(std::memory_order_acquire);
    if (cluster_.InterestChanged(sub->pattern, sub->queue_group, true)) {
      interest_seq_.fetch_add(1, std::memory_order_acq_rel);
    }
    sub->interest_seq = interest_seq_.load(std::memory_order_acquire);
  }
  sub->sink = std::move(sink);
  BrokerCounters::Add(counters_.subscriptions, 1);
  if (options.presence) {
    // The member joins (and its snapshot is queued) before any message can
    // match: the subscription is not in the index yet.
    sub->presence_client = options.presence->client;
    if (Status s = presence_.Join(sub->pattern, *options.presence, sub, SteadyUs(Clock::now()));
        !s.ok()) {
      sub->presence_client.clear();
      Unsubscribe(sub->id);
      return s;
    }
  }

  if (options.resume.empty()) {
    index_.Add(sub);
    return sub->id;
  }
  // Lock every resumed topic (in name order, so two resumes cannot deadlock),
  // then add the subscription and replay: a publisher to one of these topics
  // either sequenced before us (its message is in the replay) or matches
  // after us (and finds the new subscription). Never both, never neither.
  std::sort(options.resume.begin(), options.resume.end(),
            [](const ResumePoint& a, const ResumePoint& b) { return a.topic < b.topic; });
  options.resume.erase(
      std::unique(options.resume.begin(), options.resume.end(),
                  [](const ResumePoint& a, const ResumePoint& b) { return a.topic == b.topic; }),
      options.resume.end());
  // Every lookup first, then the locks: a lookup takes its shard's lock, and
  // whoever holds a shard's lock may go on to take a topic's (TopicTable::Sum,
  // maintenance), so no shard lock may be taken while a topic's is held.
  std::vector<TopicStatePtr> states;
  for (const ResumePoint& p : options.resume) states.push_back(topics_.Find(p.topic));
  std::vector<std::unique_lock<std::mutex>> locks;
  for (const TopicStatePtr& ts : states) {
    if (ts) locks.emplace_back(ts->mu);
  }
  // In a cluster, topics owned by another node are replayed from the owner's
  // history: their live messages wait on the subscription until it arrives.
  std::vector<std::string> owners(options.resume.size());
  // Of those, the ones read from a shared store rather than asked of the
  // owner: only a topic this node already receives (ReceivesShared, decided
  // before this subscription counts as a local subscriber).
  std::vector<bool> from_store(options.resume.size());
  // Topics owned here that must be loaded from a shared store first: their
  // history is read once the topic locks are let go (the load takes them).
  std::vector<bool> load_first(options.resume.size());
  if (cluster_.attached()) {
    for (size_t i = 0; i < options.resume.size(); ++i) {
      TopicState* ts = states[i] && !states[i]->removed ? states[i].get() : nullptr;
      if (ts ? OwnedHere(*ts) : (owners[i] = cluster_.OwnerOf(options.resume[i].topic)).empty()) {
        load_first[i] =
            shared_ && (ts ? SharedNumbering(*ts) && ts->shared_load != TopicState::SharedLoad::kYes
                           : HistoryFor(options.resume[i].topic).max_messages > 0);
        if (load_first[i]) {
          if (!sub->held) sub->held = std::make_unique<RemoteHolds>();
          sub->held->Hold(options.resume[i].topic);
        }
        continue;
      }
      if (ts) owners[i] = ClusterView::Owner(ts->cluster);
      from_store[i] = ts && ReceivesShared(*ts, announced_before);
      if (!sub->held) sub->held = std::make_unique<RemoteHolds>();
      sub->held->Hold(options.resume[i].topic);  // waiting for the replay
    }
  }
  // Topics owned here: what each replays, from memory or from the store
  // (whose pages come later: the topic is held like a remote one).
  std::vector<PlannedReplay> plans(options.resume.size());
  for (size_t i = 0; i < options.resume.size(); ++i) {
    if (!owners[i].empty() || load_first[i]) continue;
    TopicState* ts = states[i] && !states[i]->removed ? states[i].get() : nullptr;
    plans[i] = PlanReplay(ts, options.resume[i]);
    if (plans[i].read_from) {
      if (!sub->held) sub->held = std::make_unique<RemoteHolds>();
      sub->held->Hold(options.resume[i].topic);
    }
  }
  index_.Add(sub);
  for (size_t i = 0; i < options.resume.size(); ++i) {
    if (!owners[i].empty()) {
      if (from_store[i]) {
        ReplayFromStore(owners[i], options.resume[i], sub, /*attempt=*/0);
      } else {
        AskReplay(owners[i], options.resume[i], sub, /*attempt=*/0);
      }
      continue;
    }
    if (!load_first[i]) Replay(options.resume[i], std::move(plans[i]), sub);
  }
  locks.clear();
  for (size_t i = 0; i < options.resume.size(); ++i) {
    if (load_first[i]) FetchReplay(/*owner=*/"", options.resume[i], sub);
  }
  return sub->id;
}

bool Broker::Impl::Unsubscribe(uint64_t id) {
  SubscriptionPtr sub;
  bool peer = false;
  {
    std::lock_guard lock(subs_mu_);
    sub = subscriptions_.Take(id);
    if (!sub) return false;
    --SinkAccounting::Count(*sub->sink);
    peer = ClusterView::IsPeerInterest(*sub);
    if (!peer) {
      cluster_.InterestChanged(sub->pattern, sub->queue_group, false);
      if (auto p = local_patterns_.find(sub->pattern);
          p != local_patterns_.end() && --p->second == 0)
        local_patterns_.erase(p);
    }
  }
  sub->active.store(false, std::memory_order_release);
  index_.Remove(sub);
  if (!sub->presence_client.empty()) {
    presence_.Leave(sub->pattern, sub->presence_client, sub.get(), SteadyUs(Clock::now()));
  }
  BrokerCounters::Sub(peer ? counters_.peer_subscriptions : counters_.subscriptions, 1);
  return true;
}

}  // namespace herald
