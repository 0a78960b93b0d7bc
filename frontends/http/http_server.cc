#include "frontends/http/http_server.h"

#include <chrono>
#include <thread>
#include <vector>

#include "frontends/http/http_session.h"
#include "frontends/http/response_format.h"

namespace herald::http {
namespace {

// A connection's place in HttpStats::connections_open (which max_connections
// caps), attached to the io::Connection: it is given back when the
// connection is deleted, not when HTTP hands it to another protocol, so an
// upgraded WebSocket still counts.
struct OpenSlot {
  explicit OpenSlot(std::shared_ptr<HttpStats> s) : stats(std::move(s)) {}
  ~OpenSlot() { stats->connections_open.fetch_sub(1, std::memory_order_relaxed); }
  OpenSlot(const OpenSlot&) = delete;
  OpenSlot& operator=(const OpenSlot&) = delete;
  std::shared_ptr<HttpStats> stats;
};

}  // namespace

std::string_view RejectReasonName(RejectReason r) {
  switch (r) {
    case RejectReason::kHeaderTooLarge:
      return "header_too_large";
    case RejectReason::kBodyTooLarge:
      return "body_too_large";
    case RejectReason::kBadRequest:
      return "bad_request";
    case RejectReason::kHeaderTimeout:
      return "header_timeout";
    case RejectReason::kIdleTimeout:
      return "idle_timeout";
    case RejectReason::kMaxConnections:
      return "max_connections";
    case RejectReason::kMaxConnectionsPerIp:
      return "max_connections_per_ip";
    case RejectReason::kPendingHeadsPerIp:
      return "max_pending_heads_per_ip";
    case RejectReason::kRateLimited:
      return "rate_limited";
  }
  return "unknown";
}

HttpServer::HttpServer(io::WorkerPool& pool, HttpOptions options,
                       std::shared_ptr<const Router> router)
    : pool_(pool),
      stats_(std::make_shared<HttpStats>()),
      ctx_(std::make_shared<SessionContext>()),
      per_ip_(options.max_connections_per_ip),
      pending_per_ip_(options.max_pending_heads_per_ip) {
  ctx_->options.Set(std::move(options));
  ctx_->router = std::move(router);
  ctx_->stats = stats_;
  ctx_->sessions.resize(pool.size());
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::SetLimits(const HttpLimits& limits) {
  per_ip_.set_max(limits.max_connections_per_ip);
  pending_per_ip_.set_max(limits.max_pending_heads_per_ip);
  ctx_->options.Update([&](HttpOptions& o) { static_cast<HttpLimits&>(o) = limits; });
}

uint16_t HttpServer::port() const { return listener_ ? listener_->port() : 0; }

Status HttpServer::Listen(std::string_view host, uint16_t port) {
  if (listener_) return Status(ErrorCode::kInternal, "HttpServer already listening");
  listener_ = std::make_unique<io::Listener>(pool_, [this](io::Connection* c) { OnAccept(c); });
  Status s = listener_->Listen(host, port);
  if (!s.ok()) listener_.reset();
  return s;
}

uint16_t HttpServer::tls_port() const { return tls_listener_ ? tls_listener_->port() : 0; }

Status HttpServer::ListenTls(std::string_view host, uint16_t port,
                             std::shared_ptr<io::TlsServer> tls) {
  if (tls_listener_) return Status(ErrorCode::kInternal, "HttpServer already listening for TLS");
  tls_ = std::move(tls);
  tls_listener_ = std::make_unique<io::Listener>(pool_, [this](io::Connection* c) {
    c->StartTls(*tls_);
    OnAccept(c);
  });
  Status s = tls_listener_->Listen(host, port);
  if (!s.ok()) tls_listener_.reset();
  return s;
}

size_t HttpServer::WorkerIndex(const io::Loop& loop) const {
  for (size_t i = 0; i < pool_.size(); ++i) {
    if (&pool_[i] == &loop) return i;
  }
  return 0;
}

void HttpServer::OnAccept(io::Connection* conn) {
  stats_->connections_total.fetch_add(1, std::memory_order_relaxed);
  // Reserve a slot first so that workers accepting at the same moment cannot
  // overshoot the limit together.
  const auto open = stats_->connections_open.fetch_add(1, std::memory_order_relaxed);
  // Answer instead of resetting, so the client learns why; the graceful
  // close lingers to read its request, keeping the 503 from being reset.
  auto refuse = [&](RejectReason reason, std::string_view message) {
    stats_->connections_open.fetch_sub(1, std::memory_order_relaxed);
    stats_->CountReject(reason);
    if (conn->tls()) {
      // The 503 would first need a handshake: the very work the limit
      // refuses. A reset is the answer.
      conn->Close(io::CloseReason::kLimit, io::CloseMode::kImmediate);
      return;
    }
    stats_->CountResponse(503);
    const std::string body = ErrorJson(RejectReasonName(reason), message);
    conn->Write(FormatHead({.status = 503,
                            .content_type = kApplicationJson,
                            .content_length = body.size(),
                            .close = true},
                           {{"Retry-After", "1"}}) +
                body);
    conn->Close(io::CloseReason::kLimit);
  };
  const std::shared_ptr<const HttpOptions> options = ctx_->options.Get();
  if (open >= static_cast<int64_t>(options->max_connections)) {
    return refuse(RejectReason::kMaxConnections, "too many connections, retry later");
  }
  // Counted with no cap too (SlotCounts never refuses then): a reload may
  // set one, and the connections open by then must count against it.
  std::shared_ptr<void> slot = per_ip_.Take(conn->peer_ip());
  if (!slot) {
    return refuse(RejectReason::kMaxConnectionsPerIp, "too many connections from your address");
  }
  conn->Attach(std::move(slot));  // held as long as the connection, upgraded or not
  std::shared_ptr<void> pending = pending_per_ip_.Take(conn->peer_ip());
  if (!pending) {
    return refuse(RejectReason::kPendingHeadsPerIp,
                  "too many unfinished requests from your address");
  }
  // Accepted: from here on the slot is the connection's, across upgrades.
  conn->Attach(std::make_shared<OpenSlot>(stats_));
  const size_t backlog = options->max_output_backlog_bytes;
  conn->SetOutputGate({.high = backlog, .low = backlog / 2, .stats = stats_->output_gate});
  auto session = std::make_shared<HttpSession>(conn, ctx_, WorkerIndex(conn->loop()));
  if (pending) session->HoldPendingSlot(std::move(pending));
  conn->SetHandler(session);
  session->Start();
}

bool HttpServer::AnySessionOwes() {
  bool owes = false;
  for (size_t i = 0; i < pool_.size() && !owes; ++i) {
    pool_[i].RunSync([&] {
      for (HttpSession* s : ctx_->sessions[i]) owes = owes || s->Owes();
    });
  }
  return owes;
}

void HttpServer::Drain(std::chrono::milliseconds window) {
  if (stopped_) return;
  if (listener_) listener_->Stop();  // nothing new from here on
  if (tls_listener_) tls_listener_->Stop();
  constexpr auto kTick = std::chrono::milliseconds(50);
  const size_t ticks = std::max<size_t>(1, static_cast<size_t>(window / kTick));
  // How many each worker has to end; by tick t, (t+1)/ticks of them are.
  std::vector<size_t> total(pool_.size()), done(pool_.size());
  for (size_t i = 0; i < pool_.size(); ++i) {
    pool_[i].RunSync([&] { total[i] = pool_[i].Undrained(); });
  }
  const auto start = std::chrono::steady_clock::now();
  for (size_t t = 0; t < ticks; ++t) {
    size_t left = 0;
    for (size_t i = 0; i < pool_.size(); ++i) {
      const size_t target = (total[i] * (t + 1) + ticks - 1) / ticks;
      pool_[i].RunSync([&] { left += pool_[i].DrainSome(target - done[i]); });
      done[i] = target;
    }
    if (left == 0 && !AnySessionOwes()) break;
    std::this_thread::sleep_until(start + (t + 1) * (window / ticks));
  }
}

void HttpServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (listener_) listener_->Stop();
  if (tls_listener_) tls_listener_->Stop();
  for (size_t i = 0; i < pool_.size(); ++i) {
    pool_[i].RunSync([&] {
      // BeginShutdown may close (and so unregister) the session: iterate a copy.
      const std::vector<HttpSession*> sessions(ctx_->sessions[i].begin(), ctx_->sessions[i].end());
      for (HttpSession* s : sessions) s->BeginShutdown();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(ctx_->options.Get()->shutdown_grace_ms);
  while (std::chrono::steady_clock::now() < deadline && AnySessionOwes()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (size_t i = 0; i < pool_.size(); ++i) {
    pool_[i].RunSync([&] {
      const std::vector<HttpSession*> sessions(ctx_->sessions[i].begin(), ctx_->sessions[i].end());
      for (HttpSession* s : sessions) s->ForceClose();
    });
  }
  // The close callbacks ran in the loop turn after ForceClose; sync once more
  // so no session of ours is left registered when Stop() returns.
  for (size_t i = 0; i < pool_.size(); ++i) pool_[i].RunSync([] {});
  listener_.reset();
  tls_listener_.reset();
}

}  // namespace herald::http
