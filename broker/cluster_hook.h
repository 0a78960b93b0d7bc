// What the core asks of a cluster: who owns a topic, and how to reach the
// other nodes. Implemented by cluster/ and attached with BrokerCluster; a
// broker without one is a single node and pays one null check per publish.
//
// Thread rule: every method may be called from any thread, with broker locks
// held (topic and subscription locks), so none may call back into the broker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "herald/broker.h"
#include "herald/presence.h"

namespace herald {

using PublishCallback = std::function<void(Result<PublishAck>)>;
using HistoryCallback = std::function<void(Result<ResumeResult>)>;

class ClusterHook {
 public:
  virtual ~ClusterHook() = default;

  // Changes whenever the set of live members changes; each topic caches its
  // owner under one generation.
  virtual uint64_t membership_generation() const = 0;
  // The node owning `topic` under the current membership; "" for this node.
  virtual std::string OwnerOf(std::string_view topic) const = 0;

  // Hands a publish to the topic's owner; `done` runs exactly once, on an
  // unspecified thread, with the owner's (epoch, offset) or an error.
  virtual void Forward(const std::string& owner, MessagePtr message, PublishCallback done) = 0;
  // Sends a reply to the node that made the request. False when that node is
  // not a live member.
  virtual bool RouteReply(std::string_view node, MessagePtr reply) = 0;
  // Asks the owner for one page of the history of `topic` after (epoch,
  // after_offset), `truncated` when more follows (the caller asks again
  // after its last message); `done` runs exactly once, on an unspecified
  // thread.
  virtual void FetchHistory(const std::string& owner, const std::string& topic, uint64_t epoch,
                            uint64_t after_offset, HistoryCallback done) = 0;
  // A local subscription (not a peer's) was added or removed. Called with the
  // broker's subscription lock held, so calls arrive in subscription order.
  // Returns whether peers are told: the first subscription of a (pattern,
  // queue group) here, or the end of its last one.
  virtual bool InterestChanged(const std::string& pattern, const std::string& queue_group,
                               bool added) = 0;
  // A local presence member's first join of a topic, or its last leave
  // (herald/presence.h). Called with the topic's presence lock held, so a
  // topic's changes arrive in order. Default: peers are not told.
  virtual void PresenceChanged(const std::string& topic, const PresenceMember& member,
                               bool joined) {
    (void)topic;
    (void)member;
    (void)joined;
  }
  // A server-API call for the other nodes (herald/clients.h): to `node`
  // alone, or (empty) to every peer that takes them. `done` runs exactly
  // once, on an unspecified thread, with their merged answers; a node that
  // did not answer within the admin timeout, or whose link ended, is listed
  // in `unreached`. Default: there are no other nodes.
  virtual void Admin(const AdminCall& call, const std::string& node, AdminCallback done) {
    (void)call;
    AdminResult none;
    if (!node.empty()) none.unreached.push_back(node);
    done(std::move(none));
  }
};

}  // namespace herald
