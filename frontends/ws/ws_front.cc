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

WsFront::WsFront(Broker& broker, WsOptions options, InboxFor inbox_for)
    : broker_(broker),
      options_(std::move(options)),
      ops_(std::make_shared<session::Operations>(
          broker, session::Admission(broker.options().topic_limits, options_.verifier, &broker))),
      inbox_for_(std::move(inbox_for)) {}

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
  HandshakeOptions hs;
  hs.allowed_origins = options_.allowed_origins;
  hs.deflate.enabled = options_.permessage_deflate;
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
  // Who it is (401), its user's connection slot (429), and for raw mode
  // whether it may read the topic (403), before anything is upgraded.
  Result<session::Admitted> who = ops_->admission().Connect(httpauth::CredentialOf(req));
  Status refused = who.ok() ? Status::Ok() : who.status();
  if (refused.ok() && raw) {
    refused = ops_->admission().Check(*who->identity, session::Op::kSubscribe, topic);
  }
  if (!refused.ok()) {
    WsStats::Add(stats_->handshake_rejects);
    return httpauth::SendRefused(res, refused);
  }
  // What the client says of itself in presence (`?info=`), where the node
  // lets it (Operations::ConnectInfo): refused with 400, before the upgrade.
  std::string info;
  if (std::optional<std::string_view> asked = req.query.Get("info"); asked && !raw) {
    Result<std::string> checked = ops_->ConnectInfo(*asked);
    if (!checked.ok())
      return reject(400, ErrorCodeName(checked.status().code()), checked.status().message());
    info = std::move(*checked);
  }
  const session::IdentityPtr& identity = who->identity;
  std::shared_ptr<Inbox> inbox = inbox_for_(req.loop);
  if (!inbox) return reject(503, "unavailable", "no inbox for this worker");

  std::optional<http::Response::Upgraded> up = res.TakeOver(nullptr);
  if (!up) return;  // the connection went away, or it was not an upgrade request
  FrameParserOptions parser;
  parser.max_message_size = options_.max_message_bytes;
  parser.max_empty_fragments = options_.max_empty_fragments;
  parser.deflate = result.deflate;
  up->connection->Write(std::move(result.response));
  // Whatever the session queues — deliveries, pongs, command answers — counts
  // against the outbound limit: past it the connection stops reading (and
  // handling what it read), so a client that sends and never reads cannot
  // make the server queue more. Deliveries meet the same limit in the
  // session's OutboundGuard.
  io::OutputGate gate = up->connection->output_gate();
  gate.high = options_.outbound.max_bytes;
  gate.low = gate.high / 2;
  up->connection->SetOutputGate(std::move(gate));
  up->connection->Attach(std::move(who->slot));  // for the connection's life
  std::shared_ptr<WsSession> session;
  // The server API reaches the connection through its control, held with
  // the connection; the directory holds it weakly.
  std::shared_ptr<WsControl> control;
  if (raw) {
    const bool may_publish = ops_->admission().Check(*identity, session::Op::kPublish, topic).ok();
    auto r = std::make_shared<SessionWith<RawEndpoint>>(up->connection, std::move(parser), options_,
                                                        stats_.get(), broker_, std::move(inbox),
                                                        std::move(topic), may_publish);
    control = std::make_shared<WsControl>(r, &r->endpoint(), req.loop->handle());
    up->connection->Attach(
        ops_->RegisterClient(*identity, broker_.NextClientId(), "ws-raw", control));
    session = std::move(r);
  } else {
    auto json = std::make_shared<SessionWith<JsonEndpoint>>(
        up->connection, std::move(parser), options_, stats_.get(), ops_, std::move(inbox),
        req.loop->handle(), identity);
    json->endpoint().SetConnectInfo(std::move(info));
    control = std::make_shared<WsControl>(json, &json->endpoint(), req.loop->handle());
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
