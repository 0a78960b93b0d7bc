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
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "herald/auth_options.h"
#include "herald/broker.h"
#include "herald/cluster_options.h"
#include "herald/front_limits.h"
#include "herald/hooks.h"
#include "herald/http_limits.h"
#include "herald/reload_report.h"
#include "herald/status.h"
#include "herald/tls_options.h"

namespace herald {

// /readyz (heraldd [readiness]): the node is ready only while canary
// messages published through its own broker come back. Every `interval`:
// one to a topic this node owns, acknowledged (through the history store,
// when there is one) and delivered to a subscriber of its own; and in a
// cluster, one request per live peer to a topic that peer owns, answered by
// the peer's canary responder, so it crosses the link both ways. A canary
// not back within `timeout` fails its target; a peer that was live within
// `peer_grace` and is no longer linked fails too (then it is forgotten: a
// node that left for good does not keep the others unready). A peer with
// no canary responder (a version before readiness, during a rolling
// upgrade) is reported unverified, not failed. Not ready either while
// draining, or before the first canary came back. With `require_peers`
// off, peers are reported (/readyz targets, metrics) but only the local
// canary decides. The canary topics are under `_HERALD.` (herald/topic.h),
// which clients cannot reach.
struct ReadinessOptions {
  std::chrono::milliseconds interval = std::chrono::seconds(1);
  std::chrono::milliseconds timeout = std::chrono::seconds(2);
  std::chrono::milliseconds peer_grace = std::chrono::seconds(60);
  bool require_peers = true;
};

struct ServerOptions {
  // HOST:PORT; port 0 picks a free port. Empty: no plain HTTP (tls.listen
  // must then be set).
  std::string listen = "127.0.0.1:8080";
  int workers = 0;  // event-loop threads; 0 = one per core
  // Static files at "/" (GET/HEAD, below every other route): this directory,
  // or with `demo_page` and no directory the built-in demo chat page.
  std::string static_dir;
  bool demo_page = false;  // heraldd turns it on
  // Each front's settings (herald/http_limits.h, herald/front_limits.h),
  // handed to the front as they are.
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
  // A backend asked before clients connect, subscribe, publish or refresh
  // (heraldd [hooks]); none when hooks.hooks is null.
  HookOptions hooks;
  // heraldd on SIGTERM: Drain() over this window (0: stop at once).
  std::chrono::milliseconds drain_window = std::chrono::seconds(5);
  ReadinessOptions readiness;
  // HTTPS/WSS/SSE on tls.listen and gRPC on tls.grpc_listen, beside the
  // plain listeners (herald/tls_options.h); none by default.
  TlsOptions tls;
  // What a reload request does (Server::ReloadNow, which POST /admin/reload
  // and heraldd's SIGHUP call): typically read the configuration again and
  // hand it to Server::Reload(). Called on a thread that is not a loop's,
  // one call at a time. Null: there is no POST /admin/reload. Taken at
  // start (a reload does not replace it).
  std::function<Result<ReloadReport>()> reload_handler;
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
  // What Start() would refuse before binding anything: the listen address,
  // the static directory, the auth keys and rules, and the cluster's peer
  // policy and TLS files, each read and parsed. Ok, or the error Start()
  // would give. (heraldd --check-config.)
  static Status Check(const ServerOptions& options);
  // The bound port (useful with port 0). Valid after a successful Start.
  uint16_t port() const;
  // The gRPC port, 0 without a gRPC front.
  uint16_t grpc_port() const;
  // Applies what can change while running from `next`, without dropping a
  // connection: `auth` (with authentication on before and after), `http`,
  // `websocket`, `sse` and `grpc` (limits, origins, CORS; sse.id_topic_names
  // and gRPC's channel settings aside), and the TLS certificate of HTTPS and gRPC (tls cert_file,
  // key_file, client_ca_file, min_version). Connections accepted from now on get
  // them; open ones keep what they were accepted with. `next` is checked
  // whole first, as Start() checks its files and keys: on an error nothing
  // changes and the error is returned. needs_restart names what differs
  // among the listen addresses, workers, static_dir, seeds,
  // tls.handshake_timeout_ms, sse.id_topic_names, grpc.max_message_bytes,
  // keepalive_* and max_concurrent_streams, auth turned on or off and a
  // client CA given or dropped with a gRPC TLS listener; other settings
  // (the cluster's name, secret and files, hooks...) are read at start
  // only and not compared here (heraldd compares whole configurations).
  // The broker's bounds are the broker's: Broker::SetLimits. Any thread but a loop's (it
  // reads files); one reload at a time; a Reload during Stop waits for it,
  // then finds the server stopped.
  Result<ReloadReport> Reload(const ServerOptions& next);
  // Runs options.reload_handler now and counts its outcome
  // (herald_reloads_total). POST /admin/reload runs it on a thread of the
  // server's own. Any thread but a loop's; a second caller waits for the
  // first. Between Start() and Stop().
  Result<ReloadReport> ReloadNow();
  // The TLS ports (tls.listen, tls.grpc_listen); 0 without them.
  uint16_t tls_port() const;
  uint16_t grpc_tls_port() const;
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
  // Whether the server's event loops still turn: posts a probe to each and
  // says whether all those the previous call posted have run (the first
  // call: true). False: a loop ran nothing for at least the time since the
  // previous call. For a watchdog calling it every period (heraldd pings
  // systemd's only while it holds). Between Start() and Stop(), any thread,
  // one caller at a time.
  bool LoopsTurning();
  // What GET /readyz answers: ready, or why not (ReadinessOptions). Between
  // Start() and Stop(), any thread.
  bool Ready(std::string* why = nullptr) const;
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
