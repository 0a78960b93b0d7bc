// Publishing: validate, sequence under the topic's lock, keep in history, and
// queue one item per interested inbox (plus one per queue group).
#include <chrono>
#include <future>

#include "broker/broker_impl.h"
#include "broker/message_meta.h"
#include "herald/topic.h"

namespace herald {

int64_t Broker::Impl::NowUs() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Epochs are wall-clock microseconds, bumped to stay strictly increasing in
// this process, so a restarted node never reuses a previous run's epoch (as
// long as the clock does not step back further than the downtime) and they
// stay below 2^53, exact as JSON numbers.
uint64_t Broker::Impl::NextEpoch() {
  const auto now = static_cast<uint64_t>(NowUs());
  uint64_t prev = last_epoch_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = now > prev ? now : prev + 1;
  } while (!last_epoch_.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return next;
}

HistoryLimits Broker::Impl::HistoryFor(std::string_view topic) const {
  // The nodes' own topics (the readiness canaries) keep a short history
  // whatever the rules say: with a store, their messages go through it,
  // which is what the canary proves.
  if (IsSystemTopic(topic)) return HistoryLimits{16, 64 << 10, std::chrono::minutes(10)};
  for (const HistoryRule& rule : options_.history_rules) {
    if (PatternMatches(rule.pattern, topic)) return rule.limits;
  }
  return options_.default_history;
}

TopicStatePtr Broker::Impl::MakeTopic(std::string_view name) {
  auto ts = std::make_shared<TopicState>(std::string(name), NextEpoch(), HistoryFor(name));
  ts->last_activity_us = NowUs();
  return ts;
}

namespace {

StoredId IdOf(const Message& m) { return {m.msg_id, m.epoch, m.offset, m.timestamp_us}; }

// Replies are a separate operation (Reply): a client that could publish into
// `_INBOX.` would complete other people's requests with whatever it liked.
Status RefuseInbox(std::string_view topic) {
  if (!topic.starts_with(kInboxPrefix)) return Status::Ok();
  return Status(ErrorCode::kInvalidTopic,
                "topics under _INBOX. are reply inboxes: answer a request with reply, not publish");
}

}  // namespace

Result<PublishAck> Broker::Impl::Publish(std::string_view topic, std::string payload,
                                         PublishOptions options) {
  if (Status s = RefuseInbox(topic); !s.ok()) {
    counters_.PublishError(s.code());
    return s;
  }
  auto done = std::make_shared<std::promise<Result<PublishAck>>>();
  PublishCallback answer = [done](Result<PublishAck> a) { done->set_value(std::move(a)); };
  HereResult r = PublishHere(topic, std::move(payload), std::move(options), {.done = &answer});
  if (r.deferred) return done->get_future().get();
  if (!r.forward) return std::move(r.ack);
  cluster_.Forward(r.owner, std::move(r.forward), std::move(answer));
  return done->get_future().get();
}

void Broker::Impl::PublishAsync(std::string_view topic, std::string payload, PublishOptions options,
                                PublishCallback done) {
  if (Status s = RefuseInbox(topic); !s.ok()) {
    counters_.PublishError(s.code());
    return done(s);
  }
  HereResult r = PublishHere(topic, std::move(payload), std::move(options), {.done = &done});
  if (r.deferred) return;
  if (!r.forward) return done(std::move(r.ack));
  cluster_.Forward(r.owner, std::move(r.forward), std::move(done));
}

Broker::Impl::HereResult Broker::Impl::PublishHere(std::string_view topic, std::string payload,
                                                   PublishOptions options, HereOptions here) {
  auto reject = [this](Status s) {
    counters_.PublishError(s.code());
    HereResult r;
    r.ack = std::move(s);
    return r;
  };
  if (Status s = ValidateTopic(topic, options_.topic_limits); !s.ok()) return reject(s);
  if (const size_t max = limits_.max_payload_bytes; payload.size() > max) {
    return reject({ErrorCode::kPayloadTooLarge, "payload is " + std::to_string(payload.size()) +
                                                    " bytes, over the limit of " +
                                                    std::to_string(max)});
  }
  if (Status s = ValidateMessageMeta(options.content_type, options.headers); !s.ok()) {
    return reject(s);
  }
  if (Status s = ValidateMsgId(options.msg_id); !s.ok()) return reject(s);
  auto m = std::make_shared<Message>();
  m->topic = std::string(topic);
  m->payload = std::move(payload);
  m->content_type = std::move(options.content_type);
  m->headers = std::move(options.headers);
  m->reply_to = std::move(options.reply_to);
  m->msg_id = std::move(options.msg_id);

  // Replies bypass topics and history: they go straight to the waiting
  // request — on this node, or on the node its inbox names.
  if (topic.starts_with(kInboxPrefix)) {
    m->timestamp_us = NowUs();
    if (cluster_.attached()) {
      std::string_view node = topic.substr(kInboxPrefix.size());
      node = node.substr(0, node.find('.'));
      if (node != options_.node_id) {
        if (!cluster_.RouteReply(node, std::move(m))) {
          BrokerCounters::Add(counters_.late_replies, 1);
        }
        return {};
      }
    }
    CompleteReply(std::move(m));
    return {};
  }

  for (;;) {
    Result<TopicStatePtr> found =
        topics_.GetOrCreate(topic, [this](std::string_view name) { return MakeTopic(name); });
    if (!found.ok()) return reject(found.status());
    TopicState& ts = **found;
    std::unique_lock lock(ts.mu);
    if (ts.removed) continue;  // forgotten by maintenance since we looked it up
    if (cluster_.attached() && !OwnedHere(ts)) [[unlikely]] {
      if (!here.forwarded_by_peer) {
        HereResult forward;
        forward.owner = ClusterView::Owner(ts.cluster);
        lock.unlock();
        forward.forward = std::move(m);
        return forward;
      }
      // A peer sees this node as the owner before this node does (membership
      // views converge within a heartbeat timeout).
      if (SharedNumbering(ts)) {
        // The store orders whoever numbers: this one is numbered here from
        // a fresh head, and the topic stays with the owner this node sees.
        if (ts.shared_load == TopicState::SharedLoad::kYes) HandOverShared(ts);
      } else {
        // Take the topic, under a fresh epoch: a node numbers only in epochs
        // it created, so two nodes can never hand out the same (epoch, offset).
        RestartNumbering(ts, /*here=*/true);
        ClusterView::Claim(ts.cluster);
      }
    }
    if (here.done && SharedNumbering(ts)) [[unlikely]] {
      // Numbered from the store's head only (its message ids too): while
      // it loads, publishes wait for it, in order (LoadedShared).
      if (Status s = ReadyShared(*found); !s.ok()) {
        const size_t bytes = m->payload.size();
        if (ts.shared_load != TopicState::SharedLoad::kLoading) return reject(std::move(s));
        if (counters_.held_publish_bytes.load(std::memory_order_relaxed) + bytes >
            limits_.max_held_publish_bytes) {
          return reject(Status(ErrorCode::kUnavailable,
                               "topic '" + ts.name +
                                   "' is being loaded from the shared store, and the publishes "
                                   "waiting for loads fill max_held_publish_bytes: retry"));
        }
        BrokerCounters::Add(counters_.held_publish_bytes, bytes);
        ts.held_publishes.push_back({std::move(m), std::move(*here.done)});
        HereResult held;
        held.deferred = true;
        return held;
      }
    }
    return SequenceHere(*found, std::move(m), here.done);
  }
}

Broker::Impl::HereResult Broker::Impl::SequenceHere(const TopicStatePtr& topic,
                                                    std::shared_ptr<Message> m,
                                                    PublishCallback* done) {
  TopicState& ts = *topic;
  auto reject = [this](Status s) {
    counters_.PublishError(s.code());
    HereResult r;
    r.ack = std::move(s);
    return r;
  };
  if (!m->msg_id.empty() && ts.dedup) {
    if (DedupTable::Entry* seen = ts.dedup->Find(m->msg_id)) {
      BrokerCounters::Add(counters_.duplicates, 1);
      HereResult dup;
      if (seen->pending && done) {
        // The first one is still on its way to the store: this retry
        // gets its outcome (CommitStored).
        seen->waiters.push_back(std::move(*done));
        dup.deferred = true;
      } else {
        dup.ack = PublishAck{seen->epoch, seen->offset, /*duplicate=*/true};
      }
      return dup;
    }
  }
  JobPlaces jobs;
  if (!queues_.empty()) {
    if (Status s = ReserveJobs(ts, m->payload.size(), jobs); !s.ok()) return reject(std::move(s));
  }
  if (store_ && ts.history.enabled() && done) {
    if (ts.store_failed) [[unlikely]] {
      RestartNumbering(ts, /*here=*/true);
      ts.store_failed = false;
    }
    m->epoch = ts.epoch;
    m->offset = ts.last_offset + ts.store_pending + 1;
    m->timestamp_us = NowUs();
    if (!jobs.empty()) NoteCuts(jobs, ts.name, m->epoch, m->offset);
    const size_t bytes = m->payload.size();
    const MessagePtr queued_message = m;
    if (Status s = AppendStored(topic, std::move(m), *done, jobs); !s.ok()) {
      ReleaseJobs(queued_message, jobs);
      // On a shared store the head this node knows may be stale (its
      // epoch failed there): the next publish loads it again.
      if (SharedNumbering(ts) && s.code() != ErrorCode::kResourceExhausted) {
        ts.store_failed = true;
        // A position the store refused: another node numbered it meanwhile.
        if (s.code() == ErrorCode::kInternal) {
          s = Status(ErrorCode::kUnavailable, "topic '" + ts.name +
                                                  "' was numbered by another node meanwhile; "
                                                  "nothing was published, retry (" +
                                                  s.message() + ")");
        }
      }
      return reject(std::move(s));
    }
    RememberId(ts, IdOf(*queued_message), /*pending=*/true);
    ts.last_activity_us = NowUs();
    ++ts.messages_in;
    ts.bytes_in += bytes;
    HereResult queued;
    queued.deferred = true;
    return queued;
  }
  m->epoch = ts.epoch;
  m->offset = ts.last_offset + 1;
  m->timestamp_us = NowUs();
  if (!jobs.empty()) NoteCuts(jobs, ts.name, m->epoch, m->offset);
  // A topic whose messages are not stored (no store, or history off) with
  // jobs for a queue store: they are written now, and the publisher is
  // acknowledged once they are on disk (the message is shown at once).
  // Its msg_id stays pending meanwhile, as on the store path: a retry is
  // answered with the first one's outcome, never before its jobs are kept.
  const bool await_jobs = queue_store_ && !jobs.empty() && done;
  std::shared_ptr<PublishCallback> waiting;
  QueueStore::CommitCallback committed;
  if (await_jobs) {
    waiting = std::make_shared<PublishCallback>(std::move(*done));
    committed = [this, waiting, topic, m](Status s) {
      std::vector<PublishCallback> retries;
      {
        std::lock_guard lock(topic->mu);
        retries = SettleId(*topic, *m, s.ok());
      }
      if (!s.ok()) {
        s = Status(s.code(),
                   "the message was published, but its work-queue jobs were not "
                   "stored: " +
                       s.message());
      }
      const PublishAck ack{m->epoch, m->offset};
      s.ok() ? (*waiting)(ack) : (*waiting)(s);
      for (PublishCallback& retry : retries) {
        s.ok() ? retry(PublishAck{ack.epoch, ack.offset, true}) : retry(s);
      }
    };
  }
  if (Status s = PutJobs(m, jobs, await_jobs ? &committed : nullptr); !s.ok()) {
    if (await_jobs) *done = std::move(*waiting);  // refused: never called
    return reject(std::move(s));
  }
  ++ts.last_offset;
  ts.last_activity_us = m->timestamp_us;
  ++ts.messages_in;
  ts.bytes_in += m->payload.size();
  MessagePtr shared = std::move(m);
  AppendHistory(ts, shared);
  RememberId(ts, IdOf(*shared), /*pending=*/await_jobs);
  Deliver(ts, shared, &jobs);
  HereResult sequenced;
  if (await_jobs) {
    sequenced.deferred = true;  // `committed` answers
  } else {
    sequenced.ack = PublishAck{ts.epoch, ts.last_offset};
  }
  return sequenced;
}

void Broker::Impl::CompleteReply(MessagePtr reply) {
  BrokerCounters::Add(counters_.replies_in, 1);
  BrokerCounters::Add(counters_.reply_bytes_in, reply->payload.size());
  const std::string topic = reply->topic;
  tracker_.Complete(topic, std::move(reply));
}

void Broker::Impl::RememberId(TopicState& ts, StoredId id, bool pending) {
  if (id.msg_id.empty()) return;
  if (!ts.dedup) ts.dedup = std::make_unique<DedupTable>();
  DedupTable::Entry e;
  e.epoch = id.epoch;
  e.offset = id.offset;
  e.timestamp_us = id.timestamp_us;
  e.pending = pending;
  const size_t before = ts.dedup->cost();
  ts.dedup->Insert(std::move(id.msg_id), std::move(e));
  // Over the node-wide budget: this topic's oldest ids go first. With the
  // others alone over it (a lowered bound, until the next maintenance
  // sweep shares the cut among all topics) the id just remembered stays.
  const uint64_t others = counters_.dedup_bytes.load(std::memory_order_relaxed) - before;
  const size_t max = limits_.max_dedup_bytes;
  const size_t keep = others > max ? 1 : 0;
  while (ts.dedup->size() > keep && others + ts.dedup->cost() > max) {
    if (ts.dedup->DropOldest() == 0) break;  // only pending ones left: bounded by the store queue
    BrokerCounters::Add(counters_.dedup_evictions, 1);
  }
  BrokerCounters::Add(counters_.dedup_bytes, ts.dedup->cost() - before);
}

void Broker::Impl::Deliver(TopicState& ts, const MessagePtr& m, JobPlaces* jobs) {
  if (jobs) {
    FillJobs(m, *jobs);
  } else if (!queues_.empty()) {
    JobPlaces now;
    if (ReserveJobs(ts, m->payload.size(), now).ok() && PutJobs(m, now, nullptr).ok()) {
      NoteCuts(now, ts.name, m->epoch, m->offset);
      FillJobs(m, now);
    }
  }
  const MatchResultPtr& match = MatchFor(ts);
  if (ClusterView::EpochUnannounced(ts.cluster, ts.epoch)) [[unlikely]]
    NoteEpoch(ts, *match, ts.epoch);
  FanOut(m, *match, match);
}

void Broker::Impl::AppendHistory(TopicState& ts, const MessagePtr& m) {
  if (!ts.history.enabled()) return;
  const size_t cost_before = ts.history.cost();
  ts.history.Append(m);
  // Over the node-wide budget: this topic pays first, oldest messages
  // first. With the others alone over it (a lowered bound, until the next
  // maintenance sweep shares the cut among all topics) the message just
  // published stays.
  const uint64_t others = counters_.history_bytes.load(std::memory_order_relaxed) - cost_before;
  const size_t max = limits_.max_history_bytes;
  const size_t keep = others > max ? 1 : 0;
  while (ts.history.size() > keep && others + ts.history.cost() > max) {
    ts.history.DropOldest();
    ts.history_evicted = true;  // with a store, older history is read from it
    BrokerCounters::Add(counters_.history_evictions, 1);
  }
  // Unsigned wrap-around makes a negative delta come out right.
  BrokerCounters::Add(counters_.history_bytes, ts.history.cost() - cost_before);
}

const MatchResultPtr& Broker::Impl::MatchFor(TopicState& ts) {
  const uint64_t generation = index_.generation();
  if (ts.match_generation != generation) {
    ts.match = index_.Match(ts.name);
    ts.match_generation = generation;
  }
  return ts.match;
}

void Broker::Impl::FanOut(const MessagePtr& m, const MatchResult& match,
                          const MatchResultPtr& keep) {
  // Each queued item pins the message's encodings until delivered; with
  // several pushes, this pin spans them, so an inbox that drains before the
  // next push does not drop an encoding the next inbox is about to need.
  EncodingPin fanning;
  if (match.plain.size() + match.groups.size() > 1) fanning = EncodingPin(m.get());
  for (uint32_t i = 0; i < match.plain.size(); ++i) {
    DeliveryInbox::Item item;
    item.message = m;
    item.match = &match;
    item.slice = i;
    match.plain[i].inbox->Push(std::move(item), keep);
  }
  for (size_t g = 0; g < match.groups.size(); ++g) {
    const SubscriptionPtr* member = match.PickMember(g);
    if (!member) continue;
    DeliveryInbox::Item item;
    item.message = m;
    item.target = *member;
    item.group = static_cast<int>(g);
    (*member)->inbox->Push(std::move(item));
  }
}

// The member a queue-group message was queued for has left before it could be
// delivered: give the message to another live member of the same group.
void Broker::Impl::Redispatch(const MessagePtr& m, const Subscription& gone, bool from_peer) {
  MatchResultPtr match = index_.Match(m->topic);
  for (size_t g = 0; g < match->groups.size(); ++g) {
    const Subscription* first = match->groups[g].members.front().get();
    if (first->queue_group != gone.queue_group || first->pattern != gone.pattern) continue;
    if (const SubscriptionPtr* member = match->PickMember(g, &gone)) {
      // One hop: another node's message is not handed on to a third.
      if (from_peer && ClusterView::IsPeerInterest(**member)) return;
      DeliveryInbox::Item item;
      item.message = m;
      item.from_peer = from_peer;
      item.target = *member;
      item.group = static_cast<int>(g);
      (*member)->inbox->Push(std::move(item));
    }
    return;
  }
}

}  // namespace herald
