// Operations: the server API's permission rule and the client registration,
// written once for every front.
#include <chrono>

#include "base/log.h"
#include "frontends/session/operations.h"

namespace herald::session {
namespace {

std::string_view OpName(AdminCall::Op op) {
  switch (op) {
    case AdminCall::Op::kDisconnect:
      return "disconnect";
    case AdminCall::Op::kSubscribe:
      return "subscribe";
    case AdminCall::Op::kUnsubscribe:
      return "unsubscribe";
    case AdminCall::Op::kConnections:
      return "connections";
    case AdminCall::Op::kTopics:
      return "topics";
    case AdminCall::Op::kRevoke:
      return "revoke";
  }
  return "admin";
}

}  // namespace

std::shared_ptr<void> Operations::RegisterClient(const auth::Identity& who,
                                                 const std::string& client,
                                                 std::string_view transport,
                                                 std::weak_ptr<ClientControl> control) const {
  ClientRecord r;
  r.client = client;
  r.user = who.subject;
  r.anonymous = who.anonymous;
  r.token_id = who.token_id;
  r.issued_at_s = who.issued_at_s;
  r.expires_at_s = who.expires_at_s;
  r.transport = transport;
  r.connected_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::shared_ptr<void> handle = broker_.RegisterClient(std::move(r), control);
  EndIfRevoked(who, control);
  if (!log::Enabled(log::Level::kDebug)) return handle;
  // The connection's life in the log, by its client id, front and user
  // (never its token): opened now, closed when its registration goes.
  const std::string user = who.anonymous ? std::string() : who.subject;
  log::Write(log::Level::kDebug, "connection opened",
             {{"connection", client}, {"front", transport}, {"user", user}});
  struct Logged {
    std::shared_ptr<void> registration;
    std::string client, front, user;
    ~Logged() {
      registration.reset();
      log::Write(log::Level::kDebug, "connection closed",
                 {{"connection", client}, {"front", front}, {"user", user}});
    }
  };
  auto logged = std::make_shared<Logged>();  // in place: a moved-from copy would log
  logged->registration = std::move(handle);
  logged->client = client;
  logged->front = std::string(transport);
  logged->user = user;
  return logged;
}

void Operations::EndIfRevoked(const auth::Identity& who,
                              const std::weak_ptr<ClientControl>& control) const {
  // A revocation made between this token's check and its registration (or
  // renewal) found no connection to end: the connection ends itself.
  if (who.anonymous || !broker_.Revoked(who.subject, who.token_id, who.issued_at_s)) return;
  if (std::shared_ptr<ClientControl> c = control.lock())
    c->Disconnect({4002, "token revoked", true});
}

Status Operations::MayAdmin(const auth::Identity& who, const AdminCall& call) {
  // A topic operation acts on one topic's subscribers; a topic list shows
  // the patterns under a prefix that ends a token ("chat."), else all of
  // them; the others reach any client.
  std::string scope = ">";
  if (call.op == AdminCall::Op::kSubscribe || call.op == AdminCall::Op::kUnsubscribe) {
    scope = call.topic;
  } else if (call.op == AdminCall::Op::kTopics && call.topic.ends_with('.')) {
    scope = call.topic + ">";
  }
  return MayAdminOn(who, OpName(call.op), scope);
}

Status Operations::MayAdminOn(const auth::Identity& who, std::string_view op,
                              const std::string& scope) {
  if (who.grants.MayAdmin(scope)) return Status::Ok();
  return Status(ErrorCode::kPermissionDenied, "the server API's " + std::string(op) +
                                                  " needs an admin grant covering '" + scope + "'");
}

void Operations::Admin(const auth::Identity& who, AdminCall call,
                       std::function<void(Result<AdminResult>)> done) const {
  if (Status s = MayAdmin(who, call); !s.ok()) {
    broker_.RecordAdminCall(false);
    return done(s);
  }
  broker_.RecordAdminCall(true);
  broker_.Admin(std::move(call), std::move(done));
}

}  // namespace herald::session
