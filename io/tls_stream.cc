#include "io/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

namespace herald::io {
namespace {

// A record holds at most 16 KiB of plaintext; small chunks (a fan-out's
// frames) are gathered into one record rather than one each.
constexpr size_t kRecord = 16 * 1024;
thread_local char t_staging[kRecord];

long BioCtrl(BIO*, int cmd, long, void*) {
  // FLUSH is the one control SSL needs answered (after each flight).
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

TlsFailure Classify(unsigned long e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return TlsFailure::kProtocol;
  const int r = ERR_GET_REASON(e);
  switch (r) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return TlsFailure::kPlaintextHttp;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
      return TlsFailure::kVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_KEY_SHARE:
      return TlsFailure::kCipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return TlsFailure::kAlpn;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
      return TlsFailure::kClientCert;
    default:
      // The alerts a peer sends are reasons from SSL_AD_REASON_OFFSET on
      // ("tlsv1 alert unknown ca": it does not trust our certificate).
      return r >= SSL_AD_REASON_OFFSET ? TlsFailure::kPeerAlert : TlsFailure::kProtocol;
  }
}

}  // namespace

TlsStream::TlsStream(std::shared_ptr<const TlsContext> context, std::shared_ptr<TlsStats> stats,
                     WriteQueue& out)
    : context_(std::move(context)), stats_(std::move(stats)), out_(out) {
  // Made once, never freed: it lives as long as the process, like OpenSSL's own.
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "herald-connection");
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_ctrl(m, BioCtrl);
    return m;
  }();
  ssl_ = SSL_new(context_->raw());
  BIO* bio = BIO_new(method);
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // one BIO both ways: SSL owns it
  SSL_set_accept_state(ssl_);
  SSL_set_app_data(ssl_, this);
  SSL_set_info_callback(ssl_, OnInfo);
  stats_->in_progress.fetch_add(1, std::memory_order_relaxed);
}

TlsStream::~TlsStream() {
  Ended(TlsFailure::kShutdown);
  SSL_free(ssl_);
}

int TlsStream::BioRead(bio_st* b, char* data, int len) {
  auto* self = static_cast<TlsStream*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (self->input_.empty()) {
    BIO_set_retry_read(b);
    return -1;
  }
  const size_t n = std::min(self->input_.size(), static_cast<size_t>(len));
  std::memcpy(data, self->input_.data(), n);
  self->input_.remove_prefix(n);
  if (self->input_.empty() && !self->kept_.empty()) self->kept_ = std::string();
  return static_cast<int>(n);
}

int TlsStream::BioWrite(bio_st* b, const char* data, int len) {
  auto* self = static_cast<TlsStream*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  self->out_.Push(std::string(data, static_cast<size_t>(len)));
  return len;
}

void TlsStream::OnInfo(const ssl_st* ssl, int where, int) {
  // A TLS 1.2 client asking for a new handshake once one is done: refused
  // by SSL_OP_NO_RENEGOTIATION with a warning alert, which such a client
  // could ask for endlessly. It ends the connection instead. (TLS 1.3 has
  // no renegotiation; its post-handshake messages also start here.)
  if ((where & SSL_CB_HANDSHAKE_START) == 0 || SSL_version(ssl) >= TLS1_3_VERSION) return;
  auto* self = static_cast<TlsStream*>(SSL_get_app_data(ssl));
  if (self->handshake_done_) self->renegotiation_ = true;
}

void TlsStream::Feed(std::string_view cipher) {
  if (!cipher.empty()) received_any_ = true;
  if (input_.empty()) {
    input_ = cipher;
    return;
  }
  // What is left is in kept_ (Keep() ran when the last read ended).
  kept_.erase(0, static_cast<size_t>(input_.data() - kept_.data()));
  kept_.append(cipher);
  input_ = kept_;
}

void TlsStream::Keep() {
  if (input_.empty()) return;
  if (!kept_.empty() && input_.data() >= kept_.data() &&
      input_.data() < kept_.data() + kept_.size()) {
    return;  // already ours
  }
  kept_.assign(input_);
  input_ = kept_;
}

bool TlsStream::has_input() const { return !input_.empty() || SSL_pending(ssl_) > 0; }

void TlsStream::Fail() {
  failed_ = true;
  failure_ = Classify(ERR_peek_last_error());
  ERR_clear_error();
  if (!counted_) {
    counted_ = true;
    stats_->in_progress.fetch_sub(1, std::memory_order_relaxed);
    stats_->Fail(failure_);
  }
}

TlsStream::Outcome TlsStream::Read(char* buf, size_t cap, size_t& n) {
  n = 0;
  if (failed_) return Outcome::kFailed;
  // SSL_get_error reads the thread's error queue first: anything left on
  // it (by another connection, or a library sharing the loop thread) would
  // fail this one.
  ERR_clear_error();
  if (!handshake_done_) {
    const int rc = SSL_do_handshake(ssl_);
    if (rc != 1) {
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ) return Outcome::kWantRead;
      Fail();
      return Outcome::kFailed;
    }
    handshake_done_ = true;
    counted_ = true;
    stats_->in_progress.fetch_sub(1, std::memory_order_relaxed);
    stats_->handshakes.fetch_add(1, std::memory_order_relaxed);
  }
  const int rc = SSL_read_ex(ssl_, buf, cap, &n);
  if (renegotiation_) {
    failed_ = true;
    failure_ = TlsFailure::kProtocol;
    ERR_clear_error();
    return Outcome::kFailed;
  }
  if (rc == 1) return Outcome::kData;
  switch (SSL_get_error(ssl_, 0)) {
    case SSL_ERROR_WANT_READ:
      return Outcome::kWantRead;
    case SSL_ERROR_ZERO_RETURN:
      return Outcome::kClosed;
    default:
      Fail();
      return Outcome::kFailed;
  }
}

bool TlsStream::Encrypt(WriteQueue& in, size_t out_limit) {
  if (!handshake_done_ || failed_) return true;
  uv_buf_t bufs[64];
  ERR_clear_error();
  while (!in.empty() && out_.bytes() < out_limit) {
    in.Gather(bufs, 1);
    size_t written = 0;
    if (bufs[0].len >= kRecord) {
      // A large chunk: straight from it, a record at a time.
      if (SSL_write_ex(ssl_, bufs[0].base, kRecord, &written) != 1) return Broken(in);
      in.Consume(kRecord);
      continue;
    }
    // Small chunks (a turn's fan-out) are gathered into one record. What
    // is copied is consumed at once: a write refused below is fatal, and
    // the queue is dropped then anyway.
    size_t len = 0;
    while (len < kRecord && !in.empty()) {
      const size_t count = in.Gather(bufs, 64);
      size_t copied = 0;
      for (size_t i = 0; i < count && len < kRecord; ++i) {
        const size_t take = std::min(bufs[i].len, kRecord - len);
        std::memcpy(t_staging + len, bufs[i].base, take);
        len += take;
        copied += take;
      }
      in.Consume(copied);
    }
    if (SSL_write_ex(ssl_, t_staging, len, &written) != 1) return Broken(in);
  }
  return true;
}

bool TlsStream::Broken(WriteQueue& in) {
  // SSL_write failed, and our BIO never blocks: the session is unusable.
  Fail();
  in.Clear();
  return false;
}

void TlsStream::Shutdown() {
  if (shutdown_sent_ || !handshake_done_ || failed_) return;
  shutdown_sent_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

void TlsStream::Ended(TlsFailure close_failure) {
  if (counted_) return;
  counted_ = true;
  stats_->in_progress.fetch_sub(1, std::memory_order_relaxed);
  // A connection that closed having sent nothing (a TCP health check, a
  // port scan) did not fail a handshake: it never began one.
  if (close_failure == TlsFailure::kEof && !received_any_) return;
  stats_->Fail(close_failure);
}

}  // namespace herald::io
