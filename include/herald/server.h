// herald/server.h — serve a Broker over the network from inside a process.
//
// A Server runs N event-loop worker threads (libuv), listens on one HTTP port
// on every worker (SO_REUSEPORT), and serves the node's endpoints there:
// `/healthz`, `/metrics` (Prometheus text), WebSocket (`/ws` JSON protocol,
// `/ws/<topic>` raw mode), Server-Sent Events (`/sse`) and the HTTP API
// (`/publish`, `/request`, `/history`). heraldd is a thin main() around it;
// a C++ service embeds it the same way:
//
//   herald::Broker broker;
//   herald::Server server(broker, {.listen = "127.0.0.1:0", .workers = 2});
//   if (auto s = server.Start(); !s.ok()) die(s.ToString());
//   std::cout << "serving on port " << server.port() << "\n";
//   ...
//   server.Stop();   // stop accepting, finish in-flight responses, close
//
// Thread rule: Start/Stop from one controlling thread (not a worker). The
// broker must outlive the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "herald/auth_options.h"
#include "herald/broker.h"
#include "herald/cluster_options.h"
#include "herald/status.h"

namespace herald {

// Limits of the HTTP layer that WebSocket and SSE build on. Every one is a
// config key in heraldd (section [http], see docs/CONFIG.md).
struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;  // request line + headers; over it: 431
  size_t max_target_bytes = 8 * 1024;   // request-target (path + query); over it: 414
  size_t max_body_bytes = 1 << 20;      // over it: 413
  std::chrono::milliseconds header_timeout = std::chrono::seconds(10);  // slow-loris cut
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);    // idle keep-alive
  size_t max_connections = 10000;  // per node; over it: 503 and close
  // Exact origins allowed to read responses cross-origin ("*": any); empty:
  // no CORS headers. Preflights from other origins get 403.
  std::vector<std::string> cors_origins;
  size_t max_connections_per_ip = 0;    // per peer address, whole life; 0: no limit
  size_t max_pending_heads_per_ip = 0;  // per address, before a first whole request head
  std::chrono::milliseconds body_timeout = std::chrono::seconds(30);  // whole body, after the head
  double max_requests_per_second = 0;  // per connection (token bucket); 0: no limit
  uint32_t request_burst = 100;        // the bucket's size; refusals in a row before close
  // Output one connection may owe before it stops reading (and answering)
  // further requests, until half has drained; 0: no limit.
  size_t max_output_backlog_bytes = 4u << 20;
};

// The WebSocket front (`/ws`, `/ws/<topic>`); heraldd section [websocket].
struct WebSocketLimits {
  size_t max_message_bytes = 1 << 20;  // a client message, after inflation: 1009
  std::chrono::milliseconds ping_interval = std::chrono::seconds(20);
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);  // silent peer: closed
  bool permessage_deflate = true;
  std::vector<std::string> allowed_origins;  // exact Origin values; empty: any
  size_t max_outbound_bytes = 16u << 20;     // queued per connection (slow consumer)
  bool disconnect_slow_consumers = false;    // false: drop and report a gap
  double max_messages_per_second = 0;        // per connection (token bucket); 0: no limit
  uint32_t message_burst = 100;              // the bucket's size; refusals in a row before 1008
  uint32_t max_empty_fragments = 1024;       // empty non-final fragments in a row (1008)
};

// The Server-Sent Events front (`/sse`); heraldd section [sse].
struct SseLimits {
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(15);  // comment on idle
  std::chrono::milliseconds retry = std::chrono::seconds(2);  // the `retry:` reconnect hint
  std::vector<std::string> allowed_origins;                   // exact Origin values; empty: any
  size_t max_topics = 16;                                     // `topic` parameters per stream
  size_t max_id_topics = 32;                                  // topic positions an event id carries
  size_t id_topic_names = 16384;         // long topic names remembered by their hash in ids
  size_t max_outbound_bytes = 4u << 20;  // queued per stream (slow consumer)
  // true (default): close a slow stream — the browser reconnects and resumes
  // from history; false: drop messages and send a gap event.
  bool disconnect_slow_consumers = true;
};

// The gRPC API for backends (herald.v1.Broker, api/herald/v1/broker.proto);
// heraldd --grpc-listen and section [grpc]. Served on its own port by gRPC's
// own threads.
struct GrpcLimits {
  std::string listen;                   // HOST:PORT; empty: no gRPC front
  size_t max_message_bytes = 4u << 20;  // a gRPC message either way
  std::chrono::milliseconds keepalive_time = std::chrono::seconds(20);
  std::chrono::milliseconds keepalive_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds default_request_timeout = std::chrono::seconds(5);  // no deadline
  size_t max_outbound_bytes = 16u << 20;   // queued per Subscribe/Connect stream
  bool disconnect_slow_consumers = false;  // false: drop and send a Gap
  uint32_t ack_every = 1024;               // PublishStream batch acknowledgements
  uint32_t max_refusals_per_request = 64;  // PublishStream: runs of refusals per request
  uint32_t max_concurrent_streams = 100;   // calls open at once per client connection
  double max_commands_per_second = 0;      // per Connect session (token bucket); 0: no limit
  uint32_t command_burst = 100;            // the bucket's size; refusals in a row before the end
};

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free port
  int workers = 0;                        // event-loop threads; 0 = one per core
  // Static files at "/" (GET/HEAD, below every other route): this directory,
  // or with `demo_page` and no directory the built-in demo chat page.
  std::string static_dir;
  bool demo_page = false;  // heraldd turns it on
  HttpLimits http;
  WebSocketLimits websocket;
  SseLimits sse;
  GrpcLimits grpc;
  // Peer links to other nodes (heraldd [cluster]); no cluster when
  // cluster.listen is empty. The broker's node_id names this node.
  ClusterOptions cluster;
  // Who may connect, publish and subscribe over WebSocket, SSE and the HTTP
  // API (heraldd [auth]); the default is open, as before.
  AuthOptions auth;
  // heraldd on SIGTERM: Drain() over this window (0: stop at once).
  std::chrono::milliseconds drain_window = std::chrono::seconds(5);
};

class Server {
 public:
  Server(Broker& broker, ServerOptions options);
  ~Server();  // Stop()s if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the workers and binds the listener. Fails with a clear message
  // ("127.0.0.1:8080: address already in use") and leaves nothing running.
  Status Start();
  // The bound port (useful with port 0). Valid after a successful Start.
  uint16_t port() const;
  // The gRPC port, 0 without a gRPC front.
  uint16_t grpc_port() const;
  // The peer-link port, 0 when not in a cluster.
  uint16_t cluster_port() const;
  // Stops accepting, lets in-flight responses finish, closes every
  // connection and joins the workers. Idempotent.
  void Stop();
  // A graceful drain, then Stop(): no new connections; existing ones are
  // ended the protocol's way (WebSocket 1001, SSE with a `retry:` hint, HTTP
  // after its responses, gRPC with GOAWAY), spread evenly over `window`, so
  // their clients reconnect to other nodes without a stampede.
  void Drain(std::chrono::milliseconds window);
  // What GET /metrics answers (Prometheus text 0.0.4). Between Start() and
  // Stop(), from any thread.
  std::string MetricsText() const;
  // The counters of refusals and cuts (a limit that tripped), as
  // ("name{labels}", value): what heraldd's limit log watches. Between
  // Start() and Stop(), from any thread.
  std::vector<std::pair<std::string, uint64_t>> LimitCounters() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald
