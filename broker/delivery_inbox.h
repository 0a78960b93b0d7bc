// The broker's Inbox implementation: a batched multi-producer queue drained by
// the one thread that owns the inbox's sinks.
//
// A publish pushes one item per inbox (not per subscriber): the message plus
// the slice of the match result that lives on this inbox; Drain() fans it out
// to those subscribers. The producer side takes a short lock and wakes the
// owner only when it is neither awake nor already draining, so a burst of
// publishes costs one wake-up. Past max_pending items, new deliveries are dropped and each
// affected subscription gets one coalesced kSlowConsumer gap per topic, after
// the deliveries that were already queued.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/counters.h"
#include "broker/match_result.h"
#include "herald/inbox.h"
#include "herald/presence.h"
#include "herald/work_queue.h"

namespace herald {

// History fetched from a topic's owner node for a subscription resuming on
// this one: delivered ahead of the live messages that waited for it.
struct RemoteReplay {
  std::string topic;
  std::optional<Gap> gap;
  std::vector<MessagePtr> messages;
  uint64_t epoch = 0;
  uint64_t last_offset = 0;  // the owner's last offset when it answered
  // Set when more of the replay follows (history read from the store a page
  // at a time): the topic stays held, and `next` is called once this page
  // is delivered to ask for the next one.
  std::function<void()> next;
  // What the page is charged to (the broker's store read budget), released
  // once it is delivered (DeliverReplay, which may reset it on the shared
  // page it drains); null for a page from another node.
  mutable std::shared_ptr<void> charge;
};

// Keeps a message's encodings cached while a delivery of it is queued
// (Message::PinEncodings): set by DeliveryInbox::Push, released when the item
// is destroyed, i.e. after it was delivered, dropped, or its inbox went away.
class EncodingPin {
 public:
  EncodingPin() = default;
  explicit EncodingPin(const Message* m) : m_(m) { m_->PinEncodings(); }
  EncodingPin(EncodingPin&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  EncodingPin& operator=(EncodingPin&& o) noexcept {
    if (this != &o) {
      Release();
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  ~EncodingPin() { Release(); }

 private:
  void Release() {
    if (m_) m_->UnpinEncodings();
    m_ = nullptr;
  }
  const Message* m_ = nullptr;
};

class DeliveryInbox final : public Inbox {
 public:
  struct Item {
    MessagePtr message;                  // null for a gap item
    const MatchResult* match = nullptr;  // fan-out: deliver to match->plain[slice]
    uint32_t slice = 0;
    SubscriptionPtr target;  // single target: a queue-group member or a replay
    int group = -1;          // >= 0: target was picked from match->groups[group]
    // Sequenced by another node (cluster): never handed on to a peer's
    // interest, so a message crosses one peer link at most.
    bool from_peer = false;
    std::shared_ptr<const Gap> gap;
    // With target: the replay of a held topic, fetched from its owner node.
    std::shared_ptr<const RemoteReplay> replay;
    // With target: a work queue's job for a member (never dropped: a queue
    // bounds what it has in flight).
    std::shared_ptr<const Job> job;
    // With target: a presence event for a presence subscription (never
    // dropped here: events are coalesced, at most one per topic per
    // interval; the front bounds what it queues).
    std::shared_ptr<const PresenceEvent> presence;
    EncodingPin pin;  // of `message`, while queued (declared after it: released first)
  };
  // Called when a queue-group delivery finds its chosen member gone: picks
  // another live member (any thread may run it; here the owner's).
  using Redispatch =
      std::function<void(const MessagePtr&, const Subscription& gone, bool from_peer)>;

  DeliveryInbox(std::function<void()> wake, size_t max_pending, BrokerCounters* counters,
                Redispatch redispatch);

  // Any thread. `keep` owns item.match (when set); the inbox holds one
  // reference per distinct match result per batch, not one per item, so the
  // shared count does not bounce between cores on every message.
  void Push(Item item, const MatchResultPtr& keep = nullptr);
  size_t pending() const override;
  // Owner thread.
  size_t Drain() override;

  // This inbox queues peers' interest (ClusterView): set when a cluster
  // attaches it, never cleared.
  void MarkPeerInterest() { serves_peers_.store(true, std::memory_order_relaxed); }
  bool serves_peers() const { return serves_peers_.load(std::memory_order_relaxed); }

 private:
  // Rounds of swap-and-deliver one Drain() makes before yielding the thread
  // back (re-waking itself if more arrived): bounds the time a busy inbox can
  // keep its loop from other work.
  static constexpr int kMaxDrainRounds = 16;

  struct Dropped {
    MatchResultPtr keep_match;
    SubscriptionPtr keep_target;
    Subscription* sub;
    Gap gap;
  };
  void RecordDropLocked(const Item& item, const MatchResultPtr& keep);
  void NoteDrop(Subscription* sub, const Item& item, const MatchResultPtr& keep);
  size_t DeliverItem(const Item& item);
  size_t DeliverReplay(Subscription& sub, const RemoteReplay& replay);
  // Whether a live message may reach a subscription with remote holds
  // (false: it waits for, or was covered by, the owner's replay).
  static bool PassHold(Subscription& sub, const MessagePtr& m);

  const std::function<void()> wake_;
  const size_t max_pending_;
  BrokerCounters* const counters_;
  const Redispatch redispatch_;
  std::atomic<bool> serves_peers_{false};

  mutable std::mutex mu_;
  std::vector<Item> pending_;
  std::vector<MatchResultPtr> keep_;  // owners of the match results pending_ points to
  const MatchResult* last_kept_ = nullptr;
  // True from the wake-up until a Drain() finds the queue empty: producers
  // do not wake an owner that is already draining.
  bool wake_pending_ = false;
  std::map<std::pair<uint64_t, std::string>, Dropped> dropped_;  // (subscription, topic)
  std::vector<Item> draining_;  // owner thread only; kept to reuse its capacity
  std::vector<MatchResultPtr> draining_keep_;
};

}  // namespace herald
