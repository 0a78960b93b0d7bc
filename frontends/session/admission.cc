#include "frontends/session/admission.h"

#include <string>

#include "base/unix_time.h"
#include "herald/topic.h"

namespace herald::session {
namespace {

// Authentication off: one identity that may do everything, shared by all.
const IdentityPtr& OpenIdentity() {
  static const IdentityPtr kOpen = [] {
    auto id = std::make_shared<auth::Identity>();
    id->subject = "anonymous";
    id->anonymous = true;
    id->grants.all = true;
    return id;
  }();
  return kOpen;
}

// Held by connections when nobody counts them (authentication off).
const std::shared_ptr<void>& UncountedSlot() {
  static const std::shared_ptr<void> kSlot = std::make_shared<int>(0);
  return kSlot;
}

Status Unauthenticated(const Status& why) {
  return Status(ErrorCode::kUnauthenticated, why.message());
}

}  // namespace

std::string_view OpVerb(Op op) {
  switch (op) {
    case Op::kSubscribe:
      return "subscribe to";
    case Op::kPublish:
      return "publish to";
    case Op::kRequest:
      return "request on";
    case Op::kHistory:
      return "read the history of";
    case Op::kPresence:
      return "read the presence of";
  }
  return "use";
}

Result<IdentityPtr> Admission::Authenticate(const Credential& credential) const {
  if (!verifier_) return OpenIdentity();
  Result<auth::Identity> id = Status(ErrorCode::kInternal, "");
  switch (credential.kind) {
    case Credential::Kind::kNone:
      id = verifier_->Anonymous();
      break;
    case Credential::Kind::kBearer:
      id = verifier_->Verify(credential.token, UnixSeconds());
      break;
    case Credential::Kind::kMalformed:
      return Status(ErrorCode::kUnauthenticated, std::string(credential.token));
  }
  if (!id.ok()) return Unauthenticated(id.status());
  if (credential.kind == Credential::Kind::kBearer && revocations_ &&
      revocations_->Revoked(id->subject, id->token_id, id->issued_at_s)) {
    return Status(ErrorCode::kUnauthenticated, "invalid token: revoked");
  }
  return std::make_shared<const auth::Identity>(std::move(*id));
}

Result<Admitted> Admission::Connect(const Credential& credential) const {
  Result<IdentityPtr> who = Authenticate(credential);
  if (!who.ok()) return who.status();
  return Hold(std::move(*who));
}

Result<Admitted> Admission::Hold(IdentityPtr identity) const {
  Admitted out{std::move(identity), nullptr, {}};
  out.slot = verifier_ ? verifier_->TakeConnectionSlot(*out.identity) : UncountedSlot();
  if (!out.slot) {
    return Status(ErrorCode::kResourceExhausted,
                  "too many connections for this user (max_connections_per_user)");
  }
  return out;
}

Result<IdentityPtr> Admission::Renew(const auth::Identity& current,
                                     const Credential& credential) const {
  if (credential.kind != Credential::Kind::kBearer) {
    return Status(ErrorCode::kInvalidArgument, "a refresh needs a token");
  }
  // A token alone would undo what the connect hook decided: such a
  // connection renews through Operations::Renew, which keeps it.
  if (current.hook_set.any()) {
    return Status(ErrorCode::kPermissionDenied,
                  "this connection's identity was set by the connect hook: renew it with "
                  "Operations::Renew");
  }
  Result<IdentityPtr> next = Authenticate(credential);
  if (!next.ok()) return next.status();
  // Within the verifier's leeway a token past its exp still verifies; as a
  // renewal it would end the connection at once, in place of a token that
  // may have had minutes left.
  if ((*next)->expires_at_s != 0 && (*next)->expires_at_s <= UnixSeconds()) {
    return Status(ErrorCode::kUnauthenticated, "invalid token: expired");
  }
  if ((*next)->anonymous != current.anonymous || (*next)->subject != current.subject) {
    return Status(ErrorCode::kPermissionDenied,
                  "a refresh keeps the connection's user: this token names another subject");
  }
  return next;
}

Status Admission::CheckName(Op op, std::string_view topic) const {
  // Subscriptions and the history behind them take patterns; publishing and
  // requests name one topic.
  const bool pattern = op == Op::kSubscribe;
  Status s = pattern ? ValidatePattern(topic, topic_limits_) : ValidateTopic(topic, topic_limits_);
  if (!s.ok())
    return Status(ErrorCode::kInvalidTopic, "topic '" + std::string(topic) + "': " + s.message());
  if (topic.starts_with(kInboxPrefix)) {
    // Only Broker::Reply writes there, and nobody subscribes: an inbox is
    // one requester's, and its name is its only secret.
    return Status(ErrorCode::kInvalidTopic,
                  "topics under _INBOX. are reserved for replies: answer a request with reply");
  }
  if (IsSystemTopic(topic)) {
    return Status(ErrorCode::kInvalidTopic, "topics under _HERALD. are the nodes' own");
  }
  return Status::Ok();
}

Status Admission::Check(const auth::Identity& who, Op op, std::string_view topic) const {
  if (Status s = CheckName(op, topic); !s.ok()) return s;
  // A pattern's subscribe grant also covers its history (resume topics match it).
  const bool allowed = op == Op::kPublish || op == Op::kRequest ? who.grants.MayPublish(topic)
                                                                : who.grants.MaySubscribe(topic);
  if (allowed) return Status::Ok();
  return Status(ErrorCode::kPermissionDenied,
                "permission denied: " + std::string(OpVerb(op)) + " '" + std::string(topic) + "'");
}

}  // namespace herald::session
