// `/ws`: the JSON protocol of docs/PROTOCOL.md — sub (with queue group and
// resume), unsub, pub (with ack), req/reply, ping, and work queues (join,
// leave, ack, nack, progress, term) — over one connection.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "auth/jwt_verifier.h"
#include "frontends/json/command.h"
#include "frontends/session/client_session.h"
#include "frontends/ws/ws_session.h"
#include "herald/broker.h"

namespace herald::io {
class LoopHandle;
}

namespace herald::ws {

class JsonEndpoint final : public Endpoint, public Sink {
 public:
  // The commands' meaning is the session layer's (`ops`); this class is the
  // JSON codec around it and the way errors are rendered (an error object).
  JsonEndpoint(std::shared_ptr<const session::Operations> ops, std::shared_ptr<Inbox> inbox,
               std::shared_ptr<io::LoopHandle> loop, session::IdentityPtr identity,
               json::CommandLimits limits = {});

  void OnOpen(WsSession& session) override { session_ = &session; }
  void OnMessage(EventType type, std::string payload) override;
  void OnOwedGap(const Gap& gap) override;
  void FlushPending() override { inbox_->Drain(); }
  void OnClose() override;
  void OnRateLimited() override;
  Broker& broker() override { return broker_; }
  void OnDelivery(const Delivery& d) override;

 private:
  void Subscribe(json::Command& c);
  void Unsubscribe(const json::Command& c);
  void Publish(json::Command& c);
  void Request(json::Command& c);
  void Reply(json::Command& c);
  void JoinQueue(const json::Command& c);
  void Settle(const json::Command& c, SettleKind kind);
  void Send(const std::string& json);
  void SendError(std::string_view id, const Status& status);

  Broker& broker_;
  std::shared_ptr<Inbox> inbox_;
  const std::shared_ptr<io::LoopHandle> loop_;  // replies hop back here
  const json::CommandLimits limits_;
  WsSession* session_ = nullptr;  // null once closed
  // What the client holds (subscriptions, reply permits, waiting requests).
  // Unsubscribes run inline: this loop drains the connection's inbox.
  session::ClientSession client_;
  // The message last sent: several subscriptions of this connection matching
  // one message deliver it back to back; it goes out once.
  MessagePtr last_sent_;
};

}  // namespace herald::ws
