#include "frontends/ws/json_endpoint.h"

#include "frontends/json/envelope.h"
#include "frontends/ws/frame.h"
#include "frontends/ws/message_frames.h"
#include "frontends/ws/raw_endpoint.h"
#include "herald/topic.h"
#include "io/loop.h"

namespace herald::ws {

using json::Command;

JsonEndpoint::JsonEndpoint(Broker& broker, std::shared_ptr<Inbox> inbox,
                           std::shared_ptr<io::LoopHandle> loop,
                           std::shared_ptr<const auth::Identity> identity,
                           json::CommandLimits limits)
    : broker_(broker),
      inbox_(std::move(inbox)),
      loop_(std::move(loop)),
      identity_(std::move(identity)),
      limits_([&] {
        limits.max_timeout = broker.options().max_request_timeout;  // one bound, every front
        return limits;
      }()),
      reply_permits_(broker_.options().max_reply_inboxes_per_session),
      requests_(std::make_shared<session::SessionRequests>(
          broker_, broker_.options().max_pending_requests_per_session)) {}

namespace {
Status Denied(std::string_view what, std::string_view topic) {
  return Status(ErrorCode::kPermissionDenied,
                "permission denied: " + std::string(what) + " '" + std::string(topic) + "'");
}
}  // namespace

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
  }
}

void JsonEndpoint::OnRateLimited() {
  SendError("",
            Status(ErrorCode::kRateLimited, "too many messages per second: this one was dropped"));
}

void JsonEndpoint::Subscribe(Command& c) {
  // The pattern's grant also covers its history: resume topics match it.
  if (!identity_->grants.MaySubscribe(c.topic))
    return SendError(c.id, Denied("subscribe to", c.topic));
  auto key = std::make_pair(c.topic, c.group);
  if (subscriptions_.count(key)) {
    return Send(json::EncodeSubscribed("subscribed", c.id, c.topic));  // idempotent
  }
  SubscribeOptions o;
  o.queue_group = c.group;
  o.resume = std::move(c.resume);
  // Confirm before the replayed history arrives: the replay is queued on this
  // worker's inbox and is delivered after this handler returns.
  Result<uint64_t> id =
      broker_.Subscribe(c.topic, session_->SharedPart<Sink>(this), inbox_, std::move(o));
  if (!id.ok()) return SendError(c.id, id.status());
  subscriptions_.emplace(std::move(key), *id);
  Send(json::EncodeSubscribed("subscribed", c.id, c.topic));
}

void JsonEndpoint::Unsubscribe(const Command& c) {
  auto it = subscriptions_.find({c.topic, c.group});
  if (it == subscriptions_.end()) {
    return SendError(c.id, Status(ErrorCode::kNotFound,
                                  "not subscribed to '" + c.topic + "'" +
                                      (c.group.empty() ? "" : " in group '" + c.group + "'")));
  }
  broker_.Unsubscribe(it->second);
  subscriptions_.erase(it);
  Send(json::EncodeSubscribed("unsubscribed", c.id, c.topic));
}

void JsonEndpoint::Publish(Command& c) {
  if (!identity_->grants.MayPublish(c.topic)) return SendError(c.id, Denied("publish to", c.topic));
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  // Acknowledged once sequenced: at once, or (in a cluster) when the topic's
  // owner node answers, back on this connection's loop.
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  broker_.PublishAsync(c.topic, std::move(c.payload), std::move(o),
                       [weak, loop = loop_, id = std::move(c.id)](Result<PublishAck> ack) mutable {
                         loop->RunHereOrPost([weak, id = std::move(id), ack = std::move(ack)] {
                           auto self = weak.lock();
                           if (!self || !self->session_) return;
                           if (!ack.ok()) return self->SendError(id, ack.status());
                           if (!id.empty())
                             self->Send(json::EncodeAck(id, ack->epoch, ack->offset));
                         });
                       });
}

void JsonEndpoint::Request(Command& c) {
  if (!identity_->grants.MayPublish(c.topic)) return SendError(c.id, Denied("request on", c.topic));
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  // The reply arrives on whatever thread published it (or the broker's timer
  // thread), possibly after the server stopped; hop back to this connection's
  // loop (if it is still there) before touching the session.
  std::weak_ptr<JsonEndpoint> weak = session_->SharedPart(this);
  std::shared_ptr<io::LoopHandle> loop = loop_;
  std::string id = c.id;
  requests_->Start(c.topic, std::move(c.payload), c.timeout, std::move(o),
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
  if (Status s = reply_permits_.Take(c.topic); !s.ok()) {
    broker_.RecordRefusedReply();
    return SendError(c.id, s);
  }
  PublishOptions o;
  o.content_type = std::move(c.content_type);
  o.headers = std::move(c.headers);
  if (Status s = broker_.Reply(c.topic, std::move(c.payload), std::move(o)); !s.ok()) {
    reply_permits_.Restore(std::move(c.topic));
    SendError(c.id, s);
  }
}

void JsonEndpoint::OnDelivery(const Delivery& d) {
  if (!session_ || !session_->open()) return;
  if (d.kind == Delivery::Kind::kGap) {
    return Send(json::EncodeGap(*d.gap));
  }
  if (d.message == last_sent_) return;
  last_sent_ = d.message;
  reply_permits_.Note(*d.message);
  session_->SendDelivery(d.subscription_id, *d.message,
                         MessageFrame(*d.message, FrameStyle::kJson, session_->compressed()));
}

void JsonEndpoint::OnOwedGap(const Gap& gap) { Send(json::EncodeGap(gap)); }

void JsonEndpoint::OnClose() {
  session_ = nullptr;
  requests_->CancelAll();
  last_sent_.reset();
  for (auto& [key, id] : subscriptions_) broker_.Unsubscribe(id);
  subscriptions_.clear();
}

}  // namespace herald::ws
