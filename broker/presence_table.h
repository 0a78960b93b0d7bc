// PresenceTable: the members of every presence topic on this node, the
// subscriptions watching them, and the coalescing of their join/leave events
// (herald/presence.h).
//
// A topic's state lives in one of 64 shards (by seeded hash), each under its
// own mutex: a join or leave touches one topic's shard only. Changes update
// the member list at once (queries see them) and are queued on the topic;
// `Send` pushes one event per watcher onto its inbox, as a targeted item, so
// events arrive on the watcher's delivery thread like its messages. The
// first change after a quiet interval is sent at once (by the changing
// thread); later ones when `Flush` finds them due (the maintenance thread,
// woken through `note_deadline`).
//
// What a new watcher is shown first is the *published* view — the members
// as of the last event sent — so the queued changes that follow apply to
// it exactly once.
//
// Bounds: members per topic (per rule), and bytes across all topics
// (member entries, ids, users and info); a join past either is refused.
//
// Thread rule: any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/seeded_hash.h"
#include "broker/subscription.h"
#include "herald/presence.h"
#include "herald/status.h"

namespace herald {

struct PresenceCounters {
  std::atomic<uint64_t> topics{0};      // gauge: topics with a member or a watcher
  std::atomic<uint64_t> members{0};     // gauge
  std::atomic<uint64_t> bytes{0};       // gauge: what max_presence_bytes bounds
  std::atomic<uint64_t> events{0};      // events sent (one per topic per flush, snapshots aside)
  std::atomic<uint64_t> deliveries{0};  // events pushed to watchers
  std::atomic<uint64_t> coalesced{
      0};                            // changes that went out in an event with others, or cancelled
  std::atomic<uint64_t> resyncs{0};  // events that said only `resync`
  std::atomic<uint64_t> refused_full{0};   // joins past a topic's max_members
  std::atomic<uint64_t> refused_bytes{0};  // joins past max_presence_bytes
  std::atomic<uint64_t> peer_members{0};   // gauge: members of other cluster nodes
  std::atomic<uint64_t> peer_dropped{0};   // peers' joins not kept (max_presence_bytes)
  std::atomic<uint64_t> dropped{0};        // events a front dropped over a connection's budget
};

class PresenceTable {
 public:
  // `push(watcher, event)` queues an event for a watcher (its inbox);
  // `note_deadline(due_us)` asks for a Flush at that steady time.
  using Push = std::function<void(const SubscriptionPtr&, std::shared_ptr<const PresenceEvent>)>;
  PresenceTable(const PresenceLimits& limits, Push push,
                std::function<void(int64_t)> note_deadline);

  // The rule for `topic`: kInvalidArgument when presence is off for it.
  // `max_members` is set to the topic's bound.
  Status Allowed(std::string_view topic, uint32_t* max_members = nullptr) const;

  // `member` joins `topic` (refcounted by client id) and `watcher` starts
  // receiving the topic's events, the first a snapshot. kResourceExhausted
  // past the topic's or the node's bound (nothing changes).
  Status Join(const std::string& topic, const PresenceMember& member,
              const SubscriptionPtr& watcher, int64_t now_us);
  // The reverse of one Join (the watcher's subscription ended).
  void Leave(const std::string& topic, const std::string& client, const Subscription* watcher,
             int64_t now_us);

  Result<PresenceSnapshot> Query(const std::string& topic, const PresenceQuery& query) const;

  // Cluster: members of other nodes, mirrored here (every node holds every
  // member) and told to local watchers like local ones. Each node's set
  // changes by increments; a reset (Begin, the members named again, End)
  // replaces it, dropping what was not named again. Calls for one node come
  // one at a time (its link's reader); they never wait for local joins.
  // Past max_presence_bytes a peer's join is dropped (counted): the view is
  // short of it until the next reset.
  // `link` tags the peer link the frames came on: only the link whose reset
  // began last changes the node's members (a replaced link's late frames do
  // not); DropNode with a link does nothing once a newer link began a reset
  // (null: whatever link).
  void JoinRemote(const std::string& node, const void* link, const std::string& topic,
                  const PresenceMember& member, int64_t now_us);
  void LeaveRemote(const std::string& node, const void* link, const std::string& topic,
                   const std::string& client, int64_t now_us);
  // A newer link from the node is up: from now on only its frames (and its
  // end) count, even before its reset begins.
  void Adopt(const std::string& node, const void* link);
  void BeginReset(const std::string& node, const void* link);
  void EndReset(const std::string& node, const void* link, int64_t now_us);
  // The node is gone: every member of it leaves.
  void DropNode(const std::string& node, const void* link, int64_t now_us);
  // Local members, one shard at a time, `each(topic, member)` under the
  // shard's lock (so a change of that shard is told after it): a link
  // coming up learns them.
  void ForEachLocal(
      const std::function<void(const std::vector<std::pair<std::string, PresenceMember>>&)>& each);
  // Told of each local member's first join and last leave, under its
  // shard's lock (so peers hear them in order). Set once, before use.
  using Changed = std::function<void(const std::string& topic, const PresenceMember&, bool joined)>;
  void OnLocalChange(Changed changed) { changed_ = std::move(changed); }

  // Sends the events due by `now_us`; returns when the next is due
  // (INT64_MAX: none).
  int64_t Flush(int64_t now_us);

  const PresenceCounters& counters() const { return counters_; }
  PresenceCounters& counters() { return counters_; }
  const PresenceLimits& limits() const { return limits_; }

 private:
  using MemberPtr = std::shared_ptr<const PresenceMember>;
  struct Entry {
    MemberPtr member;
    uint32_t refs = 0;
    std::string node;  // "" for this node's members, else the peer's id
  };
  // A change queued since the last event: +1 joined, -1 left.
  // A client's change since the last event: who it was then (null: not a
  // member) and who it is now (null: gone). Equal: nothing to tell.
  struct Change {
    MemberPtr before;
    MemberPtr after;
  };
  struct Topic {
    std::map<std::string, Entry, std::less<>> members;  // by client id
    std::unordered_map<std::string, uint32_t, SeededHash, std::equal_to<>>
        users;  // user -> members
    std::vector<SubscriptionPtr> watchers;
    std::map<std::string, Change, std::less<>> pending;
    int64_t last_sent_us = INT64_MIN / 2;
    uint64_t bytes = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Topic, SeededHash, std::equal_to<>> topics;
    std::map<std::string, int64_t> due;  // topics with pending changes -> when they go out
  };
  static constexpr size_t kShards = 64;

  Shard& ShardOf(std::string_view topic) const;
  static uint64_t Cost(const PresenceMember& m);
  // Queues a change and sends it or schedules it. Shard lock held.
  void Note(Shard& shard, const std::string& name, Topic& t, const std::string& client, int delta,
            MemberPtr member, int64_t now_us);
  // Builds the topic's event from its pending changes and pushes it to every
  // watcher. Shard lock held.
  void Send(const std::string& name, Topic& t, int64_t now_us);
  // The members as of the last event sent, in client order. Shard lock held.
  static void ForPublished(const Topic& t, const std::function<void(const PresenceMember&)>& each);
  // The members and counts as of the last event sent. Shard lock held.
  std::shared_ptr<PresenceEvent> PublishedView(const std::string& name, const Topic& t) const;
  void DropIfEmpty(Shard& shard, const std::string& name);
  // Removes a member's entry and queues its leave. Shard lock held.
  void EraseMember(Shard& shard, const std::string& name, Topic& t,
                   std::map<std::string, Entry, std::less<>>::iterator m, int64_t now_us);

  // Peers' members by node: (topic, client) -> confirmed in the reset under
  // way. Taken before any shard lock, only by link readers.
  struct Remote {
    std::map<std::pair<std::string, std::string>, bool> members;
    bool resetting = false;
    const void* link = nullptr;  // the link whose reset began last
  };
  std::mutex remote_mu_;
  std::map<std::string, Remote, std::less<>> remote_;
  Changed changed_;

  const PresenceLimits limits_;
  const Push push_;
  const std::function<void(int64_t)> note_deadline_;
  const int64_t interval_us_;
  mutable std::array<Shard, kShards> shards_;
  PresenceCounters counters_;
};

}  // namespace herald
