// tests/ws/ws_fixture.h — WebSocket sessions on a real loop, as WsFront
// creates them after a handshake, for the session and endpoint tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth/jwt_verifier.h"
#include "frontends/ws/json_endpoint.h"
#include "frontends/ws/raw_endpoint.h"
#include "frontends/ws/ws_session.h"
#include "frontends/ws/ws_stats.h"
#include "tests/support/loop_fixture.h"
#include "tests/ws/ws_client.h"

namespace herald::ws::testing {

using herald::testing::Peer;

// An identity that may do everything (no authentication configured).
inline std::shared_ptr<const auth::Identity> OpenIdentity() {
  auto id = std::make_shared<auth::Identity>();
  id->grants.all = true;
  return id;
}

inline std::shared_ptr<const auth::Identity> Granted(std::vector<std::string> publish,
                                                     std::vector<std::string> subscribe) {
  auto id = std::make_shared<auth::Identity>();
  id->subject = "tester";
  id->grants.publish = std::move(publish);
  id->grants.subscribe = std::move(subscribe);
  return id;
}

class WsFixture : public herald::testing::LoopFixture {
 protected:
  // A session speaking the JSON protocol (`/ws`) on a new connection.
  Peer OpenJson(std::shared_ptr<const auth::Identity> identity = OpenIdentity(), int rcvbuf = 0) {
    return Open(rcvbuf, [&](io::Connection* c, FrameParserOptions p) {
      auto ops = std::make_shared<session::Operations>(
          *broker_, session::Admission(broker_->options().topic_limits, nullptr));
      return std::make_shared<SessionWith<JsonEndpoint>>(
          c, std::move(p), std::make_shared<const WsOptions>(options_), &stats_, std::move(ops),
          inbox_, loop_.handle(), identity);
    });
  }
  // A session in raw topic mode (`/ws/<topic>`) on a new connection.
  Peer OpenRaw(const std::string& topic, bool may_publish = true, int rcvbuf = 0) {
    return Open(rcvbuf, [&](io::Connection* c, FrameParserOptions p) {
      auto ops = std::make_shared<session::Operations>(
          *broker_, session::Admission(broker_->options().topic_limits, nullptr));
      return std::make_shared<SessionWith<RawEndpoint>>(
          c, std::move(p), std::make_shared<const WsOptions>(options_), &stats_, std::move(ops),
          inbox_, loop_.handle(), OpenIdentity(), std::string(), topic, may_publish);
    });
  }

  // Set before opening sessions; each takes a copy.
  WsOptions options_;
  WsStats stats_;
  // The sessions opened, in order (loop thread only once opened).
  std::vector<std::weak_ptr<WsSession>> sessions_;

 private:
  template <typename Make>
  Peer Open(int rcvbuf, Make make) {
    return Connect(
        [&](io::Connection* c) {
          // As WsFront::Upgrade: the parser's limits, and the outbound limit
          // as the connection's output gate.
          FrameParserOptions parser;
          parser.max_message_size = options_.max_message_bytes;
          parser.max_empty_fragments = options_.max_empty_fragments;
          io::OutputGate gate = c->output_gate();
          gate.high = options_.outbound.max_bytes;
          gate.low = gate.high / 2;
          c->SetOutputGate(std::move(gate));
          std::shared_ptr<WsSession> s = make(c, std::move(parser));
          sessions_.push_back(s);
          c->SetHandler(s);
          s->Start({});
        },
        rcvbuf);
  }
};

}  // namespace herald::ws::testing
