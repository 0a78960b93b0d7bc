#include "frontends/ws/raw_endpoint.h"

#include "frontends/json/command.h"
#include "frontends/ws/frame.h"
#include "frontends/ws/message_frames.h"

namespace herald::ws {

RawEndpoint::RawEndpoint(Broker& broker, std::shared_ptr<Inbox> inbox, std::string topic,
                         bool may_publish)
    : broker_(broker),
      inbox_(std::move(inbox)),
      topic_(std::move(topic)),
      may_publish_(may_publish) {}

void RawEndpoint::OnOpen(WsSession& session) {
  session_ = &session;
  Result<uint64_t> id = broker_.Subscribe(topic_, session.SharedPart<Sink>(this), inbox_);
  if (!id.ok()) {
    session.Close(static_cast<uint16_t>(CloseCode::kInternalError), id.status().message());
    return;
  }
  subscription_ = *id;
}

void RawEndpoint::OnMessage(EventType type, std::string payload) {
  if (!session_) return;
  if (!may_publish_) {
    // Raw frames have no error message: the policy close says it.
    session_->Close(static_cast<uint16_t>(CloseCode::kPolicyViolation),
                    "permission denied: publish to '" + topic_ + "'");
    return;
  }
  // The topic was validated at the upgrade; the size is the one thing a
  // frame can get wrong, and raw frames have no error message to carry it.
  const size_t limit = broker_.options().max_payload_bytes;
  if (payload.size() > limit) {
    session_->Close(static_cast<uint16_t>(CloseCode::kMessageTooBig),
                    "payload is " + std::to_string(payload.size()) + " bytes, over the limit of " +
                        std::to_string(limit));
    return;
  }
  PublishOptions o;
  o.content_type = type == EventType::kText ? json::kTextContentType : json::kBinaryContentType;
  // Fire and forget, like the seed's chat: in a cluster an owner node that
  // cannot be reached shows in herald_cluster_forward_failures_total.
  broker_.PublishAsync(topic_, std::move(payload), std::move(o), [](Result<PublishAck>) {});
}

void RawEndpoint::OnDelivery(const Delivery& d) {
  if (!session_ || !session_->open() || d.kind != Delivery::Kind::kMessage) return;
  session_->SendDelivery(d.subscription_id, *d.message,
                         MessageFrame(*d.message, FrameStyle::kRaw, session_->compressed()));
}

void RawEndpoint::OnClose() {
  session_ = nullptr;
  if (subscription_) broker_.Unsubscribe(subscription_);
  subscription_ = 0;
}

void RawEndpoint::OnServerDisconnect(const DisconnectNotice& notice) {
  if (session_) session_->Close(notice.code, notice.reason);
}

}  // namespace herald::ws
