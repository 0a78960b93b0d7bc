// The HTTP API for backends that only speak HTTP (docs/PROTOCOL.md):
//
//   POST /publish/<topic>              → 200 {"epoch":E,"offset":O} once sequenced
//   POST /request/<topic>?timeout_ms=  → 200 with the reply's body; 504 on timeout,
//                                        503 when nothing subscribes
//   GET  /history/<topic>?after=&limit=&epoch=
//                                      → 200 {"topic","epoch","last_offset","messages":[msg
//                                        envelopes],"gap","truncated"}
//
// Work queues (rest_queues.cc):
//
//   GET    /queues                     → 200 {"queues":[queue info,...]}
//   GET    /queues/<name>              → 200 queue info
//   PUT    /queues/<name>              → 200 queue info; body: its definition
//   DELETE /queues/<name>              → 204
//   POST   /queues/<name>/pull?max=&wait_ms=
//                                      → 200 {"jobs":[job envelopes]} (at most
//                                        `max`; waits up to wait_ms for the first)
//   POST   /queues/<name>/ack|nack|progress|term
//                                      → 200 {"results":[..]}; body
//                                        {"handles":[..],"delay_ms":N}
//
// The server API (rest_admin.cc; an admin grant, docs/SECURITY.md):
//
//   POST /admin/disconnect|subscribe|unsubscribe|revoke
//                                      → 200 {"nodes","unreached","matched",
//                                        "applied","refused"[,"errors"]}
//   GET  /admin/connections?user=|client=&limit=
//                                      → 200 {..,"clients":[..]}
//   GET  /admin/topics?prefix=&limit=  → 200 {..,"topics":[{"pattern","subscribers"}]}
//   POST /admin/reload                 → 200 {"applied":[..],"needs_restart":[..]}; 400
//                                        with the reason when the new configuration
//                                        is refused (the running one stays)
//
// The request's Content-Type travels with the message (and comes back on a
// reply); request headers named `Herald-<Name>` become message header <Name>,
// and a reply's headers come back as `Herald-<Name>`. Topics are
// percent-decoded from the path.
#pragma once

#include "auth/jwt_verifier.h"
#include "frontends/http/router.h"
#include "frontends/session/hook_gate.h"
#include "frontends/session/operations.h"
#include "herald/broker.h"
#include "herald/reload_report.h"

namespace herald::rest {

// A non-negative integer query parameter, or `fallback` when absent.
Result<uint64_t> UintParam(const http::Request& req, std::string_view name, uint64_t fallback);

struct RestOptions {
  std::chrono::milliseconds default_request_timeout{5000};
  size_t max_history_limit = 1000;  // messages per GET /history answer
  // Null: no authentication. Otherwise every call needs a valid token (or
  // allowed anonymous access): publish and request a publish grant on the
  // topic, history a subscribe grant.
  std::shared_ptr<const auth::JwtVerifier> verifier;
  // The backend's hooks (null: none), shared by every front.
  std::shared_ptr<const session::HookGate> hooks;
  // POST /admin/reload: starts a reload of the node's configuration off the
  // loop (herald::Server::ReloadNow); `done` gets its outcome, on any
  // thread. Null: there is no such operation.
  std::function<void(std::function<void(Result<ReloadReport>)> done)> reload;
};

class RestApi {
 public:
  RestApi(Broker& broker, RestOptions options = {});

  // Adds the routes above; the API must outlive the router's use.
  void Register(http::Router& router);

 private:
  void Publish(http::Request& req, http::Response res);
  void Request(http::Request& req, http::Response res);
  void History(http::Request& req, http::Response res);
  void Presence(http::Request& req, http::Response res);
  void ListQueues(http::Request& req, http::Response res);
  void Queue(http::Request& req, http::Response res);   // /queues/<name>[/<action>]
  void Admin(http::Request& req, http::Response res);   // /admin/<op> (rest_admin.cc)
  void Reload(http::Request& req, http::Response res);  // POST /admin/reload
  // Who the caller is, or null once a 401 went out.
  session::IdentityPtr Caller(const http::Request& req, http::Response& res) const;

  Broker& broker_;
  const RestOptions options_;
  // What each call means and who may make it: the session layer's.
  const std::shared_ptr<const session::Operations> ops_;
};

}  // namespace herald::rest
