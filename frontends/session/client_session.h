// ClientSession: one client's session, whatever carries it (a WebSocket JSON
// connection, a gRPC Connect stream). It holds what the session owns and
// ends it with the session:
//
//   - its subscriptions, keyed by (pattern, queue group): subscribing twice
//     to the same key answers with the first subscription's id (idempotent on
//     every front); at most max_subscriptions_per_sink of them, counted here
//     because a front may give each subscription its own sink;
//   - the reply inboxes it was delivered (ReplyPermits: it may answer only
//     those, once);
//   - its waiting requests (SessionRequests: bounded, cancelled at the end);
//   - its work-queue memberships, one per queue (joining again answers with
//     the first); their jobs are offered again when the session ends, and
//     it settles only the jobs delivered to it.
//
// Admission and the operations' rules come from Operations; this class adds
// only what needs the session's state. Errors are typed Statuses.
//
//   ClientSession session(ops, identity, [](auto fn) { fn(); });
//   Result<ClientSession::Subscribed> s = session.Subscribe(pattern, {}, sink, inbox);
//   session.Delivered(message);                 // for each delivery sent
//   session.Close();                            // the connection ended
//
// Thread rule: any thread; calls for one session come one at a time (a
// front's reader), except Delivered, which may come from a delivery thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "frontends/session/operations.h"
#include "frontends/session/reply_permits.h"
#include "frontends/session/session_requests.h"

namespace herald::session {

class ClientSession {
 public:
  // Where the broker's Unsubscribe runs: on the thread that drains the
  // session's inbox, so that nothing is delivered after the answer. A front
  // already on that thread runs the function at once.
  using Runner = std::function<void(std::function<void()>)>;

  // `client_id`: the one its admission chose (Admitted::client), else a new one.
  ClientSession(std::shared_ptr<const Operations> ops, IdentityPtr identity, Runner unsubscribe_on,
                std::string client_id = {});
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  // The session's client id, "<node_id>.<base36>": unique on this node for
  // its life and across restarts (seeded from the clock), naming the node.
  const std::string& client_id() const { return client_id_; }
  const Operations& operations() const { return *ops_; }
  // The info the client set at connect (Operations::ConnectInfo), shown in
  // presence when its token has none. Before the first Subscribe.
  void SetConnectInfo(std::string info) { connect_info_ = std::move(info); }

  // Who the session is now (a refresh replaces it): read on the session's
  // command thread, like every other call but Delivered.
  const auth::Identity& identity() const { return *identity_; }
  const IdentityPtr& identity_ptr() const { return identity_; }
  // A new token for the live session (Admission::Renew): on success its
  // grants and expiry are the session's from the next command on. What the
  // session holds stays: subscriptions and memberships made under the old
  // grants go on (grants are checked when a subscription is made).
  Result<IdentityPtr> Refresh(const Credential& credential);
  // What a renewal decided (Operations::Renew, which may wait on the
  // refresh hook), applied on the session's command thread.
  void Renewed(IdentityPtr next);
  // How the session is named to hooks (its transport is Register's).
  HookCaller Caller() const { return {client_id_, transport_, connect_info_}; }
  // Makes the session reachable by the server API (Operations::RegisterClient)
  // until Close; a refresh updates its entry.
  void Register(std::string_view transport, std::weak_ptr<ClientControl> control);

  struct Subscribed {
    uint64_t id = 0;
    bool again = false;  // the session held this (pattern, group) already
  };
  // `sink` is subscribed only when the key is new. A set
  // `options.presence` asks for presence: its member is filled in here
  // (Operations::MemberOf), whatever the front put in it.
  // `by_server`: the server API's (Operations::Subscribe).
  Result<Subscribed> Subscribe(std::string_view pattern, SubscribeOptions options,
                               std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                               bool by_server = false);
  // Ends a subscription, by key or by id; `then` runs after the broker's
  // Unsubscribe (on the runner). not_found when the session holds none.
  Status Unsubscribe(std::string_view pattern, std::string_view group, std::function<void()> then);
  Status Unsubscribe(uint64_t id, std::function<void()> then);

  // `vetted`: the publish hook allowed it already (Operations::PublishVetted).
  void Publish(std::string_view topic, std::string payload, PublishOptions options,
               PublishDone done, bool vetted = false) const;
  // A topic's presence members, as this session may see them.
  Result<PresenceSnapshot> Presence(std::string_view topic, const PresenceQuery& query) const {
    return ops_->Presence(*identity_, topic, query);
  }
  // `timeout_ms` absent or 0: `fallback` (see Operations::RequestTimeout).
  // `vetted`: the publish hook allowed it already (Operations::Request).
  void Request(std::string_view topic, std::string payload, std::optional<int64_t> timeout_ms,
               std::chrono::milliseconds fallback, PublishOptions options, ReplyCallback done,
               bool vetted = false);
  // Answers a request this session was delivered (once); permission_denied
  // for any other inbox.
  Status Reply(std::string_view to, std::string payload, PublishOptions options);
  // A message the session's client was sent: a request's inbox may now be answered.
  void Delivered(const Message& m) { permits_->Note(m); }
  // The same, for a sink that may outlive this object (a delivery thread's).
  const std::shared_ptr<ReplyPermits>& permits() const { return permits_; }

  // The client will send nothing more, but may still read: its
  // subscriptions end (on the runner, then `then` runs there); its waiting
  // requests go on.
  void UnsubscribeAll(std::function<void()> then);
  // The session ended: its requests end with kCancelled and its
  // subscriptions and queue memberships are dropped, here and now; a
  // Subscribe or JoinQueue after it (or racing it on another thread) is
  // refused with kCancelled and leaves nothing behind. Idempotent.
  void Close();

  size_t subscriptions() const;
  // The id of the session's subscription to (pattern, group); 0: none.
  uint64_t IdOf(std::string_view pattern, std::string_view group = {}) const;

  // Work queues. `sink` joins only when the session is not a member yet.
  // `max_bytes` is the front's outbound budget (OutboundLimits::max_bytes):
  // the unsettled jobs of all the session's memberships stay within it
  // together (one JobBudget; 0: no bound).
  // `vetted`: the pattern the subscribe hook allowed (Operations::VetQueue).
  Result<Subscribed> JoinQueue(std::string_view name, uint32_t max_in_flight, uint64_t max_bytes,
                               std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                               const std::string* vetted = nullptr);
  // not_found when the session is not a member.
  Status LeaveQueue(std::string_view name);
  // Settles a job delivered to one of the session's memberships
  // (unknown_handle for any other).
  Status Settle(std::string_view handle, SettleKind kind, std::optional<int64_t> delay_ms);

 private:
  using Key = std::pair<std::string, std::string>;  // (pattern, queue group)
  std::vector<uint64_t> TakeAll();
  Status Drop(std::unique_lock<std::mutex>& lock, std::unordered_map<uint64_t, Key>::iterator it,
              std::function<void()> then);

  const std::shared_ptr<const Operations> ops_;
  const std::string client_id_;
  std::string connect_info_;
  std::string transport_;  // Register's: "ws", "grpc"
  IdentityPtr identity_;   // command thread only (see identity())
  const Runner run_;
  const std::shared_ptr<ReplyPermits> permits_;
  const std::shared_ptr<SessionRequests> requests_;
  std::shared_ptr<void> registration_;    // the server API's entry, until Close
  std::weak_ptr<ClientControl> control_;  // how the server API reaches the session
  mutable std::mutex mu_;
  std::map<Key, uint64_t> by_key_;
  std::unordered_map<uint64_t, Key> by_id_;
  std::unordered_set<uint64_t> presence_ids_;  // the subscriptions that asked for presence
  std::map<std::string, uint64_t, std::less<>> queues_;  // queue name -> membership
  // What every membership's unsettled jobs may take together (the front's
  // outbound budget): created at the first JoinQueue.
  std::shared_ptr<JobBudget> job_budget_;
  bool closed_ = false;  // Close ran: no subscription or membership may be added
};

}  // namespace herald::session
