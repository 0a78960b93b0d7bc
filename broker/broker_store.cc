// History behind a store (BrokerOptions::store): a message of a topic with
// history is sequenced under the topic's lock and queued for the store; once
// the store commits it, the store's thread puts it in history, fans it out
// and acknowledges its publisher. Nothing uncommitted is ever seen, so an
// offset a subscriber saw is never handed to another message after a crash.
#include "broker/broker_impl.h"

namespace herald {

namespace {

// The store's completion for one message. A named type, so that a refused
// append can hand the publisher's callback back (HistoryStore::Append leaves
// a refused callback unmoved, and target<Commit>() reaches inside it).
struct Commit {
  Broker::Impl* broker;
  TopicStatePtr topic;
  MessagePtr message;
  PublishCallback done;
  void operator()(const Status& status) { broker->CommitStored(*topic, message, status, done); }
};

}  // namespace

Status Broker::Impl::AppendStored(const TopicStatePtr& ts, MessagePtr m, PublishCallback& done) {
  HistoryStore::AppendCallback commit = Commit{this, ts, m, std::move(done)};
  if (Status s = store_->Append(m, std::move(commit)); !s.ok()) {
    done = std::move(commit.target<Commit>()->done);
    return s;
  }
  ++ts->store_pending;
  return Status::Ok();
}

void Broker::Impl::CommitStored(TopicState& ts, const MessagePtr& m, const Status& status,
                                PublishCallback& done) {
  std::vector<PublishCallback> retries;  // publishes of the same msg_id meanwhile
  {
    std::lock_guard lock(ts.mu);
    if (!m->msg_id.empty() && ts.dedup) {
      DedupTable::Entry* e = ts.dedup->Find(m->msg_id);
      if (e && e->pending && e->epoch == m->epoch && e->offset == m->offset) {
        retries = std::move(e->waiters);
        if (status.ok()) {
          e->pending = false;
          e->waiters.clear();
        } else {
          // Lost: a retry of this id must be published anew.
          BrokerCounters::Sub(counters_.dedup_bytes, ts.dedup->Erase(m->msg_id));
        }
      }
    }
    // A message of an epoch the topic has left (its numbering restarted
    // while the message was queued: a store failure, a cluster move) is
    // stored, but no longer this topic's present: acknowledged, not shown.
    if (m->epoch == ts.epoch && !ts.removed && !ts.store_failed) {
      --ts.store_pending;
      if (status.ok()) {
        ts.last_offset = m->offset;
        AppendHistory(ts, m);
        Deliver(ts, m);
      } else {
        // The store lost it, and what was queued behind it: their offsets
        // were never seen, but neither are they reused (a new epoch).
        BrokerCounters::Add(counters_.publish_errors, 1);
        ts.store_failed = true;
      }
    }
  }
  if (status.ok()) {
    done(PublishAck{m->epoch, m->offset});
    for (PublishCallback& retry : retries) retry(PublishAck{m->epoch, m->offset, true});
  } else {
    done(status);
    for (PublishCallback& retry : retries) retry(status);
  }
}

void Broker::Impl::TrimStored(TopicState& ts) {
  if (!store_ || !ts.history.enabled()) return;
  const uint64_t first_kept = ts.history.empty() ? ts.last_offset + 1 : ts.history.first_offset();
  if (first_kept != ts.store_first_kept) {
    ts.store_first_kept = first_kept;
    store_->Trim(ts.name, ts.epoch, first_kept);
  }
}

void Broker::Impl::LoadStored(bool complete, std::vector<StoredTopic> topics) {
  uint64_t max_epoch = 0;
  for (StoredTopic& stored : topics) {
    max_epoch = std::max(max_epoch, stored.epoch);
  }
  // New epochs (topics not stored, or restarted) come after every stored one.
  last_epoch_.store(max_epoch, std::memory_order_relaxed);
  for (StoredTopic& stored : topics) {
    Result<TopicStatePtr> made = topics_.GetOrCreate(stored.name, [&](std::string_view name) {
      return std::make_shared<TopicState>(std::string(name), stored.epoch, HistoryFor(name));
    });
    // Past max_topics: the topic stays in the store (a larger limit brings
    // it back at the next start) and is counted as refused.
    if (!made.ok()) continue;
    TopicState& ts = **made;
    std::lock_guard lock(ts.mu);
    ts.last_activity_us = NowUs();
    // Ids still inside the window: a retry after the restart is known.
    const int64_t ids_after =
        NowUs() -
        std::chrono::duration_cast<std::chrono::microseconds>(options_.dedup_window).count();
    for (StoredId& id : stored.ids) {
      if (id.timestamp_us < ids_after || (ts.dedup && ts.dedup->Find(id.msg_id))) continue;
      RememberId(ts, {std::move(id.msg_id), id.epoch, id.offset, id.timestamp_us}, false);
    }
    if (!complete) {
      // The store cannot show it holds every acknowledged message: what
      // clients saw of the old epoch may be missing, so it ends here.
      ts.epoch = NextEpoch();
      ts.last_offset = 0;
      TrimStored(ts);
      continue;
    }
    ts.last_offset = stored.last_offset;
    for (MessagePtr& m : stored.messages) AppendHistory(ts, m);
    // Limits lowered since the messages were stored, or the node-wide
    // budget: the store forgets what history no longer holds.
    ts.store_first_kept =
        stored.messages.empty() ? stored.last_offset + 1 : stored.messages.front()->offset;
    TrimStored(ts);
  }
}

}  // namespace herald
