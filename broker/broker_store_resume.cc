// Resuming a topic another node owns, from a shared store (issue #17): this
// node reads the topic's head and history from the store itself, so a
// resume takes no peer round trip and never waits for an owner that is
// dead, cut off or slow. The owner is asked only when the store cannot
// answer: it could not be read, or it cannot show it holds the head's
// epoch whole (epoch_unproven: the owner starts a new epoch, and says so).
//
// A subscription's replay is read from the store only for a topic this
// node already receives (ReceivesShared): the owner sends it the topic's
// messages, each once the store committed it. The head then covers what
// this node delivered before asking, every message after it reaches this
// node, and one lost on the way (a dead owner's) is a hole the node fills
// from the store at the next (MirrorShared): the replay and the live
// messages held behind it meet with nothing missing, and those the replay
// covered are dropped (RemoteHolds). A topic this node does not receive
// yet is asked of the owner: the subscription's interest goes to the owner
// on the same link ahead of the question, so the owner's answer covers
// every message it did not send here. A store read could be made before
// the owner learns of the interest, and what the owner committed between
// the two would reach neither the replay nor this node. Should a live
// message still not follow the replay (the receive test is made without
// asking the owner), RemoteHolds tells the hole as a gap before it: never
// a silent loss.
//
// A history read (GET /history, an SSE stream's start) has no live part:
// any node answers it from the store.
#include "broker/broker_impl.h"
#include "broker/resume_window.h"

namespace herald {

bool Broker::Impl::ResumesFromStore(std::string_view topic) const {
  return shared_ && cluster_.attached() && HistoryFor(topic).max_messages > 0;
}

bool Broker::Impl::ReceivesShared(TopicState& ts, uint64_t interest_seq) {
  // A message of the topic came after every new interest this node had
  // announced (a subscription's first of a pattern, a link that came up),
  // and a local subscriber matches it: the owner sends this node the
  // topic, under an interest that stays while that subscriber does (a
  // later one's is announced before an earlier one's goes). Interest just
  // announced, which may still be on its way, counts only once a message
  // followed it. A message arriving after an announcement was sent does not
  // prove the owner had applied it (a remove sent before an add): what
  // covers that is MirrorShared's hole fill and, failing it, the gap
  // RemoteHolds::Pass tells before a live message that does not follow the
  // replay.
  return SharedNumbering(ts) && ts.last_offset > 0 && ClusterView::Delivered(ts.cluster) &&
         ts.mirrored_at_seq >= interest_seq && HasLocalSubscribers(ts);
}

void Broker::Impl::ReplayFromStore(const std::string& owner, const ResumePoint& point,
                                   const SubscriptionPtr& sub, int attempt) {
  auto ask_owner = [this, owner, point, sub, attempt] { AskReplay(owner, point, sub, attempt); };
  Status s = shared_->Head(point.topic, [this, point, sub, ask_owner](Result<StoredTopic> head) {
    if (!head.ok() || head->epoch_unproven) return ask_owner();
    BrokerCounters::Add(counters_.shared_resumes, 1);
    auto replay = std::make_shared<StoreReplay>();
    replay->topic = point.topic;
    replay->sub = sub;
    if (head->epoch == 0) {
      // Never held: nothing to replay; a client that had seen messages of
      // it has lost them with the topic's epoch.
      if (point.epoch != 0) replay->gap = Gap{point.topic, GapReason::kEpochChanged, 0, 0, 0};
      return DeliverReplayPage(replay, StoreRead{}, nullptr);
    }
    ResumeWindow w = DecideResume(point.topic, head->epoch, head->first_offset, head->last_offset,
                                  point.epoch, point.after_offset);
    if (w.ahead) {
      // As from memory (PlanReplay): what it saw cannot be of this epoch.
      w = DecideResume(point.topic, head->epoch, head->first_offset, head->last_offset, 0, 0);
      w.gap = Gap{point.topic, GapReason::kEpochChanged, head->epoch, 0, 0};
    }
    replay->epoch = head->epoch;
    replay->after = w.start;
    replay->last = head->last_offset;
    replay->gap = std::move(w.gap);
    if (replay->after >= replay->last) return DeliverReplayPage(replay, StoreRead{}, nullptr);
    ReadReplayPage(replay);
  });
  if (!s.ok()) ask_owner();
}

void Broker::Impl::ResumeFromStore(const std::string& owner, std::string topic, uint64_t epoch,
                                   uint64_t after, size_t limit, ResumeCallback done) {
  auto answer = std::make_shared<ResumeCallback>(std::move(done));
  auto ask_owner = [this, owner, topic, epoch, after, limit, answer] {
    cluster_.FetchResume(owner, topic, epoch, after, limit, std::move(*answer));
  };
  Status s = shared_->Head(
      topic, [this, topic, epoch, after, limit, answer, ask_owner](Result<StoredTopic> head) {
        if (!head.ok() || head->epoch_unproven) return ask_owner();
        BrokerCounters::Add(counters_.shared_resumes, 1);
        ResumeResult r;
        if (head->epoch == 0) {
          if (epoch != 0) r.gap = Gap{topic, GapReason::kEpochChanged, 0, 0, 0};
          return (*answer)(std::move(r));
        }
        ResumeWindow w =
            DecideResume(topic, head->epoch, head->first_offset, head->last_offset, epoch, after);
        if (w.ahead) return (*answer)(AheadError(topic, after, head->last_offset));
        r.epoch = head->epoch;
        r.last_offset = head->last_offset;
        r.gap = std::move(w.gap);
        const uint64_t start = w.start;
        if (limit == 0 || start >= r.last_offset) {
          r.truncated = start < r.last_offset;
          return (*answer)(std::move(r));
        }
        auto result = std::make_shared<ResumeResult>(std::move(r));
        Status read = store_->Read(
            topic, result->epoch, start, std::min(limit, kStorePageMessages), kStorePageBytes,
            [result, start, answer, topic](Result<StoreRead> got) {
              if (!got.ok()) return (*answer)(got.status());
              ResumeResult& r = *result;
              if (got->messages.empty()) {
                // Retention took the range meanwhile.
                CoverGap(r.gap, topic, r.epoch, start + 1, r.last_offset);
              } else {
                CoverGap(r.gap, topic, r.epoch, start + 1, got->messages.front()->offset - 1);
                r.messages = std::move(got->messages);
                // Appended since the head was read: the answer's last offset
                // covers what it holds.
                r.last_offset = std::max(r.last_offset, r.messages.back()->offset);
                r.truncated = r.messages.back()->offset < r.last_offset;
              }
              (*answer)(std::move(*result));
            });
        if (!read.ok()) (*answer)(read);
      });
  if (!s.ok()) ask_owner();
}

}  // namespace herald
