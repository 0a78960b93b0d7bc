#include "frontends/ws/ws_control.h"

#include "io/loop.h"

namespace herald::ws {
namespace {

Status Gone() { return Status(ErrorCode::kCancelled, "the connection is closing"); }

}  // namespace

void WsControl::Run(std::function<void(Endpoint&)> fn, std::function<void()> gone) {
  auto task = [weak = session_, endpoint = endpoint_, fn = std::move(fn), gone] {
    std::shared_ptr<WsSession> s = weak.lock();
    if (!s || !s->open()) return gone();
    fn(*endpoint);
  };
  if (!loop_->RunHereOrPost(std::move(task))) gone();
}

void WsControl::Disconnect(const DisconnectNotice& notice) {
  Run([notice](Endpoint& e) { e.OnServerDisconnect(notice); }, [] {});
}

void WsControl::ServerSubscribe(const std::string& topic, bool presence,
                                std::function<void(Status)> done) {
  Run([topic, presence, done](Endpoint& e) { e.OnServerSubscribe(topic, presence, done); },
      [done] { done(Gone()); });
}

void WsControl::ServerUnsubscribe(const std::string& topic, std::function<void(Status)> done) {
  Run([topic, done](Endpoint& e) { e.OnServerUnsubscribe(topic, done); }, [done] { done(Gone()); });
}

}  // namespace herald::ws
