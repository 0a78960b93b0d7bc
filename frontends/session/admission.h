// Admission: may this client do this? Written once for every front.
//
// Every front turns what it received into the same three questions, asked
// here in the same order, and renders the typed answer its own way (HTTP
// status, WebSocket close code or JSON error, gRPC status):
//
//   1. Who is it?  Authenticate(credential): the bearer token checked by the
//      node's verifier, or the anonymous identity; kUnauthenticated if not.
//   2. May it hold one more connection?  Connect(credential) also takes the
//      per-user slot (max_connections_per_user); kResourceExhausted if not.
//      Connection-less calls (one HTTP publish) skip the slot.
//   3. May it do this to this topic?  Check(identity, op, topic): the topic
//      rules (syntax and length, a pattern only where the operation takes
//      one), the reserved `_INBOX.` space (only Broker::Reply writes there,
//      nobody subscribes to it), and the identity's grants. kInvalidTopic or
//      kPermissionDenied, with one message per rule on every front.
//
//   Admission admission(broker.options().topic_limits, verifier);
//   Result<Admitted> who = admission.Connect(Credential::Bearer(token));
//   if (!who.ok()) return render(who.status());
//   if (Status s = admission.Check(*who->identity, Op::kSubscribe, pattern); !s.ok()) ...
//
// Thread rule: const, safe from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "auth/jwt_verifier.h"
#include "herald/broker.h"
#include "herald/broker_options.h"
#include "herald/status.h"

namespace herald::session {

using IdentityPtr = std::shared_ptr<const auth::Identity>;

// What a client presented to say who it is, as its front read it.
struct Credential {
  enum class Kind { kNone, kBearer, kMalformed };
  Kind kind = Kind::kNone;
  std::string_view token;  // kBearer: the token; kMalformed: why it is not one

  static Credential None() { return {}; }
  static Credential Bearer(std::string_view token) { return {Kind::kBearer, token}; }
  static Credential Malformed(std::string_view why) { return {Kind::kMalformed, why}; }
};

// An admitted connection: who it is, and its place among its user's
// connections (hold it for the connection's life; it is released when the
// last copy goes).
struct Admitted {
  IdentityPtr identity;
  std::shared_ptr<void> slot;
  std::string client;  // its client id (Operations::Connect; empty from Admission::Connect)
};

// The operations a topic is checked for. A request is a publish that waits
// for an answer; history reads what a subscription would have received.
enum class Op { kSubscribe, kPublish, kRequest, kHistory, kPresence };

class Admission {
 public:
  // `verifier` null: authentication is off, every client may do everything.
  // `revocations`, when given, refuses the tokens it revoked
  // (Broker::Revoked).
  Admission(const TopicLimits& topic_limits, std::shared_ptr<const auth::JwtVerifier> verifier,
            const Broker* revocations = nullptr)
      : topic_limits_(topic_limits), verifier_(std::move(verifier)), revocations_(revocations) {}

  Result<IdentityPtr> Authenticate(const Credential& credential) const;
  Result<Admitted> Connect(const Credential& credential) const;
  // The per-user slot alone, for an identity already decided (by the
  // connect hook, which may name another user).
  Result<Admitted> Hold(IdentityPtr identity) const;
  // A live connection presents a new token (a refresh): it must check out
  // now and name the connection's user (a refresh renews who the connection
  // is, it never changes it: kPermissionDenied otherwise). The connection
  // keeps its slot; the new identity's grants and expiry replace the old.
  Result<IdentityPtr> Renew(const auth::Identity& current, const Credential& credential) const;
  Status Check(const auth::Identity& who, Op op, std::string_view topic) const;

  // The topic rules alone (no identity): for checks that come before a
  // client has said who it is, so a malformed request is refused as such.
  Status CheckName(Op op, std::string_view topic) const;

  bool authenticates() const { return verifier_ != nullptr; }
  const TopicLimits& topic_limits() const { return topic_limits_; }

 private:
  const TopicLimits topic_limits_;
  const std::shared_ptr<const auth::JwtVerifier> verifier_;
  const Broker* const revocations_;
};

// The verb an operation is named by in errors ("subscribe to 'a.b'").
std::string_view OpVerb(Op op);

}  // namespace herald::session
