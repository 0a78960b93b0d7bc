#include "frontends/ws/raw_endpoint.h"

#include "frontends/json/command.h"
#include "frontends/ws/frame.h"
#include "frontends/ws/message_frames.h"
#include "io/loop.h"

namespace herald::ws {

RawEndpoint::RawEndpoint(std::shared_ptr<const session::Operations> ops,
                         std::shared_ptr<Inbox> inbox, std::shared_ptr<io::LoopHandle> loop,
                         session::IdentityPtr identity, std::string client_id, std::string topic,
                         bool may_publish)
    : broker_(ops->broker()),
      ops_(ops),
      loop_(std::move(loop)),
      identity_(std::move(identity)),
      client_id_(std::move(client_id)),
      max_waiting_(ops->hooks()
                       ? std::max<size_t>(1, ops->hooks()->options().max_in_flight_per_connection)
                       : SIZE_MAX),
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
    broker_.RecordRefusedPublish(ErrorCode::kPermissionDenied);
    // Raw frames have no error message: the policy close says it.
    session_->Close(static_cast<uint16_t>(CloseCode::kPolicyViolation),
                    "permission denied: publish to '" + topic_ + "'");
    return;
  }
  // The topic was validated at the upgrade; the size is the one thing a
  // frame can get wrong, and raw frames have no error message to carry it.
  const size_t limit = broker_.limits().max_payload_bytes;
  if (payload.size() > limit) {
    broker_.RecordRefusedPublish(ErrorCode::kPayloadTooLarge);
    session_->Close(static_cast<uint16_t>(CloseCode::kMessageTooBig),
                    "payload is " + std::to_string(payload.size()) + " bytes, over the limit of " +
                        std::to_string(limit));
    return;
  }
  PublishOptions o;
  o.content_type = type == EventType::kText ? json::kTextContentType : json::kBinaryContentType;
  if (!ops_->Hooked(HookEvent::kPublish, topic_)) {
    if (order_.waiting() == 0) return PublishVetted(std::move(payload), std::move(o));
    return order_.Run([this, payload = std::move(payload), o = std::move(o)]() mutable {
      PublishVetted(std::move(payload), std::move(o));
    });
  }
  // The hook answers on its own thread: back to the loop, then in the
  // order the frames came. A denied frame is dropped (raw frames carry no
  // error); the hook's counters show it.
  const session::CommandOrder::Ticket ticket = order_.Take();
  std::weak_ptr<RawEndpoint> weak = session_->SharedPart(this);
  std::string content_type = o.content_type;  // read before `o` moves below
  ops_->VetPublish(
      *identity_, session::Op::kPublish, topic_, std::move(payload), std::move(content_type),
      {client_id_, "ws-raw", {}},
      [weak, loop = loop_, ticket, o = std::move(o)](Result<std::string> vetted) mutable {
        loop->RunHereOrPost([weak, ticket, o = std::move(o), vetted = std::move(vetted)]() mutable {
          auto self = weak.lock();
          if (!self) return;
          const bool was_paused = self->reading_paused();
          self->order_.Complete(
              ticket, [self = self.get(), o = std::move(o), vetted = std::move(vetted)]() mutable {
                if (vetted.ok() && self->session_)
                  self->PublishVetted(std::move(*vetted), std::move(o));
              });
          if (was_paused && !self->reading_paused() && self->session_) {
            self->session_->ReadingReady();
          }
        });
      });
}

void RawEndpoint::PublishVetted(std::string payload, PublishOptions options) {
  // Fire and forget, like the seed's chat: in a cluster an owner node that
  // cannot be reached shows in herald_cluster_forward_failures_total.
  broker_.PublishAsync(topic_, std::move(payload), std::move(options), [](Result<PublishAck>) {});
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
