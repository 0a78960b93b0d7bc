// herald/auth_options.h — who may connect, publish and subscribe.
//
// Clients present a JWT (HS256, RS256 or ES256, each key pinned to one
// algorithm). Its `herald` claim grants topics — {"publish": [...],
// "subscribe": [...]}, patterns with exact token-by-token semantics — and
// static rules in the config add grants by subject. With no key configured
// and `anonymous` left on, everyone may do everything (the default, as on a
// single trusted host); configuring any key turns anonymous access off
// unless it is asked for again. docs/SECURITY.md has the details.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace herald {

struct JwtKey {
  std::string alg;         // "HS256", "RS256" or "ES256": the only one this key verifies
  std::string kid;         // optional: tokens naming a kid use only the key with it
  std::string secret;      // HS256: the shared secret (at least 32 bytes)
  std::string public_pem;  // RS256 / ES256: the PEM public key
};

// Grants added by configuration to a subject ("*": every authenticated
// client; "anonymous": clients without a token, when anonymous is on).
struct AuthRule {
  std::string subject;
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;
  std::vector<std::string> queues;  // work queues it may create and delete, by name pattern
  std::vector<std::string> admin;   // the server API, by topic pattern (`>`: every operation)
};

struct AuthOptions {
  std::vector<JwtKey> keys;
  std::string issuer;    // non-empty: `iss` must equal it
  std::string audience;  // non-empty: `aud` (string or array) must contain it
  // Clock skew tolerated on exp and nbf.
  std::chrono::milliseconds leeway{std::chrono::seconds(5)};
  size_t max_token_bytes = 8192;
  // Unset: on when no key is configured, off otherwise.
  enum class Anonymous { kDefault, kAllow, kDeny };
  Anonymous anonymous = Anonymous::kDefault;
  std::vector<AuthRule> rules;
  // Connections (WebSocket, SSE streams, gRPC streams) one token subject may
  // hold at once across the node; 0: no limit. Anonymous clients are counted
  // per address instead ([http] max_connections_per_ip).
  size_t max_connections_per_user = 0;
};

}  // namespace herald
