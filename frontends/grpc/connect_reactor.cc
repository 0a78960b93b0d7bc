#include "frontends/grpc/connect_reactor.h"

#include "frontends/grpc/call_auth.h"
#include "frontends/grpc/grpc_convert.h"
#include "herald/topic.h"

#include <optional>
#include <vector>

namespace herald::grpcfront {
namespace {

v1::ServerEvent DeliveryEvent(uint64_t sub, const Message& m) {
  v1::ServerEvent e;
  e.mutable_delivery()->set_subscription_id(sub);
  ToProto(m, e.mutable_delivery()->mutable_message());
  return e;
}

// A refused command, counted (permission_denied) and rendered.
v1::ServerEvent ErrorEvent(GrpcStats& stats, uint64_t id, const Status& s) {
  if (s.code() == ErrorCode::kPermissionDenied) GrpcStats::Add(stats.permission_denied);
  v1::ServerEvent e;
  e.set_id(id);
  e.mutable_error()->set_code(ToGrpcCode(s));
  e.mutable_error()->set_message(s.message());
  e.mutable_error()->set_reason(std::string(ErrorCodeName(s.code())));
  return e;
}

v1::ServerEvent GapEvent(uint64_t sub, const Gap& g) {
  v1::ServerEvent e;
  e.mutable_delivery()->set_subscription_id(sub);
  ToProto(g, e.mutable_delivery()->mutable_gap());
  return e;
}

// The command lock this thread holds while it dispatches a command: a hook
// answer (or a refusal) that comes back inline, before the call returns,
// must not take it again.
thread_local const CommandLock* t_dispatching = nullptr;

}  // namespace

// The server API's way into one Connect session (herald/clients.h).
class ConnectControl final : public OutboxControl<ReactorOutbox<ConnectReactor, v1::ServerEvent>> {
 public:
  ConnectControl(std::weak_ptr<ReactorOutbox<ConnectReactor, v1::ServerEvent>> outbox,
                 std::shared_ptr<CommandLock> lock)
      : OutboxControl(std::move(outbox)), lock_(std::move(lock)) {}
  void ServerSubscribe(const std::string& topic, bool presence,
                       std::function<void(Status)> done) override {
    v1::SubscribeRequest s;
    s.set_pattern(topic);
    s.set_presence(presence);
    Status st = Status(ErrorCode::kCancelled, "the connection is closing");
    {
      std::lock_guard lock(lock_->mu);
      if (lock_->reactor && !lock_->reads_over) st = lock_->reactor->SubscribeTo(0, s, true);
    }
    done(st);
  }
  void ServerUnsubscribe(const std::string& topic, std::function<void(Status)> done) override {
    Status st = Status(ErrorCode::kCancelled, "the connection is closing");
    {
      std::lock_guard lock(lock_->mu);
      if (ConnectReactor* r = lock_->reads_over ? nullptr : lock_->reactor) {
        const uint64_t id = r->client_.IdOf(topic);
        st = r->client_.Unsubscribe(topic, "", [outbox = r->outbox_, owed = r->owed_, id] {
          {
            std::lock_guard lock(owed->mu);
            std::erase_if(owed->topics, [&](const auto& o) { return o.second.subscription == id; });
          }
          v1::ServerEvent e;
          e.mutable_unsubscribed()->set_subscription_id(id);
          e.mutable_unsubscribed()->set_server(true);
          outbox->Push(std::move(e));
        });
      }
    }
    done(st);
  }

 private:
  const std::shared_ptr<CommandLock> lock_;
};

ConnectReactor::ConnectReactor(std::shared_ptr<const session::Operations> ops,
                               DeliveryThread& deliveries,
                               std::shared_ptr<const GrpcOptions> options)
    : broker_(ops->broker()),
      deliveries_(deliveries),
      options_(std::move(options)),
      outbox_(std::make_shared<Outbox>(this, broker_, options_->outbound)),
      // Nobody yet: Admit names the identity before anything is read.
      client_(ops, std::make_shared<const auth::Identity>(),
              [&deliveries](std::function<void()> fn) { deliveries.Post(std::move(fn)); }),
      max_waiting_(ops->hooks()
                       ? std::max<size_t>(1, ops->hooks()->options().max_in_flight_per_connection)
                       : SIZE_MAX) {
  owed_ = std::make_shared<OwedPresence>();
  owed_->max_bytes = options_->outbound.max_bytes;
  owed_->broker = &broker_;
  lock_->reactor = this;
}

void ConnectReactor::Admit(const std::shared_ptr<CommandLock>& lock,
                           grpc::CallbackServerContext* ctx, Result<session::Admitted> who) {
  std::lock_guard guard(lock->mu);
  ConnectReactor* r = lock->reactor;
  if (!r) return;  // the call ended while the hook was asked
  GrpcStats& stats = *r->options_->stats;
  if (!who.ok()) {
    CountRefusal(stats, who.status());
    return r->outbox_->Finish(Refusal(stats, ctx, who.status()));
  }
  r->client_.Renewed(who->identity);  // not registered yet: sets who it is
  r->user_slot_ = std::move(who->slot);
  r->expires_at_->store(who->identity->expires_at_s, std::memory_order_release);
  FinishAtExpiry(*r->expiry_, who->identity->expires_at_s, r->outbox_, r->expires_at_);
  r->control_ = std::make_shared<ConnectControl>(r->outbox_, lock);
  r->client_.Register("grpc", r->control_);
  // The call may have been cancelled while the hook was asked.
  r->outbox_->StartUnlessFinishing([r] { r->StartRead(&r->command_); });
}

void ConnectReactor::OnReadDone(bool ok) {
  if (!ok) {
    // The client half-closed (or the call broke): no more commands. Its
    // subscriptions end — on the delivery thread, so nothing more arrives —
    // and the call finishes once the answers already queued are written.
    {
      std::lock_guard lock(mu_);
      reads_over_ = true;
    }
    std::lock_guard lock(lock_->mu);
    lock_->reads_over = true;  // no server subscription after this
    // Commands still waiting on hooks are answered first: the session ends
    // when the last completes (Complete).
    if (order_.waiting() > 0) {
      end_after_commands_ = true;
      return;
    }
    EndSession();
    return;
  }
  if (options_->max_commands_per_second > 0 && !AdmitCommand()) {
    GrpcStats::Add(options_->stats->commands_rate_limited);
    if (refusals_in_a_row_ > options_->command_burst) {
      GrpcStats::Add(options_->stats->rate_limit_ends);
      // Still going after `burst` refusals in a row: the session ends.
      outbox_->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "rate limit exceeded: too many commands per second"));
      return;
    }
    Error(command_.id(),
          Status(ErrorCode::kRateLimited, "too many commands per second: this one was dropped"));
  } else {
    std::lock_guard lock(lock_->mu);
    t_dispatching = lock_.get();
    Dispatch(command_);
    t_dispatching = nullptr;
    if (order_.waiting() >= max_waiting_) {
      hooks_paused_ = true;  // Complete reads on
      return;
    }
  }
  ReadMoreOrWait();
}

void ConnectReactor::Dispatch(v1::ClientCommand& c) {
  const session::Operations& ops = client_.operations();
  using C = v1::ClientCommand;
  const bool hooked =
      (c.command_case() == C::kSubscribe &&
       ops.Hooked(HookEvent::kSubscribe, c.subscribe().pattern())) ||
      (c.command_case() == C::kPublish && ops.Hooked(HookEvent::kPublish, c.publish().topic())) ||
      (c.command_case() == C::kRequest && ops.Hooked(HookEvent::kPublish, c.request().topic())) ||
      (c.command_case() == C::kRefresh && !c.refresh().token().empty() &&
       ops.Hooked(HookEvent::kRefresh, {})) ||
      (c.command_case() == C::kJoinQueue && ops.QueueHooked(c.join_queue().queue()));
  // The common case, and always without hooks: nothing waits, run it now.
  if (!hooked && order_.waiting() == 0) return Handle(c);
  auto held = std::make_shared<C>(std::move(c));
  if (!hooked) return order_.Run([this, held] { Handle(*held); });
  const session::CommandOrder::Ticket ticket = order_.Take();
  // The hook answers on its own thread: under the command lock, in order,
  // if the session is still there.
  auto back = [lock = lock_, ticket](std::function<void(ConnectReactor&)> then) {
    auto complete = [&] {
      if (ConnectReactor* r = lock->reactor) r->Complete(ticket, [r, then] { then(*r); });
    };
    if (t_dispatching == lock.get()) return complete();  // inline: the lock is ours already
    std::lock_guard guard(lock->mu);
    complete();
  };
  const session::HookCaller caller = client_.Caller();
  switch (held->command_case()) {
    case C::kSubscribe:
      return ops.VetSubscribe(client_.identity(), held->subscribe().pattern(), caller,
                              [back, held](Status s) {
                                back([held, s](ConnectReactor& r) {
                                  if (!s.ok()) return r.Error(held->id(), s);
                                  r.Subscribe(held->id(), held->subscribe());
                                });
                              });
    case C::kJoinQueue:
      return ops.VetQueue(client_.identity(), held->join_queue().queue(), caller,
                          [back, held](Result<std::string> pattern) {
                            back([held, pattern](ConnectReactor& r) {
                              if (!pattern.ok()) return r.Error(held->id(), pattern.status());
                              r.JoinQueue(held->id(), held->join_queue(), &*pattern);
                            });
                          });
    case C::kRefresh:
      return ops.Renew(client_.identity(), session::Credential::Bearer(held->refresh().token()),
                       caller, [back, held](Result<session::IdentityPtr> who) {
                         back([held, who](ConnectReactor& r) { r.Refreshed(held->id(), who); });
                       });
    default: {
      const bool request = held->command_case() == C::kRequest;
      std::string* payload = request ? held->mutable_request()->mutable_payload()
                                     : held->mutable_publish()->mutable_payload();
      const std::string& topic = request ? held->request().topic() : held->publish().topic();
      return ops.VetPublish(
          client_.identity(), request ? session::Op::kRequest : session::Op::kPublish, topic,
          std::move(*payload),
          request ? held->request().content_type() : held->publish().content_type(), caller,
          [back, held, request](Result<std::string> vetted) {
            back([held, request, vetted](ConnectReactor& r) {
              if (!vetted.ok()) return r.Error(held->id(), vetted.status());
              if (request) {
                held->mutable_request()->set_payload(*vetted);
                return r.Request(held->id(), held->request(), held->timeout_ms(), true);
              }
              held->mutable_publish()->set_payload(*vetted);
              r.Publish(held->id(), held->publish(), true);
            });
          });
    }
  }
}

void ConnectReactor::EndSession() {
  client_.UnsubscribeAll([outbox = outbox_] { outbox->FinishWhenDrained(grpc::Status::OK); });
}

void ConnectReactor::Complete(session::CommandOrder::Ticket ticket, std::function<void()> step) {
  order_.Complete(ticket, std::move(step));
  if (end_after_commands_) {
    if (order_.waiting() == 0) {
      end_after_commands_ = false;
      EndSession();
    }
    return;
  }
  if (hooks_paused_ && order_.waiting() < max_waiting_) {
    hooks_paused_ = false;
    ReadMoreOrWait();
  }
}

bool ConnectReactor::AdmitCommand() {
  if (!rate_) rate_.emplace(options_->max_commands_per_second, options_->command_burst);
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  if (rate_->Take(now_us)) {
    refusals_in_a_row_ = 0;
    return true;
  }
  ++refusals_in_a_row_;
  return false;
}

void ConnectReactor::ReadMoreOrWait() {
  {
    std::lock_guard lock(mu_);
    if (reads_over_) return;
    // Every event counts, by number and by bytes (answers, jobs): a client
    // that sends commands and never reads cannot grow the outbox.
    // (By bytes only behind more than one event: the last one, written and
    // not yet counted out, resumes reading whatever its size.)
    const size_t pending = outbox_->pending();
    if (pending >= options_->max_pending_answers ||
        (pending > 1 && outbox_->queued_bytes() > options_->outbound.max_bytes)) {
      read_waiting_ = true;  // OnWriteDone resumes reading
      return;
    }
  }
  // Not once the call is ending (a hook's answer may resume reading after
  // a cancel).
  outbox_->StartUnlessFinishing([this] { StartRead(&command_); });
}

void ConnectReactor::OnWriteDone(bool ok) {
  std::shared_ptr<Outbox> outbox = outbox_;  // Finish may end (and free) this reactor
  std::shared_ptr<OwedPresence> owed = owed_;
  bool resume = false;
  {
    std::lock_guard lock(mu_);
    // (The event just written is still counted: the last one resumes
    // reading whatever its size.)
    const size_t pending = outbox->pending();
    if (read_waiting_ && ok && pending <= options_->max_pending_answers / 2 + 1 &&
        (pending <= 1 || outbox->queued_bytes() <= options_->outbound.max_bytes / 2)) {
      read_waiting_ = false;
      resume = true;
    }
  }
  if (resume) StartRead(&command_);
  outbox->WriteDone(ok);
  outbox->FlushOwedGaps([](const Gap& g) { return GapEvent(0, g); });
  if (ok) SendOwedPresence(*outbox, *owed);
}

void ConnectReactor::OnCancel() {
  outbox_->Finish(grpc::Status(grpc::CANCELLED, "cancelled by the client"));
}

void ConnectReactor::OnDone() {
  {
    std::lock_guard lock(lock_->mu);
    lock_->reactor = nullptr;
  }
  client_.Close();
  delete this;
}

void ConnectReactor::Error(uint64_t id, const Status& s) {
  outbox_->Push(ErrorEvent(*options_->stats, id, s));
}

void ConnectReactor::Handle(v1::ClientCommand& c) {
  switch (c.command_case()) {
    case v1::ClientCommand::kSubscribe:
      return Subscribe(c.id(), c.subscribe());
    case v1::ClientCommand::kUnsubscribe:
      return Unsubscribe(c.id(), c.unsubscribe().subscription_id());
    case v1::ClientCommand::kPublish:
      return Publish(c.id(), c.publish());
    case v1::ClientCommand::kRequest:
      return Request(c.id(), c.request(), c.timeout_ms());
    case v1::ClientCommand::kReply:
      return Reply(c.id(), c.reply());
    case v1::ClientCommand::kJoinQueue:
      return JoinQueue(c.id(), c.join_queue());
    case v1::ClientCommand::kLeaveQueue:
      return LeaveQueue(c.id(), c.leave_queue());
    case v1::ClientCommand::kSettle:
      return Settle(c.id(), c.settle());
    case v1::ClientCommand::kRefresh:
      return Refresh(c.id(), c.refresh());
    case v1::ClientCommand::COMMAND_NOT_SET:
      return Error(c.id(), Status(ErrorCode::kInvalidArgument, "empty command"));
  }
}

void ConnectReactor::Refresh(uint64_t id, const v1::Refresh& r) {
  if (r.token().empty()) {
    return Error(id, Status(ErrorCode::kInvalidArgument, "a refresh needs a token"));
  }
  Refreshed(id, client_.Refresh(session::Credential::Bearer(r.token())));
}

void ConnectReactor::Refreshed(uint64_t id, Result<session::IdentityPtr> who) {
  // Refused: the old token stays in force until it expires.
  if (!who.ok()) return Error(id, who.status());
  if (client_.identity_ptr() != *who) client_.Renewed(*who);
  expires_at_->store((*who)->expires_at_s, std::memory_order_release);
  expiry_ = std::make_unique<grpc::Alarm>();
  FinishAtExpiry(*expiry_, (*who)->expires_at_s, outbox_, expires_at_);
  v1::ServerEvent e;
  e.set_id(id);
  e.mutable_refreshed()->set_expires_at((*who)->expires_at_s);
  outbox_->Push(std::move(e));
}

namespace {

// Deliveries of a new subscription (a resume replays history at once, on the
// delivery thread) wait behind its Subscribed answer, which can only be
// queued once Broker::Subscribe has returned the id.
struct Held {
  MessagePtr message;
  std::optional<Gap> gap;
  std::optional<PresenceEvent> presence;
};
struct Gate {
  std::mutex mu;
  bool open = false;
  std::vector<Held> held;
};

v1::ServerEvent PresenceDelivery(uint64_t sub, const PresenceEvent& p) {
  v1::ServerEvent e;
  e.mutable_delivery()->set_subscription_id(sub);
  ToProto(p, e.mutable_delivery()->mutable_presence());
  return e;
}

v1::ServerEvent PresenceResync(uint64_t sub, const std::string& topic, uint32_t clients,
                               uint32_t users) {
  PresenceEvent p;
  p.topic = topic;
  p.resync = true;
  p.clients = clients;
  p.users = users;
  return PresenceDelivery(sub, p);
}

// One delivery into the outbox: a gap notice, a presence event or a message
// (the others null).
template <typename Outbox>
void Forward(Outbox& outbox, OwedPresence& owed, uint64_t sub, const Gap* gap,
             const PresenceEvent* presence, const MessagePtr& message) {
  if (gap) return outbox.Push(GapEvent(sub, *gap));
  if (presence) {
    // Charged to the session's budget like its messages: past it the event
    // is dropped and the topic owes a resync (sent once the outbox drains).
    std::lock_guard lock(owed.mu);
    const PresenceEvent& e = *presence;
    if (outbox.queued_bytes() > owed.max_bytes) {
      owed.topics.insert_or_assign(e.topic, OwedPresence::Owed{sub, e.clients, e.users});
      owed.broker->RecordPresenceDropped();
      return;
    }
    if (owed.topics.erase(e.topic) > 0) {
      return outbox.Push(PresenceResync(sub, e.topic, e.clients, e.users));
    }
    return outbox.Push(PresenceDelivery(sub, e));
  }
  outbox.Deliver(
      sub, *message, [sub](const Message& msg) { return DeliveryEvent(sub, msg); },
      [sub](const Gap& g) { return GapEvent(sub, g); });
}

template <typename Outbox>
void Forward(Outbox& outbox, OwedPresence& owed, uint64_t sub, const Held& h) {
  Forward(outbox, owed, sub, h.gap ? &*h.gap : nullptr, h.presence ? &*h.presence : nullptr,
          h.message);
}

}  // namespace

void ConnectReactor::SendOwedPresence(Outbox& outbox, OwedPresence& owed) {
  std::lock_guard lock(owed.mu);
  if (owed.topics.empty() || outbox.queued_bytes() > owed.max_bytes / 2) return;
  for (const auto& [topic, o] : owed.topics) {
    outbox.Push(PresenceResync(o.subscription, topic, o.clients, o.users));
  }
  owed.topics.clear();
}

void ConnectReactor::Subscribe(uint64_t id, const v1::SubscribeRequest& s) {
  if (Status st = SubscribeTo(id, s, false); !st.ok()) Error(id, st);
}

Status ConnectReactor::SubscribeTo(uint64_t id, const v1::SubscribeRequest& s, bool server) {
  SubscribeOptions o;
  o.queue_group = s.queue_group();
  for (const v1::ResumePoint& p : s.resume()) {
    o.resume.push_back({p.topic(), p.epoch(), p.after_offset()});
  }
  if (s.presence()) o.presence.emplace();  // the session fills in the member
  std::shared_ptr<Outbox> outbox = outbox_;
  auto gate = std::make_shared<Gate>();
  auto sink = std::make_shared<FunctionSink>(
      [outbox, gate, owed = owed_, permits = client_.permits()](const Delivery& d) {
        const Gap* gap = d.kind == Delivery::Kind::kGap ? d.gap : nullptr;
        const PresenceEvent* presence = d.kind == Delivery::Kind::kPresence ? d.presence : nullptr;
        if (d.message) permits->Note(*d.message);
        {
          // Copied only while the gate holds it (the delivery's pointers
          // are valid during this call alone).
          std::lock_guard lock(gate->mu);
          if (!gate->open) {
            Held h;
            if (gap) h.gap = *gap;
            if (presence) h.presence = *presence;
            h.message = d.message;
            gate->held.push_back(std::move(h));
            return;
          }
        }
        Forward(*outbox, *owed, d.subscription_id, gap, presence, d.message);
      });
  // A second subscribe to the same (pattern, group) answers with the first
  // one's id, as on every front; its sink is never subscribed.
  Result<session::ClientSession::Subscribed> sub =
      client_.Subscribe(s.pattern(), std::move(o), std::move(sink), deliveries_.inbox(), server);
  if (!sub.ok()) return sub.status();
  // A subscription the session held already is no news to a client that
  // did not ask.
  if (!(server && sub->again)) {
    v1::ServerEvent e;
    e.set_id(id);
    e.mutable_subscribed()->set_subscription_id(sub->id);
    if (s.presence()) e.mutable_subscribed()->set_client(client_.client_id());
    if (server) {
      e.mutable_subscribed()->set_pattern(s.pattern());
      e.mutable_subscribed()->set_server(true);
    }
    outbox_->Push(std::move(e));
  }
  std::lock_guard lock(gate->mu);
  for (const Held& h : gate->held) Forward(*outbox, *owed_, sub->id, h);
  gate->held.clear();
  gate->open = true;
  return Status::Ok();
}

void ConnectReactor::Unsubscribe(uint64_t id, uint64_t subscription) {
  // On the delivery thread, the core guarantees nothing more is delivered to
  // the subscription afterwards (a queue group's pending messages go to the
  // other members), and everything delivered before is already in the
  // outbox: the answer comes after the last delivery, so a worker that
  // reads until it arrives has handled everything it was given.
  Status s = client_.Unsubscribe(subscription, [outbox = outbox_, owed = owed_, id, subscription] {
    {
      // On the delivery thread, after the last delivery: nothing more is
      // owed for it (an event dropped just before would have re-owed it).
      std::lock_guard lock(owed->mu);
      std::erase_if(owed->topics,
                    [&](const auto& o) { return o.second.subscription == subscription; });
    }
    v1::ServerEvent e;
    e.set_id(id);
    e.mutable_unsubscribed()->set_subscription_id(subscription);
    outbox->Push(std::move(e));
  });
  if (!s.ok()) Error(id, s);
}

void ConnectReactor::Publish(uint64_t id, const v1::PublishRequest& p, bool vetted) {
  std::shared_ptr<Outbox> outbox = outbox_;
  client_.Publish(
      p.topic(), p.payload(), OptionsOf(p),
      [outbox, stats = options_->stats, id](Result<PublishAck> ack) {
        if (!ack.ok()) return outbox->Push(ErrorEvent(*stats, id, ack.status()));
        v1::ServerEvent e;
        e.set_id(id);
        ToProto(*ack, e.mutable_ack());
        outbox->Push(std::move(e));
      },
      vetted);
}

void ConnectReactor::Request(uint64_t id, const v1::RequestRequest& r, uint32_t timeout_ms,
                             bool vetted) {
  std::shared_ptr<Outbox> outbox = outbox_;
  // Protobuf has no "absent": 0 is the default timeout.
  const std::optional<int64_t> asked =
      timeout_ms == 0 ? std::nullopt : std::optional<int64_t>(timeout_ms);
  client_.Request(
      r.topic(), r.payload(), asked, options_->default_request_timeout,
      OptionsFrom(r.content_type(), r.headers()),
      [outbox, stats = options_->stats, id](Result<MessagePtr> reply) {
        if (!reply.ok()) return outbox->Push(ErrorEvent(*stats, id, reply.status()));
        v1::ServerEvent e;
        e.set_id(id);
        ToProto(**reply, e.mutable_reply());
        outbox->Push(std::move(e));
      },
      vetted);
}

void ConnectReactor::Reply(uint64_t id, const v1::Reply& r) {
  if (Status s = client_.Reply(r.to(), r.payload(), OptionsFrom(r.content_type(), r.headers()));
      !s.ok()) {
    Error(id, s);
  }
}

void ConnectReactor::JoinQueue(uint64_t id, const v1::JoinQueue& j, const std::string* vetted) {
  // Jobs come on the delivery thread; they go into the outbox in order,
  // after the Joined answer (queued before the broker can offer any: the
  // sink holds them until then).
  std::shared_ptr<Outbox> outbox = outbox_;
  auto gate =
      std::make_shared<std::pair<std::mutex, std::optional<std::vector<v1::ServerEvent>>>>();
  gate->second.emplace();
  auto sink = std::make_shared<FunctionSink>([outbox, gate](const Delivery& d) {
    if (d.kind != Delivery::Kind::kJob) return;
    v1::ServerEvent e;
    ToProto(*d.job, e.mutable_job());
    std::lock_guard lock(gate->first);
    if (gate->second) return gate->second->push_back(std::move(e));
    outbox->Push(std::move(e));
  });
  Result<session::ClientSession::Subscribed> joined =
      client_.JoinQueue(j.queue(), j.max_in_flight(), options_->outbound.max_bytes, std::move(sink),
                        deliveries_.inbox(), vetted);
  if (!joined.ok()) return Error(id, joined.status());
  v1::ServerEvent e;
  e.set_id(id);
  e.mutable_joined()->set_queue(j.queue());
  outbox_->Push(std::move(e));
  std::lock_guard lock(gate->first);
  for (v1::ServerEvent& held : *gate->second) outbox_->Push(std::move(held));
  gate->second.reset();
}

void ConnectReactor::LeaveQueue(uint64_t id, const v1::LeaveQueue& l) {
  if (Status s = client_.LeaveQueue(l.queue()); !s.ok()) return Error(id, s);
  v1::ServerEvent e;
  e.set_id(id);
  e.mutable_left()->set_queue(l.queue());
  outbox_->Push(std::move(e));
}

void ConnectReactor::Settle(uint64_t id, const v1::Settle& s) {
  Result<SettleKind> kind = FromProto(s.kind());
  if (!kind.ok()) return Error(id, kind.status());
  const std::optional<int64_t> delay =
      s.has_delay() ? std::optional<int64_t>(
                          static_cast<int64_t>(std::min<uint64_t>(s.delay().ms(), INT64_MAX)))
                    : std::nullopt;
  if (Status st = client_.Settle(s.handle(), *kind, delay); !st.ok()) return Error(id, st);
  v1::ServerEvent e;
  e.set_id(id);
  e.mutable_settled()->set_queue(s.handle().substr(0, s.handle().find('/')));
  outbox_->Push(std::move(e));
}

}  // namespace herald::grpcfront
