// A shared store in a cluster (SharedHistoryStore, the Redis store): the
// store, not a node, keeps each topic's numbering, so a topic's epoch and
// history outlive the node that wrote them.
//
//   - A node that comes to own a topic loads its head from the store before
//     it numbers anything, and goes on in the same epoch. Its local
//     subscribers (and peers' interest) get what they had not seen of it
//     from the tail it loaded: the messages the previous owner committed and
//     never sent.
//   - The store refuses an append that does not follow its head (another
//     node numbered meanwhile): the node drops what it numbered, loads the
//     head again and goes on from it. Nothing is numbered twice.
//   - A node that does not own a topic delivers what the owner sends in
//     order, once: a message already delivered is dropped, and a hole
//     before one (frames lost with a dead owner's link) is read from the
//     store before it.
#include "broker/broker_impl.h"

namespace herald {

namespace {

// One read of the store while filling a hole (a few messages, usually).
constexpr size_t kCatchUpMessages = 1024;
constexpr size_t kCatchUpBytes = 1u << 20;
// The largest hole filled: a dead owner's unsent commits are a handful, and
// a larger hole means this node's position is stale (its subscribers left
// and others came since), which is told as a gap rather than replayed.
constexpr uint64_t kMaxHoleFilled = 1024;
// Live messages held behind a fill; past it the fill ends with a gap.
constexpr size_t kMaxHeldLive = 65536;

}  // namespace

void Broker::Impl::HandOverShared(TopicState& ts) {
  DropHistory(ts);
  ++ts.numbering;
  ts.store_pending = 0;
  ts.store_failed = false;
  ts.shared_load = TopicState::SharedLoad::kNo;
  // History is the store's: a resume here reads it there.
  ts.store_first = 1;
  ts.history_evicted = true;
}

Status Broker::Impl::ReadyShared(const TopicStatePtr& ts) {
  if (ts->store_failed) HandOverShared(*ts);  // refused by the store: load its head again
  if (ts->shared_load == TopicState::SharedLoad::kYes) return Status::Ok();
  if (ts->shared_load == TopicState::SharedLoad::kNo) {
    if (Status s = LoadShared(ts); !s.ok()) return s;
  }
  return Status(ErrorCode::kUnavailable, "topic '" + ts->name +
                                             "' is being loaded from the shared store by its "
                                             "new owner: retry");
}

Status Broker::Impl::LoadShared(const TopicStatePtr& ts) {
  ts->shared_load = TopicState::SharedLoad::kLoading;
  BrokerCounters::Add(counters_.shared_loads, 1);
  const LoadSent sent{ts->numbering, ts->epoch, ts->last_offset};
  Status s = shared_->Load(ts->name, [this, ts, sent](Result<StoredTopic> loaded) {
    LoadedShared(ts, sent, std::move(loaded));
  });
  if (!s.ok()) ts->shared_load = TopicState::SharedLoad::kNo;
  return s;
}

// On the store's thread.
void Broker::Impl::LoadedShared(const TopicStatePtr& ts, const LoadSent& sent,
                                Result<StoredTopic> loaded) {
  std::vector<std::function<void(bool)>> waiters;
  // The outcomes known at once of held publishes (a refusal, a duplicate).
  std::vector<std::pair<PublishCallback, Result<PublishAck>>> answers;
  bool ok = false;
  {
    std::lock_guard lock(ts->mu);
    const bool current = !ts->removed && ts->numbering == sent.numbering &&
                         ts->shared_load == TopicState::SharedLoad::kLoading;
    // Handed over again meanwhile: a newer load in progress answers what
    // waits; with none, what waits is told to try again.
    if (!current && ts->shared_load == TopicState::SharedLoad::kLoading) return;
    waiters = std::move(ts->load_waiters);
    ts->load_waiters.clear();
    std::vector<TopicState::HeldPublish> held = std::move(ts->held_publishes);
    ts->held_publishes.clear();
    for (const TopicState::HeldPublish& p : held) {
      BrokerCounters::Sub(counters_.held_publish_bytes, p.message->payload.size());
    }
    if (!current) {
      loaded = Status(ErrorCode::kUnavailable, "its owner changed during the load");
    }
    if (!current || !loaded.ok()) {
      if (current) ts->shared_load = TopicState::SharedLoad::kNo;  // the next publish tries again
      for (TopicState::HeldPublish& p : held) {
        counters_.PublishError(ErrorCode::kUnavailable);
        answers.emplace_back(
            std::move(p.done),
            Status(ErrorCode::kUnavailable, "topic '" + ts->name +
                                                "' could not be loaded from the shared store: " +
                                                loaded.status().message()));
      }
    } else {
      ok = true;
      StoredTopic& st = *loaded;
      // Memory's history is what the store holds now (a node that opened
      // the store at start holds an older tail of it).
      DropHistory(*ts);
      RememberStoredIds(*ts, st.ids);
      // Epochs this node starts come after the store's (clocks differ).
      uint64_t prev = last_epoch_.load(std::memory_order_relaxed);
      while (prev < st.epoch && !last_epoch_.compare_exchange_weak(prev, st.epoch)) {
      }
      // This node saw offsets the store no longer holds: an older epoch
      // (or none) than the one it knows, or fewer offsets of it. The store
      // lost acknowledged writes (a failover to a replica that had not
      // received them, a restart without fsync).
      // Only what it had seen when it sent the load counts: the store read
      // after that, while messages the owner sent meanwhile may be newer
      // than the read.
      const uint64_t seen_epoch = sent.seen_epoch;
      const uint64_t seen = sent.seen_offset;
      const bool store_behind =
          seen > 0 && (st.epoch < seen_epoch || (st.epoch == seen_epoch && st.last_offset < seen));
      if (store_behind || st.epoch_unproven) {
        // Those offsets are never numbered again: a new epoch starts over
        // the store's head, and resuming clients are told of the gap. The
        // same when the store itself cannot show it kept the epoch's
        // newest messages (its server restarted without fsync, or failed
        // over to a replica that may have missed them): some offsets after
        // its head may have been acknowledged by a node gone since.
        if (store_behind) {
          BrokerCounters::Add(counters_.shared_lost,
                              st.epoch == seen_epoch ? seen - st.last_offset : seen);
        }
        ts->epoch = NextEpoch();
        ts->last_offset = 0;
        ts->store_first = 1;
        ts->history_evicted = false;
        BrokerCounters::Add(counters_.shared_gaps, 1);
      } else if (ts->last_offset > 0 &&
                 (ts->epoch > st.epoch ||
                  (ts->epoch == st.epoch && ts->last_offset > st.last_offset))) {
        // The owner's messages that came while the load was in flight are
        // newer than the store's read: local subscribers keep their place
        // (going back would deliver those messages twice), and what memory
        // dropped is read from the store. Numbering from here is refused by
        // the store (its head is older), which makes the next publish load
        // again.
        ts->history_evicted = true;
      } else if (st.epoch == 0) {
        // The store never held the topic: its first epoch starts here.
        ts->epoch = NextEpoch();
        ts->last_offset = 0;
        ts->store_first = 1;
        ts->history_evicted = false;
      } else {
        // What local subscribers (and peers) saw of this epoch goes on from
        // the tail: the messages numbered since and never sent to them.
        const uint64_t delivered =
            ts->epoch == st.epoch && ClusterView::Delivered(ts->cluster) && HasLocalSubscribers(*ts)
                ? ts->last_offset
                : 0;
        const bool covered = (st.messages.empty() ? st.last_offset <= delivered
                                                  : st.messages.front()->offset <= delivered + 1) &&
                             st.last_offset - std::min(delivered, st.last_offset) <= kMaxHoleFilled;
        if (delivered > 0 && !covered) {
          ClusterView::Suspect(ts->cluster);  // more than the tail: told as a gap
          BrokerCounters::Add(counters_.shared_gaps, 1);
        }
        ts->epoch = st.epoch;
        ts->store_first = st.first_offset;
        for (const MessagePtr& m : st.messages) {
          AppendHistory(*ts, m);
          if (delivered > 0 && covered && m->offset > delivered) {
            // To local subscribers only: queue groups were served (at most
            // once) by whoever numbered it, and peers fill their own holes.
            ts->last_offset = m->offset;
            DeliverMirrored(*ts, m);
          }
        }
        ts->last_offset = st.last_offset;
        const uint64_t tail_first =
            st.messages.empty() ? st.last_offset + 1 : st.messages.front()->offset;
        ts->history_evicted = st.first_offset < tail_first;
      }
      ts->shared_load = TopicState::SharedLoad::kYes;
      for (TopicState::HeldPublish& p : held) {
        HereResult r = SequenceHere(ts, std::move(p.message), &p.done);
        if (!r.deferred) answers.emplace_back(std::move(p.done), std::move(r.ack));
      }
    }
  }
  for (auto& [done, ack] : answers) done(std::move(ack));
  for (auto& waiter : waiters) waiter(ok);
}

void Broker::Impl::MirrorShared(const TopicStatePtr& ts, MessagePtr m) {
  if (ts->catching_up) {
    ts->held_live.push_back(std::move(m));
    if (ts->held_live.size() > kMaxHeldLive) return EndCatchUpShared(ts, /*filled=*/false);
    if (ts->catch_up_stalled) CatchUpShared(ts);  // the store may be back
    return;
  }
  if (m->epoch == ts->epoch && m->offset <= ts->last_offset) return;  // delivered already
  // A hole matters only to local subscribers that saw what came before it
  // (a node that loaded the topic at start, or whose subscribers left, has
  // nothing to fill: what it skipped was never owed to anyone here).
  if (m->epoch == ts->epoch && ts->last_offset > 0 && m->offset > ts->last_offset + 1 &&
      ClusterView::Delivered(ts->cluster) && HasLocalSubscribers(*ts)) {
    if (m->offset - ts->last_offset - 1 > kMaxHoleFilled) {
      ClusterView::Suspect(ts->cluster);  // a stale position: told, not replayed
      BrokerCounters::Add(counters_.shared_gaps, 1);
      ts->last_offset = m->offset;
      return DeliverMirrored(*ts, m);
    }
    ts->catching_up = true;
    ts->held_live.push_back(std::move(m));
    return CatchUpShared(ts);
  }
  ts->epoch = m->epoch;
  ts->last_offset = m->offset;
  DeliverMirrored(*ts, m);
}

bool Broker::Impl::HasLocalSubscribers(TopicState& ts) {
  const MatchResultPtr& match = MatchFor(ts);
  for (const auto& slice : match->plain) {
    if (!ClusterView::IsPeerInbox(slice.inbox)) return true;
  }
  return false;
}

void Broker::Impl::CatchUpShared(const TopicStatePtr& ts) {
  ts->catch_up_stalled = false;
  const uint64_t missing = ts->held_live.front()->offset - ts->last_offset - 1;
  Status s = store_->Read(
      ts->name, ts->epoch, ts->last_offset, std::min<uint64_t>(missing, kCatchUpMessages),
      kCatchUpBytes, [this, ts](Result<StoreRead> read) { CaughtUpShared(ts, std::move(read)); });
  // Not now (the store is down or too busy): tried again soon. The owner's
  // messages wait behind the hole meanwhile (at most kMaxHeldLive of them);
  // they were committed, so the store holds the hole once it answers.
  if (!s.ok()) ts->catch_up_stalled = true;
}

void Broker::Impl::RetryStalledCatchUps(const std::vector<std::string>& stalled) {
  for (const std::string& name : stalled) {
    TopicStatePtr ts = topics_.Find(name);
    if (!ts) continue;
    std::lock_guard lock(ts->mu);
    if (!ts->removed && ts->catching_up && ts->catch_up_stalled) CatchUpShared(ts);
  }
}

// On the store's reader thread.
void Broker::Impl::CaughtUpShared(const TopicStatePtr& ts, Result<StoreRead> read) {
  std::lock_guard lock(ts->mu);
  if (ts->removed || !ts->catching_up) return;
  bool progressed = false;
  if (read.ok()) {
    for (const MessagePtr& m : read->messages) {
      if (m->epoch != ts->epoch || m->offset != ts->last_offset + 1) break;
      ts->last_offset = m->offset;
      DeliverMirrored(*ts, m);
      progressed = true;
    }
  }
  const uint64_t next = ts->held_live.front()->offset;
  if (read.ok() && progressed && read->truncated && ts->last_offset + 1 < next) {
    return CatchUpShared(ts);
  }
  if (!read.ok() && (read.status().code() == ErrorCode::kUnavailable ||
                     read.status().code() == ErrorCode::kTimeout)) {
    ts->catch_up_stalled = true;  // the store went away during the read: again soon
    return;
  }
  // A hole left: the store no longer holds it (retention) or could not be read.
  EndCatchUpShared(ts, ts->last_offset + 1 >= next);
}

void Broker::Impl::EndCatchUpShared(const TopicStatePtr& ts, bool filled) {
  ts->catching_up = false;
  if (filled) {
    BrokerCounters::Add(counters_.shared_catchups, 1);
  } else {
    ClusterView::Suspect(ts->cluster);  // local subscribers are told at the next message
    BrokerCounters::Add(counters_.shared_gaps, 1);
  }
  std::vector<MessagePtr> held = std::move(ts->held_live);
  ts->held_live.clear();
  for (MessagePtr& m : held) {
    if (filled) {
      MirrorShared(ts, std::move(m));  // another hole may follow (a read again)
      continue;
    }
    if (m->epoch == ts->epoch && m->offset <= ts->last_offset) continue;
    ts->epoch = m->epoch;
    ts->last_offset = m->offset;
    DeliverMirrored(*ts, m);
  }
}

}  // namespace herald
