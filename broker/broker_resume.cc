// Resuming from history: exactly the missed messages in order, or an explicit
// gap where history does not reach. Never a silently short answer.
//
// Memory holds each topic's newest messages; with a history store, older
// ones are on disk and read a page at a time (HistoryStore::Read, on the
// store's reader thread), so what a resume costs in memory is one page,
// whatever the size of the history.
#include "broker/broker_impl.h"
#include "broker/resume_window.h"

namespace herald {

ResumeResult Broker::Impl::ResumeLocked(TopicState& ts, uint64_t epoch, uint64_t after,
                                        size_t limit, Status* error,
                                        std::optional<uint64_t>* read_from) const {
  ResumeResult r;
  r.epoch = ts.epoch;
  r.last_offset = ts.last_offset;
  const uint64_t in_memory = ts.history.empty() ? ts.last_offset + 1 : ts.history.first_offset();
  // With a store, history reaches back to what the store holds, once
  // memory no longer has all of it.
  const bool on_disk = read_from && store_ && ts.history.enabled() && ts.history_evicted;
  const uint64_t first =
      on_disk ? std::min(std::max<uint64_t>(ts.store_first, 1), in_memory) : in_memory;
  ResumeWindow w = DecideResume(ts.name, ts.epoch, first, ts.last_offset, epoch, after);
  if (w.ahead) {
    *error = AheadError(ts.name, after, ts.last_offset);
    return r;
  }
  r.gap = std::move(w.gap);
  if (epoch == 0 || epoch != ts.epoch) after = 0;
  const uint64_t start = w.start;
  if (on_disk && limit > 0 && start + 1 < in_memory) {
    // Older than memory holds: the caller reads the store from `start`.
    *read_from = start;
    r.truncated = true;
    return r;
  }
  ts.history.CopyAfter(after, limit, r.messages);
  const uint64_t last_sent = r.messages.empty() ? start : r.messages.back()->offset;
  r.truncated = last_sent < ts.last_offset;
  return r;
}

void Broker::Impl::ResumeAsync(std::string_view topic, uint64_t epoch, uint64_t after_offset,
                               size_t limit, ResumeCallback done) {
  if (Status s = ValidateTopic(topic, options_.topic_limits); !s.ok()) return done(s);
  TopicStatePtr ts = topics_.Find(topic);
  if (cluster_.attached()) {
    // History lives with the topic's owner, or in a shared store any node reads.
    std::string owner;
    if (ts) {
      std::lock_guard lock(ts->mu);
      if (!OwnedHere(*ts)) owner = ClusterView::Owner(ts->cluster);
    } else {
      owner = cluster_.OwnerOf(topic);
    }
    if (!owner.empty()) {
      if (ResumesFromStore(topic)) {
        return ResumeFromStore(owner, std::string(topic), epoch, after_offset, limit,
                               std::move(done));
      }
      return cluster_.FetchResume(owner, topic, epoch, after_offset, limit, std::move(done));
    }
  }
  ResumeHere(std::move(ts), topic, epoch, after_offset, limit, std::move(done));
}

void Broker::Impl::ResumeHere(TopicStatePtr ts, std::string_view topic, uint64_t epoch,
                              uint64_t after_offset, size_t limit, ResumeCallback done) {
  if (shared_ && cluster_.attached() && HistoryFor(topic).max_messages > 0) {
    // On a shared store the owner answers from the head it loaded: loaded
    // first, if it has not been yet (the topic made here, if need be).
    if (!ts) {
      Result<TopicStatePtr> made =
          topics_.GetOrCreate(topic, [this](std::string_view name) { return MakeTopic(name); });
      if (!made.ok()) return done(made.status());
      ts = *made;
    }
    std::unique_lock lock(ts->mu);
    // Only the owner loads (a peer with a stale view may ask another node).
    if (!ts->removed && ts->shared_load != TopicState::SharedLoad::kYes && OwnedHere(*ts)) {
      if (ts->shared_load == TopicState::SharedLoad::kNo) {
        if (Status s = LoadShared(ts); !s.ok()) {
          lock.unlock();
          return done(s);
        }
      }
      ts->load_waiters.push_back([this, ts, topic = std::string(topic), epoch, after_offset, limit,
                                  done = std::move(done)](bool loaded) mutable {
        if (!loaded) {
          return done(Status(ErrorCode::kUnavailable,
                             "topic '" + topic + "' could not be loaded from the shared store"));
        }
        ResumeHere(ts, topic, epoch, after_offset, limit, std::move(done));
      });
      return;
    }
  }
  if (!ts) {
    ResumeResult r;
    // Unknown topic: nothing to replay; a client that had seen messages of it
    // has lost them with the topic's epoch.
    if (epoch != 0) r.gap = Gap{std::string(topic), GapReason::kEpochChanged, 0, 0, 0};
    return done(std::move(r));
  }
  Status error;
  ResumeResult r;
  std::optional<uint64_t> read_from;
  {
    std::lock_guard lock(ts->mu);
    r = ResumeLocked(*ts, epoch, after_offset, limit, &error, &read_from);
  }
  if (!error.ok()) return done(error);
  if (!read_from) return done(std::move(r));
  // One page from the store; the caller pages on (the answer is truncated).
  const uint64_t start = *read_from;
  auto answer = std::make_shared<ResumeCallback>(std::move(done));
  Status s = store_->Read(
      ts->name, r.epoch, start, std::min(limit, kStorePageMessages), kStorePageBytes,
      [this, ts, r = std::move(r), start, limit, answer](Result<StoreRead> read) mutable {
        if (!read.ok()) return (*answer)(read.status());
        if (read->messages.empty()) {
          // Retention took the range meanwhile: answer from memory, with the gap.
          Status again_error;
          ResumeResult again;
          {
            std::lock_guard lock(ts->mu);
            again = ResumeLocked(*ts, r.epoch, start, limit, &again_error, nullptr);
          }
          if (!again_error.ok()) return (*answer)(again_error);
          if (r.gap) again.gap = std::move(r.gap);
          return (*answer)(std::move(again));
        }
        const uint64_t front = read->messages.front()->offset;
        CoverGap(r.gap, ts->name, r.epoch, start + 1, front - 1);
        r.messages = std::move(read->messages);
        r.truncated = r.messages.back()->offset < r.last_offset;
        (*answer)(std::move(r));
      });
  if (!s.ok()) (*answer)(s);
}

void Broker::Impl::ResumeOwned(const std::string& topic, uint64_t epoch, uint64_t after,
                               size_t limit, ResumeCallback done) {
  if (Status s = ValidateTopic(topic, options_.topic_limits); !s.ok()) return done(s);
  ResumeHere(topics_.Find(topic), topic, epoch, after, limit, std::move(done));
}

Broker::Impl::PlannedReplay Broker::Impl::PlanReplay(TopicState* ts, const ResumePoint& point) {
  PlannedReplay plan;
  if (!ts) {
    if (point.epoch != 0) plan.result.gap = Gap{point.topic, GapReason::kEpochChanged, 0, 0, 0};
    return plan;
  }
  Status error;
  plan.result =
      ResumeLocked(*ts, point.epoch, point.after_offset, SIZE_MAX, &error, &plan.read_from);
  if (!error.ok()) {
    // A resume point ahead of the topic cannot come from this epoch's history.
    plan.read_from.reset();
    plan.result = ResumeLocked(*ts, 0, 0, SIZE_MAX, &error, &plan.read_from);
    plan.result.gap = Gap{ts->name, GapReason::kEpochChanged, ts->epoch, 0, 0};
  }
  return plan;
}

// Topic lock held (when the topic exists). Queues the gap notice and the
// retained messages for `sub` ahead of any live message of the topic; or,
// for history on disk, starts reading it (the topic is held on `sub`).
void Broker::Impl::Replay(const ResumePoint& point, PlannedReplay plan,
                          const SubscriptionPtr& sub) {
  ResumeResult& r = plan.result;
  if (plan.read_from) {
    auto from_store = std::make_shared<StoreReplay>();
    from_store->topic = point.topic;
    from_store->epoch = r.epoch;
    from_store->after = *plan.read_from;
    from_store->last = r.last_offset;
    from_store->gap = std::move(r.gap);
    from_store->sub = sub;
    return ReadReplayPage(from_store);
  }
  if (r.gap) {
    DeliveryInbox::Item item;
    item.target = sub;
    item.gap = std::make_shared<const Gap>(*r.gap);
    sub->inbox->Push(std::move(item));
  }
  for (MessagePtr& m : r.messages) {
    DeliveryInbox::Item item;
    item.message = std::move(m);
    item.target = sub;
    sub->inbox->Push(std::move(item));
  }
}

// Each page is charged to the node's read budget from its read until the
// inbox has delivered it; a page that does not fit waits its turn. A
// replay's later pages go before replays not yet started, so a replay once
// begun finishes, and the live messages held behind it are let go, soonest.
void Broker::Impl::ReadReplayPage(const std::shared_ptr<StoreReplay>& replay) {
  StoreReadBudget::Start read = [this, replay](StoreReadBudget::Charge charge) {
    ReadReplayPage(replay, std::move(charge));
  };
  const bool started = replay->started;
  replay->started = true;
  if (StoreReadBudget::Charge charge = read_budget_.TryCharge(
          kStorePageBytes, read,
          started ? StoreReadBudget::Turn::kFirst : StoreReadBudget::Turn::kLast)) {
    ReadReplayPage(replay, std::move(charge));
  }
}

void Broker::Impl::ReadReplayPage(const std::shared_ptr<StoreReplay>& replay,
                                  StoreReadBudget::Charge charge) {
  // Unsubscribed meanwhile: nothing to read for.
  if (!replay->sub->active.load(std::memory_order_acquire)) return;
  auto held = std::make_shared<StoreReadBudget::Charge>(std::move(charge));
  Status s = store_->Read(replay->topic, replay->epoch, replay->after, kStorePageMessages,
                          kStorePageBytes, [this, replay, held](Result<StoreRead> read) {
                            DeliverReplayPage(replay, std::move(read), std::move(*held));
                          });
  if (!s.ok()) DeliverReplayPage(replay, s, std::move(*held));
}

// On the store's reader thread (or the caller's, when the read was refused):
// one page goes to the subscription's inbox; the next is read once the
// inbox has delivered it, so one page at a time is held.
void Broker::Impl::DeliverReplayPage(const std::shared_ptr<StoreReplay>& replay,
                                     Result<StoreRead> read, StoreReadBudget::Charge charge) {
  auto page = std::make_shared<RemoteReplay>();
  page->charge = std::move(charge);
  page->topic = replay->topic;
  page->epoch = replay->epoch;
  page->last_offset = replay->last;
  page->gap = std::exchange(replay->gap, std::nullopt);
  if (!read.ok()) {
    // The store could not be read (too busy, or failed): what the replay
    // could not give is reported, never skipped.
    CoverGap(page->gap, replay->topic, replay->epoch, replay->after + 1, replay->last);
  } else {
    for (MessagePtr& m : read->messages) {
      if (m->offset > replay->last) break;  // committed after the subscription: comes live
      page->messages.push_back(std::move(m));
    }
    const uint64_t reached = page->messages.empty() ? replay->last : page->messages.back()->offset;
    if (!page->messages.empty()) {
      CoverGap(page->gap, replay->topic, replay->epoch, replay->after + 1,
               page->messages.front()->offset - 1);
    } else {
      // Retention took the rest meanwhile.
      CoverGap(page->gap, replay->topic, replay->epoch, replay->after + 1, replay->last);
    }
    replay->after = reached;
    // More to read; a read that finds nothing more ends the replay with a gap.
    if (!page->messages.empty() && reached < replay->last) {
      page->next = [this, replay] { ReadReplayPage(replay); };
    }
  }
  DeliveryInbox::Item item;
  item.target = replay->sub;
  item.replay = std::move(page);
  replay->sub->inbox->Push(std::move(item));
}

}  // namespace herald
