// broker/cluster_view.h — everything the core knows of a cluster, behind one
// view. Internal to the broker: cluster/ implements ClusterHook and calls in
// through broker_cluster.h; the rest of the core asks this view, and only
// this view, the cluster's questions:
//
//   - who owns topic T, is it this node (Settle, OwnerOf)
//   - hand this publish / history request / reply to another node
//     (Forward, FetchResume, FetchHistory, RouteReply)
//   - is this subscription (or inbox) a peer's interest (IsPeerInterest)
//   - has the epoch local subscribers saw changed (EpochUnannounced, Announce)
//
// A broker with no cluster attached is a single node: every topic is here,
// at the cost of one load per publish.
//
// Thread rule: the hook is read lock-free; a topic's slot is read and written
// under that topic's lock; Attach and Detach run under the core's
// subscription lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "broker/cluster_hook.h"
#include "herald/broker.h"

namespace herald {

class DeliveryInbox;
struct Subscription;

// The cluster's part of one topic's state. It lives in the topic's own
// memory (no lookup per publish), but only ClusterView reads or writes it.
class TopicClusterSlot {
  friend class ClusterView;
  std::string owner_;             // the owner node ("" = this one) under generation_
  uint64_t generation_ = 0;       // membership generation owner_ was settled in; 0: never
  uint64_t delivered_epoch_ = 0;  // epoch of the last message handed to local subscribers
};

class ClusterView {
 public:
  // Subscription lock held. `peer_inbox` queues the deliveries of peers'
  // interest from now on; it stays marked as such for the broker's life.
  void Attach(ClusterHook* hook, std::shared_ptr<Inbox> peer_inbox);
  // Subscription lock held. The broker is a single node again.
  void Detach() { hook_.store(nullptr, std::memory_order_release); }
  bool attached() const { return hook() != nullptr; }

  // --- Ownership (topic lock held, cluster attached) ---
  struct Settled {
    bool here = true;    // this node owns the topic
    bool moved = false;  // ownership changed: what this node numbered or
                         // mirrored of the topic is no longer authoritative
  };
  // Settles the topic's owner under the current membership (cached per
  // membership generation).
  Settled Settle(TopicClusterSlot& slot, std::string_view topic) const;
  // The owner settled last ("" = this node).
  static const std::string& Owner(const TopicClusterSlot& slot) { return slot.owner_; }
  // A peer sees this node as the owner before this node does: this node
  // numbers the topic until the next membership change settles it again.
  static void Claim(TopicClusterSlot& slot) { slot.owner_.clear(); }
  // Whether `node` owned the topic when it was last settled.
  static bool OwnedBy(const TopicClusterSlot& slot, std::string_view node) {
    return slot.owner_ == node;
  }
  // The owner of a topic this node keeps no state for ("" = this node).
  std::string OwnerOf(std::string_view topic) const { return hook()->OwnerOf(topic); }

  // --- Epoch announcements (topic lock held) ---
  // Local subscribers are told with a gap when the epoch of the messages
  // they get changes (ownership moved, or a lost peer may have renumbered).
  static bool EpochUnannounced(const TopicClusterSlot& slot, uint64_t epoch) {
    return slot.delivered_epoch_ != epoch;
  }
  // Records `epoch` as the one local subscribers see; true when they must be
  // told of a change (false for a topic's first message here).
  static bool Announce(TopicClusterSlot& slot, uint64_t epoch) {
    const uint64_t previous = slot.delivered_epoch_;
    slot.delivered_epoch_ = epoch;
    return previous != 0;
  }
  // Whether local subscribers have been handed a message of the topic.
  static bool Delivered(const TopicClusterSlot& slot) { return slot.delivered_epoch_ != 0; }
  // Local subscribers may have missed messages: they are told with a gap at
  // the next one (if they have seen any).
  static void Suspect(TopicClusterSlot& slot) {
    // Any value other than the next message's epoch announces a gap; ~0 is
    // never a real epoch.
    if (slot.delivered_epoch_ != 0) slot.delivered_epoch_ = ~uint64_t{0};
  }

  // --- Reaching other nodes (cluster attached) ---
  // Hands a publish to the topic's owner; `done` runs exactly once.
  void Forward(const std::string& owner, MessagePtr message, PublishCallback done) const {
    hook()->Forward(owner, std::move(message), std::move(done));
  }
  // False when the node that made the request is not a live member.
  bool RouteReply(std::string_view node, MessagePtr reply) const {
    return hook()->RouteReply(node, std::move(reply));
  }
  // The owner's history of `topic`, as it answers (one page).
  void FetchHistory(const std::string& owner, const std::string& topic, uint64_t epoch,
                    uint64_t after_offset, HistoryCallback done) const {
    hook()->FetchHistory(owner, topic, epoch, after_offset, std::move(done));
  }
  // The same, cut to `limit` messages (a Resume on this node's behalf).
  void FetchResume(const std::string& owner, std::string_view topic, uint64_t epoch,
                   uint64_t after_offset, size_t limit, ResumeCallback done) const;
  // A local subscription (not a peer's) was added or removed; nothing
  // without a cluster. Whether peers are told (ClusterHook::InterestChanged).
  bool InterestChanged(const std::string& pattern, const std::string& queue_group,
                       bool added) const {
    if (ClusterHook* h = hook()) return h->InterestChanged(pattern, queue_group, added);
    return false;
  }

  // A local presence member joined or left (ClusterHook::PresenceChanged).
  void PresenceChanged(const std::string& topic, const PresenceMember& member, bool joined) const {
    if (ClusterHook* h = hook()) h->PresenceChanged(topic, member, joined);
  }
  // No cluster: `done` at once with nothing (a named node is unreached).
  void Admin(const AdminCall& call, const std::string& node, AdminCallback done) const {
    if (ClusterHook* h = hook()) return h->Admin(call, node, std::move(done));
    AdminResult none;
    if (!node.empty()) none.unreached.push_back(node);
    done(std::move(none));
  }

  // --- Peers' interest ---
  // The inbox peers' interest subscribes on: the last one attached (kept
  // after Detach), null before any. Subscription lock held.
  DeliveryInbox* peer_inbox() const { return peer_inbox_; }
  // Whether deliveries on `inbox` go to other nodes (any peer inbox ever
  // attached: a subscription keeps its inbox across a re-attach).
  static bool IsPeerInbox(const DeliveryInbox* inbox);
  // A peer node's interest, not a local subscriber.
  static bool IsPeerInterest(const Subscription& sub);

 private:
  ClusterHook* hook() const { return hook_.load(std::memory_order_acquire); }

  std::atomic<ClusterHook*> hook_{nullptr};
  // Owned by the broker's inbox registry, which outlives every subscription.
  DeliveryInbox* peer_inbox_ = nullptr;
};

}  // namespace herald
