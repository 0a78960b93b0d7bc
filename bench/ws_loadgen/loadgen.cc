#include "bench/ws_loadgen/loadgen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "bench/ws_loadgen/nats_parser.h"
#include "bench/ws_loadgen/ws_codec.h"

namespace herald::wsbench {
namespace {

constexpr uint32_t kMagic = 0x42535748;  // "HWSB"
constexpr size_t kHeader = 24;           // magic u32, publisher u32, seq u64, send ns u64

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

enum Phase : int { kConnect, kProbe, kRun, kDrain, kClose, kExit };

// The OpenSSL error queue (and errno for SSL_ERROR_SYSCALL) as one line.
std::string TlsError(SSL* ssl, int err) {
  std::string what;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!what.empty()) what += "; ";
    what += buf;
  }
  if (ssl != nullptr) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
      what += std::string(" (certificate: ") + X509_verify_cert_error_string(v) + ")";
    }
  }
  if (what.empty()) {
    what = err == SSL_ERROR_SYSCALL ? (errno != 0 ? std::strerror(errno) : "unexpected EOF")
                                    : "SSL error " + std::to_string(err);
  }
  return what;
}

// One client context for every connection: TLS 1.2+, the server verified
// against --ca (or the system's CAs), ALPN http/1.1 offered (as a browser does
// for wss), reads ahead into a 64 KiB buffer (several records per read()).
SSL_CTX* NewClientContext(const Config& cfg, std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    error = "SSL_CTX_new: " + TlsError(nullptr, 0);
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int ok = cfg.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                               : SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr);
  if (ok != 1) {
    error = "CA " + cfg.ca_file + ": " + TlsError(nullptr, 0);
    SSL_CTX_free(ctx);
    return nullptr;
  }
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn - 1);
  // Partial writes: Flush() keeps its offset into the queue as for send();
  // the queue may grow (move) between a WANT_WRITE and the retry.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // An EOF without close_notify reads as a close (as a plain EOF would).
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
  return ctx;
}

class Worker;

struct Shared {
  const Config* cfg = nullptr;
  std::atomic<int> phase{kConnect};
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::atomic<int> probed{0};
  std::atomic<int> open{0};
  std::atomic<int> phase_acks{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> disconnects{0};
  std::atomic<bool> pub_waiting{false};
  std::atomic<int64_t> run_start_ns{0};
  std::mutex error_mu;
  std::string first_error;
  Worker* window_pub_worker = nullptr;
  SSL_CTX* tls = nullptr;
  std::string tls_version, tls_cipher, alpn;  // first handshake, under error_mu

  void Error(const std::string& e) {
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.empty()) first_error = e;
  }
};

enum class State { kIdle, kConnecting, kTlsHandshake, kHandshake, kOpen, kClosing, kClosed };

struct Conn {
  int index = 0;
  int fd = -1;
  Worker* worker = nullptr;
  bool is_pub = false;
  bool is_sub = false;
  uint32_t pub_id = 0;
  State state = State::kIdle;
  bool ready = false;
  bool epollout = false;
  bool nats_mode = false;
  SSL* ssl = nullptr;             // TLS: over fd (SSL_set_fd), freed by CloseFd
  bool write_wants_read = false;  // TLS: SSL_write waits for a read
  bool read_wants_write = false;  // TLS: SSL_read waits for a write
  bool peer_eof = false;          // TLS: the server closed (close_notify or EOF)

  std::string out;
  size_t out_off = 0;
  std::string handshake_in;
  std::string expected_accept;

  FrameParser<Conn> frames;
  NatsParser<Conn, kHeader> nats;
  char msg_head[kHeader];
  size_t msg_head_len = 0;

  // Subscriber side (owner thread only, except max_seq).
  uint64_t received = 0;
  uint64_t dups = 0;
  uint64_t echoes = 0;
  bool probed = false;
  std::vector<uint64_t> next_seq;    // per publisher id
  std::atomic<uint64_t> max_seq{0};  // highest seq seen from publisher 0 (window)

  // Publisher side.
  uint64_t sent = 0;
  std::atomic<uint64_t> sent_shared{0};
  int64_t next_ns = 0;
  int64_t interval_ns = 0;

  // Sinks for the parsers.
  void OnWsData(const char* p, size_t n);
  void OnWsMessageEnd();
  void OnWsControl(uint8_t op, std::string_view payload);
  void OnNatsMsg(const char* head, size_t head_len, uint64_t len);
  void OnNatsLine(std::string_view line);
};

class Worker {
 public:
  Worker(Shared& sh, int id) : sh_(sh), cfg_(*sh.cfg), id_(id), rng_(std::random_device{}()) {
    xs_ = rng_() | 1;
  }
  void Add(Conn* c) {
    c->worker = this;
    conns_.push_back(c);
    if (c->is_pub) pubs_.push_back(c);
  }
  void SetAllSubs(const std::vector<Conn*>* subs) { all_subs_ = subs; }
  void Run();
  void Wake() {
    uint64_t one = 1;
    ssize_t r = write(efd_, &one, sizeof one);
    (void)r;
  }

  // Results (read after join).
  LatencyHistogram hist;
  int64_t last_recv_ns = 0;

  // Called from Conn sinks.
  void OnAppMessage(Conn* c, const char* head, size_t head_len);
  void Fail(Conn* c, const std::string& why);
  void SendRaw(Conn* c, std::string_view bytes) {
    c->out.append(bytes);
    Flush(c);
  }
  void SendFrame(Conn* c, uint8_t op, std::initializer_list<std::string_view> parts) {
    AppendClientFrame(c->out, op, parts, NextMask());
    Flush(c);
  }
  void CloseFd(Conn* c, bool count_disconnect);
  int phase() const { return phase_; }
  void MarkReady(Conn* c);

 private:
  uint32_t NextMask() {
    xs_ ^= xs_ << 13;
    xs_ ^= xs_ >> 7;
    xs_ ^= xs_ << 17;
    return static_cast<uint32_t>(xs_);
  }
  void StartConnects();
  void StartConnect(Conn* c);
  void OnWritable(Conn* c);
  void OnReadable(Conn* c);
  void ReadTls(Conn* c);
  // `n` bytes read into rbuf_ (plaintext): to the handshake or the frame parser.
  void OnBytes(Conn* c, size_t n);
  void StartTls(Conn* c);
  void TlsHandshake(Conn* c);
  void SendUpgrade(Conn* c);
  void OnPeerClosed(Conn* c);
  void OnReadError(Conn* c, const std::string& why);
  void OnHandshakeBytes(Conn* c, const char* p, size_t n);
  void Feed(Conn* c, const char* p, size_t n);
  void Flush(Conn* c);
  void SetEpollOut(Conn* c, bool on);
  void EnterPhase(int phase);
  void Probe();
  void Publish();
  void AppendMessage(Conn* c, uint64_t seq);
  uint64_t MinAcked() const;
  void ArmTimer();

  Shared& sh_;
  const Config& cfg_;
  int id_;
  std::mt19937_64 rng_;
  uint64_t xs_;
  int ep_ = -1;
  int efd_ = -1;
  int tfd_ = -1;
  std::vector<Conn*> conns_;
  std::vector<Conn*> pubs_;
  const std::vector<Conn*>* all_subs_ = nullptr;
  size_t next_connect_ = 0;
  int connecting_ = 0;
  int phase_ = -1;
  int64_t now_ns_ = 0;
  int64_t next_probe_ns_ = 0;
  uint64_t cached_min_ = 0;
  uint64_t batch_received_ = 0;
  std::string payload_;      // template: header overwritten per message
  std::string nats_prefix_;  // "PUB <subject> <n>\r\n"
  std::vector<char> rbuf_ = std::vector<char>(256 * 1024);
  sockaddr_in addr_{};
};

// ---- Conn sinks -------------------------------------------------------------

void Conn::OnWsData(const char* p, size_t n) {
  if (worker == nullptr) return;
  if (nats_mode) {
    if (!nats.Feed(p, n, *this)) worker->Fail(this, "nats protocol: " + nats.error());
    return;
  }
  if (msg_head_len < kHeader) {
    size_t take = std::min(n, kHeader - msg_head_len);
    std::memcpy(msg_head + msg_head_len, p, take);
    msg_head_len += take;
  }
}

void Conn::OnWsMessageEnd() {
  if (nats_mode) return;
  worker->OnAppMessage(this, msg_head, msg_head_len);
  msg_head_len = 0;
}

void Conn::OnWsControl(uint8_t op, std::string_view payload) {
  if (op == kOpPing) {
    worker->SendFrame(this, kOpPong, {payload});
  } else if (op == kOpClose) {
    if (state != State::kClosing) {
      // Echo the status code, then wait for the server to close the TCP stream.
      worker->SendFrame(this, kOpClose, {payload.substr(0, std::min<size_t>(2, payload.size()))});
      if (state == State::kOpen && worker->phase() < kClose) {
        worker->Fail(this, "server closed the WebSocket");
        return;
      }
    }
    worker->CloseFd(this, false);
  }
}

void Conn::OnNatsMsg(const char* head, size_t head_len, uint64_t /*len*/) {
  worker->OnAppMessage(this, head, head_len);
}

void Conn::OnNatsLine(std::string_view line) {
  if (line == "PING") {
    worker->SendFrame(this, kOpBinary, {"PONG\r\n"});
  } else if (line == "PONG") {
    if (!ready) worker->MarkReady(this);
  } else if (line.substr(0, 4) == "-ERR") {
    worker->Fail(this, "nats: " + std::string(line));
  }
}

// ---- Worker -----------------------------------------------------------------

void Worker::Fail(Conn* c, const std::string& why) {
  if (c->fd < 0) return;
  sh_.Error("connection " + std::to_string(c->index) + ": " + why);
  if (!c->ready) {
    sh_.failed.fetch_add(1);
    --connecting_;
  }
  CloseFd(c, c->ready);
}

void Worker::CloseFd(Conn* c, bool count_disconnect) {
  if (c->fd < 0) return;
  if (count_disconnect && phase_ < kClose) sh_.disconnects.fetch_add(1);
  epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd, nullptr);
  if (c->ssl != nullptr) {
    // close_notify (best effort, non-blocking) unless the server closed first.
    if (!c->peer_eof && (c->state == State::kOpen || c->state == State::kClosing)) {
      SSL_shutdown(c->ssl);
    }
    SSL_free(c->ssl);
    c->ssl = nullptr;
    ERR_clear_error();
  }
  close(c->fd);
  c->fd = -1;
  if (c->state == State::kOpen || c->state == State::kClosing) sh_.open.fetch_sub(1);
  c->state = State::kClosed;
}

void Worker::MarkReady(Conn* c) {
  c->ready = true;
  --connecting_;
  sh_.ready.fetch_add(1);
}

void Worker::StartConnects() {
  while (phase_ == kConnect && connecting_ < cfg_.max_connecting && next_connect_ < conns_.size()) {
    StartConnect(conns_[next_connect_++]);
  }
}

void Worker::StartConnect(Conn* c) {
  ++connecting_;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    c->state = State::kClosed;
    sh_.Error(std::string("socket: ") + std::strerror(errno));
    sh_.failed.fetch_add(1);
    --connecting_;
    return;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = State::kConnecting;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = c;
  c->epollout = true;
  epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd, &ev);
  if (connect(c->fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) < 0 &&
      errno != EINPROGRESS) {
    Fail(c, std::string("connect: ") + std::strerror(errno));
  }
}

void Worker::SetEpollOut(Conn* c, bool on) {
  if (c->epollout == on || c->fd < 0) return;
  c->epollout = on;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.ptr = c;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev);
}

void Worker::Flush(Conn* c) {
  if (c->fd < 0 || c->state == State::kConnecting || c->state == State::kTlsHandshake) return;
  while (c->out_off < c->out.size()) {
    if (c->ssl != nullptr) {
      // Partial-write mode: returns once some records are out; the retry after
      // WANT_WRITE passes the same bytes (the queue may only have grown).
      size_t len = std::min<size_t>(c->out.size() - c->out_off, INT_MAX);
      ERR_clear_error();
      int n = SSL_write(c->ssl, c->out.data() + c->out_off, static_cast<int>(len));
      if (n > 0) {
        c->out_off += static_cast<size_t>(n);
        continue;
      }
      int err = SSL_get_error(c->ssl, n);
      if (err == SSL_ERROR_WANT_WRITE) {
        SetEpollOut(c, true);
        return;
      }
      if (err == SSL_ERROR_WANT_READ) {  // retried by ReadTls
        c->write_wants_read = true;
        return;
      }
      Fail(c, "TLS write: " + TlsError(c->ssl, err));
      return;
    }
    ssize_t n = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        SetEpollOut(c, true);
        return;
      }
      Fail(c, std::string("send: ") + std::strerror(errno));
      return;
    }
    c->out_off += static_cast<size_t>(n);
  }
  c->out.clear();
  c->out_off = 0;
  SetEpollOut(c, false);
}

void Worker::OnWritable(Conn* c) {
  if (c->state == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      Fail(c, std::string("connect: ") + std::strerror(err));
      return;
    }
    if (sh_.tls != nullptr) {
      StartTls(c);
    } else {
      SendUpgrade(c);
    }
    return;
  }
  if (c->state == State::kTlsHandshake) {
    TlsHandshake(c);
    return;
  }
  Flush(c);
  if (c->read_wants_write && c->fd >= 0) {
    c->read_wants_write = false;
    ReadTls(c);
  }
}

void Worker::SendUpgrade(Conn* c) {
  uint8_t key_bytes[16];
  for (auto& b : key_bytes) b = static_cast<uint8_t>(rng_());
  std::string key = Base64(key_bytes, sizeof key_bytes);
  c->expected_accept = WebSocketAccept(key);
  c->state = State::kHandshake;
  c->out = "GET " + cfg_.path + " HTTP/1.1\r\nHost: " + cfg_.host + ":" +
           std::to_string(cfg_.port) +
           "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
           "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  c->out_off = 0;
  Flush(c);
}

void Worker::StartTls(Conn* c) {
  c->ssl = SSL_new(sh_.tls);
  if (c->ssl == nullptr || SSL_set_fd(c->ssl, c->fd) != 1) {
    Fail(c, "SSL_new: " + TlsError(nullptr, 0));
    return;
  }
  SSL_set_connect_state(c->ssl);
  // An IP address is verified against the certificate's IP SANs and, as RFC
  // 6066 asks, not sent as SNI; a name is both sent and verified.
  in6_addr ip{};
  const bool is_ip = inet_pton(AF_INET, cfg_.host.c_str(), &ip) == 1 ||
                     inet_pton(AF_INET6, cfg_.host.c_str(), &ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), cfg_.host.c_str());
  } else {
    SSL_set_tlsext_host_name(c->ssl, cfg_.host.c_str());
    SSL_set1_host(c->ssl, cfg_.host.c_str());
  }
  c->state = State::kTlsHandshake;
  TlsHandshake(c);
}

void Worker::TlsHandshake(Conn* c) {
  ERR_clear_error();
  int r = SSL_connect(c->ssl);
  if (r == 1) {
    {
      std::lock_guard<std::mutex> lock(sh_.error_mu);
      if (sh_.tls_version.empty()) {
        sh_.tls_version = SSL_get_version(c->ssl);
        sh_.tls_cipher = SSL_get_cipher_name(c->ssl);
        const unsigned char* proto = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(c->ssl, &proto, &len);
        sh_.alpn.assign(reinterpret_cast<const char*>(proto), proto ? len : 0);
      }
    }
    SendUpgrade(c);
    return;
  }
  int err = SSL_get_error(c->ssl, r);
  if (err == SSL_ERROR_WANT_READ) {
    SetEpollOut(c, false);
  } else if (err == SSL_ERROR_WANT_WRITE) {
    SetEpollOut(c, true);
  } else {
    Fail(c, "TLS handshake: " + TlsError(c->ssl, err));
  }
}

void Worker::OnPeerClosed(Conn* c) {
  if (c->state == State::kClosing || phase_ >= kClose) {
    CloseFd(c, false);
  } else {
    Fail(c, "server closed the connection");
  }
}

void Worker::OnReadError(Conn* c, const std::string& why) {
  if (phase_ >= kClose) {
    CloseFd(c, false);
  } else {
    Fail(c, why);
  }
}

void Worker::OnBytes(Conn* c, size_t n) {
  now_ns_ = NowNs();
  if (c->state == State::kHandshake) {
    OnHandshakeBytes(c, rbuf_.data(), n);
  } else {
    Feed(c, rbuf_.data(), n);
  }
}

void Worker::ReadTls(Conn* c) {
  if (c->state == State::kTlsHandshake) {
    TlsHandshake(c);
    if (c->fd < 0 || c->state == State::kTlsHandshake) return;
  }
  while (c->fd >= 0) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, rbuf_.data(), static_cast<int>(rbuf_.size()));
    if (n > 0) {
      OnBytes(c, static_cast<size_t>(n));
      // SSL_read returns one record at a time: go on while OpenSSL holds
      // bytes read ahead; what is still in the socket wakes epoll again.
      if (c->fd >= 0 && !SSL_has_pending(c->ssl)) break;
      continue;
    }
    int err = SSL_get_error(c->ssl, n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_WANT_WRITE) {  // a post-handshake message to answer
      c->read_wants_write = true;
      SetEpollOut(c, true);
      break;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      c->peer_eof = true;
      OnPeerClosed(c);
      return;
    }
    c->peer_eof = true;
    OnReadError(c, "TLS read: " + TlsError(c->ssl, err));
    return;
  }
  if (c->fd >= 0 && c->write_wants_read) {
    c->write_wants_read = false;
    Flush(c);
  }
}

void Worker::OnReadable(Conn* c) {
  if (c->ssl != nullptr) {
    ReadTls(c);
    return;
  }
  while (c->fd >= 0) {
    ssize_t n = recv(c->fd, rbuf_.data(), rbuf_.size(), MSG_DONTWAIT);
    if (n > 0) {
      OnBytes(c, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < rbuf_.size()) return;
      continue;
    }
    if (n == 0) {
      OnPeerClosed(c);
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      OnReadError(c, std::string("recv: ") + std::strerror(errno));
    }
    return;
  }
}

bool HeaderEquals(std::string_view head, std::string_view name, std::string_view value) {
  // Case-insensitive search for "\r\n<name>:" and an exact (trimmed) value.
  for (size_t pos = head.find("\r\n"); pos != std::string_view::npos;
       pos = head.find("\r\n", pos + 2)) {
    std::string_view line = head.substr(pos + 2);
    line = line.substr(0, line.find("\r\n"));
    if (line.size() <= name.size() || line[name.size()] != ':') continue;
    bool match = true;
    for (size_t i = 0; i < name.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) ==
              std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (!match) continue;
    std::string_view v = line.substr(name.size() + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v == value;
  }
  return false;
}

void Worker::OnHandshakeBytes(Conn* c, const char* p, size_t n) {
  c->handshake_in.append(p, n);
  size_t end = c->handshake_in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c->handshake_in.size() > 16 * 1024) Fail(c, "handshake response too long");
    return;
  }
  std::string_view head(c->handshake_in.data(), end + 2);
  std::string_view status = head.substr(0, head.find("\r\n"));
  if (status.size() < 12 || status.substr(9, 3) != "101") {
    Fail(c, "handshake refused: " + std::string(status));
    return;
  }
  if (!HeaderEquals(head, "sec-websocket-accept", c->expected_accept)) {
    Fail(c, "handshake: missing or wrong Sec-WebSocket-Accept");
    return;
  }
  std::string rest = c->handshake_in.substr(end + 4);
  c->handshake_in = std::string();
  c->state = State::kOpen;
  sh_.open.fetch_add(1);
  if (cfg_.mode == Mode::kRaw) {
    MarkReady(c);
  } else {
    // CONNECT, SUB (subscribers), then PING: the PONG proves the SUB is in place.
    std::string cmd = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
    if (c->is_sub) cmd += "SUB " + cfg_.subject + " 1\r\n";
    cmd += "PING\r\n";
    SendFrame(c, kOpBinary, {cmd});
  }
  if (!rest.empty() && c->fd >= 0) Feed(c, rest.data(), rest.size());
}

void Worker::Feed(Conn* c, const char* p, size_t n) {
  if (!c->frames.Feed(p, n, *c) && c->fd >= 0) Fail(c, "websocket: " + c->frames.error());
}

void Worker::OnAppMessage(Conn* c, const char* head, size_t head_len) {
  uint32_t magic, pub;
  uint64_t seq;
  int64_t sent_ns;
  if (head_len < kHeader) return;  // not one of ours
  std::memcpy(&magic, head, 4);
  if (magic != kMagic) return;
  std::memcpy(&pub, head + 4, 4);
  std::memcpy(&seq, head + 8, 8);
  std::memcpy(&sent_ns, head + 16, 8);
  if (!c->is_sub) {
    if (seq != 0) ++c->echoes;
    return;
  }
  if (seq == 0) {  // probe
    if (!c->probed) {
      c->probed = true;
      sh_.probed.fetch_add(1);
    }
    return;
  }
  ++c->received;
  ++batch_received_;
  last_recv_ns = now_ns_;
  hist.Record(now_ns_ > sent_ns ? static_cast<uint64_t>(now_ns_ - sent_ns) : 0);
  if (pub >= c->next_seq.size()) return;
  uint64_t& next = c->next_seq[pub];
  if (seq >= next) {
    next = seq + 1;
    if (pub == 0) c->max_seq.store(seq, std::memory_order_relaxed);
  } else {
    ++c->dups;
  }
}

void Worker::AppendMessage(Conn* c, uint64_t seq) {
  std::memcpy(payload_.data() + 4, &c->pub_id, 4);
  std::memcpy(payload_.data() + 8, &seq, 8);
  int64_t now = NowNs();
  std::memcpy(payload_.data() + 16, &now, 8);
  if (cfg_.mode == Mode::kRaw) {
    AppendClientFrame(c->out, kOpBinary, {payload_}, NextMask());
  } else {
    AppendClientFrame(c->out, kOpBinary, {nats_prefix_, payload_, "\r\n"}, NextMask());
  }
}

uint64_t Worker::MinAcked() const {
  uint64_t m = UINT64_MAX;
  for (const Conn* s : *all_subs_) {
    if (s->state == State::kClosed) continue;  // a dead subscriber must not stall the run
    m = std::min(m, s->max_seq.load(std::memory_order_relaxed));
  }
  return m == UINT64_MAX ? 0 : m;
}

void Worker::Probe() {
  // Publisher 0 (or, with no publisher, nobody) sends seq-0 probes every 50 ms
  // until the coordinator has seen every subscriber receive one.
  if (pubs_.empty() || pubs_[0]->pub_id != 0 || now_ns_ < next_probe_ns_) return;
  Conn* c = pubs_[0];
  if (c->fd < 0) return;
  next_probe_ns_ = now_ns_ + 50'000'000;
  AppendMessage(c, 0);
  Flush(c);
}

void Worker::Publish() {
  const uint64_t limit = cfg_.count ? cfg_.count : UINT64_MAX;
  for (Conn* c : pubs_) {
    if (c->fd < 0) continue;
    if (cfg_.rate <= 0) {
      // Window mode: keep at most `window` messages ahead of the slowest subscriber.
      while (c->sent < limit && c->out.size() - c->out_off < (1u << 20)) {
        if (c->sent - cached_min_ >= cfg_.window) {
          sh_.pub_waiting.store(true);
          cached_min_ = MinAcked();
          if (c->sent - cached_min_ >= cfg_.window) break;
          sh_.pub_waiting.store(false);
        }
        AppendMessage(c, ++c->sent);
      }
    } else {
      // Paced: send what is due, catching up at most 10 messages at a time.
      int burst = 0;
      while (c->sent < limit && now_ns_ >= c->next_ns && burst++ < 10) {
        AppendMessage(c, ++c->sent);
        c->next_ns += c->interval_ns;
      }
      if (now_ns_ >= c->next_ns) c->next_ns = now_ns_ + c->interval_ns;
    }
    c->sent_shared.store(c->sent, std::memory_order_relaxed);
    Flush(c);
  }
}

void Worker::ArmTimer() {
  itimerspec spec{};
  if (phase_ == kRun && cfg_.rate > 0 && !pubs_.empty()) {
    int64_t next = INT64_MAX;
    for (Conn* c : pubs_) {
      if (c->fd >= 0) next = std::min(next, c->next_ns);
    }
    if (next == INT64_MAX) return;
    if (next <= now_ns_) next = now_ns_ + 1000;
    spec.it_value.tv_sec = next / 1'000'000'000;
    spec.it_value.tv_nsec = next % 1'000'000'000;
    timerfd_settime(tfd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  }
}

void Worker::EnterPhase(int phase) {
  phase_ = phase;
  if (phase == kRun) {
    int64_t start = sh_.run_start_ns.load();
    for (Conn* c : pubs_) {
      if (cfg_.rate > 0) {
        c->interval_ns = static_cast<int64_t>(1e9 / cfg_.rate);
        // Spread the publishers over one interval (chat room: not all at once).
        c->next_ns =
            start + (pubs_.size() > 1
                         ? static_cast<int64_t>(rng_() % static_cast<uint64_t>(c->interval_ns))
                         : 0);
      }
    }
  } else if (phase == kClose) {
    for (Conn* c : conns_) {
      if (c->fd < 0) continue;
      if (c->state == State::kOpen) {
        c->state = State::kClosing;
        SendFrame(c, kOpClose, {std::string_view("\x03\xe8", 2)});
      } else if (c->state != State::kClosing) {
        CloseFd(c, false);
      }
    }
  }
  sh_.phase_acks.fetch_add(1);
}

void Worker::Run() {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  tfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &efd_;
  epoll_ctl(ep_, EPOLL_CTL_ADD, efd_, &ev);
  ev.data.ptr = &tfd_;
  epoll_ctl(ep_, EPOLL_CTL_ADD, tfd_, &ev);
  addr_.sin_family = AF_INET;
  addr_.sin_port = htons(static_cast<uint16_t>(cfg_.port));
  inet_pton(AF_INET, cfg_.host.c_str(), &addr_.sin_addr);
  payload_.assign(std::max(cfg_.payload, kHeader), 'x');
  std::memcpy(payload_.data(), &kMagic, 4);
  nats_prefix_ = "PUB " + cfg_.subject + " " + std::to_string(payload_.size()) + "\r\n";

  std::vector<epoll_event> events(512);
  while (true) {
    int phase = sh_.phase.load(std::memory_order_acquire);
    if (phase != phase_) {
      EnterPhase(phase);
      if (phase == kExit) break;
    }
    now_ns_ = NowNs();
    StartConnects();
    if (phase_ == kProbe) Probe();
    if (phase_ == kRun) Publish();
    ArmTimer();
    int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 5);
    batch_received_ = 0;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &efd_ || tag == &tfd_) {
        uint64_t v;
        ssize_t r = read(tag == &efd_ ? efd_ : tfd_, &v, sizeof v);
        (void)r;
        continue;
      }
      Conn* c = static_cast<Conn*>(tag);
      if (c->fd < 0) continue;
      if (events[i].events & EPOLLOUT) OnWritable(c);
      if (c->fd >= 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) OnReadable(c);
    }
    if (batch_received_ > 0) {
      sh_.received.fetch_add(batch_received_, std::memory_order_relaxed);
      Worker* pw = sh_.window_pub_worker;
      if (pw != nullptr && pw != this && sh_.pub_waiting.load(std::memory_order_relaxed) &&
          sh_.pub_waiting.exchange(false)) {
        pw->Wake();
      }
    }
  }
  for (Conn* c : conns_) {
    if (c->fd >= 0) CloseFd(c, false);
  }
  close(ep_);
  close(efd_);
  close(tfd_);
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

template <class Pred>
bool WaitFor(Pred pred, double timeout_s, int poll_us = 1000) {
  int64_t deadline = NowNs() + static_cast<int64_t>(timeout_s * 1e9);
  while (!pred()) {
    if (NowNs() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(poll_us));
  }
  return true;
}

}  // namespace

long ReadVmRssKib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

Result RunScenario(const Config& cfg) {
  Result res;
  Shared sh;
  sh.cfg = &cfg;
  if (cfg.tls) {
    sh.tls = NewClientContext(cfg, res.error);
    if (sh.tls == nullptr) return res;
  }
  const int threads = std::clamp(cfg.threads, 1, 16);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) workers.push_back(std::make_unique<Worker>(sh, i));

  // Connections: publishers first (ids 0..P-1), then pure subscribers.
  const int pubs = cfg.idle ? 0 : cfg.publishers;
  const int total = pubs + cfg.subscribers;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<Conn*> subs;
  for (int i = 0; i < total; ++i) {
    auto c = std::make_unique<Conn>();
    c->index = i;
    c->nats_mode = cfg.mode == Mode::kNats;
    c->is_pub = i < pubs;
    c->is_sub = i >= pubs || cfg.publishers_subscribe;
    c->pub_id = c->is_pub ? static_cast<uint32_t>(i) : UINT32_MAX;
    c->next_seq.assign(static_cast<size_t>(std::max(pubs, 1)), 1);
    if (c->is_sub) subs.push_back(c.get());
    workers[static_cast<size_t>(i % threads)]->Add(c.get());
    conns.push_back(std::move(c));
  }
  for (auto& w : workers) w->SetAllSubs(&subs);
  if (pubs > 0) sh.window_pub_worker = workers[0].get();
  res.connections = total;
  res.subscriber_count = static_cast<int>(subs.size());
  const int nworkers = threads;
  auto set_phase = [&](int p) {
    sh.phase_acks.store(0);
    sh.phase.store(p, std::memory_order_release);
    for (auto& w : workers) w->Wake();
    WaitFor([&] { return sh.phase_acks.load() >= nworkers; }, 5);
  };

  res.rss_before_kib = ReadVmRssKib(cfg.server_pid);
  const int64_t setup_start = NowNs();
  std::vector<std::thread> ths;
  for (auto& w : workers) ths.emplace_back([&w] { w->Run(); });

  bool ok =
      WaitFor([&] { return sh.ready.load() + sh.failed.load() >= total; }, cfg.setup_timeout_s);
  res.setup_s = static_cast<double>(NowNs() - setup_start) / 1e9;
  if (!ok || sh.failed.load() > 0) {
    res.error =
        !ok ? "setup timed out (" + std::to_string(sh.ready.load()) + "/" + std::to_string(total) +
                  " ready)"
            : std::to_string(sh.failed.load()) + " connection(s) failed, first: " + sh.first_error;
  } else if (cfg.idle) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // let the server settle
    res.rss_after_kib = ReadVmRssKib(cfg.server_pid);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, cfg.hold_s - 1) * 1000)));
    if (sh.open.load() < total) {
      res.error = std::to_string(total - sh.open.load()) + " connection(s) dropped while idle";
    }
    res.ok = res.error.empty();
  } else {
    set_phase(kProbe);
    if (!WaitFor([&] { return sh.probed.load() >= static_cast<int>(subs.size()); }, 5)) {
      res.error = "probe reached only " + std::to_string(sh.probed.load()) + "/" +
                  std::to_string(subs.size()) + " subscribers";
    } else {
      const double cpu0 = CpuSeconds();
      sh.run_start_ns.store(NowNs());
      set_phase(kRun);
      const int64_t start = sh.run_start_ns.load();
      const uint64_t limit = cfg.count ? cfg.count : UINT64_MAX;
      WaitFor(
          [&] {
            for (int i = 0; i < pubs; ++i) {
              if (conns[static_cast<size_t>(i)]->sent_shared.load() < limit) return false;
            }
            return true;
          },
          cfg.duration_s, 2000);
      set_phase(kDrain);  // publishers have stopped once every worker acked
      res.publish_s = static_cast<double>(NowNs() - start) / 1e9;
      for (int i = 0; i < pubs; ++i) res.sent += conns[static_cast<size_t>(i)]->sent_shared.load();
      res.expected = res.sent * subs.size();
      WaitFor([&] { return sh.received.load() >= res.expected; }, cfg.drain_s);
      res.gen_cpu_s = CpuSeconds() - cpu0;
      res.measure_s = static_cast<double>(NowNs() - start) / 1e9;
      res.ok = true;
    }
  }
  set_phase(kClose);
  WaitFor([&] { return sh.open.load() <= 0; }, 1);
  sh.phase.store(kExit, std::memory_order_release);
  for (auto& w : workers) w->Wake();
  for (auto& t : ths) t.join();

  int64_t last = 0;
  for (auto& w : workers) {
    res.latency.Merge(w->hist);
    last = std::max(last, w->last_recv_ns);
  }
  if (last > 0) res.delivery_s = static_cast<double>(last - sh.run_start_ns.load()) / 1e9;
  for (Conn* s : subs) {
    res.received += s->received;
    res.duplicates += s->dups;
    uint64_t unique = s->received - s->dups;
    if (res.ok && !cfg.idle) res.lost += res.sent > unique ? res.sent - unique : 0;
  }
  for (auto& c : conns) res.echoes += c->echoes;
  res.disconnects = sh.disconnects.load();
  if (!res.ok && res.error.empty()) res.error = sh.first_error;
  res.tls_version = sh.tls_version;
  res.tls_cipher = sh.tls_cipher;
  res.alpn = sh.alpn;
  if (sh.tls != nullptr) SSL_CTX_free(sh.tls);
  return res;
}

}  // namespace herald::wsbench
