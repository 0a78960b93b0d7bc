// frontends/http/http_server.h — HTTP/1.1 on every worker of a pool.
//
//   io::WorkerPool pool(4);
//   pool.Start();
//   auto router = std::make_shared<http::Router>();
//   router->Handle("GET", "/hello", [](http::Request&, http::Response res) {
//     res.Send(200, "hello\n");
//   });
//   http::HttpServer server(pool, http::HttpOptions{}, router);
//   if (Status s = server.Listen("127.0.0.1", 8080); !s.ok()) ...
//   ...
//   server.Stop();  // before pool.Stop()
//
// Each worker accepts on its own SO_REUSEPORT socket; a connection and all
// its requests stay on the worker that accepted it, and handlers run there.
// Nothing here knows the broker: routes are plain handlers.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/slot_counts.h"
#include "frontends/http/http_options.h"
#include "frontends/http/router.h"
#include "herald/status.h"
#include "io/listener.h"
#include "io/tls_context.h"
#include "io/worker_pool.h"

namespace herald::http {

struct SessionContext;

class HttpServer {
 public:
  // `router` must be complete: it is read concurrently by every worker.
  HttpServer(io::WorkerPool& pool, HttpOptions options, std::shared_ptr<const Router> router);
  ~HttpServer();  // Stop()s.
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port on every worker (see io::Listener::Listen). Owner
  // thread, once; the pool must be running.
  Status Listen(std::string_view host, uint16_t port);
  uint16_t port() const;
  // HTTPS on a second address, beside (or instead of) Listen()'s: the same
  // routes, sessions, limits and stats, with TLS below the sessions
  // (io::Connection::StartTls). `tls` gives the certificate each new
  // connection starts with (swapped at a reload). Owner thread, once.
  Status ListenTls(std::string_view host, uint16_t port, std::shared_ptr<io::TlsServer> tls);
  uint16_t tls_port() const;

  // Stops accepting, lets owed responses finish (at most
  // options.shutdown_grace_ms), then closes every connection. Owner thread,
  // not a loop thread; idempotent.
  void Stop();
  // Stops accepting, then asks every connection to end its protocol's way
  // (HTTP: after owed responses; WebSocket: close 1001; SSE: a `retry:`
  // hint and the end of the stream), spread evenly over `window` so clients
  // reconnect elsewhere without a stampede. Returns when the window is over;
  // Stop() then closes whatever is left. Owner thread.
  void Drain(std::chrono::milliseconds window);

  const HttpStats& stats() const { return *stats_; }
  // A reload: connections accepted from now on get `limits` (and CORS
  // origins); open ones keep what they were accepted with. Any thread.
  void SetLimits(const HttpLimits& limits);

 private:
  void OnAccept(io::Connection* conn);
  size_t WorkerIndex(const io::Loop& loop) const;
  bool AnySessionOwes();

  io::WorkerPool& pool_;
  std::shared_ptr<HttpStats> stats_;
  std::shared_ptr<SessionContext> ctx_;
  std::unique_ptr<io::Listener> listener_;
  std::unique_ptr<io::Listener> tls_listener_;
  std::shared_ptr<io::TlsServer> tls_;
  SlotCounts per_ip_;          // connections per peer address
  SlotCounts pending_per_ip_;  // connections without a first whole head
  bool stopped_ = false;
};

}  // namespace herald::http
