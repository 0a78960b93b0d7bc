// io/listener.h — one listening socket per worker on the same HOST:PORT.
//
// Every worker of a pool gets its own socket bound with SO_REUSEPORT, so the
// kernel spreads new connections over the workers and no accept lock or
// hand-off between threads is needed. Accepted connections are adopted on the
// worker that accepted them and passed to `on_accept` on that loop thread.
//
//   io::Listener listener(pool, [](io::Connection* c) { c->SetHandler(...); });
//   if (Status s = listener.Listen("127.0.0.1", 0); !s.ok()) return s;
//   uint16_t port = listener.port();  // the port the kernel picked
//   listener.Stop();                  // no new connections; existing ones stay
//
// Why not uv_listen(): libuv 1.44 has no way to stop accepting for a while,
// and on EMFILE it silently accepts-and-closes the backlog. We own accept(2)
// (uv_poll on our own socket) so that on EMFILE/ENFILE a worker pauses
// accepting for kBackoffMs and the backlog waits in the kernel instead.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/status.h"
#include "io/connection.h"
#include "io/worker_pool.h"

namespace herald::io {

class Acceptor;

class Listener {
 public:
  // Called on the accepting worker's loop thread, from several workers at
  // once: it must be thread-safe (typically it only touches per-loop state).
  using AcceptCallback = std::function<void(Connection*)>;

  static constexpr uint64_t kBackoffMs = 100;

  Listener(WorkerPool& pool, AcceptCallback on_accept);
  ~Listener();  // Stop()s.
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds host:port on every worker. `host` is an IPv4 or IPv6 literal
  // (brackets allowed) or "localhost" (127.0.0.1); port 0 picks a free port.
  // Errors read "127.0.0.1:8080: address already in use". Owner thread, once;
  // the pool must be started.
  Status Listen(std::string_view host, uint16_t port, int backlog = 511);

  uint16_t port() const { return port_; }
  // Times a worker paused accepting because it ran out of descriptors.
  uint64_t backoffs() const { return backoffs_.load(std::memory_order_relaxed); }

  // Stops accepting on every worker and waits until the sockets are closed.
  // Accepted connections are not touched. Not from a loop thread.
  void Stop();

 private:
  friend class Acceptor;

  WorkerPool& pool_;
  std::shared_ptr<const AcceptCallback> on_accept_;
  std::vector<Acceptor*> acceptors_;  // one per worker; each freed on its loop
  uint16_t port_ = 0;
  std::atomic<uint64_t> backoffs_{0};
};

}  // namespace herald::io
