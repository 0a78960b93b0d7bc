// How the server API reaches one WebSocket connection (herald/clients.h):
// each call hops to the connection's loop and, if the connection is still
// open there, is handed to its endpoint (Endpoint::OnServer*). A call that
// finds it gone answers kCancelled.
//
// Thread rule: any thread (the ClientControl contract).
#pragma once

#include <memory>
#include <string>

#include "frontends/ws/ws_session.h"
#include "herald/clients.h"

namespace herald::io {
class LoopHandle;
}

namespace herald::ws {

class WsControl final : public ClientControl {
 public:
  // `endpoint` lives in `session`'s allocation (SessionWith).
  WsControl(std::weak_ptr<WsSession> session, Endpoint* endpoint,
            std::shared_ptr<io::LoopHandle> loop)
      : session_(std::move(session)), endpoint_(endpoint), loop_(std::move(loop)) {}

  void Disconnect(const DisconnectNotice& notice) override;
  void ServerSubscribe(const std::string& topic, bool presence,
                       std::function<void(Status)> done) override;
  void ServerUnsubscribe(const std::string& topic, std::function<void(Status)> done) override;

 private:
  // Runs `fn(endpoint)` on the loop while the session is open; otherwise
  // `gone()` (on the loop, or here when the loop is stopping).
  void Run(std::function<void(Endpoint&)> fn, std::function<void()> gone);

  const std::weak_ptr<WsSession> session_;
  Endpoint* const endpoint_;
  const std::shared_ptr<io::LoopHandle> loop_;
};

}  // namespace herald::ws
