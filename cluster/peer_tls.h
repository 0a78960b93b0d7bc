// cluster/peer_tls.h — the credentials of peer links: plaintext, or mutual
// TLS from the PEM files named in ClusterOptions (tls_cert_file,
// tls_key_file, tls_ca_file).
//
// With TLS each side presents its certificate and verifies the other's
// against the cluster CA: a node accepts only peers whose certificate that CA
// signed, and a dialler checks that the certificate of the node it dials
// names the host it dialled (so peer addresses must be names or IPs the
// certificates carry). The shared secret, if set, is checked on top.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>

#include "herald/cluster_options.h"
#include "herald/status.h"

namespace herald::cluster {

struct PeerCredentials {
  std::shared_ptr<grpc::ServerCredentials> server;
  std::shared_ptr<grpc::ChannelCredentials> channel;
  bool tls = false;
};

// Reads and checks the files (each a PEM that parses; the key matches the
// certificate; the certificate verifies against the CA): kInvalidArgument
// naming the key and the problem otherwise. All three files or none.
Result<PeerCredentials> MakePeerCredentials(const ClusterOptions& options);

}  // namespace herald::cluster
