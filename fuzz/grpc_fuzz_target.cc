#include "grpc_fuzz_target.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/jwt_verifier.h"
#include "frontends/grpc/broker_service.h"
#include "fuzz_records.h"
#include "herald/broker.h"
#include "herald/v1/broker.grpc.pb.h"
#include "quiet_logs.h"

namespace herald::fuzz {
namespace {

using Clock = std::chrono::system_clock;

// One service for the whole run, as a real node keeps one for all its
// clients: state one input leaves behind (history, epochs, a leaked
// subscription) meets the next. Never destroyed: libFuzzer exits without
// tearing down gRPC.
struct Node {
  Node()
      : broker(BrokerOptions{.node_id = "fuzz",
                             .max_payload_bytes = 4096,
                             .max_subscriptions_per_sink = 8,
                             .max_topics = 4096,
                             .max_history_bytes = 1u << 20}) {
    AuthOptions auth;
    auth.rules.push_back({"anonymous", {"pub.>", "svc.*"}, {"pub.>", "svc.>"}});
    grpcfront::GrpcOptions o;
    o.verifier = *auth::JwtVerifier::Create(auth);
    o.default_request_timeout = std::chrono::milliseconds(50);
    o.outbound.max_bytes = 64 << 10;
    o.ack_every = 4;
    o.max_pending_answers = 16;
    service = std::make_unique<grpcfront::BrokerService>(broker, o);
    grpc::ServerBuilder builder;
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
    stub = v1::Broker::NewStub(server->InProcessChannel(grpc::ChannelArguments()));
  }
  Broker broker;
  std::unique_ptr<grpcfront::BrokerService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<v1::Broker::Stub> stub;
};

Node& TheNode() {
  static Node* node = (QuietLogs(), new Node());
  return *node;
}

// A failed rule, said on stderr so a crash report shows which.
bool Broken(const char* rule, const grpc::Status& s = grpc::Status::OK) {
  std::fprintf(stderr, "grpc fuzz: %s (status %d: %s)\n", rule, static_cast<int>(s.error_code()),
               s.error_message().c_str());
  return false;
}

bool Documented(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::DATA_LOSS:
      return false;
    default:
      return true;
  }
}

void Deadline(grpc::ClientContext& ctx, std::chrono::milliseconds d) {
  ctx.set_deadline(Clock::now() + d);
}

template <typename M>
bool Parse(std::string_view bytes, M& m) {
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

bool UnaryPublish(Node& n, std::string_view bytes) {
  v1::PublishRequest req;
  if (!Parse(bytes, req)) return true;
  grpc::ClientContext ctx;
  Deadline(ctx, std::chrono::seconds(10));
  v1::PublishAck ack;
  const grpc::Status s = n.stub->Publish(&ctx, req, &ack);
  if (!Documented(s)) return Broken("Publish: undocumented status", s);
  if (s.ok() && ack.offset() == 0) return Broken("Publish: accepted without an offset");
  return true;
}

bool UnaryRequest(Node& n, std::string_view bytes) {
  v1::RequestRequest req;
  if (!Parse(bytes, req)) return true;
  grpc::ClientContext ctx;
  Deadline(ctx, std::chrono::milliseconds(20));
  v1::Message reply;
  const grpc::Status s = n.stub->Request(&ctx, req, &reply);
  if (!Documented(s)) return Broken("Request: undocumented status", s);
  return true;
}

bool StreamSubscribe(Node& n, std::string_view bytes) {
  v1::SubscribeRequest req;
  if (!Parse(bytes, req)) return true;
  grpc::ClientContext ctx;
  Deadline(ctx, std::chrono::milliseconds(5));
  auto reader = n.stub->Subscribe(&ctx, req);
  v1::SubscribeResponse r;
  while (reader->Read(&r)) {
  }
  const grpc::Status s = reader->Finish();
  if (!Documented(s)) return Broken("Subscribe: undocumented status", s);
  return true;
}

// The Connect session: commands in input order. After each subscribe,
// unsubscribe or publish the session is read until that command's answer,
// which pins "exactly one answer each" and lets later unsubscribes name the
// ids the server really gave.
class ConnectSession {
 public:
  explicit ConnectSession(Node& n) {
    Deadline(ctx_, std::chrono::seconds(10));
    stream_ = n.stub->Connect(&ctx_);
  }

  bool Command(std::string_view bytes) {
    v1::ClientCommand c;
    if (!Parse(bytes, c)) return true;
    const uint64_t id = ++next_id_;
    c.set_id(id);
    c.set_timeout_ms(c.timeout_ms() % 50);  // bounded: the run must end by itself
    if (c.has_unsubscribe() && !subscriptions_.empty() && c.unsubscribe().subscription_id() < 8) {
      c.mutable_unsubscribe()->set_subscription_id(
          subscriptions_[c.unsubscribe().subscription_id() % subscriptions_.size()]);
    }
    const bool answered_once = c.has_subscribe() || c.has_unsubscribe() || c.has_publish() ||
                               c.command_case() == v1::ClientCommand::COMMAND_NOT_SET;
    if (!stream_->Write(c)) return Broken("Connect: the session ended under a command");
    if (!answered_once) return true;
    while (answers_.count(id) == 0) {
      if (!ReadOne()) return Broken("Connect: a command was never answered");
    }
    return ok_;
  }

  bool End() {
    stream_->WritesDone();
    while (ReadOne()) {
    }
    const grpc::Status s = stream_->Finish();
    if (!s.ok()) return Broken("Connect: the session did not end OK after the half-close", s);
    return ok_;
  }

 private:
  bool ReadOne() {
    v1::ServerEvent e;
    if (!stream_->Read(&e)) return false;
    if (e.has_delivery()) return true;
    if (e.id() == 0 || e.id() > next_id_) ok_ = Broken("Connect: an answer names no command");
    if (++answers_[e.id()] > 1) ok_ = Broken("Connect: a command was answered twice");
    if (e.has_subscribed()) subscriptions_.push_back(e.subscribed().subscription_id());
    if (e.has_error() && !Documented(grpc::Status(static_cast<grpc::StatusCode>(e.error().code()),
                                                  e.error().message()))) {
      ok_ = Broken("Connect: an error with an undocumented code");
    }
    return true;
  }

  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ClientCommand, v1::ServerEvent>> stream_;
  uint64_t next_id_ = 0;
  std::map<uint64_t, int> answers_;
  std::vector<uint64_t> subscriptions_;
  bool ok_ = true;
};

class PublishSession {
 public:
  explicit PublishSession(Node& n) {
    Deadline(ctx_, std::chrono::seconds(10));
    stream_ = n.stub->PublishStream(&ctx_);
  }

  bool Request(std::string_view bytes) {
    v1::PublishStreamRequest r;
    if (!Parse(bytes, r)) return true;
    if (!stream_->Write(r)) return Broken("PublishStream: the session ended under a request");
    return true;
  }

  bool End() {
    stream_->WritesDone();
    v1::PublishStreamResponse r;
    while (stream_->Read(&r)) {
      if (r.has_error() &&
          !Documented(grpc::Status(static_cast<grpc::StatusCode>(r.error().code()), ""))) {
        return Broken("PublishStream: an error with an undocumented code");
      }
    }
    const grpc::Status s = stream_->Finish();
    if (!s.ok()) return Broken("PublishStream: the session did not end OK after the half-close", s);
    return true;
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PublishStreamRequest, v1::PublishStreamResponse>>
      stream_;
};

// Streams end on the server a moment after the client sees their status.
bool NoSubscriptionLeft(Node& n) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (n.broker.Stats().subscriptions != 0) {
    if (std::chrono::steady_clock::now() > until) {
      return Broken("a subscription outlived its stream");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace

bool FuzzGrpc(const uint8_t* data, size_t size) {
  Node& n = TheNode();
  std::unique_ptr<ConnectSession> connect;
  std::unique_ptr<PublishSession> publish;
  bool ok = true;
  for (const Record& r : SplitRecords(data, size)) {
    switch (r.kind % 5) {
      case 0:
        ok = UnaryPublish(n, r.bytes) && ok;
        break;
      case 1:
        ok = UnaryRequest(n, r.bytes) && ok;
        break;
      case 2:
        ok = StreamSubscribe(n, r.bytes) && ok;
        break;
      case 3:
        if (!connect) connect = std::make_unique<ConnectSession>(n);
        ok = connect->Command(r.bytes) && ok;
        break;
      default:
        if (!publish) publish = std::make_unique<PublishSession>(n);
        ok = publish->Request(r.bytes) && ok;
        break;
    }
  }
  if (connect) ok = connect->End() && ok;
  if (publish) ok = publish->End() && ok;
  return NoSubscriptionLeft(n) && ok;
}

}  // namespace herald::fuzz
