// io/tls_context.h — the server side of TLS: certificates, settings, stats.
//
// A TlsContext is one immutable OpenSSL context built from TlsOptions, with
// every file read and checked at once, so a bad certificate is refused at
// start (or at a reload) with the key that names it:
//
//   Result<std::shared_ptr<const TlsContext>> c = TlsContext::Create(options);
//   if (!c.ok()) ... c.status().message() == "tls.key_file: the key does not match ..."
//
// A TlsServer holds the context connections start with and their counters.
// Replace() swaps the context (a reloaded certificate): connections already
// open keep the one they began with, new ones take the new one.
// Connection::StartTls() (io/connection.h) puts a connection behind it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "herald/status.h"
#include "herald/tls_options.h"

struct ssl_ctx_st;

namespace herald::io {

class TlsContext {
 public:
  static Result<std::shared_ptr<const TlsContext>> Create(const TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* raw() const { return ctx_; }
  // The files as read, for a front with a TLS stack of its own (gRPC).
  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& key_pem() const { return key_pem_; }
  const std::string& client_ca_pem() const { return client_ca_pem_; }
  // The leaf certificate's notAfter, in seconds since the epoch.
  int64_t not_after_s() const { return not_after_s_; }

 private:
  TlsContext() = default;
  ssl_ctx_st* ctx_ = nullptr;
  std::string cert_pem_, key_pem_, client_ca_pem_;
  int64_t not_after_s_ = 0;
};

// Why a handshake did not finish; one counter each.
enum class TlsFailure {
  kTimeout,        // the head timeout ran out mid-handshake (a slow client)
  kEof,            // the client went away mid-handshake
  kPlaintextHttp,  // plain HTTP on the TLS port (answered 400)
  kVersion,        // no protocol version in common (e.g. TLS 1.1)
  kCipher,         // no cipher suite or group in common
  kAlpn,           // ALPN offered without http/1.1
  kClientCert,     // a client certificate missing or not verified
  kPeerAlert,      // the client refused us (e.g. it does not trust our CA)
  kProtocol,       // anything else the TLS layer refused
  kShutdown,       // the server stopped or refused the connection meanwhile
};
inline constexpr size_t kTlsFailureCount = 10;
std::string_view TlsFailureName(TlsFailure f);

struct TlsStats {
  std::atomic<uint64_t> handshakes{0};  // finished
  std::atomic<int64_t> in_progress{0};
  std::array<std::atomic<uint64_t>, kTlsFailureCount> failures{};
  void Fail(TlsFailure f) {
    failures[static_cast<size_t>(f)].fetch_add(1, std::memory_order_relaxed);
  }
};

class TlsServer {
 public:
  TlsServer(std::shared_ptr<const TlsContext> context, std::chrono::milliseconds handshake_timeout)
      : context_(std::move(context)),
        stats_(std::make_shared<TlsStats>()),
        handshake_timeout_(handshake_timeout) {}

  // Any thread.
  std::shared_ptr<const TlsContext> Current() const {
    std::lock_guard lock(mu_);
    return context_;
  }
  void Replace(std::shared_ptr<const TlsContext> context) {
    std::lock_guard lock(mu_);
    context_ = std::move(context);
  }
  // Shared with every connection, so counting outlives the server.
  const std::shared_ptr<TlsStats>& stats() const { return stats_; }
  std::chrono::milliseconds handshake_timeout() const { return handshake_timeout_; }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TlsContext> context_;
  const std::shared_ptr<TlsStats> stats_;
  const std::chrono::milliseconds handshake_timeout_;
};

}  // namespace herald::io
