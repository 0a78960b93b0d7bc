// herald/front_limits.h — the settings of the WebSocket, SSE and gRPC fronts.
//
// Declared once: herald::Server hands each struct to its front as it is (the
// front's own options header adds only run-time wiring such as the token
// verifier), and each field is one line of heraldd's config reader (sections
// [websocket], [sse] and [grpc], server/config_toml.cc; docs/CONFIG.md says
// what each key does).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "herald/outbound_guard.h"

namespace herald {

// The WebSocket front (`/ws`, `/ws/<topic>`); heraldd section [websocket].
struct WebSocketLimits {
  // Largest message a client may send, after reassembly and inflation: 1009.
  size_t max_message_bytes = 1 << 20;
  // The server pings a connection this long after it last heard from it...
  std::chrono::milliseconds ping_interval = std::chrono::seconds(20);
  // ...and closes it if nothing at all arrives for this long (dead peer).
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);
  // Accept permessage-deflate offers (RFC 7692).
  bool permessage_deflate = true;
  // Exact Origin values allowed to connect; empty: any origin.
  std::vector<std::string> allowed_origins;
  // Outbound bytes queued per connection (a slow consumer) and what happens
  // past them: drop and report a gap, or disconnect.
  OutboundLimits outbound{.max_bytes = 16u << 20, .policy = SlowConsumerPolicy::kDropWithGap};
  // Messages a client may send per second (a token bucket holding
  // `message_burst`); past it each message is refused — the JSON protocol
  // answers `rate_limited` — and a client that goes on past `message_burst`
  // refusals in a row is closed with 1008. 0: no limit.
  double max_messages_per_second = 0;
  uint32_t message_burst = 100;
  // Empty non-final fragments a client may send in a row (1008 past it).
  uint32_t max_empty_fragments = 1024;
};

// The Server-Sent Events front (`/sse`); heraldd section [sse].
struct SseLimits {
  // A comment line is sent on a stream that had nothing else to send for
  // this long, so proxies keep it open and a dead client is noticed.
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(15);
  // The `retry:` hint: how long the browser waits before reconnecting.
  std::chrono::milliseconds retry = std::chrono::seconds(2);
  // Exact Origin values a browser page may open a stream from (403 for any
  // other); empty: any. Requests without Origin (non-browsers) pass.
  std::vector<std::string> allowed_origins;
  // `topic` parameters one stream may have.
  size_t max_topics = 16;
  // Topic positions an event id carries (and the stream remembers); a
  // wildcard stream over more topics forgets the least recent ones. Bounds
  // an id's size (MaxEventIdBytes: about 62 bytes a topic); herald::Server
  // lowers it so an id fits in half of HttpLimits::max_header_bytes.
  size_t max_id_topics = 32;
  // Long topic names the node remembers by the hash its ids name them by,
  // so a reconnect resumes them from history at once.
  size_t id_topic_names = 16384;
  // Slow consumers. Disconnecting is the default for SSE: the browser
  // reconnects by itself with Last-Event-ID and resumes from history; with
  // kDropWithGap messages are dropped and a gap event is sent.
  OutboundLimits outbound{.max_bytes = 4u << 20, .policy = SlowConsumerPolicy::kDisconnect};
};

// The gRPC API for backends (herald.v1.Broker, api/herald/v1/broker.proto);
// heraldd --grpc-listen and section [grpc]. Served on its own port by gRPC's
// own threads.
struct GrpcLimits {
  std::string listen;                   // HOST:PORT; empty: no gRPC front; port 0 picks one
  size_t max_message_bytes = 4u << 20;  // a received or sent gRPC message
  std::chrono::milliseconds keepalive_time = std::chrono::seconds(20);     // server pings an idle
  std::chrono::milliseconds keepalive_timeout = std::chrono::seconds(10);  // …and drops it
  // Timeout of a Request without a deadline.
  std::chrono::milliseconds default_request_timeout = std::chrono::seconds(5);
  // A Subscribe or Connect stream's queued messages beyond what gRPC took:
  // the slow-consumer policy applies past it (drop and send a Gap, or end
  // the stream).
  OutboundLimits outbound{.max_bytes = 16u << 20, .policy = SlowConsumerPolicy::kDropWithGap};
  // PublishStream: a BatchAck every this many messages.
  uint32_t ack_every = 1024;
  // PublishStream: refusals in one request are coalesced into runs (one
  // StreamError per run of neighbours refused alike); past this many runs
  // the rest of the request is not published and one error says so.
  uint32_t max_refusals_per_request = 64;
  // Calls open at once on one client connection (HTTP/2
  // SETTINGS_MAX_CONCURRENT_STREAMS); more wait for one to end.
  uint32_t max_concurrent_streams = 100;
  // Commands one Connect session may send per second (a token bucket of
  // `command_burst`): past it each is refused (RESOURCE_EXHAUSTED
  // rate_limited) and a session that goes on past `command_burst` refusals
  // in a row is ended. 0: no limit.
  double max_commands_per_second = 0;
  uint32_t command_burst = 100;
};

}  // namespace herald
