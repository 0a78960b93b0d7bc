// `/ws/<topic>`: the seed's chat semantics. Every frame a client sends is
// published to the topic (text as text, binary as binary); every message of
// the topic goes to every client on it, the sender included, as a frame of
// the same type. Works with any WebSocket client.
#pragma once

#include <memory>
#include <string>

#include "frontends/session/command_order.h"
#include "frontends/session/operations.h"
#include "frontends/ws/ws_session.h"
#include "herald/broker.h"

namespace herald::io {
class LoopHandle;
}

namespace herald::ws {

class RawEndpoint final : public Endpoint, public Sink {
 public:
  // The upgrade checked the subscribe grant; `may_publish` is the publish
  // one. With a publish hook on the topic, each frame waits on it, in order.
  RawEndpoint(std::shared_ptr<const session::Operations> ops, std::shared_ptr<Inbox> inbox,
              std::shared_ptr<io::LoopHandle> loop, session::IdentityPtr identity,
              std::string client_id, std::string topic, bool may_publish);

  void OnOpen(WsSession& session) override;
  void OnMessage(EventType type, std::string payload) override;
  void OnOwedGap(const Gap&) override {}  // raw frames have no way to say it
  void FlushPending() override { inbox_->Drain(); }
  void OnClose() override;
  Broker& broker() override { return broker_; }
  void OnServerDisconnect(const DisconnectNotice& notice) override;
  void OnDelivery(const Delivery& d) override;
  bool reading_paused() const override { return order_.waiting() >= max_waiting_; }

 private:
  void PublishVetted(std::string payload, PublishOptions options);

  Broker& broker_;
  const std::shared_ptr<const session::Operations> ops_;
  const std::shared_ptr<io::LoopHandle> loop_;
  const session::IdentityPtr identity_;
  const std::string client_id_;
  session::CommandOrder order_;  // frames waiting on the publish hook
  const size_t max_waiting_;
  std::shared_ptr<Inbox> inbox_;
  const std::string topic_;
  const bool may_publish_;
  WsSession* session_ = nullptr;  // null once closed
  uint64_t subscription_ = 0;
};

}  // namespace herald::ws
