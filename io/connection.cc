#include "io/connection.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>

#include "io/tls_stream.h"

namespace herald::io {
namespace {

std::atomic<uint64_t> g_next_connection_id{1};

// One read buffer per loop thread, not per connection: a read callback hands
// the bytes to the handler synchronously, so the buffer is free again when it
// returns. 10k idle connections cost no read memory.
constexpr size_t kReadBufferSize = 64 * 1024;
thread_local char t_read_buffer[kReadBufferSize];
// With TLS, the read buffer holds ciphertext and this the plaintext.
thread_local char t_plain_buffer[kReadBufferSize];

// Ciphertext encrypted ahead of the socket, at most: past it plaintext waits
// in the queue (shared buffers stay shared until their turn).
constexpr size_t kCipherWindow = 128 * 1024;

// What a client that sent plain HTTP to the TLS port is told, in plain text.
constexpr std::string_view kPlainHttpOnTlsPort =
    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 83\r\n"
    "Connection: close\r\n\r\n"
    "{\"error\":\"plain_http_on_tls_port\",\"message\":\"this port speaks HTTPS: use https://\"}";

TlsFailure TlsFailureOf(CloseReason reason) {
  switch (reason) {
    case CloseReason::kHeaderTimeout:
    case CloseReason::kIdleTimeout:
      return TlsFailure::kTimeout;
    case CloseReason::kPeerClosed:
    case CloseReason::kIoError:
      return TlsFailure::kEof;
    case CloseReason::kServerShutdown:
    case CloseReason::kLimit:
      return TlsFailure::kShutdown;
    default:
      return TlsFailure::kProtocol;
  }
}

// Iovecs per writev; Linux's IOV_MAX is 1024, and a flush never needs more
// than a few hundred chunks to fill the socket buffer.
constexpr size_t kMaxIov = 256;

uv_stream_t* Stream(uv_tcp_t* t) { return reinterpret_cast<uv_stream_t*>(t); }
uv_handle_t* Handle(void* h) { return static_cast<uv_handle_t*>(h); }

}  // namespace

std::string_view CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kPeerClosed:
      return "peer_closed";
    case CloseReason::kIoError:
      return "io_error";
    case CloseReason::kIdleTimeout:
      return "idle_timeout";
    case CloseReason::kHeaderTimeout:
      return "header_timeout";
    case CloseReason::kProtocolError:
      return "protocol_error";
    case CloseReason::kSlowConsumer:
      return "slow_consumer";
    case CloseReason::kServerShutdown:
      return "server_shutdown";
    case CloseReason::kLimit:
      return "limit";
    case CloseReason::kDone:
      return "done";
  }
  return "unknown";
}

Connection::Connection(Loop& loop, uint64_t id) : loop_(loop), id_(id) {}

Connection::~Connection() = default;

Result<Connection*> Connection::Adopt(Loop& loop, int fd) {
  auto* c = new Connection(loop, g_next_connection_id.fetch_add(1, std::memory_order_relaxed));
  loop.Register(c);
  uv_tcp_init(loop.raw(), &c->tcp_);
  c->tcp_.data = c;
  c->handles_open_ = 1;
  if (int rc = uv_tcp_open(&c->tcp_, fd); rc != 0) {
    ::close(fd);  // the handle did not take it
    c->close_reason_ = CloseReason::kIoError;
    c->CloseHandles();
    return Status(ErrorCode::kInternal, std::string("uv_tcp_open: ") + uv_strerror(rc));
  }
  // Responses and frames are written whole; Nagle would only add latency.
  uv_tcp_nodelay(&c->tcp_, 1);
  return c;
}

void Connection::StartTls(const TlsServer& server) {
  tls_ = std::make_shared<TlsStream>(server.Current(), server.stats(), cipher_);
  handshaking_ = true;
  loop_.timers().Schedule(this, static_cast<uint64_t>(server.handshake_timeout().count()));
}

void Connection::SetHandler(std::shared_ptr<ConnectionHandler> handler) {
  handler_ = std::move(handler);
  UpdateReading();
}

bool Connection::Write(SharedBuffer buffer) {
  if (closing_) return false;
  queue_.Push(std::move(buffer));
  loop_.MarkDirty(this);
  CheckGateHigh();
  return true;
}

bool Connection::Write(std::string owned) {
  if (closing_) return false;
  queue_.Push(std::move(owned));
  loop_.MarkDirty(this);
  CheckGateHigh();
  return true;
}

void Connection::SetOutputGate(OutputGate gate) {
  if (gate.low > gate.high) gate.low = gate.high;
  // Moves the gauge from the old stats to the new ones.
  const bool was = gated_;
  SetGated(false);
  gate_ = std::move(gate);
  if (was && gate_.high != 0 && footprint() > gate_.low) {
    gated_ = true;  // still over: the same pause goes on (not counted twice)
    if (gate_.stats) gate_.stats->paused.fetch_add(1, std::memory_order_relaxed);
    UpdateReading();
    return;
  }
  CheckGateHigh();
  // Gated before and not now: the handler may have input to go on with.
  if (was && !gated_) NotifyResumed();
}

void Connection::CheckGateHigh() {
  if (gated_ || gate_.high == 0 || handles_closing_ || footprint() <= gate_.high) return;
  SetGated(true);
}

void Connection::CheckGateLow() {
  if (!gated_ || handles_closing_ || footprint() > gate_.low) return;
  SetGated(false);
  NotifyResumed();
}

void Connection::NotifyResumed() {
  if (closing_ || handles_closing_ || !handler_) return;
  // Posted, not called: this runs inside a flush, and what the handler then
  // does (parse, answer, publish) needs a later loop phase to flush it and
  // run what it defers, which a flush just before the loop blocks in poll
  // would not give it. The handler may be gone or replaced by then; one that
  // has lost its connection ignores the call.
  std::weak_ptr<ConnectionHandler> weak = handler_;
  loop_.Post([weak] {
    if (std::shared_ptr<ConnectionHandler> h = weak.lock()) h->OnOutputResumed();
  });
}

void Connection::SetGated(bool gated) {
  if (gated == gated_) return;
  gated_ = gated;
  if (gate_.stats) {
    if (gated) gate_.stats->pauses_total.fetch_add(1, std::memory_order_relaxed);
    gate_.stats->paused.fetch_add(gated ? 1 : -1, std::memory_order_relaxed);
  }
  UpdateReading();
}

void Connection::PauseReading() {
  read_paused_ = true;
  UpdateReading();
}

void Connection::ResumeReading() {
  read_paused_ = false;
  UpdateReading();
}

void Connection::UpdateReading() {
  // While closing gracefully we keep reading (and discarding) until the
  // peer's EOF, whatever the user asked: see Close().
  const bool deliver = handler_ && !read_paused_ && !gated_;
  const bool want = !handles_closing_ && !eof_ && !eof_after_input_ && (closing_ || deliver);
  if (want != reading_) {
    reading_ = want;
    if (!want) {
      uv_read_stop(Stream(&tcp_));
    } else if (const int rc = uv_read_start(
                   Stream(&tcp_),
                   [](uv_handle_t*, size_t, uv_buf_t* buf) {
                     *buf = uv_buf_init(t_read_buffer, kReadBufferSize);
                   },
                   [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
                     static_cast<Connection*>(s->data)->OnRead(n, buf);
                   });
               rc != 0) {
      reading_ = false;
      Close(CloseReason::kIoError, CloseMode::kImmediate);
      return;
    }
  }
  // Records read before a pause: the socket may have nothing more to say
  // (or has said its end), so they are not left for the next read. Posted,
  // like NotifyResumed.
  if (tls_ && deliver && !closing_ && !handles_closing_ && !tls_read_posted_ &&
      (tls_->has_input() || eof_after_input_)) {
    tls_read_posted_ = true;
    loop_.Post([this, weak = std::weak_ptr<TlsStream>(tls_)] {
      if (!weak.lock()) return;  // the stream lives as long as the connection
      tls_read_posted_ = false;
      ReadTls();
    });
  }
}

void Connection::OnRead(ssize_t nread, const uv_buf_t* buf) {
  if (nread > 0) {
    if (closing_) return;  // lingering close: discard
    if (tls_) {
      tls_->Feed(std::string_view(buf->base, static_cast<size_t>(nread)));
      ReadTls();
      tls_->Keep();  // the read buffer is the loop's again
      return;
    }
    // Keep the handler alive even if it replaces itself during the call.
    std::shared_ptr<ConnectionHandler> h = handler_;
    if (h) h->OnData(std::string_view(buf->base, static_cast<size_t>(nread)));
    return;
  }
  if (nread == 0) return;  // EAGAIN
  if (nread != UV_EOF) {
    Close(CloseReason::kIoError, CloseMode::kImmediate);
    return;
  }
  if (tls_ && !closing_ && tls_->has_input()) {
    // Records held for a paused handler come before the end: ReadTls
    // delivers them, then the end (now, or once the handler resumes).
    eof_after_input_ = true;
    ReadTls();
    if (eof_after_input_ && !closing_) UpdateReading();  // stop reading meanwhile
    return;
  }
  OnEof();
}

void Connection::OnEof() {
  eof_ = true;
  UpdateReading();
  if (closing_) {
    // The peer finished too; once our side is shut down there is nothing
    // left to wait for.
    if (shutdown_started_) CloseHandles();
    return;
  }
  std::shared_ptr<ConnectionHandler> h = handler_;
  if (!h || !h->OnPeerEof()) Close(CloseReason::kPeerClosed, CloseMode::kGraceful);
}

void Connection::ReadTls() {
  while (!closing_ && !handles_closing_ && !eof_ && handler_ && !read_paused_ && !gated_) {
    size_t n = 0;
    const TlsStream::Outcome outcome = tls_->Read(t_plain_buffer, kReadBufferSize, n);
    if (handshaking_ && tls_->handshake_done()) {
      // The handshake's deadline gives way to the handler's.
      handshaking_ = false;
      if (deferred_timer_ms_ != 0) {
        loop_.timers().Schedule(this, deferred_timer_ms_);
      } else {
        loop_.timers().Cancel(this);
      }
    }
    // Handshake messages to send, or the handshake just finished with
    // writes waiting for it. What reading queued (handshake messages,
    // alerts) is output like any other: the gate counts it.
    if (!cipher_.empty() || (tls_->handshake_done() && !queue_.empty())) loop_.MarkDirty(this);
    if (!cipher_.empty()) CheckGateHigh();
    switch (outcome) {
      case TlsStream::Outcome::kData: {
        std::shared_ptr<ConnectionHandler> h = handler_;
        h->OnData(std::string_view(t_plain_buffer, n));
        continue;
      }
      case TlsStream::Outcome::kWantRead:
        if (eof_after_input_) {
          eof_after_input_ = false;
          OnEof();
        }
        return;
      case TlsStream::Outcome::kClosed:
        return OnEof();
      case TlsStream::Outcome::kFailed:
        return OnTlsFailed();
    }
  }
}

void Connection::OnTlsFailed() {
  queue_.Clear();  // never to be encrypted
  if (tls_->plaintext_http()) cipher_.Push(std::string(kPlainHttpOnTlsPort));
  // Graceful: what OpenSSL queued (its alert, or the 400) goes out first.
  Close(CloseReason::kProtocolError, CloseMode::kGraceful);
  loop_.MarkDirty(this);
}

void Connection::Flush() {
  if (handles_closing_ || write_in_flight_) return;
  WriteQueue& out = tls_ ? cipher_ : queue_;
  uv_buf_t bufs[kMaxIov];
  bool wrote = false;
  for (;;) {
    if (tls_ && !tls_->Encrypt(queue_, kCipherWindow)) {
      Close(CloseReason::kProtocolError, CloseMode::kImmediate);
      return;
    }
    if (out.empty()) break;
    const size_t n = out.Gather(bufs, kMaxIov);
    ++stats_.flushes;
    ++stats_.write_calls;
    // Try the syscall now: usually the socket buffer takes everything and
    // no write request (nor its callback) is needed at all.
    int rc = uv_try_write(Stream(&tcp_), bufs, static_cast<unsigned>(n));
    if (rc == UV_EAGAIN) rc = 0;
    if (rc < 0) {
      Close(CloseReason::kIoError, CloseMode::kImmediate);
      return;
    }
    wrote = true;
    out.Consume(static_cast<size_t>(rc));
    stats_.bytes_written += static_cast<uint64_t>(rc);
    if (!out.empty()) break;
    // All taken: with TLS, plaintext past the window is encrypted next.
    if (!tls_ || queue_.empty() || !tls_->handshake_done()) break;
  }
  if (out.empty()) {
    if (wrote) {
      if (queued_bytes() == 0) AfterDrained();
      CheckGateLow();
    }
    return;
  }
  // The rest goes out as one queued write; the chunks stay in the queue (by
  // reference) until its callback, so libuv's iovecs remain valid.
  const size_t n = out.Gather(bufs, kMaxIov);
  in_flight_bytes_ = 0;
  for (size_t i = 0; i < n; ++i) in_flight_bytes_ += bufs[i].len;
  if (!write_req_) write_req_ = std::make_unique<uv_write_t>();
  write_req_->data = this;
  ++stats_.write_calls;
  const int rc = uv_write(write_req_.get(), Stream(&tcp_), bufs, static_cast<unsigned>(n),
                          [](uv_write_t* req, int status) {
                            static_cast<Connection*>(req->data)->OnWriteDone(status);
                          });
  if (rc != 0) {
    Close(CloseReason::kIoError, CloseMode::kImmediate);
    return;
  }
  write_in_flight_ = true;
  std::shared_ptr<ConnectionHandler> h = handler_;
  if (h) h->OnWriteBlocked(queued_bytes());
  // After the write is handed to libuv: the handler may queue or close.
  CheckGateLow();
}

void Connection::OnWriteDone(int status) {
  write_in_flight_ = false;
  if (handles_closing_) return;  // cancelled by uv_close
  if (status < 0) {
    Close(CloseReason::kIoError, CloseMode::kImmediate);
    return;
  }
  (tls_ ? cipher_ : queue_).Consume(in_flight_bytes_);
  stats_.bytes_written += in_flight_bytes_;
  in_flight_bytes_ = 0;
  if (queued_bytes() != 0) {
    loop_.MarkDirty(this);
    CheckGateLow();
    return;
  }
  AfterDrained();
  CheckGateLow();
}

void Connection::AfterDrained() {
  if (closing_) {
    StartShutdownIfFlushed();
    return;
  }
  std::shared_ptr<ConnectionHandler> h = handler_;
  if (h) h->OnDrained();
}

void Connection::ArmTimer(uint64_t timeout_ms, CloseReason reason) {
  if (closing_) return;  // the timer belongs to the linger deadline now
  timer_reason_ = reason;
  if (handshaking_) {
    deferred_timer_ms_ = std::max<uint64_t>(timeout_ms, 1);
    return;
  }
  loop_.timers().Schedule(this, timeout_ms);
}

void Connection::DisarmTimer() {
  if (closing_) return;
  if (handshaking_) {
    deferred_timer_ms_ = 0;
    return;
  }
  loop_.timers().Cancel(this);
}

void Connection::OnTimerExpired() {
  if (closing_) {
    // The graceful close took longer than kLingerMs: the peer neither reads
    // nor closes. Give up on it.
    CloseHandles();
    return;
  }
  if (handshaking_) {
    // A handshake too slow or stalled: nothing to tell the client.
    Close(CloseReason::kHeaderTimeout, CloseMode::kImmediate);
    return;
  }
  std::shared_ptr<ConnectionHandler> h = handler_;
  if (h && h->OnTimer(timer_reason_)) return;
  Close(timer_reason_, CloseMode::kGraceful);
}

void Connection::Close(CloseReason reason, CloseMode mode) {
  if (handles_closing_) return;
  const bool first = !closing_;
  if (first) {
    closing_ = true;
    close_reason_ = reason;
  }
  if (mode == CloseMode::kImmediate) {
    CloseHandles();
    return;
  }
  if (!first) return;
  loop_.timers().Schedule(this, kLingerMs);
  UpdateReading();
  StartShutdownIfFlushed();
}

void Connection::CloseForShutdown() { Close(CloseReason::kServerShutdown, CloseMode::kImmediate); }

void Connection::Drain() {
  if (closing_) return;
  std::shared_ptr<ConnectionHandler> handler = handler_;  // may replace itself
  if (!handler || !handler->OnDrain()) Close(CloseReason::kServerShutdown);
}

void Connection::StartShutdownIfFlushed() {
  if (!closing_ || shutdown_started_ || handles_closing_) return;
  // Before the handshake ends nothing can be encrypted (a response to a
  // client that never finished it, e.g. a 408).
  if (tls_ && !tls_->handshake_done()) queue_.Clear();
  if (queued_bytes() != 0) {
    loop_.MarkDirty(this);  // AfterDrained() calls back here
    return;
  }
  if (tls_ && !tls_->shutdown_sent() && tls_->handshake_done() && !tls_->failed()) {
    tls_->Shutdown();  // close_notify, then our FIN (the client's is not awaited)
    if (!cipher_.empty()) {
      loop_.MarkDirty(this);
      return;
    }
  }
  shutdown_started_ = true;
  if (!shutdown_req_) shutdown_req_ = std::make_unique<uv_shutdown_t>();
  shutdown_req_->data = this;
  const int rc =
      uv_shutdown(shutdown_req_.get(), Stream(&tcp_), [](uv_shutdown_t* req, int status) {
        static_cast<Connection*>(req->data)->OnShutdownDone(status);
      });
  if (rc != 0) CloseHandles();
}

void Connection::OnShutdownDone(int status) {
  if (handles_closing_) return;
  // Our FIN is out. If the peer already sent its own, we are done; otherwise
  // keep reading until it does (or the linger timer fires).
  if (status < 0 || eof_) CloseHandles();
}

void Connection::CloseHandles() {
  if (handles_closing_) return;
  handles_closing_ = true;
  closing_ = true;
  SetGated(false);  // the gauge counts live connections only
  reading_ = false;
  loop_.CancelFlush(this);
  auto on_closed = [](uv_handle_t* h) { static_cast<Connection*>(h->data)->OnHandleClosed(); };
  loop_.timers().Cancel(this);
  uv_close(Handle(&tcp_), on_closed);
}

void Connection::OnHandleClosed() {
  if (--handles_open_ > 0) return;
  loop_.Unregister(this);
  if (tls_) tls_->Ended(TlsFailureOf(close_reason_));
  std::shared_ptr<ConnectionHandler> h = std::move(handler_);
  if (h) h->OnClose(close_reason_);
  h.reset();
  // The only place a Connection is freed: after libuv is done with it.
  delete this;
}

std::string Connection::peer_ip() const {
  std::string a = peer_address();
  const size_t colon = a.rfind(':');
  if (colon == std::string::npos) return a;
  a.resize(colon);
  if (a.size() >= 2 && a.front() == '[') a = a.substr(1, a.size() - 2);
  return a;
}

std::string Connection::peer_address() const {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char ip[64] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, ip, sizeof(ip));
    return "[" + std::string(ip) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
  uv_ip4_name(a, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
}

}  // namespace herald::io
