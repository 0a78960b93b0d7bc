#include "io/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace herald::io {
namespace {

// Accepts per readiness callback: enough to drain a burst, small enough that
// one busy listener does not starve the connections on the same worker.
constexpr int kAcceptBatch = 64;

std::string Describe(std::string_view host, uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string s = v6 ? "[" + std::string(host) + "]" : std::string(host);
  return s + ":" + std::to_string(port);
}

Status SocketError(std::string_view host, uint16_t port, int err) {
  return Status(ErrorCode::kUnavailable, Describe(host, port) + ": " + uv_strerror(err));
}

Result<sockaddr_storage> ResolveLiteral(std::string_view host, uint16_t port) {
  std::string h(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";
  // Only literals and "localhost": a listener must not depend on DNS.
  if (h == "localhost") h = "127.0.0.1";
  sockaddr_storage ss{};
  if (uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(&ss)) == 0) return ss;
  if (uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(&ss)) == 0) return ss;
  return Status(ErrorCode::kInvalidArgument,
                Describe(host, port) + ": not an IP address literal or localhost");
}

void SetPort(sockaddr_storage& ss, uint16_t port) {
  if (ss.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
  }
}

socklen_t AddrLen(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// A socket bound to `addr`; with `reuseport` every worker can bind the same
// address. Returns the fd or -errno.
int BindSocket(const sockaddr_storage& addr, bool reuseport) {
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  const int one = 1;
  // SO_REUSEADDR: restart while old connections sit in TIME_WAIT.
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      (reuseport && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), AddrLen(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return -err;
  }
  return fd;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                  : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

}  // namespace

// The per-worker half of a Listener: lives on one loop, freed in its close
// callbacks (as a Loop::Resource it also closes when the loop stops).
class Acceptor final : public Loop::Resource {
 public:
  Acceptor(Loop& loop, int fd, std::shared_ptr<const Listener::AcceptCallback> on_accept,
           std::atomic<uint64_t>* backoffs)
      : loop_(loop), fd_(fd), on_accept_(std::move(on_accept)), backoffs_(backoffs) {
    loop_.Register(this);
    uv_poll_init(loop.raw(), &poll_, fd_);
    poll_.data = this;
    uv_timer_init(loop.raw(), &backoff_);
    backoff_.data = this;
    StartPolling();
  }

  void Close() {
    if (closing_) return;
    closing_ = true;
    loop_.Unregister(this);
    auto on_closed = [](uv_handle_t* h) {
      auto* self = static_cast<Acceptor*>(h->data);
      if (--self->open_handles_ > 0) return;
      delete self;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&backoff_), on_closed);
    // uv_close() stops the poll watcher at once, so the descriptor (which
    // uv_poll never owns) can go now: when Listener::Stop() returns, the port
    // no longer accepts.
    ::close(fd_);
  }

  void CloseForShutdown() override { Close(); }

 private:
  void StartPolling() {
    uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t* p, int status, int) {
      if (status == 0) static_cast<Acceptor*>(p->data)->AcceptBatch();
    });
  }

  void AcceptBatch() {
    for (int i = 0; i < kAcceptBatch; ++i) {
      const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) return;
        // The peer gave up before we accepted: nothing to do for it.
        if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          // Out of descriptors: a level-triggered poll would call us again
          // at once and spin. Pause; pending connections wait in the backlog
          // (and closing connections free descriptors meanwhile).
          backoffs_->fetch_add(1, std::memory_order_relaxed);
          uv_poll_stop(&poll_);
          uv_timer_start(
              &backoff_, [](uv_timer_t* t) { static_cast<Acceptor*>(t->data)->StartPolling(); },
              Listener::kBackoffMs, 0);
        }
        return;
      }
      Result<Connection*> c = Connection::Adopt(loop_, fd);
      if (c.ok()) (*on_accept_)(*c);
    }
  }

  Loop& loop_;
  const int fd_;
  std::shared_ptr<const Listener::AcceptCallback> on_accept_;
  std::atomic<uint64_t>* backoffs_;
  uv_poll_t poll_{};
  uv_timer_t backoff_{};
  int open_handles_ = 2;
  bool closing_ = false;
};

Listener::Listener(WorkerPool& pool, AcceptCallback on_accept)
    : pool_(pool), on_accept_(std::make_shared<const AcceptCallback>(std::move(on_accept))) {}

Listener::~Listener() { Stop(); }

Status Listener::Listen(std::string_view host, uint16_t port, int backlog) {
  if (!acceptors_.empty()) return Status(ErrorCode::kInternal, "listener already listening");
  Result<sockaddr_storage> addr = ResolveLiteral(host, port);
  if (!addr.ok()) return addr.status();

  // SO_REUSEPORT would let us silently share the port with another process
  // of the same user that also set it (a second server instance would get
  // half the traffic). Probe with a plain socket first: bind() fails with
  // EADDRINUSE if anyone listens there. For port 0 the probe also picks the
  // free port every worker then binds.
  const int probe = BindSocket(*addr, /*reuseport=*/false);
  if (probe < 0) return SocketError(host, port, probe);
  const uint16_t chosen = BoundPort(probe);
  ::close(probe);
  SetPort(*addr, chosen);

  for (size_t i = 0; i < pool_.size(); ++i) {
    const int fd = BindSocket(*addr, /*reuseport=*/true);
    if (fd < 0 || ::listen(fd, backlog) != 0) {
      const int err = fd < 0 ? fd : -errno;
      if (fd >= 0) ::close(fd);
      Stop();
      return SocketError(host, port == 0 ? chosen : port, err);
    }
    Acceptor* acceptor = nullptr;
    Loop& loop = pool_[i];
    const bool ran =
        loop.RunSync([&] { acceptor = new Acceptor(loop, fd, on_accept_, &backoffs_); });
    if (!ran) {
      ::close(fd);
      Stop();
      return Status(ErrorCode::kUnavailable, "worker loop is not running");
    }
    acceptors_.push_back(acceptor);
  }
  port_ = chosen;
  return Status::Ok();
}

void Listener::Stop() {
  for (size_t i = 0; i < acceptors_.size(); ++i) {
    Acceptor* a = acceptors_[i];
    // If the loop already stopped, it closed the acceptor itself.
    pool_[i].RunSync([a] { a->Close(); });
  }
  acceptors_.clear();
}

}  // namespace herald::io
