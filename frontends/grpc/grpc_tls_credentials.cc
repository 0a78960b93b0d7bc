#include "frontends/grpc/grpc_tls_credentials.h"

#include <grpc/grpc.h>

#include <utility>

namespace herald::grpcfront {

GrpcTlsCredentials::GrpcTlsCredentials(std::string cert, std::string key, std::string client_ca)
    : requires_client_certs_(!client_ca.empty()),
      cert_(std::move(cert)),
      key_(std::move(key)),
      client_ca_(std::move(client_ca)) {
  grpc_ssl_server_credentials_options* options =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(
          requires_client_certs_ ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          &GrpcTlsCredentials::Fetch, this);
  creds_ = grpc_ssl_server_credentials_create_with_options(options);  // takes `options`
}

GrpcTlsCredentials::~GrpcTlsCredentials() {
  if (creds_ != nullptr) grpc_server_credentials_release(creds_);
}

void GrpcTlsCredentials::Replace(std::string cert, std::string key, std::string client_ca) {
  std::lock_guard lock(mu_);
  cert_ = std::move(cert);
  key_ = std::move(key);
  client_ca_ = std::move(client_ca);
  ++generation_;
}

int GrpcTlsCredentials::AddPortToServer(const std::string& addr, grpc_server* server) {
  return grpc_server_add_http2_port(server, addr.c_str(), creds_);
}

grpc_ssl_certificate_config_reload_status GrpcTlsCredentials::Fetch(
    void* self, grpc_ssl_server_certificate_config** config) {
  auto* c = static_cast<GrpcTlsCredentials*>(self);
  std::lock_guard lock(c->mu_);
  if (c->fetched_ == c->generation_) return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
  const grpc_ssl_pem_key_cert_pair pair{c->key_.c_str(), c->cert_.c_str()};
  // gRPC copies the PEMs and owns the config from here on. A fetched config
  // must name roots (gRPC asserts it): without a client CA they are the
  // server's own chain, never used, as no client certificate is asked for.
  const std::string& roots = c->client_ca_.empty() ? c->cert_ : c->client_ca_;
  *config = grpc_ssl_server_certificate_config_create(roots.c_str(), &pair, 1);
  c->fetched_ = c->generation_;
  return GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
}

}  // namespace herald::grpcfront
