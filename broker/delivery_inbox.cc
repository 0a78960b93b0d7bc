#include "broker/delivery_inbox.h"

#include <algorithm>

namespace herald {

DeliveryInbox::DeliveryInbox(std::function<void()> wake, size_t max_pending,
                             BrokerCounters* counters, Redispatch redispatch)
    : wake_(std::move(wake)),
      max_pending_(max_pending),
      counters_(counters),
      redispatch_(std::move(redispatch)) {}

void DeliveryInbox::Push(Item item, const MatchResultPtr& keep) {
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (pending_.size() >= max_pending_ && item.message) {
      RecordDropLocked(item, keep);
    } else {
      if (keep && keep.get() != last_kept_) {
        keep_.push_back(keep);
        last_kept_ = keep.get();
      }
      if (item.message) item.pin = EncodingPin(item.message.get());
      pending_.push_back(std::move(item));
    }
    if (!wake_pending_) wake = wake_pending_ = true;
  }
  if (wake) wake_();
}

size_t DeliveryInbox::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

void DeliveryInbox::NoteDrop(Subscription* sub, const Item& item, const MatchResultPtr& keep) {
  const Message& m = *item.message;
  auto [it, fresh] = dropped_.try_emplace({sub->id, m.topic});
  Dropped& d = it->second;
  if (fresh) {
    d.keep_match = keep;
    d.keep_target = item.target;
    d.sub = sub;
    d.gap = {m.topic, GapReason::kSlowConsumer, m.epoch, m.offset, m.offset};
  } else if (d.gap.epoch == m.epoch) {
    d.gap.to_offset = m.offset;
  }
  BrokerCounters::Add(counters_->dropped, 1);
  BrokerCounters::Add(counters_->inbox_dropped, 1);
}

void DeliveryInbox::RecordDropLocked(const Item& item, const MatchResultPtr& keep) {
  if (item.target) {
    NoteDrop(item.target.get(), item, keep);
    return;
  }
  for (Subscription* sub : item.match->plain[item.slice].subscriptions) {
    NoteDrop(sub, item, keep);
  }
}

size_t DeliveryInbox::DeliverItem(const Item& item) {
  if (item.target) {
    Subscription& sub = *item.target;
    if (item.job) sub.queued_jobs.fetch_sub(1, std::memory_order_release);
    if (!sub.active.load(std::memory_order_acquire)) {
      if (item.group >= 0 && item.message) redispatch_(item.message, sub, item.from_peer);
      return 0;
    }
    if (item.replay) return DeliverReplay(sub, *item.replay);
    if (item.presence) {
      Delivery d;
      d.kind = Delivery::Kind::kPresence;
      d.subscription_id = sub.id;
      d.presence = item.presence.get();
      sub.sink->OnDelivery(d);
      return 0;
    }
    if (item.job) {
      Delivery d;
      d.kind = Delivery::Kind::kJob;
      d.subscription_id = sub.id;
      d.message = item.job->message;
      d.job = item.job.get();
      sub.sink->OnDelivery(d);
      return 1;
    }
    if (item.gap && sub.held && item.gap->reason == GapReason::kEpochChanged &&
        sub.held->HoldsEpochChange(item.gap)) {
      return 0;  // told in its place after the replay, or by the replay
    }
    Delivery d;
    d.subscription_id = sub.id;
    if (item.gap) {
      d.kind = Delivery::Kind::kGap;
      d.gap = item.gap.get();
    } else {
      d.message = item.message;
    }
    sub.sink->OnDelivery(d);
    return item.message ? 1 : 0;
  }
  size_t n = 0;
  Delivery d;
  d.message = item.message;
  for (Subscription* sub : item.match->plain[item.slice].subscriptions) {
    if (!sub->active.load(std::memory_order_acquire)) continue;
    if (sub->held && !PassHold(*sub, item.message)) [[unlikely]]
      continue;
    d.subscription_id = sub->id;
    sub->sink->OnDelivery(d);
    ++n;
  }
  return n;
}

bool DeliveryInbox::PassHold(Subscription& sub, const MessagePtr& m) {
  std::optional<Gap> before;
  if (!sub.held->Pass(m, &before)) return false;
  if (sub.held->empty()) sub.held.reset();
  if (before) {
    Delivery d;
    d.subscription_id = sub.id;
    d.kind = Delivery::Kind::kGap;
    d.gap = &*before;
    sub.sink->OnDelivery(d);
  }
  return true;
}

// The owner's answer for a held topic: its gap and messages, then the live
// messages that waited for it and are newer than what it covered.
size_t DeliveryInbox::DeliverReplay(Subscription& sub, const RemoteReplay& replay) {
  if (!sub.held) sub.held = std::make_unique<RemoteHolds>();
  // A page with more to follow: the live messages keep waiting.
  std::vector<RemoteHolds::Waiting> waiting;
  if (!replay.next) {
    waiting = sub.held->Replayed(replay.topic, replay.epoch, replay.last_offset, replay.messages);
  }
  Delivery d;
  d.subscription_id = sub.id;
  if (replay.gap) {
    d.kind = Delivery::Kind::kGap;
    d.gap = &*replay.gap;
    sub.sink->OnDelivery(d);
    d.kind = Delivery::Kind::kMessage;
    d.gap = nullptr;
  }
  size_t n = 0;
  for (const MessagePtr& m : replay.messages) {
    d.message = m;
    sub.sink->OnDelivery(d);
    ++n;
  }
  for (const RemoteHolds::Waiting& w : waiting) {
    if (w.gap) {
      // An epoch change that came while the replay was read: told here,
      // before the new epoch's messages, unless the replay was of it.
      if (sub.held && sub.held->HoldsEpochChange(w.gap)) continue;
      Delivery g;
      g.subscription_id = sub.id;
      g.kind = Delivery::Kind::kGap;
      g.gap = w.gap.get();
      sub.sink->OnDelivery(g);
      continue;
    }
    if (sub.held && !PassHold(sub, w.message)) continue;
    d.message = w.message;
    sub.sink->OnDelivery(d);
    ++n;
  }
  // The page is delivered: its charge goes before the next page is asked
  // for, so a replay holds one page at a time.
  replay.charge.reset();
  if (replay.next) replay.next();
  return n;
}

size_t DeliveryInbox::Drain() {
  size_t delivered = 0;
  uint64_t bytes = 0;
  std::map<std::pair<uint64_t, std::string>, Dropped> dropped;
  bool rewake = false;
  for (int round = 0;; ++round) {
    {
      std::lock_guard lock(mu_);
      if (pending_.empty() && dropped_.empty()) {
        wake_pending_ = false;  // from here on, the next Push wakes us
        break;
      }
      if (round == kMaxDrainRounds) {
        // Still busy: leave wake_pending_ set and ask to be run again, so the
        // owner's loop gets to its other work in between.
        rewake = true;
        break;
      }
      draining_.swap(pending_);
      draining_keep_.swap(keep_);
      last_kept_ = nullptr;
      dropped.swap(dropped_);
    }
    for (const Item& item : draining_) {
      const size_t n = DeliverItem(item);
      delivered += n;
      if (item.message) bytes += n * item.message->payload.size();
    }
    draining_.clear();
    draining_keep_.clear();
    // Gaps come after what was queued before the drops: the order the
    // subscriber would have seen the messages in.
    for (auto& [key, d] : dropped) {
      if (!d.sub->active.load(std::memory_order_acquire)) continue;
      Delivery g;
      g.kind = Delivery::Kind::kGap;
      g.subscription_id = d.sub->id;
      g.gap = &d.gap;
      d.sub->sink->OnDelivery(g);
    }
    dropped.clear();
  }
  if (rewake) wake_();
  BrokerCounters::Add(counters_->deliveries, delivered);
  BrokerCounters::Add(counters_->delivery_bytes, bytes);
  return delivered;
}

}  // namespace herald
