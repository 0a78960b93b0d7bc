// JWT verification with libjwt (Debian libjwt 1.10), made safe to face the
// internet: libjwt alone accepts an HS256 token signed with an RSA key's PEM
// text, skips verification with an empty key, and crashes on huge tokens
// (alloca). So every token is bounded, shape-checked and its header read
// here first; its `alg` must equal, exactly, the algorithm its key is pinned
// to; libjwt verifies the signature with that key; and the claims are read
// and checked (exp, nbf, iss, aud, grants) from libjwt's verified JSON.
//
// Thread rule: Verify is const and safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/permissions.h"
#include "base/live.h"
#include "base/slot_counts.h"
#include "herald/auth_options.h"
#include "herald/status.h"

namespace herald::auth {

// Who a connection is, once its token checked out (or anonymous).
struct Identity {
  std::string subject;  // the token's `sub`; "anonymous" without a token
  bool anonymous = false;
  int64_t expires_at_s = 0;  // the token's exp (0: never, anonymous)
  std::string token_id;      // the token's `jti` (empty: none): what a revocation names
  int64_t issued_at_s = 0;   // the token's `iat` (0: none)
  Grants grants;
  // The token's `herald.info` claim (a JSON object's text; empty: none):
  // what others see of this client in presence.
  std::string info;
  // What a connect hook replaced (its user, info, grants, expiry): a
  // refresh keeps each of them. `token_subject` and `token_anonymous` are
  // then who the token named, whom a new token must name too.
  struct HookSet {
    bool user = false, info = false, grants = false, expiry = false;
    bool any() const { return user || info || grants || expiry; }
  };
  HookSet hook_set;
  std::string token_subject;
  bool token_anonymous = false;
};

// A client's own info (set at connect where the node allows it): the text
// of one JSON object of at most `max_bytes`, minified; kInvalidArgument
// otherwise.
Result<std::string> ClientInfo(std::string_view json, size_t max_bytes);

class JwtVerifier {
 public:
  // Checks the keys (PEM parses, HS secrets long enough, algorithms known).
  static Result<std::shared_ptr<const JwtVerifier>> Create(const AuthOptions& options);

  // The identity of a token at `now_s` (Unix seconds), or kInvalidArgument
  // "invalid token: <reason>". The reason ("expired", "wrong audience") is
  // meant for the client's developer; it never contains the token.
  Result<Identity> Verify(std::string_view token, int64_t now_s) const;
  // The identity of a client that presented no token: anonymous grants, or
  // an error when anonymous access is off.
  Result<Identity> Anonymous() const;

  bool enabled() const { return !state()->options.keys.empty(); }

  // A reload: the keys, rules, anonymous policy, issuer, audience, leeway
  // and token size of `options`, for every later Verify() and Anonymous();
  // checked as Create() checks, and nothing changes on an error. Identities
  // already made keep their grants. Const like every other call: the
  // fronts share the verifier read-only, and the swap is synchronized here.
  // A new max_connections_per_user holds for later connections (those open
  // keep their places).
  Status Reload(const AuthOptions& options) const;

  // A place for one more connection of `id`'s subject, held for the
  // connection's life; null when the subject holds
  // max_connections_per_user already.
  std::shared_ptr<void> TakeConnectionSlot(const Identity& id) const;

 private:
  struct State {
    AuthOptions options;
    bool anonymous_allowed = true;
  };
  static Result<std::shared_ptr<const State>> MakeState(const AuthOptions& options);
  static void AddRuleGrants(const State& s, Identity& id);
  explicit JwtVerifier(std::shared_ptr<const State> state)
      : per_user_(state->options.max_connections_per_user), state_(std::move(state)) {}
  std::shared_ptr<const State> state() const { return state_.Get(); }

  mutable SlotCounts per_user_;  // its cap follows the state's
  mutable Live<State> state_;    // swapped by Reload
};

}  // namespace herald::auth
