// herald/tls_options.h — TLS on the client fronts (heraldd [tls]).
//
// One certificate serves HTTPS (the HTTP API, WebSocket over wss://, SSE)
// on `listen` and, with `grpc_listen`, the gRPC API. Each listener runs
// beside its plaintext one: ServerOptions::listen (HTTP) and
// GrpcLimits::listen stay as they are. No TLS while both addresses are empty.
//
//   herald::ServerOptions o;
//   o.tls.listen = "0.0.0.0:8443";
//   o.tls.cert_file = "/etc/herald/tls/cert.pem";  // leaf first, then its chain
//   o.tls.key_file = "/etc/herald/tls/key.pem";
#pragma once

#include <chrono>
#include <string>

namespace herald {

struct TlsOptions {
  std::string listen;       // HOST:PORT for HTTPS/WSS/SSE; empty: none
  std::string grpc_listen;  // HOST:PORT for gRPC over TLS; empty: none
  // PEM files, read at start: the certificate with any intermediates after
  // it, and its unencrypted private key.
  std::string cert_file;
  std::string key_file;
  // Optional: clients must then present a certificate this CA signed.
  std::string client_ca_file;
  // "1.2" (the default: TLS 1.2 and 1.3) or "1.3" (TLS 1.3 only).
  std::string min_version = "1.2";
  // A handshake must finish within this from the accept, or the connection
  // is closed (a slow or stalled client). Until it finishes the connection
  // holds an unfinished-head slot (max_pending_heads_per_ip), like a slow
  // request head; the front's own deadlines start after it.
  std::chrono::milliseconds handshake_timeout{10'000};
};

}  // namespace herald
