#include "frontends/session/operations.h"

#include <algorithm>
#include <string>

namespace herald::session {

void Operations::Publish(const auth::Identity& who, std::string_view topic, std::string payload,
                         PublishOptions options, PublishDone done, const HookCaller& caller) const {
  if (!Hooked(HookEvent::kPublish, topic)) {
    if (Status s = admission_.Check(who, Op::kPublish, topic); !s.ok()) {
      broker_.RecordRefusedPublish(s.code());
      return done(s);
    }
    return PublishVetted(topic, std::move(payload), std::move(options), std::move(done));
  }
  std::string content_type = options.content_type;  // read before `options` moves below
  VetPublish(who, Op::kPublish, topic, std::move(payload), std::move(content_type), caller,
             // The broker, not `this`: the front's operations may be gone
             // when the backend answers; the broker outlives every front.
             [broker = &broker_, topic = std::string(topic), options = std::move(options),
              done = std::move(done)](Result<std::string> payload) mutable {
               if (!payload.ok()) return done(payload.status());  // counted by VetPublish
               broker->PublishAsync(topic, std::move(*payload), std::move(options),
                                    std::move(done));
             });
}

void Operations::PublishVetted(std::string_view topic, std::string payload, PublishOptions options,
                               PublishDone done) const {
  broker_.PublishAsync(topic, std::move(payload), std::move(options), std::move(done));
}

Result<std::chrono::milliseconds> Operations::RequestTimeout(
    std::optional<int64_t> asked_ms, std::chrono::milliseconds fallback) const {
  const int64_t max = broker_.limits().max_request_timeout.count();
  if (!asked_ms) return std::chrono::milliseconds(std::min(fallback.count(), max));
  if (*asked_ms < 1 || *asked_ms > max) {
    return Status(
        ErrorCode::kInvalidArgument,
        "'timeout_ms' must be from 1 to " + std::to_string(max) + " (max_request_timeout_ms)");
  }
  return std::chrono::milliseconds(*asked_ms);
}

void Operations::Request(const auth::Identity& who, std::string_view topic, std::string payload,
                         std::chrono::milliseconds timeout, PublishOptions options,
                         ReplyCallback done, SessionRequests* pending, const HookCaller& caller,
                         bool vetted) const {
  if (!vetted && Hooked(HookEvent::kPublish, topic)) {
    std::shared_ptr<SessionRequests> held = pending ? pending->shared_from_this() : nullptr;
    std::string content_type = options.content_type;  // read before `options` moves below
    return VetPublish(
        who, Op::kRequest, topic, std::move(payload), std::move(content_type), caller,
        [broker = &broker_, topic = std::string(topic), timeout, options = std::move(options),
         done = std::move(done), held](Result<std::string> payload) mutable {
          if (!payload.ok()) return done(payload.status());
          if (held) {
            return held->Start(topic, std::move(*payload), timeout, std::move(options),
                               std::move(done));
          }
          broker->Request(topic, std::move(*payload), timeout, std::move(done), std::move(options));
        });
  }
  if (Status s = admission_.Check(who, Op::kRequest, topic); !s.ok()) return done(s);
  if (pending)
    return pending->Start(topic, std::move(payload), timeout, std::move(options), std::move(done));
  broker_.Request(topic, std::move(payload), timeout, std::move(done), std::move(options));
}

Result<uint64_t> Operations::Subscribe(const auth::Identity& who, std::string_view pattern,
                                       std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                                       SubscribeOptions options, bool by_server) const {
  // The server API's subscription was allowed by the backend's admin grant:
  // the client's own grants are not asked, the topic rules are.
  if (Status s = by_server ? admission_.CheckName(Op::kSubscribe, pattern)
                           : admission_.Check(who, Op::kSubscribe, pattern);
      !s.ok()) {
    return s;
  }
  return broker_.Subscribe(pattern, std::move(sink), std::move(inbox), std::move(options));
}

Result<PresenceSnapshot> Operations::Presence(const auth::Identity& who, std::string_view topic,
                                              const PresenceQuery& query) const {
  if (Status s = admission_.Check(who, Op::kPresence, topic); !s.ok()) return s;
  return broker_.Presence(topic, query);
}

PresenceMember Operations::MemberOf(const auth::Identity& who, const std::string& client,
                                    const std::string& connect_info) {
  return PresenceMember{client, who.anonymous ? client : who.subject,
                        who.info.empty() ? connect_info : who.info};
}

Result<std::string> Operations::ConnectInfo(std::string_view json) const {
  if (json.empty()) return std::string();
  const PresenceLimits& limits = broker_.options().presence;
  using ClientInfo = PresenceLimits::ClientInfo;
  const bool allowed =
      limits.client_info == ClientInfo::kAllow ||
      (limits.client_info == ClientInfo::kUnlessAuthenticated && !admission_.authenticates());
  if (!allowed) {
    return Status(ErrorCode::kInvalidArgument,
                  "this node does not let clients set their info (it comes from the token)");
  }
  return auth::ClientInfo(json, limits.max_info_bytes);
}

namespace {

void ReadHistory(Broker* broker, const std::string& topic, HistoryQuery query,
                 ResumeCallback done) {
  if (query.epoch == 0 && query.after > 0) {
    // `after` without an epoch is an offset in the topic's current epoch:
    // learn the epoch first (from the topic's owner, without waiting), then read.
    broker->ResumeAsync(
        topic, 0, 0, 0,
        [broker, topic, query, done = std::move(done)](Result<ResumeResult> now) mutable {
          if (!now.ok()) return done(now.status());
          broker->ResumeAsync(topic, now->epoch, query.after, query.limit, std::move(done));
        });
    return;
  }
  broker->ResumeAsync(topic, query.epoch, query.after, query.limit, std::move(done));
}

}  // namespace

void Operations::History(const auth::Identity& who, std::string_view topic, HistoryQuery query,
                         ResumeCallback done, const HookCaller& caller) const {
  if (Status s = admission_.Check(who, Op::kHistory, topic); !s.ok()) return done(s);
  if (!Hooked(HookEvent::kSubscribe, topic)) {
    return ReadHistory(&broker_, std::string(topic), query, std::move(done));
  }
  // Reading what a subscription would have received: the subscribe hook
  // decides as for one.
  VetSubscribe(who, topic, caller,
               [broker = &broker_, topic = std::string(topic), query,
                done = std::move(done)](Status s) mutable {
                 if (!s.ok()) return done(s);
                 ReadHistory(broker, topic, query, std::move(done));
               });
}

namespace {

Status MayJoin(const auth::Identity& who, const QueueInfo& q, std::string_view what) {
  if (who.grants.MaySubscribe(q.options.pattern)) return Status::Ok();
  return Status(ErrorCode::kPermissionDenied,
                "permission denied: " + std::string(what) + " work queue '" + q.options.name +
                    "' needs subscribe on '" + q.options.pattern + "'");
}

Status MayManage(const auth::Identity& who, std::string_view name, std::string_view verb) {
  if (who.grants.MayManageQueue(name)) return Status::Ok();
  return Status(ErrorCode::kPermissionDenied, "permission denied: " + std::string(verb) +
                                                  " work queue '" + std::string(name) +
                                                  "' needs a queues grant covering it");
}

}  // namespace

Status Operations::CreateQueue(const auth::Identity& who, const QueueOptions& options) const {
  if (Status s = MayManage(who, options.name, "create"); !s.ok()) return s;
  // A queue takes a copy of every message of its pattern (and can refuse
  // their publishes when full), and republishes dead letters: its creator
  // must be allowed both itself.
  if (Status s = admission_.CheckName(Op::kSubscribe, options.pattern); !s.ok()) return s;
  if (!who.grants.MaySubscribe(options.pattern)) {
    return Status(ErrorCode::kPermissionDenied,
                  "permission denied: creating work queue '" + options.name +
                      "' needs subscribe on its pattern '" + options.pattern + "'");
  }
  if (!options.dead_letter.empty() && !who.grants.MayPublish(options.dead_letter)) {
    return Status(ErrorCode::kPermissionDenied,
                  "permission denied: creating work queue '" + options.name +
                      "' needs publish on its dead_letter '" + options.dead_letter + "'");
  }
  return broker_.CreateQueue(options);
}

Status Operations::DeleteQueue(const auth::Identity& who, std::string_view name) const {
  if (Status s = MayManage(who, name, "delete"); !s.ok()) return s;
  return broker_.DeleteQueue(name);
}

Result<QueueInfo> Operations::GetQueue(const auth::Identity& who, std::string_view name) const {
  Result<QueueInfo> q = broker_.GetQueue(name);
  if (!q.ok()) return q;
  if (!who.grants.MayManageQueue(name)) {
    if (Status s = MayJoin(who, *q, "inspecting"); !s.ok()) return s;
  }
  return q;
}

std::vector<QueueInfo> Operations::ListQueues(const auth::Identity& who) const {
  std::vector<QueueInfo> all = broker_.ListQueues();
  std::erase_if(all, [&](const QueueInfo& q) {
    return !who.grants.MayManageQueue(q.options.name) &&
           !who.grants.MaySubscribe(q.options.pattern);
  });
  return all;
}

Result<uint64_t> Operations::JoinQueue(const auth::Identity& who, std::string_view name,
                                       std::shared_ptr<Sink> sink, std::shared_ptr<Inbox> inbox,
                                       uint32_t max_in_flight, std::shared_ptr<JobBudget> budget,
                                       const std::string* vetted) const {
  Result<QueueInfo> q = broker_.GetQueue(name);
  if (!q.ok()) return q.status();
  if (Status s = MayJoin(who, *q, "joining"); !s.ok()) return s;
  if (Hooked(HookEvent::kSubscribe, q->options.pattern) &&
      (!vetted || *vetted != q->options.pattern)) {
    return Status(ErrorCode::kUnavailable, "work queue '" + std::string(name) +
                                               "' changed while its subscribe hook was asked: "
                                               "join again");
  }
  return broker_.JoinQueue(name, std::move(sink), std::move(inbox), max_in_flight,
                           std::move(budget));
}

uint64_t Operations::Pull(const auth::Identity& who, std::string_view name, int64_t max,
                          int64_t wait_ms, std::function<void(Result<std::vector<Job>>)> done,
                          const HookCaller& caller, std::function<void(uint64_t)> started) const {
  auto refuse = [&](Status s) {
    done(std::move(s));
    return uint64_t{0};
  };
  const int64_t max_wait = broker_.limits().max_request_timeout.count();
  if (max < 1 || max > kMaxPullBatch) {
    return refuse(Status(ErrorCode::kInvalidArgument,
                         "'max' must be from 1 to " + std::to_string(kMaxPullBatch)));
  }
  if (wait_ms < 0 || wait_ms > max_wait) {
    return refuse(Status(
        ErrorCode::kInvalidArgument,
        "'wait_ms' must be from 0 to " + std::to_string(max_wait) + " (max_request_timeout_ms)"));
  }
  Result<QueueInfo> q = broker_.GetQueue(name);
  if (!q.ok()) return refuse(q.status());
  if (Status s = MayJoin(who, *q, "pulling from"); !s.ok()) return refuse(s);
  if (Hooked(HookEvent::kSubscribe, q->options.pattern)) {
    // A queue's jobs are its pattern's messages: the subscribe hook decides
    // as for a subscription.
    VetSubscribe(who, q->options.pattern, caller,
                 [broker = &broker_, name = std::string(name), max, wait_ms, done = std::move(done),
                  started = std::move(started)](Status s) mutable {
                   if (!s.ok()) return done(s);
                   const uint64_t id =
                       broker->Pull(name, static_cast<size_t>(max),
                                    std::chrono::milliseconds(wait_ms), std::move(done));
                   if (id != 0 && started) started(id);
                 });
    return 0;
  }
  const uint64_t id = broker_.Pull(name, static_cast<size_t>(max),
                                   std::chrono::milliseconds(wait_ms), std::move(done));
  if (id != 0 && started) started(id);
  return id;
}

bool Operations::QueueHooked(std::string_view name) const {
  if (!hooks_) return false;
  Result<QueueInfo> q = broker_.GetQueue(name);
  return q.ok() && Hooked(HookEvent::kSubscribe, q->options.pattern);
}

void Operations::VetQueue(const auth::Identity& who, std::string_view name,
                          const HookCaller& caller,
                          std::function<void(Result<std::string>)> done) const {
  Result<QueueInfo> q = broker_.GetQueue(name);
  if (!q.ok()) return done(q.status());
  if (Status s = MayJoin(who, *q, "joining"); !s.ok()) return done(s);
  VetSubscribe(who, q->options.pattern, caller,
               [pattern = q->options.pattern, done = std::move(done)](Status s) {
                 if (!s.ok()) return done(s);
                 done(pattern);
               });
}

Result<std::chrono::milliseconds> Operations::NackDelay(std::optional<int64_t> delay_ms) {
  if (!delay_ms) return std::chrono::milliseconds(-1);
  constexpr int64_t kMax = int64_t{7} * 24 * 3600 * 1000;
  if (*delay_ms < 0 || *delay_ms > kMax) {
    return Status(ErrorCode::kInvalidArgument,
                  "'delay_ms' must be from 0 to " + std::to_string(kMax) + " (7 days)");
  }
  return std::chrono::milliseconds(*delay_ms);
}

Status Operations::SettlePulled(const auth::Identity& who, std::string_view handle, SettleKind kind,
                                std::optional<int64_t> delay_ms) const {
  Result<std::chrono::milliseconds> delay = NackDelay(delay_ms);
  if (!delay.ok()) return delay.status();
  // The queue the handle names must be one `who` may pull from.
  const std::string_view queue = handle.substr(0, handle.find('/'));
  Result<QueueInfo> q = broker_.GetQueue(queue);
  if (q.ok()) {
    if (Status s = MayJoin(who, *q, "settling a job of"); !s.ok()) return s;
  }
  return broker_.Settle(kPullMember, handle, kind, *delay);
}

}  // namespace herald::session
