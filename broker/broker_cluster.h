// broker/broker_cluster.h — the broker calls only cluster/ makes: attaching a
// ClusterHook, subscribing a peer's interest, and injecting what arrives over
// a peer link. Not part of the public API; a Broker with no cluster never
// sees any of this.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/cluster_hook.h"
#include "herald/broker.h"

namespace herald {

struct LocalInterest {
  std::string pattern;
  std::string queue_group;
};

class BrokerCluster {
 public:
  // Attaches `hook` (which must outlive the attachment) and names the inbox
  // that peer subscriptions use. Returns the local interest present at that
  // moment; every later change reaches hook->InterestChanged.
  static std::vector<LocalInterest> Attach(Broker& broker, ClusterHook* hook,
                                           std::shared_ptr<Inbox> peer_inbox);
  // Detaches the hook: the broker is a single node again (waits for no one;
  // call it once no link thread uses the broker any more).
  static void Detach(Broker& broker);
  // Whether the broker's work queues (if any) may be served by a cluster:
  // none, or their jobs are in a store the nodes share (SharedQueueStore).
  static Status QueuesClusterable(const Broker& broker);

  // A peer's interest, as a subscription of `sink` on the peer inbox. Not
  // counted against per-connection limits, not announced to other peers.
  static Result<uint64_t> SubscribePeer(Broker& broker, const std::string& pattern,
                                        const std::string& queue_group, std::shared_ptr<Sink> sink);

  // A publish forwarded by a peer: sequenced here, never forwarded again.
  // `done` runs once: inline, or (with a history store) on the store's
  // thread once the message is committed.
  static void PublishOwned(Broker& broker, std::string topic, std::string payload,
                           PublishOptions options, PublishCallback done);
  // A message the owner sequenced, for this node's local subscribers; with a
  // queue group, for one local member of (pattern, queue_group).
  static void DeliverRemote(Broker& broker, MessagePtr message, const std::string& pattern,
                            const std::string& queue_group);
  // A reply for a request made on this node.
  static void CompleteReply(Broker& broker, MessagePtr reply);
  // The link to `node` was lost: local subscribers of the topics it owned
  // may have missed messages, so each is told with a gap at its next one.
  static void PeerLost(Broker& broker, const std::string& node);
  // A link came up after the peer may have numbered topics this node owns
  // (it saw this node gone): subscribers here of each owned topic for which
  // `moved_meanwhile(topic)` holds are told with a gap at its next message.
  static void SuspectOwned(Broker& broker,
                           const std::function<bool(std::string_view)>& moved_meanwhile);
  // Presence (herald/presence.h): a peer's members, mirrored here. Calls for
  // one node come one at a time (its link's reader). A reset replaces all of
  // the node's members: Begin, the members named again, End.
  // `link` tags the peer link the update came on (see PresenceTable).
  static void PeerPresenceJoin(Broker& broker, const std::string& node, const void* link,
                               const std::string& topic, const PresenceMember& member);
  static void PeerPresenceLeave(Broker& broker, const std::string& node, const void* link,
                                const std::string& topic, const std::string& client);
  static void PeerPresenceAdopt(Broker& broker, const std::string& node, const void* link);
  static void PeerPresenceBeginReset(Broker& broker, const std::string& node, const void* link);
  static void PeerPresenceEndReset(Broker& broker, const std::string& node, const void* link);
  // The node is gone (its link `link` ended and no newer one replaced it;
  // null: whatever link): its members leave.
  static void PeerPresenceLost(Broker& broker, const std::string& node, const void* link);
  // A peer's server-API call (herald/clients.h), applied to this node's
  // clients alone; `done` once, on any thread.
  static void ApplyAdmin(Broker& broker, AdminCall call, AdminCallback done);
  // The revocations this node holds (a peer that links up is told them).
  static std::vector<Revocation> Revocations(const Broker& broker);
  // This node's own members, one presence shard at a time, `each` called
  // under the shard's lock: a link coming up learns them without missing a
  // change (every change of the shard is told after its call).
  static void ForEachLocalMember(
      Broker& broker,
      const std::function<void(const std::vector<std::pair<std::string, PresenceMember>>&)>& each);

  // History of a topic this node owns, for a peer resuming a client. `done`
  // runs inline, or on the history store's reader thread when the history
  // asked for is on disk.
  static void ResumeOwned(Broker& broker, const std::string& topic, uint64_t epoch,
                          uint64_t after_offset, size_t limit, ResumeCallback done);
};

}  // namespace herald
