// What a Client presents to a node: its bearer token (fixed, or fetched from
// the application's provider and renewed before it expires) and its channel
// (plaintext, or TLS with the files ClientOptions names).
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "herald/client.h"
#include "herald/status.h"

namespace herald::client {

// The token to send on the next call. Thread rule: any thread.
class TokenSource {
 public:
  explicit TokenSource(const ClientOptions& o)
      : fixed_(o.token), provider_(o.token_provider), margin_(o.token_refresh_margin) {}

  // Empty when there are no credentials; the provider's error when it failed.
  Result<std::string> Get();
  // The node refused `token` (UNAUTHENTICATED): the next Get asks anew.
  void Refused(const std::string& token);

 private:
  const std::string fixed_;
  const std::function<Result<std::string>()> provider_;
  const std::chrono::milliseconds margin_;
  std::mutex mu_;
  std::string held_;         // the provider's last token
  int64_t renew_at_ms_ = 0;  // Unix ms after which it is asked again (0: never)
};

// A JWT's `exp` in Unix seconds, read (not verified) from its payload; 0
// when it has none or is not a JWT.
int64_t TokenExpiry(std::string_view token);

// The channel ClientOptions describe, or kInvalidArgument naming the TLS
// file that could not be read.
Result<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& o);

}  // namespace herald::client
