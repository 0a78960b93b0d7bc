// Operations: what publish, request, subscribe and history mean for a
// client, written once for every front.
//
// Each operation asks Admission first (topic rules, `_INBOX.`, grants), then
// applies the one rule it carries (a request's timeout bounds, history's
// epoch and limit), then calls the broker. Its outcome is a typed Status the
// front renders; the same input gets the same code and message on every
// front. Nothing here waits: completions run inline (a refusal, or a topic
// this node sequences) or on whatever thread the answer arrives on, and a
// front on an event loop hops back to it itself.
//
// Stateless; one per front, shared (std::shared_ptr) by its connections,
// which may outlive the front object. Fronts whose clients keep a session
// (several subscriptions, replies) use ClientSession on top.
//
// Thread rule: const, any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "frontends/session/admission.h"
#include "frontends/session/hook_gate.h"
#include "frontends/session/session_requests.h"
#include "herald/broker.h"
#include "herald/work_queue.h"

namespace herald::session {

using PublishDone = std::function<void(Result<PublishAck>)>;

// A history read: after `after` in `epoch`, at most `limit` messages.
// Epoch 0 means the topic's current epoch (then `after` is an offset in it).
struct HistoryQuery {
  uint64_t epoch = 0;
  uint64_t after = 0;
  size_t limit = SIZE_MAX;
};

// Who is asking, as a hook is told (herald/hooks.h): the connection's id
// (empty for a call without one) and its front.
struct HookCaller {
  std::string client;
  std::string transport;
  std::string info;  // what the client set at connect, if anything
};

class Operations {
 public:
  static constexpr int64_t kMaxPullBatch = 1000;  // jobs per pull
  // `hooks` null: no hooks (every Vet and Connect answers inline).
  Operations(Broker& broker, Admission admission, std::shared_ptr<const HookGate> hooks = nullptr)
      : broker_(broker), admission_(std::move(admission)), hooks_(std::move(hooks)) {}

  // A connection's admission (Admission::Connect) with the connect hook
  // between the token's check and the per-user slot (the hook may name
  // another user). `done` inline without the hook, else on the hook's
  // thread: a front on an event loop hops back itself.
  void Connect(const Credential& credential, HookCaller caller,
               std::function<void(Result<Admitted>)> done) const;
  // A live connection's new token (Admission::Renew), then the refresh hook.
  // A connection the connect hook changed (Identity::hook_set) keeps what
  // it replaced (user, info, grants): the new token must name the same
  // subject as the first; an expiry the hook set is extended only by the
  // refresh hook (without one: permission_denied).
  void Renew(const auth::Identity& current, const Credential& credential, HookCaller caller,
             std::function<void(Result<IdentityPtr>)> done) const;

  // Whether a subscribe to or publish on `topic` waits on a hook: a front
  // that keeps its commands in order (CommandOrder) takes a ticket for it.
  bool Hooked(HookEvent event, std::string_view topic) const {
    return hooks_ && hooks_->Applies(event, topic);
  }
  // A subscription's admission and its hook; `done(Ok)` means Subscribe
  // may follow. Inline without the hook.
  void VetSubscribe(const auth::Identity& who, std::string_view pattern, const HookCaller& caller,
                    std::function<void(Status)> done) const;
  // A publish's (or request's) admission and its hook: `done` gets the
  // payload to publish, the backend's replacement if it gave one.
  void VetPublish(const auth::Identity& who, Op op, std::string_view topic, std::string payload,
                  std::string content_type, const HookCaller& caller,
                  std::function<void(Result<std::string>)> done) const;

  // VetPublish, then the broker. Two publishes of one caller that both wait
  // on the hook may reach the broker in either order: a front that keeps
  // order vets first (under its CommandOrder) and calls PublishVetted.
  void Publish(const auth::Identity& who, std::string_view topic, std::string payload,
               PublishOptions options, PublishDone done, const HookCaller& caller = {}) const;
  // A publish VetPublish allowed.
  void PublishVetted(std::string_view topic, std::string payload, PublishOptions options,
                     PublishDone done) const;

  // A request's timeout: absent means `fallback` (capped at
  // max_request_timeout); given, it must be 1 to max_request_timeout ms,
  // else invalid_argument. One bound for every front. (A protobuf 0 is
  // "absent".)
  Result<std::chrono::milliseconds> RequestTimeout(std::optional<int64_t> asked_ms,
                                                   std::chrono::milliseconds fallback) const;
  // `pending`, when given, bounds and ends the requests with the session.
  // The publish hook is asked first, as for a publish (a request reaches
  // the topic's subscribers too); `vetted`: the caller asked it already.
  void Request(const auth::Identity& who, std::string_view topic, std::string payload,
               std::chrono::milliseconds timeout, PublishOptions options, ReplyCallback done,
               SessionRequests* pending = nullptr, const HookCaller& caller = {},
               bool vetted = false) const;

  // `by_server`: made through the server API (whose admin grant covered
  // the topic), so `who`'s own subscribe grant is not needed.
  Result<uint64_t> Subscribe(const auth::Identity& who, std::string_view pattern,
                             std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                             SubscribeOptions options = {}, bool by_server = false) const;

  // The subscribe hook is asked first, as for a subscription.
  void History(const auth::Identity& who, std::string_view topic, HistoryQuery query,
               ResumeCallback done, const HookCaller& caller = {}) const;

  // Presence (herald/presence.h). Reading a topic's members needs the
  // subscribe grant on it; never waits.
  Result<PresenceSnapshot> Presence(const auth::Identity& who, std::string_view topic,
                                    const PresenceQuery& query) const;
  // What a client shows others as a member: its id, its user (the token's
  // subject, or its own id when anonymous: an anonymous member is its own
  // user) and its info (the token's `herald.info`, else what it set at
  // connect, `connect_info`).
  static PresenceMember MemberOf(const auth::Identity& who, const std::string& client,
                                 const std::string& connect_info);
  // A client's info set at connect (`/ws?info=`, gRPC `herald-info`):
  // refused when the node does not let clients name themselves
  // (PresenceLimits::client_info), or not a JSON object of at most
  // max_info_bytes. Empty `json`: none.
  Result<std::string> ConnectInfo(std::string_view json) const;

  // Work queues (herald/work_queue.h). Creating and deleting one need the
  // identity's `queues` grant on its name; joining, pulling, settling a
  // pulled job and inspecting need subscribe on the queue's pattern.
  Status CreateQueue(const auth::Identity& who, const QueueOptions& options) const;
  Status DeleteQueue(const auth::Identity& who, std::string_view name) const;
  Result<QueueInfo> GetQueue(const auth::Identity& who, std::string_view name) const;
  // The queues `who` may inspect.
  std::vector<QueueInfo> ListQueues(const auth::Identity& who) const;
  // With a subscribe hook on the queue's pattern, `vetted` must be the
  // pattern VetQueue allowed (else unavailable: the queue changed, or the
  // hook was not asked).
  Result<uint64_t> JoinQueue(const auth::Identity& who, std::string_view name,
                             std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                             uint32_t max_in_flight, std::shared_ptr<JobBudget> budget,
                             const std::string* vetted = nullptr) const;
  // `max` 1 to kMaxPullBatch (and a queue hands out at most its
  // max_in_flight);
  // `wait_ms` 0 to max_request_timeout: one bound for anything a client
  // waits on. invalid_argument otherwise.
  // Returns the pull's id while it waits (Broker::CancelPull), else 0.
  // With a subscribe hook on the queue's pattern it is asked first: the
  // pull's id is then 0 here and `started` gets it once the pull waits
  // (`started`, when given, is called with every id but 0).
  uint64_t Pull(const auth::Identity& who, std::string_view name, int64_t max, int64_t wait_ms,
                std::function<void(Result<std::vector<Job>>)> done, const HookCaller& caller = {},
                std::function<void(uint64_t)> started = nullptr) const;
  // Joining a queue asks the subscribe hook for its pattern (its jobs are
  // the pattern's messages): whether it will, and the asking (the queue's
  // existence and the subscribe grant first). A front that keeps order
  // vets, then JoinQueue.
  bool QueueHooked(std::string_view name) const;
  // `done` gets the pattern allowed, for JoinQueue.
  void VetQueue(const auth::Identity& who, std::string_view name, const HookCaller& caller,
                std::function<void(Result<std::string>)> done) const;
  // Settles a pulled job (Broker::kPullMember): the handle is its proof.
  Status SettlePulled(const auth::Identity& who, std::string_view handle, SettleKind kind,
                      std::optional<int64_t> delay_ms) const;
  // A nack's delay as given: absent means the queue's backoff; it must be 0
  // to 7 days (invalid_argument).
  static Result<std::chrono::milliseconds> NackDelay(std::optional<int64_t> delay_ms);

  // The server API (herald/clients.h). A connection registers itself for
  // its life (the entry goes with the handle's last copy); transport is
  // "ws", "ws-raw", "sse" or "grpc".
  std::shared_ptr<void> RegisterClient(const auth::Identity& who, const std::string& client,
                                       std::string_view transport,
                                       std::weak_ptr<ClientControl> control) const;
  // Ends the connection (close 4002) if `who`'s token is revoked now: a
  // revocation that came after the token was checked and before the
  // connection was registered or renewed could not find it.
  void EndIfRevoked(const auth::Identity& who, const std::weak_ptr<ClientControl>& control) const;
  // One call of the server API, by `who`: a topic operation needs an admin
  // grant covering the topic, any other one the grant `>`
  // (kPermissionDenied); then Broker::Admin. `done` on any thread.
  void Admin(const auth::Identity& who, AdminCall call,
             std::function<void(Result<AdminResult>)> done) const;
  // The permission alone (for fronts that refuse before parsing more).
  static Status MayAdmin(const auth::Identity& who, const AdminCall& call);
  // The rule under it, for an operation of the server API named `op` that
  // acts on the topics `scope` covers (">": the whole node, as a reload).
  static Status MayAdminOn(const auth::Identity& who, std::string_view op,
                           const std::string& scope);

  Broker& broker() const { return broker_; }
  const Admission& admission() const { return admission_; }
  // Null without hooks.
  const HookGate* hooks() const { return hooks_.get(); }

 private:
  void RenewDecided(const auth::Identity& current, const Credential& credential,
                    const HookCaller& caller, std::function<void(Result<IdentityPtr>)> done) const;

  Broker& broker_;
  const Admission admission_;
  const std::shared_ptr<const HookGate> hooks_;
};

}  // namespace herald::session
