#include "cluster/peer_tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "base/file_text.h"
#include "base/openssl_ptr.h"

namespace herald::cluster {
namespace {

Status Invalid(const std::string& what) {
  return Status(ErrorCode::kInvalidArgument, "cluster." + what);
}

Result<std::string> ReadFile(const char* key, const std::string& path) {
  return ReadConfiguredFile(std::string("cluster.") + key, path);
}

struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
using openssl::Bio;
using openssl::Cert;

Bio Read(const std::string& pem) { return openssl::MemBio(pem); }

// Checked here, where the error can name the file: gRPC would only fail to
// listen or to connect, without saying why.
Status Check(const std::string& cert_pem, const std::string& key_pem, const std::string& ca_pem) {
  Cert cert(PEM_read_bio_X509(Read(cert_pem).get(), nullptr, nullptr, nullptr));
  if (!cert) return Invalid("tls_cert_file: not a PEM certificate");
  openssl::Key key(
      PEM_read_bio_PrivateKey(Read(key_pem).get(), nullptr, openssl::NoPassphrase, nullptr));
  if (!key) return Invalid("tls_key_file: not a PEM private key (or it is encrypted)");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Invalid("tls_key_file: the key does not match the certificate in tls_cert_file");
  }
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  Bio ca = Read(ca_pem);
  int cas = 0;
  while (Cert c{PEM_read_bio_X509(ca.get(), nullptr, nullptr, nullptr)}) {
    X509_STORE_add_cert(store.get(), c.get());
    ++cas;
  }
  if (cas == 0) return Invalid("tls_ca_file: no PEM certificate in it");
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  // Intermediate certificates may follow the node's own in tls_cert_file.
  STACK_OF(X509)* chain = sk_X509_new_null();
  Bio rest = Read(cert_pem);
  Cert own(PEM_read_bio_X509(rest.get(), nullptr, nullptr, nullptr));  // already `cert`
  while (X509* c = PEM_read_bio_X509(rest.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(chain, c);
  }
  const bool ok = ctx && X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), chain) == 1 &&
                  X509_verify_cert(ctx.get()) == 1;
  const int err = ctx ? X509_STORE_CTX_get_error(ctx.get()) : X509_V_ERR_OUT_OF_MEM;
  sk_X509_pop_free(chain, X509_free);
  if (!ok) {
    return Invalid(std::string("tls_cert_file: does not verify against tls_ca_file: ") +
                   X509_verify_cert_error_string(err));
  }
  return Status::Ok();
}

}  // namespace

Result<PeerCredentials> MakePeerCredentials(const ClusterOptions& o) {
  const int set = !o.tls_cert_file.empty() + !o.tls_key_file.empty() + !o.tls_ca_file.empty();
  if (set == 0) {
    return PeerCredentials{grpc::InsecureServerCredentials(), grpc::InsecureChannelCredentials(),
                           false};
  }
  if (set != 3) return Invalid("tls_*: tls_cert_file, tls_key_file and tls_ca_file go together");
  Result<std::string> cert = ReadFile("tls_cert_file", o.tls_cert_file);
  if (!cert.ok()) return cert.status();
  Result<std::string> key = ReadFile("tls_key_file", o.tls_key_file);
  if (!key.ok()) return key.status();
  Result<std::string> ca = ReadFile("tls_ca_file", o.tls_ca_file);
  if (!ca.ok()) return ca.status();
  if (Status s = Check(*cert, *key, *ca); !s.ok()) return s;

  grpc::SslServerCredentialsOptions server(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  server.pem_root_certs = *ca;
  server.pem_key_cert_pairs.push_back({*key, *cert});
  grpc::SslCredentialsOptions channel;
  channel.pem_root_certs = *ca;
  channel.pem_private_key = *key;
  channel.pem_cert_chain = *cert;
  return PeerCredentials{grpc::SslServerCredentials(server), grpc::SslCredentials(channel), true};
}

}  // namespace herald::cluster
