// The WebSocket front: upgrades `GET /ws` (the JSON protocol) and
// `GET /ws/<topic>` (raw topic mode) on the HTTP layer's router, validating
// the handshake (RFC 6455 §4.2, RFC 7692), and runs a WsSession on the
// connection the HTTP layer hands over. Sessions are broker sinks whose
// deliveries queue on their worker's inbox.
//
//   ws::WsFront ws(broker, options, [&](const io::Loop* l) { return inboxes.For(l); });
//   ws.Register(*router);
#pragma once

#include <functional>
#include <memory>

#include "base/live.h"
#include "frontends/http/router.h"
#include "frontends/session/operations.h"
#include "frontends/ws/ws_options.h"
#include "frontends/ws/ws_stats.h"
#include "herald/broker.h"

namespace herald::ws {

class WsFront {
 public:
  using InboxFor = std::function<std::shared_ptr<Inbox>(const io::Loop*)>;

  WsFront(Broker& broker, WsOptions options, InboxFor inbox_for);

  // Adds the /ws and /ws/<topic> routes. The front must outlive the router's use.
  void Register(http::Router& router);
  const WsStats& stats() const { return *stats_; }
  // A reload: connections upgraded from now on get `limits` (and allowed
  // origins); open ones keep theirs. Any thread.
  void SetLimits(const WebSocketLimits& limits);

 private:
  void Upgrade(http::Request& req, http::Response res, bool raw);
  // An upgrade whose admission may wait on hooks: what it needs afterwards.
  struct PendingUpgrade;
  void Refuse(PendingUpgrade& p, const Status& why);
  void Finish(PendingUpgrade& p);

  Broker& broker_;
  Live<WsOptions> options_;
  // What each command means and who may do it: the session layer's.
  const std::shared_ptr<const session::Operations> ops_;
  const InboxFor inbox_for_;
  std::shared_ptr<WsStats> stats_ = std::make_shared<WsStats>();
};

}  // namespace herald::ws
