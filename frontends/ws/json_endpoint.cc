#include "frontends/ws/json_endpoint.h"

#include <algorithm>

#include "frontends/json/admin_json.h"
#include "frontends/json/envelope.h"
#include "frontends/json/presence_json.h"
#include "frontends/ws/frame.h"
#include "frontends/ws/message_frames.h"
#include "frontends/ws/raw_endpoint.h"
#include "herald/topic.h"
#include "io/loop.h"

namespace herald::ws {

using json::Command;

// The request timeout a `req` without `timeout_ms` gets.
constexpr std::chrono::milliseconds kDefaultRequestTimeout{5000};

JsonEndpoint::JsonEndpoint(std::shared_ptr<const session::Operations> ops,
                           std::shared_ptr<Inbox> inbox, std::shared_ptr<io::LoopHandle> loop,
                           session::IdentityPtr identity, std::string client_id,
                           json::CommandLimits limits)
    : broker_(ops->broker()),
      ops_(ops),
      inbox_(std::move(inbox)),
      loop_(std::move(loop)),
      limits_(limits),
      client_(
          ops, std::move(identity), [](std::function<void()> fn) { fn(); }, std::move(client_id)),
      max_waiting_(ops->hooks()
                       ? std::max<size_t>(1, ops->hooks()->options().max_in_flight_per_connection)
                       : SIZE_MAX) {}

// A batch is sent once it holds this many bytes, whatever its `batch`: a
// frame stays a size any client can take in at once.
constexpr size_t kMaxBatchBytes = 64 * 1024;

void JsonEndpoint::Send(const std::string& json) {
  SendBatch();
  if (session_) session_->SendOwned(TextFrame(json, session_->compressed()));
}

uint32_t JsonEndpoint::BatchOf(std::string_view queue) const {
  for (const auto& [name, per_frame] : batched_) {
    if (name == queue) return per_frame;
  }
  return 0;
}

void JsonEndpoint::BatchJob(const Job& job, uint32_t per_frame) {
  if (!batch_.empty() && batch_queue_ != job.queue) SendBatch();
  if (batch_.empty()) {
    batch_queue_ = job.queue;
    batch_limit_ = per_frame;
  }
  batch_.Add(job);
  if (batch_.size() >= batch_limit_ || batch_.bytes() >= kMaxBatchBytes) return SendBatch();
  if (batch_flush_posted_) return;
  // Later in this turn, after the inbox has handed over every job it holds
  // (on the loop's own thread this defers: no wake-up).
  batch_flush_posted_ = true;
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  const bool posted = loop_->PostOrDefer([weak] {
    if (auto self = weak.lock()) {
      self->batch_flush_posted_ = false;
      self->SendBatch();
    }
  });
  if (!posted) {  // the loop is stopping: nothing later in this turn
    batch_flush_posted_ = false;
    SendBatch();
  }
}

void JsonEndpoint::SendBatch() {
  if (batch_.empty()) return;
  std::string frame = batch_.TakeFrame(batch_queue_);
  if (session_) session_->SendOwned(TextFrame(frame, session_->compressed()));
}

void JsonEndpoint::SendError(std::string_view id, const Status& status) {
  Send(json::EncodeError(id, status));
}

void JsonEndpoint::OnMessage(EventType type, std::string payload) {
  if (!session_) return;
  if (type == EventType::kBinary) {
    session_->Close(static_cast<uint16_t>(CloseCode::kUnsupportedData),
                    "binary frames are not part of the JSON protocol; use payload_b64");
    return;
  }
  json::Decoded d = json::DecodeCommand(payload, limits_);
  if (!d.status.ok()) return SendError(d.command.id, d.status);
  Dispatch(d.command);
}

void JsonEndpoint::Dispatch(Command& c) {
  const bool hooked = (c.op == Command::Op::kSub && ops_->Hooked(HookEvent::kSubscribe, c.topic)) ||
                      ((c.op == Command::Op::kPub || c.op == Command::Op::kReq) &&
                       ops_->Hooked(HookEvent::kPublish, c.topic)) ||
                      (c.op == Command::Op::kRefresh && ops_->Hooked(HookEvent::kRefresh, {})) ||
                      (c.op == Command::Op::kJoin && ops_->QueueHooked(c.queue));
  // The common case, and always without hooks: nothing waits, run it now.
  if (!hooked && order_.waiting() == 0) return Handle(c);
  auto held = std::make_shared<Command>(std::move(c));
  if (!hooked) {
    return order_.Run([this, held] {
      if (session_) Handle(*held);
    });
  }
  const session::CommandOrder::Ticket ticket = order_.Take();
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  // The hook answers on its own thread: back to the loop, then in order.
  auto back = [weak, loop = loop_, ticket](std::function<void(JsonEndpoint&)> then) {
    loop->RunHereOrPost([weak, ticket, then = std::move(then)] {
      if (auto self = weak.lock()) {
        self->Complete(ticket, [self = self.get(), then] { then(*self); });
      }
    });
  };
  const session::HookCaller caller = client_.Caller();
  switch (held->op) {
    case Command::Op::kSub:
      return ops_->VetSubscribe(client_.identity(), held->topic, caller, [back, held](Status s) {
        back([held, s](JsonEndpoint& self) {
          if (!s.ok()) return self.SendError(held->id, s);
          self.Subscribe(*held);
        });
      });
    case Command::Op::kJoin:
      return ops_->VetQueue(client_.identity(), held->queue, caller,
                            [back, held](Result<std::string> pattern) {
                              back([held, pattern](JsonEndpoint& self) {
                                if (!pattern.ok())
                                  return self.SendError(held->id, pattern.status());
                                self.JoinQueue(*held, &*pattern);
                              });
                            });
    case Command::Op::kRefresh:
      return ops_->Renew(client_.identity(), session::Credential::Bearer(held->token), caller,
                         [back, held](Result<session::IdentityPtr> who) {
                           back([held, who](JsonEndpoint& self) {
                             if (!who.ok()) return self.SendError(held->id, who.status());
                             self.client_.Renewed(*who);
                             self.session_->SetExpiry((*who)->expires_at_s);
                             self.Send(json::EncodeRefreshed(held->id, (*who)->expires_at_s));
                           });
                         });
    default: {
      const session::Op op =
          held->op == Command::Op::kReq ? session::Op::kRequest : session::Op::kPublish;
      std::string payload = std::move(held->payload);
      return ops_->VetPublish(client_.identity(), op, held->topic, std::move(payload),
                              held->content_type, caller,
                              [back, held](Result<std::string> payload) {
                                back([held, payload](JsonEndpoint& self) {
                                  if (!payload.ok())
                                    return self.SendError(held->id, payload.status());
                                  held->payload = *payload;
                                  if (held->op == Command::Op::kReq)
                                    return self.Request(*held, true);
                                  self.Publish(*held, true);
                                });
                              });
    }
  }
}

void JsonEndpoint::Complete(session::CommandOrder::Ticket ticket, std::function<void()> step) {
  const bool was_paused = reading_paused();
  order_.Complete(ticket, [this, step = std::move(step)] {
    if (session_) step();
  });
  if (was_paused && !reading_paused() && session_) session_->ReadingReady();
}

void JsonEndpoint::Handle(Command& c) {
  switch (c.op) {
    case Command::Op::kSub:
      return Subscribe(c);
    case Command::Op::kUnsub:
      return Unsubscribe(c);
    case Command::Op::kPub:
      return Publish(c);
    case Command::Op::kReq:
      return Request(c);
    case Command::Op::kReply:
      return Reply(c);
    case Command::Op::kPing:
      return Send(json::EncodePong(c.id));
    case Command::Op::kRefresh:
      return Refresh(c);
    case Command::Op::kMembers:
      return Members(c);
    case Command::Op::kJoin:
      return JoinQueue(c);
    case Command::Op::kLeave:
      return LeaveQueue(c);
    case Command::Op::kAck:
      return Settle(c, SettleKind::kAck);
    case Command::Op::kNack:
      return Settle(c, SettleKind::kNack);
    case Command::Op::kProgress:
      return Settle(c, SettleKind::kProgress);
    case Command::Op::kTerm:
      return Settle(c, SettleKind::kTerm);
  }
}

void JsonEndpoint::OnRateLimited() {
  SendError("",
            Status(ErrorCode::kRateLimited, "too many messages per second: this one was dropped"));
}

void JsonEndpoint::Subscribe(Command& c) {
  SubscribeOptions o;
  o.queue_group = c.group;
  o.resume = std::move(c.resume);
  if (c.presence) o.presence.emplace();  // the session fills in the member
  // Confirm before the replayed history arrives: the replay is queued on this
  // worker's inbox and is delivered after this handler returns.
  Result<session::ClientSession::Subscribed> sub =
      client_.Subscribe(c.topic, std::move(o), session_->SharedPart<Sink>(this), inbox_);
  if (!sub.ok()) return SendError(c.id, sub.status());
  // A presence subscription learns its own client id (its entry in the
  // members and events).
  Send(json::EncodeSubscribed("subscribed", c.id, c.topic,
                              c.presence ? std::string_view(client_.client_id()) : ""));
}

void JsonEndpoint::Members(const Command& c) {
  PresenceQuery q;
  if (c.limit) q.limit = static_cast<uint32_t>(*c.limit);
  q.after = c.after;
  Result<PresenceSnapshot> s = client_.Presence(c.topic, q);
  if (!s.ok()) return SendError(c.id, s.status());
  Send(json::EncodeMembers(c.id, c.topic, *s));
}

void JsonEndpoint::SendPresence(const PresenceEvent& e) {
  // Events are charged to the connection's budget like its messages: past
  // it one is dropped and the topic owes a resync (sent once the queue has
  // drained), so a client that does not read cannot make us hold them.
  auto owed = presence_owed_.find(e.topic);
  if (session_->backlog_bytes() > session_->outbound_limits().max_bytes) {
    presence_owed_.insert_or_assign(e.topic, std::pair{e.clients, e.users});
    broker_.RecordPresenceDropped();
    return;
  }
  if (owed != presence_owed_.end()) {
    presence_owed_.erase(owed);
    return Send(json::EncodePresenceResync(e.topic, e.clients, e.users));
  }
  Send(json::EncodePresence(e));
}

void JsonEndpoint::OnDrained() {
  if (presence_owed_.empty() || !session_) return;
  for (const auto& [topic, counts] : presence_owed_) {
    Send(json::EncodePresenceResync(topic, counts.first, counts.second));
  }
  presence_owed_.clear();
}

void JsonEndpoint::Refresh(const Command& c) {
  Result<session::IdentityPtr> who = client_.Refresh(session::Credential::Bearer(c.token));
  // Refused: the old token stays in force until it expires.
  if (!who.ok()) return SendError(c.id, who.status());
  session_->SetExpiry((*who)->expires_at_s);
  Send(json::EncodeRefreshed(c.id, (*who)->expires_at_s));
}

void JsonEndpoint::JoinQueue(const Command& c, const std::string* vetted) {
  Result<session::ClientSession::Subscribed> joined =
      client_.JoinQueue(c.queue, c.max_in_flight, session_->outbound_limits().max_bytes,
                        session_->SharedPart<Sink>(this), inbox_, vetted);
  if (!joined.ok()) return SendError(c.id, joined.status());
  // Joining again changes nothing, the framing included.
  if (!joined->again && c.batch > 0) batched_.emplace_back(c.queue, c.batch);
  Send(json::EncodeQueueAnswer("joined", c.id, c.queue));
}

void JsonEndpoint::LeaveQueue(const Command& c) {
  // The jobs batched before the leave go out before it gives them back, as
  // they would have in a frame each.
  SendBatch();
  if (Status s = client_.LeaveQueue(c.queue); !s.ok()) return SendError(c.id, s);
  std::erase_if(batched_, [&](const auto& b) { return b.first == c.queue; });
  Send(json::EncodeQueueAnswer("left", c.id, c.queue));
}

void JsonEndpoint::Settle(const Command& c, SettleKind kind) {
  if (Status s = client_.Settle(c.handle, kind, c.delay_ms); !s.ok()) return SendError(c.id, s);
  // Answered only when asked (an id): a worker settling thousands of jobs a
  // second needs no echo of each.
  if (!c.id.empty())
    Send(json::EncodeQueueAnswer("settled", c.id, c.handle.substr(0, c.handle.find('/'))));
}

void JsonEndpoint::Unsubscribe(const Command& c) {
  presence_owed_.erase(c.topic);  // nothing more is owed for a topic left
  Status s = client_.Unsubscribe(c.topic, c.group, [this, &c] {
    Send(json::EncodeSubscribed("unsubscribed", c.id, c.topic));
  });
  if (!s.ok()) SendError(c.id, s);
}

void JsonEndpoint::Publish(Command& c, bool vetted) {
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  o.msg_id = std::move(c.msg_id);
  // Acknowledged once sequenced: at once, or when the history store has it,
  // or (in a cluster) when the topic's owner node answers; back on this
  // connection's loop.
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  auto done = [weak, loop = loop_, id = std::move(c.id)](Result<PublishAck> ack) mutable {
    loop->RunHereOrPost([weak, id = std::move(id), ack = std::move(ack)] {
      auto self = weak.lock();
      if (!self || !self->session_) return;
      if (!ack.ok()) return self->SendError(id, ack.status());
      if (!id.empty()) self->Send(json::EncodeAck(id, *ack));
    });
  };
  client_.Publish(c.topic, std::move(c.payload), std::move(o), std::move(done), vetted);
}

void JsonEndpoint::Request(Command& c, bool vetted) {
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  // The reply arrives on whatever thread published it (or the broker's timer
  // thread), possibly after the server stopped; hop back to this connection's
  // loop (if it is still there) before touching the session.
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  std::shared_ptr<io::LoopHandle> loop = loop_;
  std::string id = c.id;
  client_.Request(
      c.topic, std::move(c.payload), c.timeout_ms, kDefaultRequestTimeout, std::move(o),
      [weak, loop, id](Result<MessagePtr> r) {
        loop->RunHereOrPost([weak, id, r = std::move(r)] {
          auto self = weak.lock();
          if (!self || !self->session_) return;
          if (r.ok()) {
            self->Send(json::EncodeReply(id, **r));
          } else {
            self->SendError(id, r.status());
          }
        });
      },
      vetted);
}

void JsonEndpoint::Reply(Command& c) {
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  if (Status s = client_.Reply(c.topic, std::move(c.payload), std::move(o)); !s.ok()) {
    SendError(c.id, s);
  }
}

void JsonEndpoint::OnDelivery(const Delivery& d) {
  if (!session_ || !session_->open()) return;
  if (d.kind == Delivery::Kind::kGap) {
    return Send(json::EncodeGap(*d.gap));
  }
  if (d.kind == Delivery::Kind::kPresence) return SendPresence(*d.presence);
  if (d.kind == Delivery::Kind::kJob) {
    if (const uint32_t per_frame = BatchOf(d.job->queue); per_frame > 0) {
      return BatchJob(*d.job, per_frame);
    }
    return Send(json::EncodeJob(*d.job));
  }
  if (d.message == last_sent_) return;
  last_sent_ = d.message;
  client_.Delivered(*d.message);
  SendBatch();
  session_->SendDelivery(d.subscription_id, *d.message,
                         MessageFrame(*d.message, FrameStyle::kJson, session_->compressed()));
}

void JsonEndpoint::OnServerDisconnect(const DisconnectNotice& notice) {
  if (!session_) return;
  // Why first, then the close frame with the same code: a client that sees
  // only close codes still knows whether to come back (PROTOCOL.md).
  Send(json::EncodeDisconnect(notice));
  session_->Close(notice.code, notice.reason);
}

void JsonEndpoint::OnServerSubscribe(const std::string& topic, bool presence,
                                     std::function<void(Status)> done) {
  if (!session_) return done(Status(ErrorCode::kCancelled, "the connection is closing"));
  SubscribeOptions o;
  if (presence) o.presence.emplace();
  Result<session::ClientSession::Subscribed> sub =
      client_.Subscribe(topic, std::move(o), session_->SharedPart<Sink>(this), inbox_, true);
  if (!sub.ok()) return done(sub.status());
  // Told unasked, before any message of it (they come from the inbox, after
  // this handler); a subscription it held already is not news.
  if (!sub->again) {
    Send(json::EncodeServerSubscribed("subscribed", topic,
                                      presence ? std::string_view(client_.client_id()) : ""));
  }
  done(Status::Ok());
}

void JsonEndpoint::OnServerUnsubscribe(const std::string& topic, std::function<void(Status)> done) {
  if (!session_) return done(Status(ErrorCode::kCancelled, "the connection is closing"));
  presence_owed_.erase(topic);
  Status s = client_.Unsubscribe(
      topic, "", [this, topic] { Send(json::EncodeServerSubscribed("unsubscribed", topic)); });
  done(s);
}

void JsonEndpoint::OnOwedGap(const Gap& gap) { Send(json::EncodeGap(gap)); }

void JsonEndpoint::OnClose() {
  session_ = nullptr;
  // Jobs never sent: the session's end offers them again.
  batch_.TakeArray();
  client_.Close();
  last_sent_.reset();
}

}  // namespace herald::ws
