// herald/broker.h — the topic broker core, embeddable in any C++ program.
//
// One Broker holds the topics, the subscriptions and the history of a node.
// Publishing is safe from any thread; a subscriber receives each topic's
// messages in offset order. Both styles of backend communication live here:
// fire-and-forget publish and queue groups (async), and request/reply and
// acknowledged publish (sync).
//
//   herald::Broker broker;
//   auto sub = broker.Subscribe("orders.>", [](const herald::Delivery& d) {
//     if (d.message) std::cout << d.message->topic << ": " << d.message->payload << "\n";
//   });
//   herald::Result<herald::PublishAck> ack = broker.Publish("orders.42", "paid");
//   herald::Result<herald::MessagePtr> reply =
//       broker.RequestSync("judge.run", "print(1)", std::chrono::seconds(2));
//   // a responder answers a request's reply_to with Reply, not Publish:
//   broker.Reply(d.message->reply_to, "ok");
//
// Callbacks run on the broker's dispatcher thread, one at a time, in order.
// Network fronts instead subscribe a Sink with an Inbox of their own thread.
// The broker knows nothing of sockets or encodings; see herald/server.h for
// serving it over the network.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/broker_options.h"
#include "herald/broker_stats.h"
#include "herald/clients.h"
#include "herald/delivery.h"
#include "herald/inbox.h"
#include "herald/message.h"
#include "herald/status.h"
#include "herald/work_queue.h"

namespace herald {

struct PublishOptions {
  std::string content_type;
  Headers headers;
  std::string reply_to;  // normally set by Request, not by hand
  // Idempotent publish: 1-128 printable ASCII characters naming this message.
  // A publish to the same topic with an id seen within
  // BrokerOptions::dedup_window is not published again: it is acknowledged
  // with the first one's (epoch, offset) and `duplicate` set (whatever its
  // payload). So a publish whose outcome is unknown (a timeout, a dropped
  // connection) can be retried safely. Kept with the message and delivered.
  std::string msg_id;
};

// Where a published message landed: the sync, acknowledged style.
struct PublishAck {
  uint64_t epoch = 0;
  uint64_t offset = 0;
  bool duplicate = false;  // the msg_id was seen: this is where the first one landed
};

// "I have seen `topic` up to `after_offset` in `epoch`": resume right after it.
// epoch 0 means the subscriber has seen nothing of the topic yet.
struct ResumePoint {
  std::string topic;
  uint64_t epoch = 0;
  uint64_t after_offset = 0;
};

struct SubscribeOptions {
  // Non-empty: join this queue group; each message matching the pattern goes
  // to exactly one live member of the group.
  std::string queue_group;
  // Replay history after these points before live messages, with no loss and
  // no duplicate in between (or a gap notice where history cannot cover it).
  std::vector<ResumePoint> resume;
  // Set: this subscription makes `presence` a member of the topic (one exact
  // topic, no queue group, presence on for it) and receives the topic's
  // presence events (herald/presence.h). Two presence subscriptions of one
  // client to one topic are one member.
  std::optional<PresenceMember> presence;
};

struct ResumeResult {
  uint64_t epoch = 0;                // the topic's current epoch (0: topic unknown)
  uint64_t last_offset = 0;          // the topic's latest offset in that epoch
  std::vector<MessagePtr> messages;  // in offset order
  std::optional<Gap> gap;            // set when messages before these were lost
  bool truncated = false;            // `limit` cut the answer; ask again after the last one
};

using DeliveryCallback = std::function<void(const Delivery&)>;
using ReplyCallback = std::function<void(Result<MessagePtr>)>;
using ResumeCallback = std::function<void(Result<ResumeResult>)>;

class Broker {
 public:
  explicit Broker(BrokerOptions options = {});
  ~Broker();  // stops the dispatcher and maintenance threads; pending requests fail
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Any thread. Sequences the message (assigns epoch and offset), stores it in
  // history and hands it to every matching subscriber. Topics under `_INBOX.`
  // are reply inboxes and are refused here (invalid_topic): use Reply. A
  // content type must be `type/subtype` with valid parameters, header names
  // HTTP tokens and header values free of control characters (invalid_argument):
  // they may end up in an HTTP response head. In a cluster, a topic
  // owned by another node is sequenced there, and with a history store a
  // message is acknowledged once stored: this call then waits for the
  // owner's or the store's answer, so event-loop code uses PublishAsync.
  Result<PublishAck> Publish(std::string_view topic, std::string payload,
                             PublishOptions options = {});
  // Any thread. Publish without waiting: `done` runs exactly once with the
  // ack or the error — inline when this node sequences the topic in memory,
  // otherwise on an unspecified thread: the history store's once it has
  // committed the message (BrokerOptions::store), or the cluster's when the
  // owner node answers. `done` must not block (not even on Publish).
  void PublishAsync(std::string_view topic, std::string payload, PublishOptions options,
                    std::function<void(Result<PublishAck>)> done);

  // Any thread. An inbox for a thread that owns sinks; `wake` is called (from
  // a publishing thread) when the inbox has deliveries and its owner is
  // neither awake nor draining. The inbox lives as long as the broker (create
  // one per thread, not per connection); do not drain it after the broker is
  // destroyed.
  std::shared_ptr<Inbox> CreateInbox(std::function<void()> wake);

  // Any thread. Subscribes `sink`, whose deliveries are queued on `inbox`.
  // Returns the subscription id (unique in this broker, never 0).
  Result<uint64_t> Subscribe(std::string_view pattern, std::shared_ptr<Sink> sink,
                             std::shared_ptr<Inbox> inbox, SubscribeOptions options = {});
  // Any thread. Subscribes a callback run on the broker's dispatcher thread.
  Result<uint64_t> Subscribe(std::string_view pattern, DeliveryCallback callback,
                             SubscribeOptions options = {});
  // Any thread. After it returns on the inbox's own thread, nothing more is
  // delivered; from another thread a delivery already running may finish.
  // Returns false if there was no such subscription.
  bool Unsubscribe(uint64_t subscription_id);

  // Any thread. Publishes a request with a unique, unguessable reply inbox;
  // `on_reply` runs once, on an unspecified thread: with the first reply, with
  // kTimeout after `timeout` (at most BrokerOptions::max_request_timeout), with
  // kCancelled after CancelRequest, or at once (inline) with kNoResponders when
  // nothing subscribes to `topic`, or kResourceExhausted when
  // max_pending_requests already wait. Returns the request's id for
  // CancelRequest, or 0 when `on_reply` has already run.
  uint64_t Request(std::string_view topic, std::string payload, std::chrono::milliseconds timeout,
                   ReplyCallback on_reply, PublishOptions options = {});
  // Any thread. Ends a request whose caller went away: its `on_reply` runs
  // with kCancelled (on this thread) unless it already ran. False if it had.
  bool CancelRequest(uint64_t request_id);
  // Any thread. Answers a request: `reply_to` is the reply_to of a message
  // this code received. The first reply completes the request; a later or
  // unknown one is counted as late and dropped (not an error: the requester
  // may have timed out). invalid_topic when `reply_to` is not a reply inbox.
  // The broker trusts its caller here: network fronts allow a client to reply
  // only to inboxes its own connection was sent (frontends/session/).
  Status Reply(std::string_view reply_to, std::string payload, PublishOptions options = {});
  // Any thread. Fronts count refusals of their session rules, for /metrics.
  void RecordRefusedReply();
  void RecordRefusedRequest();
  void RecordRefusedSubscription();  // a session's max_subscriptions_per_connection
  void RecordForgottenReplyInbox();  // past a session's max_reply_inboxes_per_connection
  // A publish refused before the broker saw it (admission, a hook, a
  // front's own check), by its code; kOk and unknown codes are ignored.
  void RecordRefusedPublish(ErrorCode code);
  // Blocking form of Request, for code that is not on an event loop.
  Result<MessagePtr> RequestSync(std::string_view topic, std::string payload,
                                 std::chrono::milliseconds timeout, PublishOptions options = {});

  // Any thread; never blocks. The messages of `topic` after `after_offset` in
  // `epoch`, at most `limit` of them, or an explicit gap where history does
  // not reach. `done` runs exactly once: inline when this node keeps the
  // topic's history in memory, otherwise on an unspecified thread when the
  // history store or (in a cluster) the topic's owner answers. Event-loop
  // code uses this form.
  void ResumeAsync(std::string_view topic, uint64_t epoch, uint64_t after_offset, size_t limit,
                   ResumeCallback done);
  // The blocking form of ResumeAsync: it may wait for the history store and,
  // in a cluster, the topic's owner node (up to the cluster's forward
  // timeout), so it is for code that is not on an event loop or a gRPC
  // reactor (an embedding application's own threads).
  Result<ResumeResult> Resume(std::string_view topic, uint64_t epoch, uint64_t after_offset,
                              size_t limit = SIZE_MAX);

  // Work queues (herald/work_queue.h). Any thread; none of these waits.
  //
  // Creates a queue: from now on every message published to a topic its
  // pattern matches is also a job of it. Creating it again with the same
  // options is not an error; with others it is (delete it first).
  // invalid_argument / invalid_topic for bad options, resource_exhausted
  // past max_queues, unavailable in a cluster (not supported yet).
  Status CreateQueue(const QueueOptions& options);
  // Deletes a queue and its jobs; its members receive nothing more, their
  // handles become unknown. not_found when there is none.
  Status DeleteQueue(std::string_view name);
  Result<QueueInfo> GetQueue(std::string_view name) const;
  std::vector<QueueInfo> ListQueues() const;
  // Joins `sink` to a queue: it receives Delivery::Kind::kJob deliveries on
  // `inbox`'s thread, at most `max_in_flight` unsettled at once (0 or more
  // than the queue's max_in_flight_per_member: that), and within `budget`
  // (herald/work_queue.h; null: no byte bound), which a front shares among
  // a connection's memberships. Returns the membership id
  // (Delivery::subscription_id of its jobs).
  Result<uint64_t> JoinQueue(std::string_view name, std::shared_ptr<Sink> sink,
                             std::shared_ptr<Inbox> inbox, uint32_t max_in_flight = 0,
                             std::shared_ptr<JobBudget> budget = nullptr);
  // The same, with a callback run on the broker's dispatcher thread.
  Result<uint64_t> JoinQueue(std::string_view name, DeliveryCallback callback,
                             uint32_t max_in_flight = 0);
  // Ends a membership: the jobs it holds are offered again at once. False
  // when there was no such membership.
  bool LeaveQueue(uint64_t member);
  // Settles one delivery, by the handle it came with (Job::handle), from
  // the membership it was given to (kPullMember for pulled jobs). `delay`
  // is a nack's (negative: the queue's backoff). unknown_handle when the
  // handle names no delivery in flight to `member`, stale_handle when the
  // job was delivered again since.
  Status Settle(uint64_t member, std::string_view handle, SettleKind kind,
                std::chrono::milliseconds delay = std::chrono::milliseconds(-1));
  // A pulled job (kPullMember) that never reached its caller — the answer
  // could not be sent: offered again at once, and that delivery does not
  // count toward max_deliver. Handle errors as for Settle.
  Status ReturnUnsent(std::string_view handle);
  // Takes up to `max` jobs for a worker without a stream: at once, or the
  // first to come within `wait` (then possibly none). `done` runs once, on
  // an unspecified thread (possibly inline, or under a publisher's topic
  // lock): it must not block or publish. Settle them with kPullMember.
  // Returns the pull's id while it waits (else 0, `done` has run).
  uint64_t Pull(std::string_view name, size_t max, std::chrono::milliseconds wait,
                std::function<void(Result<std::vector<Job>>)> done);
  // A waiting pull's caller went away: its `done` runs now with kCancelled
  // (if it had not run). Its jobs are never taken.
  void CancelPull(std::string_view name, uint64_t pull);

  // Any thread; never waits. The members of `topic` (herald/presence.h),
  // paged by client id, and its counts. invalid_topic for a pattern or a bad
  // name, invalid_argument when presence is off for the topic. A topic
  // nobody is in answers no members.
  Result<PresenceSnapshot> Presence(std::string_view topic, const PresenceQuery& query = {}) const;

  // The server API (herald/clients.h). Any thread; none of these waits.
  //
  // A new client id, "<node_id>.<base36>": a counter seeded from the wall
  // clock, so no id is given twice on this node, even across a restart.
  std::string NextClientId();
  // A front registers each client connection for its life: the entry goes
  // when the returned handle's last copy does. `control` is how the server
  // API reaches the connection.
  std::shared_ptr<void> RegisterClient(ClientRecord record, std::weak_ptr<ClientControl> control);
  // A registered connection renewed its token (a refresh).
  void ClientRenewed(std::string_view client, std::string token_id, int64_t issued_at_s,
                     int64_t expires_at_s);
  // Whether a token of `user` with this jti and iat is revoked
  // (Revocation).
  bool Revoked(std::string_view user, std::string_view token_id, int64_t issued_at_s) const;
  // One server-API call, on this node and, in a cluster, on every node it
  // names (a client's node, or all of them). `done` runs exactly once, on
  // an unspecified thread, once every node answered or the cluster's admin
  // timeout passed (those nodes are listed as unreached). Bad arguments
  // (no client or user, a bad topic, a code outside 4000–4999, a
  // revocation without `until` or past max_revocation_ttl) answer
  // kInvalidArgument inline. The caller checks permission: the broker trusts it.
  void Admin(AdminCall call, std::function<void(Result<AdminResult>)> done);
  // Fronts count server-API calls, allowed or refused (no grant).
  void RecordAdminCall(bool allowed);

  // Any thread. Fronts report what their OutboundGuard did, for /metrics.
  void RecordSlowConsumer(uint64_t dropped, bool disconnected);
  // Any thread. A front dropped a presence event over a connection's budget
  // (the topic owes it a resync).
  void RecordPresenceDropped();

  // Any thread. A snapshot of the counters and gauges.
  BrokerStats Stats() const;
  // Any thread. Trims history by age and forgets idle topics now (the
  // maintenance thread does this every maintenance_interval).
  void RunMaintenance();
  // The options the broker was made with. Its BrokerLimits are limits().
  const BrokerOptions& options() const;
  // Any thread. Applies new bounds while running: every operation from
  // now on is checked against them, in every front and session. What is
  // already held stays: lowered counts (topics, queues, subscriptions,
  // pending requests, revocations) refuse new ones until there is room
  // again; lowered max_history_bytes and max_dedup_bytes are met by the
  // next maintenance sweep, which trims every topic to the same share of
  // what it holds, oldest first (a publish before it trims only its own
  // topic, keeping the message just published); a lowered max_queue_bytes
  // refuses the next job past it; a raised max_store_read_bytes starts
  // reads that were waiting for room. The two per-session bounds apply to
  // sessions made from now on. One call at a time takes effect whole.
  void SetLimits(const BrokerLimits& next);
  // Any thread. The bounds as they apply now (each read on its own).
  BrokerLimits limits() const;

  class Impl;

 private:
  friend class BrokerCluster;  // cluster/'s internal calls (broker/broker_cluster.h)
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
