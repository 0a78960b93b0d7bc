// herald/http_limits.h — limits and timeouts of the HTTP layer that
// WebSocket, SSE and the HTTP API build on.
//
// Declared once: herald::Server hands this struct to the HTTP front as it is
// (frontends/http/http_options.h adds only what is not a setting), and each
// field is one line of heraldd's config reader (section [http],
// server/config_toml.cc; docs/CONFIG.md says what each key does).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace herald {

struct HttpLimits {
  // Request line plus header lines; over it: 431.
  size_t max_header_bytes = 16 * 1024;
  // The request-target (path and query); over it: 414.
  size_t max_target_bytes = 8 * 1024;
  // Decoded request body; over it: 413 (refused from Content-Length alone
  // when it is declared).
  size_t max_body_bytes = 1 << 20;
  // Slow-loris guard: the whole head of each request must arrive within
  // this, counted from its first byte; else 408 and close.
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);
  // A keep-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Open HTTP connections across all workers; one more is accepted, answered
  // 503 and closed.
  size_t max_connections = 10000;
  // CORS: exact Origin values that may read responses from other sites
  // ("*" allows any). A response to a request from one of them carries
  // Access-Control-Allow-Origin with that origin; an OPTIONS preflight from
  // one of them gets 204 with the route's methods; from anyone else, 403.
  // Empty: no CORS headers at all (same-origin only).
  std::vector<std::string> cors_origins;
  // Connections one peer address may hold at once (HTTP, WebSocket and SSE
  // alike, for their whole life); one more is answered 503 and closed.
  // 0: no per-address limit.
  size_t max_connections_per_ip = 0;
  // Connections of one address that have not yet sent a whole first request
  // head (slow-loris): one more is answered 503 and closed. 0: no limit.
  size_t max_pending_heads_per_ip = 0;
  // A request body must arrive whole within this, from the end of its head:
  // a body trickled a byte at a time cannot hold a connection for ever.
  std::chrono::milliseconds body_timeout = std::chrono::seconds(30);
  // Requests one connection may send per second (a token bucket of
  // `request_burst`): past it each is answered 429, and a connection that
  // goes on past `request_burst` refusals in a row is closed after the
  // last. 0: no limit.
  double max_requests_per_second = 0;
  uint32_t request_burst = 100;
  // Output a connection may owe (queued for its socket, or produced for a
  // later pipelined request) before it stops reading and answering further
  // requests; it resumes once that has drained to half. Bounds what a client
  // that sends requests and never reads can make the server hold. 0: no limit.
  size_t max_output_backlog_bytes = 4u << 20;
  // Requests parsed but not yet answered on one connection; at the limit the
  // connection stops reading until a response goes out.
  size_t max_pipelined_requests = 64;
};

}  // namespace herald
