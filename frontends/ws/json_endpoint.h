// `/ws`: the JSON protocol of docs/PROTOCOL.md — sub (with queue group and
// resume), unsub, pub (with ack), req/reply, ping — over one connection.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "auth/jwt_verifier.h"
#include "frontends/json/command.h"
#include "frontends/session/reply_permits.h"
#include "frontends/session/session_requests.h"
#include "frontends/ws/ws_session.h"
#include "herald/broker.h"

namespace herald::io {
class LoopHandle;
}

namespace herald::ws {

class JsonEndpoint final : public Endpoint, public Sink {
 public:
  JsonEndpoint(Broker& broker, std::shared_ptr<Inbox> inbox, std::shared_ptr<io::LoopHandle> loop,
               std::shared_ptr<const auth::Identity> identity, json::CommandLimits limits = {});

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
  void Send(const std::string& json);
  void SendError(std::string_view id, const Status& status);

  Broker& broker_;
  std::shared_ptr<Inbox> inbox_;
  const std::shared_ptr<io::LoopHandle> loop_;            // replies hop back here
  const std::shared_ptr<const auth::Identity> identity_;  // what this client may do
  const json::CommandLimits limits_;
  WsSession* session_ = nullptr;  // null once closed
  // (pattern, queue group) -> subscription id
  std::map<std::pair<std::string, std::string>, uint64_t> subscriptions_;
  // The message last sent: several subscriptions of this connection matching
  // one message deliver it back to back; it goes out once.
  MessagePtr last_sent_;
  // The reply rule and this connection's pending requests (frontends/session).
  session::ReplyPermits reply_permits_;
  const std::shared_ptr<session::SessionRequests> requests_;
};

}  // namespace herald::ws
