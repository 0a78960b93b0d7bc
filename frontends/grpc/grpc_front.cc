#include "frontends/grpc/grpc_front.h"

#include <grpcpp/grpcpp.h>

#include "frontends/grpc/admin_service.h"
#include "frontends/grpc/broker_service.h"
#include "frontends/grpc/grpc_tls_credentials.h"

namespace herald::grpcfront {

GrpcFront::GrpcFront(Broker& broker, GrpcOptions options)
    : broker_(broker), options_(std::move(options)) {}

GrpcFront::~GrpcFront() { Stop(); }

Status GrpcFront::Start() {
  if (server_) return Status(ErrorCode::kInvalidArgument, "gRPC front already started");
  service_ = std::make_unique<BrokerService>(broker_, options_);
  admin_ = std::make_unique<AdminService>(broker_, options_);
  grpc::ServerBuilder builder;
  int port = 0;
  int tls_port = 0;
  if (!options_.listen.empty()) {
    builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port);
  }
  if (!options_.tls_listen.empty()) {
    tls_ = std::make_shared<GrpcTlsCredentials>(options_.tls_cert_pem, options_.tls_key_pem,
                                                options_.tls_client_ca_pem);
    builder.AddListeningPort(options_.tls_listen, tls_, &tls_port);
  }
  builder.RegisterService(service_.get());
  builder.RegisterService(admin_.get());
  const int max = static_cast<int>(std::min<size_t>(options_.max_message_bytes, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max);
  builder.SetMaxSendMessageSize(max);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(options_.keepalive_time.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             static_cast<int>(options_.keepalive_timeout.count()));
  // Clients may ping while no call is open, no more often than every 10 s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  // Pinging more often than that is abuse: after two strikes the connection
  // gets GOAWAY (gRPC's default, said here on purpose).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(options_.max_concurrent_streams));
  server_ = builder.BuildAndStart();
  const bool plain_failed = !options_.listen.empty() && port == 0;
  const bool tls_failed = !options_.tls_listen.empty() && tls_port == 0;
  if (!server_ || plain_failed || tls_failed) {
    server_.reset();
    service_.reset();
    admin_.reset();
    tls_.reset();
    return Status(ErrorCode::kUnavailable,
                  (tls_failed && !plain_failed ? options_.tls_listen : options_.listen) +
                      ": cannot listen for gRPC (address in use or invalid)");
  }
  port_ = static_cast<uint16_t>(port);
  tls_port_ = static_cast<uint16_t>(tls_port);
  return Status::Ok();
}

void GrpcFront::Stop(std::chrono::milliseconds grace) {
  if (!server_) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
  service_.reset();
  admin_.reset();
  tls_.reset();
}

void GrpcFront::SetLimits(const GrpcLimits& limits) {
  if (service_) service_->SetLimits(limits);
}

Status GrpcFront::ReplaceTlsCertificate(std::string cert, std::string key, std::string client_ca) {
  if (!tls_) return Status(ErrorCode::kInvalidArgument, "no gRPC TLS listener");
  if (tls_->requires_client_certificates() == client_ca.empty()) {
    return Status(ErrorCode::kInvalidArgument,
                  "the gRPC listener asks for client certificates or not as it started");
  }
  tls_->Replace(std::move(cert), std::move(key), std::move(client_ca));
  return Status::Ok();
}

}  // namespace herald::grpcfront
