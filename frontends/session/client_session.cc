#include "frontends/session/client_session.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <vector>

namespace herald::session {

ClientSession::ClientSession(std::shared_ptr<const Operations> ops, IdentityPtr identity,
                             Runner unsubscribe_on, std::string client_id)
    : ops_(std::move(ops)),
      client_id_(client_id.empty() ? ops_->broker().NextClientId() : std::move(client_id)),
      identity_(std::move(identity)),
      run_(std::move(unsubscribe_on)),
      permits_(std::make_shared<ReplyPermits>(
          ops_->broker().limits().max_reply_inboxes_per_session,
          [broker = &ops_->broker()] { broker->RecordForgottenReplyInbox(); })),
      requests_(std::make_shared<SessionRequests>(
          ops_->broker(), ops_->broker().limits().max_pending_requests_per_session)) {}

ClientSession::~ClientSession() { Close(); }

Result<ClientSession::Subscribed> ClientSession::Subscribe(std::string_view pattern,
                                                           SubscribeOptions options,
                                                           std::shared_ptr<Sink> sink,
                                                           std::shared_ptr<Inbox> inbox,
                                                           bool by_server) {
  if (options.presence)
    *options.presence = Operations::MemberOf(*identity_, client_id_, connect_info_);
  Key key(std::string(pattern), options.queue_group);
  const size_t max = ops_->broker().limits().max_subscriptions_per_sink;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status(ErrorCode::kCancelled, "the connection is closing");
    if (auto it = by_key_.find(key); it != by_key_.end()) {
      // The same subscription again; but a plain one does not become a
      // member by being asked twice (that would answer "subscribed" and
      // send no presence).
      if (options.presence && !presence_ids_.contains(it->second)) {
        return Status(ErrorCode::kInvalidArgument, "already subscribed to '" +
                                                       std::string(pattern) +
                                                       "' without presence: unsubscribe first");
      }
      return Subscribed{it->second, true};
    }
    if (by_key_.size() >= max) {
      ops_->broker().RecordRefusedSubscription();
      return Status(ErrorCode::kTooManySubscriptions,
                    "at most " + std::to_string(max) + " subscriptions per connection");
    }
  }
  const bool options_presence = options.presence.has_value();
  Result<uint64_t> id = ops_->Subscribe(*identity_, pattern, std::move(sink), std::move(inbox),
                                        std::move(options), by_server);
  if (!id.ok()) return id.status();
  std::unique_lock lock(mu_);
  if (closed_) {  // Close ran meanwhile (another thread): it must not outlive the session
    lock.unlock();
    ops_->broker().Unsubscribe(*id);
    return Status(ErrorCode::kCancelled, "the connection is closing");
  }
  by_key_.emplace(key, *id);
  by_id_.emplace(*id, std::move(key));
  if (options_presence) presence_ids_.insert(*id);
  return Subscribed{*id, false};
}

Status ClientSession::Drop(std::unique_lock<std::mutex>& lock,
                           std::unordered_map<uint64_t, Key>::iterator it,
                           std::function<void()> then) {
  const uint64_t id = it->first;
  presence_ids_.erase(id);
  by_key_.erase(it->second);
  by_id_.erase(it);
  lock.unlock();  // the runner may run at once, and `then` may call back in
  run_([broker = &ops_->broker(), id, then = std::move(then)] {
    broker->Unsubscribe(id);
    if (then) then();
  });
  return Status::Ok();
}

Status ClientSession::Unsubscribe(std::string_view pattern, std::string_view group,
                                  std::function<void()> then) {
  std::unique_lock lock(mu_);
  auto k = by_key_.find(Key(std::string(pattern), std::string(group)));
  if (k == by_key_.end()) {
    return Status(ErrorCode::kNotFound,
                  "not subscribed to '" + std::string(pattern) + "'" +
                      (group.empty() ? "" : " in group '" + std::string(group) + "'"));
  }
  return Drop(lock, by_id_.find(k->second), std::move(then));
}

uint64_t ClientSession::IdOf(std::string_view pattern, std::string_view group) const {
  std::lock_guard lock(mu_);
  auto k = by_key_.find(Key(std::string(pattern), std::string(group)));
  return k == by_key_.end() ? 0 : k->second;
}

Status ClientSession::Unsubscribe(uint64_t id, std::function<void()> then) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    return Status(ErrorCode::kNotFound, "this session holds no subscription " + std::to_string(id));
  }
  return Drop(lock, it, std::move(then));
}

Result<IdentityPtr> ClientSession::Refresh(const Credential& credential) {
  // Without a refresh hook Operations::Renew answers inline; a front sends
  // a refresh the hook must see through Operations::Renew itself.
  if (ops_->Hooked(HookEvent::kRefresh, {})) {
    return Status(ErrorCode::kInternal, "a hooked refresh goes through Operations::Renew");
  }
  std::optional<Result<IdentityPtr>> next;
  ops_->Renew(*identity_, credential, Caller(),
              [&next](Result<IdentityPtr> r) { next.emplace(std::move(r)); });
  if (!next) return Status(ErrorCode::kInternal, "a refresh did not complete");
  if (next->ok()) Renewed(**next);
  return std::move(*next);
}

void ClientSession::Renewed(IdentityPtr next) {
  identity_ = std::move(next);
  if (registration_) {
    ops_->broker().ClientRenewed(client_id_, identity_->token_id, identity_->issued_at_s,
                                 identity_->expires_at_s);
    ops_->EndIfRevoked(*identity_, control_);
  }
}

void ClientSession::Register(std::string_view transport, std::weak_ptr<ClientControl> control) {
  control_ = control;
  transport_ = std::string(transport);
  registration_ = ops_->RegisterClient(*identity_, client_id_, transport, std::move(control));
}

void ClientSession::Publish(std::string_view topic, std::string payload, PublishOptions options,
                            PublishDone done, bool vetted) const {
  if (vetted) {
    return ops_->PublishVetted(topic, std::move(payload), std::move(options), std::move(done));
  }
  ops_->Publish(*identity_, topic, std::move(payload), std::move(options), std::move(done),
                Caller());
}

void ClientSession::Request(std::string_view topic, std::string payload,
                            std::optional<int64_t> timeout_ms, std::chrono::milliseconds fallback,
                            PublishOptions options, ReplyCallback done, bool vetted) {
  Result<std::chrono::milliseconds> timeout = ops_->RequestTimeout(timeout_ms, fallback);
  if (!timeout.ok()) return done(timeout.status());
  ops_->Request(*identity_, topic, std::move(payload), *timeout, std::move(options),
                std::move(done), requests_.get(), Caller(), vetted);
}

Status ClientSession::Reply(std::string_view to, std::string payload, PublishOptions options) {
  if (Status s = permits_->Take(to); !s.ok()) {
    ops_->broker().RecordRefusedReply();
    return s;
  }
  Status s = ops_->broker().Reply(to, std::move(payload), std::move(options));
  if (!s.ok()) permits_->Restore(std::string(to));  // refused as malformed: it may answer again
  return s;
}

std::vector<uint64_t> ClientSession::TakeAll() {
  std::vector<uint64_t> ids;
  std::lock_guard lock(mu_);
  ids.reserve(by_id_.size());
  for (const auto& [id, key] : by_id_) ids.push_back(id);
  by_id_.clear();
  by_key_.clear();
  presence_ids_.clear();
  return ids;
}

void ClientSession::UnsubscribeAll(std::function<void()> then) {
  run_([broker = &ops_->broker(), ids = TakeAll(), then = std::move(then)] {
    for (uint64_t id : ids) broker->Unsubscribe(id);
    if (then) then();
  });
}

void ClientSession::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;  // a Subscribe or JoinQueue still under way undoes itself
  }
  // Gone from the server API now: the object itself may live on a while (a
  // match cache may still hold its sinks).
  registration_.reset();
  requests_->CancelAll();
  for (uint64_t id : TakeAll()) ops_->broker().Unsubscribe(id);
  std::map<std::string, uint64_t, std::less<>> memberships;
  {
    std::lock_guard lock(mu_);
    memberships.swap(queues_);
  }
  for (const auto& [name, id] : memberships) ops_->broker().LeaveQueue(id);
}

Result<ClientSession::Subscribed> ClientSession::JoinQueue(
    std::string_view name, uint32_t max_in_flight, uint64_t max_bytes, std::shared_ptr<Sink> sink,
    std::shared_ptr<Inbox> inbox, const std::string* vetted) {
  std::shared_ptr<JobBudget> budget;
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status(ErrorCode::kCancelled, "the connection is closing");
    if (auto it = queues_.find(name); it != queues_.end()) return Subscribed{it->second, true};
    if (!job_budget_ && max_bytes != 0) job_budget_ = std::make_shared<JobBudget>(max_bytes);
    budget = job_budget_;
  }
  Result<uint64_t> id = ops_->JoinQueue(*identity_, name, std::move(sink), std::move(inbox),
                                        max_in_flight, std::move(budget), vetted);
  if (!id.ok()) return id.status();
  std::unique_lock lock(mu_);
  if (closed_) {  // as in Subscribe: a membership left behind would hold jobs
    lock.unlock();
    ops_->broker().LeaveQueue(*id);
    return Status(ErrorCode::kCancelled, "the connection is closing");
  }
  queues_.emplace(std::string(name), *id);
  return Subscribed{*id, false};
}

Status ClientSession::LeaveQueue(std::string_view name) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    auto it = queues_.find(name);
    if (it == queues_.end()) {
      return Status(ErrorCode::kNotFound, "not a member of work queue '" + std::string(name) + "'");
    }
    id = it->second;
    queues_.erase(it);
  }
  ops_->broker().LeaveQueue(id);
  return Status::Ok();
}

Status ClientSession::Settle(std::string_view handle, SettleKind kind,
                             std::optional<int64_t> delay_ms) {
  Result<std::chrono::milliseconds> delay = Operations::NackDelay(delay_ms);
  if (!delay.ok()) return delay.status();
  const std::string_view queue = handle.substr(0, handle.find('/'));
  uint64_t member = 0;
  {
    std::lock_guard lock(mu_);
    auto it = queues_.find(queue);
    if (it == queues_.end()) {
      return Status(ErrorCode::kUnknownHandle, "this session is not a member of work queue '" +
                                                   std::string(queue.substr(0, 128)) + "'");
    }
    member = it->second;
  }
  return ops_->broker().Settle(member, handle, kind, *delay);
}

size_t ClientSession::subscriptions() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

}  // namespace herald::session
