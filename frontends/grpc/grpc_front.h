// frontends/grpc/grpc_front.h — the gRPC API for backends (herald.v1.Broker)
// on its own port, sharing the process's broker with the other fronts.
//
//   grpcfront::GrpcFront grpc(broker, {.listen = "127.0.0.1:0"});
//   if (Status s = grpc.Start(); !s.ok()) die(s);
//   use grpc.port();
//   grpc.Stop();   // cancels open streams after a short grace period
//
// gRPC runs its own threads (the callback API's executor); nothing of the
// libuv workers is involved.
#pragma once

#include <memory>

#include "frontends/grpc/grpc_options.h"
#include "herald/broker.h"
#include "herald/status.h"

namespace grpc {
class Server;
}

namespace herald::grpcfront {

class AdminService;
class BrokerService;
class GrpcTlsCredentials;

class GrpcFront {
 public:
  GrpcFront(Broker& broker, GrpcOptions options);
  ~GrpcFront();  // Stop()s

  // Binds options.listen and starts serving. Fails with a clear message.
  Status Start();
  uint16_t port() const { return port_; }
  uint16_t tls_port() const { return tls_port_; }
  const GrpcStats& stats() const { return *options_.stats; }
  // A reload: the TLS listener's handshakes from now on use these PEMs
  // (open connections keep theirs). kInvalidArgument when there is no
  // TLS listener, or when the client CA is given or dropped (whether client
  // certificates are required is fixed at start). Any thread.
  Status ReplaceTlsCertificate(std::string cert, std::string key, std::string client_ca);
  // A reload: calls from now on get `limits`; open streams keep theirs.
  // listen, max_message_bytes, keepalive_* and max_concurrent_streams are
  // gRPC's channel settings, which its server took at start: they stay.
  // Any thread, while started.
  void SetLimits(const GrpcLimits& limits);
  // Stops accepting calls, gives open ones `grace` to end, then cancels them.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));

 private:
  Broker& broker_;
  const GrpcOptions options_;
  std::unique_ptr<BrokerService> service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  // Its fetcher is called by server_'s handshakes: outlives it.
  std::shared_ptr<GrpcTlsCredentials> tls_;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
};

}  // namespace herald::grpcfront
