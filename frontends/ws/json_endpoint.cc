#include "frontends/ws/json_endpoint.h"

#include "frontends/json/envelope.h"
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
                           session::IdentityPtr identity, json::CommandLimits limits)
    : broker_(ops->broker()),
      inbox_(std::move(inbox)),
      loop_(std::move(loop)),
      limits_(limits),
      client_(ops, std::move(identity), [](std::function<void()> fn) { fn(); }) {}

void JsonEndpoint::Send(const std::string& json) {
  if (session_) session_->SendOwned(TextFrame(json, session_->compressed()));
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
  Command& c = d.command;
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
    case Command::Op::kJoin:
      return JoinQueue(c);
    case Command::Op::kLeave:
      if (Status s = client_.LeaveQueue(c.queue); !s.ok()) return SendError(c.id, s);
      return Send(json::EncodeQueueAnswer("left", c.id, c.queue));
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
  // Confirm before the replayed history arrives: the replay is queued on this
  // worker's inbox and is delivered after this handler returns.
  Result<session::ClientSession::Subscribed> sub =
      client_.Subscribe(c.topic, std::move(o), session_->SharedPart<Sink>(this), inbox_);
  if (!sub.ok()) return SendError(c.id, sub.status());
  Send(json::EncodeSubscribed("subscribed", c.id, c.topic));
}

void JsonEndpoint::JoinQueue(const Command& c) {
  Result<session::ClientSession::Subscribed> joined =
      client_.JoinQueue(c.queue, c.max_in_flight, session_->outbound_limits().max_bytes,
                        session_->SharedPart<Sink>(this), inbox_);
  if (!joined.ok()) return SendError(c.id, joined.status());
  Send(json::EncodeQueueAnswer("joined", c.id, c.queue));
}

void JsonEndpoint::Settle(const Command& c, SettleKind kind) {
  if (Status s = client_.Settle(c.handle, kind, c.delay_ms); !s.ok()) return SendError(c.id, s);
  // Answered only when asked (an id): a worker settling thousands of jobs a
  // second needs no echo of each.
  if (!c.id.empty())
    Send(json::EncodeQueueAnswer("settled", c.id, c.handle.substr(0, c.handle.find('/'))));
}

void JsonEndpoint::Unsubscribe(const Command& c) {
  Status s = client_.Unsubscribe(c.topic, c.group, [this, &c] {
    Send(json::EncodeSubscribed("unsubscribed", c.id, c.topic));
  });
  if (!s.ok()) SendError(c.id, s);
}

void JsonEndpoint::Publish(Command& c) {
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  o.msg_id = std::move(c.msg_id);
  // Acknowledged once sequenced: at once, or when the history store has it,
  // or (in a cluster) when the topic's owner node answers; back on this
  // connection's loop.
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  client_.Publish(c.topic, std::move(c.payload), std::move(o),
                  [weak, loop = loop_, id = std::move(c.id)](Result<PublishAck> ack) mutable {
                    loop->RunHereOrPost([weak, id = std::move(id), ack = std::move(ack)] {
                      auto self = weak.lock();
                      if (!self || !self->session_) return;
                      if (!ack.ok()) return self->SendError(id, ack.status());
                      if (!id.empty()) self->Send(json::EncodeAck(id, *ack));
                    });
                  });
}

void JsonEndpoint::Request(Command& c) {
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  // The reply arrives on whatever thread published it (or the broker's timer
  // thread), possibly after the server stopped; hop back to this connection's
  // loop (if it is still there) before touching the session.
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  std::shared_ptr<io::LoopHandle> loop = loop_;
  std::string id = c.id;
  client_.Request(c.topic, std::move(c.payload), c.timeout_ms, kDefaultRequestTimeout, std::move(o),
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
                  });
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
  if (d.kind == Delivery::Kind::kJob) return Send(json::EncodeJob(*d.job));
  if (d.message == last_sent_) return;
  last_sent_ = d.message;
  client_.Delivered(*d.message);
  session_->SendDelivery(d.subscription_id, *d.message,
                         MessageFrame(*d.message, FrameStyle::kJson, session_->compressed()));
}

void JsonEndpoint::OnOwedGap(const Gap& gap) { Send(json::EncodeGap(gap)); }

void JsonEndpoint::OnClose() {
  session_ = nullptr;
  client_.Close();
  last_sent_.reset();
}

}  // namespace herald::ws
