#include "frontends/ws/ws_front.h"

#include "frontends/http/url.h"
#include "frontends/http_auth/http_auth.h"
#include "frontends/ws/handshake.h"
#include "frontends/ws/json_endpoint.h"
#include "frontends/ws/raw_endpoint.h"
#include "frontends/ws/ws_control.h"
#include "frontends/ws/ws_session.h"
#include "herald/topic.h"

namespace herald::ws {

struct WsFront::PendingUpgrade {
  http::Response res;
  bool raw = false;
  std::string topic;  // raw mode's
  HandshakeResult handshake;
  std::shared_ptr<const WsOptions> options;  // the front's at the handshake, for its life
  std::string info;
  io::Loop* loop = nullptr;
  std::unique_ptr<session::Admitted> admitted;
};

WsFront::WsFront(Broker& broker, WsOptions options, InboxFor inbox_for)
    : broker_(broker),
      options_(std::move(options)),
      ops_(std::make_shared<session::Operations>(
          broker,
          session::Admission(broker.options().topic_limits, options_.Get()->verifier, &broker),
          options_.Get()->hooks)),
      inbox_for_(std::move(inbox_for)) {}

void WsFront::SetLimits(const WebSocketLimits& limits) {
  options_.Update([&](WsOptions& o) { static_cast<WebSocketLimits&>(o) = limits; });
}

void WsFront::Register(http::Router& router) {
  router.Handle("GET", "/ws", [this](http::Request& req, http::Response res) {
    Upgrade(req, std::move(res), false);
  });
  router.HandlePrefix("GET", "/ws/", [this](http::Request& req, http::Response res) {
    Upgrade(req, std::move(res), true);
  });
}

void WsFront::Upgrade(http::Request& req, http::Response res, bool raw) {
  auto reject = [&](int status, std::string_view code, std::string message,
                    http::HeaderList headers = {}) {
    WsStats::Add(stats_->handshake_rejects);
    res.SendError(status, code, message, std::move(headers));
  };
  std::string topic;
  if (raw) {
    Result<std::string> decoded = http::PercentDecode(req.path_rest);
    if (!decoded.ok()) return reject(400, "invalid_topic", decoded.status().message());
    // One exact topic, both read and written: the publish rules apply.
    if (Status s = ops_->admission().CheckName(session::Op::kPublish, *decoded); !s.ok()) {
      return reject(400, ErrorCodeName(s.code()), s.message());
    }
    topic = std::move(*decoded);
  }

  std::vector<HeaderField> fields;
  fields.reserve(req.headers.size());
  for (const http::Header& h : req.headers) fields.push_back({h.name, h.value});
  std::shared_ptr<const WsOptions> options = options_.Get();
  HandshakeOptions hs;
  hs.allowed_origins = options->allowed_origins;
  hs.deflate.enabled = options->permessage_deflate;
  HandshakeResult result = ValidateHandshake(
      {.method = req.method, .http_major = 1, .http_minor = req.version_minor, .headers = fields},
      hs);
  if (!result.ok()) {
    http::HeaderList extra;
    for (auto& [name, value] : result.error_headers) extra.Add(name, value);
    const char* code = result.status == 403   ? "forbidden_origin"
                       : result.status == 426 ? "upgrade_required"
                                              : "bad_handshake";
    return reject(result.status, code, result.message, std::move(extra));
  }
  // What the client says of itself in presence (`?info=`), where the node
  // lets it (Operations::ConnectInfo): refused with 400 once the client is
  // admitted (who it is comes first), before the upgrade.
  std::string info;
  Status bad_info;
  if (std::optional<std::string_view> asked = req.query.Get("info"); asked && !raw) {
    Result<std::string> checked = ops_->ConnectInfo(*asked);
    if (checked.ok()) {
      info = std::move(*checked);
    } else {
      bad_info = checked.status();
    }
  }
  if (req.loop == nullptr) return reject(503, "unavailable", "no inbox for this worker");
  auto pending = std::make_shared<PendingUpgrade>(
      PendingUpgrade{res, raw, std::move(topic), std::move(result), std::move(options),
                     std::move(info), req.loop, nullptr});
  // Who it is (401), the connect hook's word if there is one, its user's
  // connection slot (429), and for raw mode whether it may read the topic
  // (403, and the subscribe hook), before anything is upgraded. The hooks
  // answer on their own thread: the upgrade is answered back on this loop
  // (the connection waits, parked, meanwhile).
  std::shared_ptr<io::LoopHandle> loop = req.loop->handle();
  ops_->Connect(httpauth::CredentialOf(req), {{}, raw ? "ws-raw" : "ws", pending->info},
                [this, pending, loop, bad_info](Result<session::Admitted> who) {
                  loop->RunHereOrPost([this, pending, bad_info, who = std::move(who)]() mutable {
                    if (!who.ok()) return Refuse(*pending, who.status());
                    if (!bad_info.ok()) {
                      WsStats::Add(stats_->handshake_rejects);
                      if (pending->res.alive()) {
                        pending->res.SendError(400, ErrorCodeName(bad_info.code()),
                                               bad_info.message());
                      }
                      return;
                    }
                    pending->admitted = std::make_unique<session::Admitted>(std::move(*who));
                    if (!pending->raw) return Finish(*pending);
                    const session::Admitted& a = *pending->admitted;
                    ops_->VetSubscribe(*a.identity, pending->topic, {a.client, "ws-raw", {}},
                                       [this, pending, loop = pending->loop->handle()](Status s) {
                                         loop->RunHereOrPost([this, pending, s] {
                                           if (!s.ok()) return Refuse(*pending, s);
                                           Finish(*pending);
                                         });
                                       });
                  });
                });
}

void WsFront::Refuse(PendingUpgrade& p, const Status& why) {
  WsStats::Add(stats_->handshake_rejects);
  if (p.res.alive()) httpauth::SendRefused(p.res, why);
}

void WsFront::Finish(PendingUpgrade& p) {
  const session::IdentityPtr& identity = p.admitted->identity;
  std::shared_ptr<Inbox> inbox = inbox_for_(p.loop);
  if (!inbox) {
    WsStats::Add(stats_->handshake_rejects);
    if (p.res.alive()) p.res.SendError(503, "unavailable", "no inbox for this worker");
    return;
  }
  std::optional<http::Response::Upgraded> up = p.res.TakeOver(nullptr);
  if (!up) return;  // the connection went away, or it was not an upgrade request
  FrameParserOptions parser;
  parser.max_message_size = p.options->max_message_bytes;
  parser.max_empty_fragments = p.options->max_empty_fragments;
  parser.deflate = p.handshake.deflate;
  up->connection->Write(std::move(p.handshake.response));
  // Whatever the session queues — deliveries, pongs, command answers — counts
  // against the outbound limit: past it the connection stops reading (and
  // handling what it read), so a client that sends and never reads cannot
  // make the server queue more. Deliveries meet the same limit in the
  // session's OutboundGuard.
  io::OutputGate gate = up->connection->output_gate();
  gate.high = p.options->outbound.max_bytes;
  gate.low = gate.high / 2;
  up->connection->SetOutputGate(std::move(gate));
  up->connection->Attach(std::move(p.admitted->slot));  // for the connection's life
  std::shared_ptr<WsSession> session;
  // The server API reaches the connection through its control, held with
  // the connection; the directory holds it weakly.
  std::shared_ptr<WsControl> control;
  std::shared_ptr<io::LoopHandle> loop = p.loop->handle();
  if (p.raw) {
    const bool may_publish =
        ops_->admission().Check(*identity, session::Op::kPublish, p.topic).ok();
    auto r = std::make_shared<SessionWith<RawEndpoint>>(
        up->connection, std::move(parser), p.options, stats_.get(), ops_, std::move(inbox), loop,
        identity, p.admitted->client, std::move(p.topic), may_publish);
    control = std::make_shared<WsControl>(r, &r->endpoint(), loop);
    up->connection->Attach(ops_->RegisterClient(*identity, p.admitted->client, "ws-raw", control));
    session = std::move(r);
  } else {
    auto json = std::make_shared<SessionWith<JsonEndpoint>>(
        up->connection, std::move(parser), p.options, stats_.get(), ops_, std::move(inbox), loop,
        identity, p.admitted->client);
    json->endpoint().SetConnectInfo(std::move(p.info));
    control = std::make_shared<WsControl>(json, &json->endpoint(), loop);
    json->endpoint().Register(control);
    session = std::move(json);
  }
  up->connection->Attach(control);
  up->connection->SetHandler(session);
  // Before Start: a `refresh` pipelined behind the upgrade sets its own.
  session->SetExpiry(identity->expires_at_s);
  session->Start(up->leftover);
  // Registration asked too, but before Start the session could not close:
  // a token revoked since it was checked ends the connection now.
  ops_->EndIfRevoked(*identity, control);
}

}  // namespace herald::ws
