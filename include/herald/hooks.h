// herald/hooks.h — asking a backend whether a client may do something.
//
// A node may call out before it lets a client connect, subscribe, publish
// or renew its token (heraldd `[hooks]`, docs/CONFIG.md): the backend
// allows or denies; on connect it may name the user, its info and grants;
// on publish it may replace the data. heraldd ships two transports (HTTP
// JSON, gRPC `herald.v1.Hooks`); an embedder may plug its own
// (ServerOptions::hooks).
//
// A Hooks implementation calls `done` exactly once, on any thread, and never
// blocks the caller: the node calls it from event loops and gRPC reactors.
// A transport error or an answer that does not parse is an error Status;
// the node then applies the event's failure policy (HookPolicy).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "herald/status.h"

namespace herald {

enum class HookEvent { kConnect, kSubscribe, kPublish, kRefresh };

// "connect", "subscribe", "publish", "refresh": the HTTP path's last part
// and the gRPC method, in lower case.
inline const char* HookEventName(HookEvent event) {
  switch (event) {
    case HookEvent::kConnect:
      return "connect";
    case HookEvent::kSubscribe:
      return "subscribe";
    case HookEvent::kPublish:
      return "publish";
    case HookEvent::kRefresh:
      return "refresh";
  }
  return "connect";
}

struct HookRequest {
  HookEvent event = HookEvent::kConnect;
  std::string client;  // the connection's id; empty for a call without one (HTTP publish)
  std::string user;    // the token's subject, or "anonymous"
  bool anonymous = false;
  std::string transport;  // "ws", "ws-raw", "sse", "grpc", "http"
  std::string info;       // the client's info (a JSON object's text), or empty
  std::string token;      // connect and refresh: the token presented, if any
  std::string topic;      // subscribe: the pattern; publish: the topic
  std::string data;       // publish: the payload
  std::string content_type;
  std::chrono::milliseconds timeout{1000};  // the transport's deadline for this call
};

// Topic patterns by what they allow, as in a token's `herald` claim.
struct HookGrants {
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;
  std::vector<std::string> queues;
  std::vector<std::string> admin;
};

struct HookDecision {
  bool allow = false;
  // A denial's code, as the client will see it: "permission_denied" (the
  // default), "unauthenticated", "invalid_argument", "rate_limited" or
  // "resource_exhausted"; and its message (cut to 256 bytes).
  std::string code;
  std::string message;
  // connect: replace the token's user, info (a JSON object's text) and
  // grants; expires_at (Unix seconds, 0: none) ends the connection then
  // (close 4001), as a token's exp does, unless the client refreshes.
  std::optional<std::string> user;
  std::optional<std::string> info;
  std::optional<HookGrants> grants;
  int64_t expires_at = 0;
  // publish: the data to publish instead.
  std::optional<std::string> data;
};

class Hooks {
 public:
  virtual ~Hooks() = default;
  // Any thread. `done` runs once, on any thread, and must run before the
  // Broker the hooks serve is destroyed (the answer may touch the broker's
  // counters). Herald's transports (HttpHooks, GrpcHooks) cancel and answer
  // what is pending when they are destroyed.
  virtual void Call(HookRequest request, std::function<void(Result<HookDecision>)> done) = 0;
};

// When a hook is called and what happens if the backend does not answer.
struct HookPolicy {
  bool enabled = false;
  std::chrono::milliseconds timeout{1000};
  // Not answered in time, a transport error, a non-2xx or an answer that
  // does not parse: allow, or deny with `unavailable`.
  bool allow_on_failure = false;
  // subscribe and publish: only topics these patterns match call out
  // (empty: every topic).
  std::vector<std::string> patterns;
};

struct HookOptions {
  std::shared_ptr<Hooks> hooks;  // null: no hooks
  HookPolicy connect, subscribe, publish, refresh;
  // Calls waiting on the backend, node-wide: past it the failure policy
  // applies at once (counted as overloaded).
  size_t max_in_flight = 10000;
  // Commands of one connection waiting on hooks: past it the connection
  // stops reading until they complete.
  size_t max_in_flight_per_connection = 16;
};

}  // namespace herald
