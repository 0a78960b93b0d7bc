// frontends/grpc/grpc_tls_credentials.h — the gRPC TLS listener's
// credentials, whose certificate a reload replaces without a restart.
//
// gRPC's C core asks a "certificate config fetcher" for the current
// certificate before each new handshake (grpc_security.h); this class is
// that fetcher behind grpc::ServerCredentials, so grpc::ServerBuilder takes
// it like SslServerCredentials. New connections get the certificate given
// last; open ones keep theirs. Whether client certificates are required is
// fixed when the port is added (the CA's content may change).
#pragma once

#include <grpc/grpc_security.h>
#include <grpcpp/security/server_credentials.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace herald::grpcfront {

class GrpcTlsCredentials final : public grpc::ServerCredentials {
 public:
  // PEMs as io::TlsContext read and checked them; `client_ca` empty: no
  // client certificate is asked for.
  GrpcTlsCredentials(std::string cert, std::string key, std::string client_ca);
  ~GrpcTlsCredentials() override;

  // The certificate of the handshakes from now on. Any thread.
  void Replace(std::string cert, std::string key, std::string client_ca);
  bool requires_client_certificates() const { return requires_client_certs_; }

  // No metadata processor: calls are authenticated by their token.
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override;
  // The fetcher: a new config once per Replace(), else "unchanged".
  static grpc_ssl_certificate_config_reload_status Fetch(
      void* self, grpc_ssl_server_certificate_config** config);

  const bool requires_client_certs_;
  std::mutex mu_;  // guards the PEMs and the generations
  std::string cert_, key_, client_ca_;
  uint64_t generation_ = 1;  // of the PEMs above
  uint64_t fetched_ = 0;     // the generation gRPC has
  grpc_server_credentials* creds_ = nullptr;
};

}  // namespace herald::grpcfront
