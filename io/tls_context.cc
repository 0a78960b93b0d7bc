#include "io/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>
#include <ctime>

#include "base/file_text.h"
#include "base/openssl_ptr.h"

namespace herald::io {
namespace {

Status Invalid(const std::string& message) { return Status(ErrorCode::kInvalidArgument, message); }

// OpenSSL's reason for the last failure, for messages ("ee key too small").
std::string OpenSslReason() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* r = ERR_reason_error_string(e);
  return r ? r : "error " + std::to_string(e);
}

using openssl::Bio;
using openssl::Cert;
using openssl::MemBio;

std::string Date(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable date";
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// The only protocol heraldd's TLS port speaks; a client offering ALPN
// without it (h2 alone) is refused rather than misunderstood.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static constexpr unsigned char kHttp11[] = "\x08http/1.1";
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kHttp11, sizeof(kHttp11) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::string_view TlsFailureName(TlsFailure f) {
  switch (f) {
    case TlsFailure::kTimeout:
      return "timeout";
    case TlsFailure::kEof:
      return "eof";
    case TlsFailure::kPlaintextHttp:
      return "plaintext_http";
    case TlsFailure::kVersion:
      return "version";
    case TlsFailure::kCipher:
      return "cipher";
    case TlsFailure::kAlpn:
      return "alpn";
    case TlsFailure::kClientCert:
      return "client_cert";
    case TlsFailure::kPeerAlert:
      return "peer_alert";
    case TlsFailure::kProtocol:
      return "protocol";
    case TlsFailure::kShutdown:
      return "shutdown";
  }
  return "protocol";
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<const TlsContext>> TlsContext::Create(const TlsOptions& o) {
  if (o.cert_file.empty() || o.key_file.empty()) {
    return Invalid("tls: a TLS listener needs tls.cert_file and tls.key_file");
  }
  if (o.min_version != "1.2" && o.min_version != "1.3") {
    return Invalid("tls.min_version: \"" + o.min_version + "\" is not \"1.2\" or \"1.3\"");
  }
  std::shared_ptr<TlsContext> c(new TlsContext());
  Result<std::string> cert = ReadConfiguredFile("tls.cert_file", o.cert_file);
  if (!cert.ok()) return cert.status();
  Result<std::string> key = ReadConfiguredFile("tls.key_file", o.key_file);
  if (!key.ok()) return key.status();
  c->cert_pem_ = std::move(*cert);
  c->key_pem_ = std::move(*key);
  if (!o.client_ca_file.empty()) {
    Result<std::string> ca = ReadConfiguredFile("tls.client_ca_file", o.client_ca_file);
    if (!ca.ok()) return ca.status();
    c->client_ca_pem_ = std::move(*ca);
  }

  // The files, checked one by one so that each error names its key.
  Bio cert_bio = MemBio(c->cert_pem_);
  Cert leaf(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) {
    ERR_clear_error();
    return Invalid("tls.cert_file: not a PEM certificate");
  }
  openssl::Key pkey(
      PEM_read_bio_PrivateKey(MemBio(c->key_pem_).get(), nullptr, openssl::NoPassphrase, nullptr));
  ERR_clear_error();
  if (!pkey) return Invalid("tls.key_file: not a PEM private key (or it is encrypted)");
  if (X509_check_private_key(leaf.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return Invalid("tls.key_file: the key does not match the certificate in tls.cert_file");
  }
  const ASN1_TIME* not_after = X509_get0_notAfter(leaf.get());
  if (X509_cmp_current_time(not_after) < 0) {
    return Invalid("tls.cert_file: expired on " + Date(not_after));
  }
  {
    struct tm tm {};
    if (ASN1_TIME_to_tm(not_after, &tm) == 1) c->not_after_s_ = timegm(&tm);
  }

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Invalid("tls: cannot create a context: " + OpenSslReason());
  c->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, o.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  // TLS 1.2: forward secrecy and AEAD only. TLS 1.3: OpenSSL's suites,
  // AES-GCM first (hardware-accelerated on servers).
  SSL_CTX_set_cipher_list(ctx,
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  SSL_CTX_set_ciphersuites(ctx,
                           "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                           "TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // An idle connection gives its record buffers back (they are most of what
  // an idle TLS connection costs).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // No server-side session cache (it is one lock across every worker);
  // TLS 1.3 resumes from stateless tickets.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  static constexpr unsigned char kSessionContext[] = "heraldd";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);

  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
    return Invalid("tls.cert_file: rejected by OpenSSL: " + OpenSslReason());
  }
  // Intermediates follow the leaf in the same file.
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      return Invalid("tls.cert_file: a chain certificate rejected by OpenSSL: " + OpenSslReason());
    }
  }
  ERR_clear_error();  // the end of the file reads as an error
  if (SSL_CTX_use_PrivateKey(ctx, pkey.get()) != 1) {
    return Invalid("tls.key_file: rejected by OpenSSL: " + OpenSslReason());
  }
  if (!c->client_ca_pem_.empty()) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    Bio ca = MemBio(c->client_ca_pem_);
    int count = 0;
    while (X509* ca_cert = PEM_read_bio_X509(ca.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, ca_cert);
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca_cert)));
      X509_free(ca_cert);
      ++count;
    }
    ERR_clear_error();
    if (count == 0) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      return Invalid("tls.client_ca_file: no PEM certificate in it");
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return std::shared_ptr<const TlsContext>(std::move(c));
}

}  // namespace herald::io
