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
  uint64_t numbering;
  MessagePtr message;
  PublishCallback done;
  JobPlaces jobs;  // its places in work queues, filled when it is shown
  void operator()(const Status& status) {
    broker->CommitStored(*topic, numbering, message, status, done, jobs);
  }
};

}  // namespace

Status Broker::Impl::AppendStored(const TopicStatePtr& ts, MessagePtr m, PublishCallback& done,
                                  JobPlaces& jobs) {
  // Its jobs in the same commit: a lost message leaves no job.
  std::vector<JobRef> refs = JobRefs(jobs, m->topic);
  HistoryStore::AppendCallback commit =
      Commit{this, ts, ts->numbering, m, std::move(done), std::move(jobs)};
  const Status appended = queue_store_ && !refs.empty()
                              ? queue_store_->AppendWithJobs(m, refs, std::move(commit))
                              : store_->Append(m, std::move(commit));
  if (Status s = appended; !s.ok()) {
    done = std::move(commit.target<Commit>()->done);
    jobs = std::move(commit.target<Commit>()->jobs);
    return s;
  }
  ++ts->store_pending;
  return Status::Ok();
}

std::vector<PublishCallback> Broker::Impl::SettleId(TopicState& ts, const Message& m, bool kept) {
  std::vector<PublishCallback> retries;
  if (m.msg_id.empty() || !ts.dedup) return retries;
  DedupTable::Entry* e = ts.dedup->Find(m.msg_id);
  if (!e || !e->pending || e->epoch != m.epoch || e->offset != m.offset) return retries;
  retries = std::move(e->waiters);
  if (kept) {
    e->pending = false;
    e->waiters.clear();
  } else {
    // Lost: a retry of this id must be published anew.
    BrokerCounters::Sub(counters_.dedup_bytes, ts.dedup->Erase(m.msg_id));
  }
  return retries;
}

void Broker::Impl::CommitStored(TopicState& ts, uint64_t numbering, const MessagePtr& m,
                                const Status& status, PublishCallback& done, JobPlaces& jobs) {
  std::vector<PublishCallback> retries;  // publishes of the same msg_id meanwhile
  {
    std::lock_guard lock(ts.mu);
    retries = SettleId(ts, *m, status.ok());
    // A message of an epoch the topic has left (its numbering restarted
    // while the message was queued: a store failure, a cluster move) is
    // stored, but no longer this topic's present: acknowledged, not shown.
    // On a shared store the epoch goes on, and the head loaded since covers
    // what was committed (subscribers got it from there).
    if (m->epoch == ts.epoch && numbering == ts.numbering && !ts.removed && !ts.store_failed) {
      --ts.store_pending;
      if (status.ok()) {
        ts.last_offset = m->offset;
        AppendHistory(ts, m);
        Deliver(ts, m, &jobs);
      } else {
        // The store lost it, and what was queued behind it: their offsets
        // were never seen, but neither are they reused (a new epoch).
        counters_.PublishError(status.code());
        ts.store_failed = true;
      }
    } else if (status.ok() && SharedNumbering(ts) && !ts.removed && m->epoch == ts.epoch &&
               m->offset == ts.last_offset + 1) {
      // Numbered here before a hand-over and committed since: the store
      // fenced it, so it is the topic's next message; shown now rather
      // than left for the next load to find.
      ts.last_offset = m->offset;
      AppendHistory(ts, m);
      Deliver(ts, m, &jobs);
    }
  }
  // Places not filled: a lost message gives them back; one acknowledged
  // but not shown (its epoch was left) is a job all the same.
  if (!jobs.empty()) {
    if (status.ok()) {
      FillJobs(m, jobs);
    } else {
      ReleaseJobs(m, jobs);
    }
  }
  if (status.ok()) {
    done(PublishAck{m->epoch, m->offset});
    for (PublishCallback& retry : retries) retry(PublishAck{m->epoch, m->offset, true});
    return;
  }
  // On a shared store a refused position means another node numbered the
  // topic meanwhile: nothing was written, and a retry is numbered from the
  // head this node loads next.
  const Status lost =
      shared_ && status.code() == ErrorCode::kInternal
          ? Status(ErrorCode::kUnavailable, "another node wrote topic '" + m->topic +
                                                "' meanwhile; nothing was published, retry (" +
                                                status.message() + ")")
          : status;
  done(lost);
  for (PublishCallback& retry : retries) retry(lost);
}

void Broker::Impl::StartEpochStored(TopicState& ts) {
  ts.store_first = 1;
  ts.history_evicted = false;
  store_->Trim(ts.name, ts.epoch, 1);
}

void Broker::Impl::RetainStored(TopicState& ts, int64_t now_us) {
  if (!store_ || !ts.history.enabled() || ts.store_first > ts.last_offset) return;
  const HistoryLimits& limits = ts.history.limits();
  Retention keep;
  keep.max_messages = limits.max_messages;
  keep.max_bytes = limits.max_bytes;
  keep.min_timestamp_us =
      now_us - std::chrono::duration_cast<std::chrono::microseconds>(limits.max_age).count();
  // On the store's reader thread, once it dropped what retention removes.
  store_->Retain(ts.name, ts.epoch, keep,
                 [this, name = ts.name, epoch = ts.epoch](uint64_t first_offset) {
                   TopicStatePtr t = topics_.Find(name);
                   if (!t) return;
                   std::lock_guard lock(t->mu);
                   if (t->epoch != epoch) return;
                   t->store_first = std::max(t->store_first, first_offset);
                   const uint64_t in_memory =
                       t->history.empty() ? t->last_offset + 1 : t->history.first_offset();
                   if (t->store_first >= in_memory)
                     t->history_evicted = false;  // memory has it all
                 });
}

void Broker::Impl::RememberStoredIds(TopicState& ts, std::vector<StoredId>& ids) {
  // Ids still inside the window: a retry after a restart or a move is known.
  const int64_t ids_after =
      NowUs() -
      std::chrono::duration_cast<std::chrono::microseconds>(options_.dedup_window).count();
  for (StoredId& id : ids) {
    if (id.timestamp_us < ids_after || (ts.dedup && ts.dedup->Find(id.msg_id))) continue;
    RememberId(ts, std::move(id), /*pending=*/false);
  }
}

void Broker::Impl::DropHistory(TopicState& ts) {
  size_t freed = 0;
  while (!ts.history.empty()) freed += ts.history.DropOldest();
  BrokerCounters::Sub(counters_.history_bytes, freed);
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
    RememberStoredIds(ts, stored.ids);
    if (!complete) {
      // The store cannot show it holds every acknowledged message: what
      // clients saw of the old epoch may be missing, so it ends here.
      ts.epoch = NextEpoch();
      ts.last_offset = 0;
      if (ts.history.enabled()) StartEpochStored(ts);
      continue;
    }
    if (stored.epoch_unproven) {
      // A shared store's server came back without showing it kept this
      // epoch's newest messages: numbering goes on in a new epoch, which
      // its first append starts in the store (a cluster's owner loads the
      // head again before numbering, and decides the same there).
      ts.epoch = NextEpoch();
      ts.last_offset = 0;
      ts.store_first = 1;
      continue;
    }
    ts.last_offset = stored.last_offset;
    ts.store_first = stored.first_offset;
    // The newest messages go to memory (within the node's history budget).
    for (MessagePtr& m : stored.messages) AppendHistory(ts, m);
    // Memory holds the newest part: what the store holds before the tail
    // it read back is read from the store when a resume reaches it.
    const uint64_t tail_first =
        stored.messages.empty() ? stored.last_offset + 1 : stored.messages.front()->offset;
    if (stored.first_offset < tail_first) ts.history_evicted = true;
    // Limits lowered since: the store applies them now, not at the first sweep.
    RetainStored(ts, NowUs());
  }
}

}  // namespace herald
