// Resuming from history: exactly the missed messages in order, or an explicit
// gap where history does not reach. Never a silently short answer.
#include "broker/broker_impl.h"

namespace herald {

ResumeResult Broker::Impl::ResumeLocked(TopicState& ts, uint64_t epoch, uint64_t after,
                                        size_t limit, Status* error) const {
  ResumeResult r;
  r.epoch = ts.epoch;
  r.last_offset = ts.last_offset;
  const uint64_t first = ts.history.empty() ? ts.last_offset + 1 : ts.history.first_offset();
  if (epoch == 0) {
    after = 0;  // a subscriber that has seen nothing asks for whatever is retained
  } else if (epoch != ts.epoch) {
    // The numbering restarted: what the client saw belongs to a lost epoch.
    r.gap = Gap{ts.name, GapReason::kEpochChanged, ts.epoch, first > 1 ? uint64_t{1} : uint64_t{0},
                first - 1};
    after = 0;
  } else if (after > ts.last_offset) {
    *error = Status(ErrorCode::kInvalidArgument,
                    "offset " + std::to_string(after) + " is ahead of topic '" + ts.name +
                        "' (last offset " + std::to_string(ts.last_offset) + ")");
    return r;
  } else if (after + 1 < first) {
    r.gap = Gap{ts.name, GapReason::kTrimmed, ts.epoch, after + 1, first - 1};
  }
  ts.history.CopyAfter(after, limit, r.messages);
  const uint64_t last_sent =
      r.messages.empty() ? std::max(after, first - 1) : r.messages.back()->offset;
  r.truncated = last_sent < ts.last_offset;
  return r;
}

void Broker::Impl::ResumeAsync(std::string_view topic, uint64_t epoch, uint64_t after_offset,
                               size_t limit, ResumeCallback done) {
  if (Status s = ValidateTopic(topic, options_.topic_limits); !s.ok()) return done(s);
  TopicStatePtr ts = topics_.Find(topic);
  if (cluster_.attached()) {
    // History lives with the topic's owner.
    std::string owner;
    if (ts) {
      std::lock_guard lock(ts->mu);
      if (!OwnedHere(*ts)) owner = ClusterView::Owner(ts->cluster);
    } else {
      owner = cluster_.OwnerOf(topic);
    }
    if (!owner.empty()) {
      return cluster_.FetchResume(owner, topic, epoch, after_offset, limit, std::move(done));
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
  {
    std::lock_guard lock(ts->mu);
    r = ResumeLocked(*ts, epoch, after_offset, limit, &error);
  }
  if (!error.ok()) return done(error);
  done(std::move(r));
}

// Topic lock held (when ts is not null). Queues the gap notice and the
// retained messages for `sub` ahead of any live message of the topic.
void Broker::Impl::Replay(TopicState* ts, const ResumePoint& point, const SubscriptionPtr& sub) {
  auto push_gap = [&](const Gap& gap) {
    DeliveryInbox::Item item;
    item.target = sub;
    item.gap = std::make_shared<const Gap>(gap);
    sub->inbox->Push(std::move(item));
  };
  if (!ts) {
    if (point.epoch != 0) push_gap({point.topic, GapReason::kEpochChanged, 0, 0, 0});
    return;
  }
  Status error;
  ResumeResult r = ResumeLocked(*ts, point.epoch, point.after_offset, SIZE_MAX, &error);
  if (!error.ok()) {
    // A resume point ahead of the topic cannot come from this epoch's history.
    r.gap = Gap{ts->name, GapReason::kEpochChanged, ts->epoch, 0, 0};
    r.messages.clear();
    ts->history.CopyAfter(0, SIZE_MAX, r.messages);
  }
  if (r.gap) push_gap(*r.gap);
  for (MessagePtr& m : r.messages) {
    DeliveryInbox::Item item;
    item.message = std::move(m);
    item.target = sub;
    sub->inbox->Push(std::move(item));
  }
}

}  // namespace herald
