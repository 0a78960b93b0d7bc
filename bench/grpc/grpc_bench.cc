// herald_grpc_bench: the gRPC API of a running heraldd, measured from C++
// (`make bench-grpc`, bench/grpc/run.sh):
//
//   stream   PublishStream throughput: --messages of --size bytes on each of
//            --streams streams, --batch messages per stream message (1: one
//            each), batch acknowledgements only; the clock stops at the last
//            BatchAck, so every message counted was sequenced and kept in
//            history.
//   publish  unary Publish round trips, one at a time: latency p50/p99.
//   request  unary Request round trips to a responder on a Connect session
//            in this process: latency p50/p99.
//
//   herald_grpc_bench --target 127.0.0.1:9090 --mode stream --messages 2000000
//
// Prints one JSON object.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/ws_loadgen/histogram.h"
#include "herald/v1/broker.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using herald::wsbench::LatencyHistogram;
namespace v1 = herald::v1;

struct Options {
  std::string target = "127.0.0.1:9090";
  std::string mode = "stream";
  long messages = 1'000'000;
  int size = 64;
  int streams = 1;
  int batch = 1;
  long calls = 20'000;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int Stream(const Options& o) {
  std::vector<std::thread> threads;
  std::atomic<long> accepted{0}, refused{0};
  const auto t0 = Clock::now();
  for (int s = 0; s < o.streams; ++s) {
    threads.emplace_back([&, s] {
      auto channel = grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), [s] {
        grpc::ChannelArguments a;
        a.SetInt("bench.channel", s);  // one connection each
        return a;
      }());
      auto stub = v1::Broker::NewStub(channel);
      grpc::ClientContext ctx;
      auto stream = stub->PublishStream(&ctx);
      std::thread reader([&] {
        v1::PublishStreamResponse r;
        v1::BatchAck last;
        while (stream->Read(&r)) {
          if (r.has_batch()) last = r.batch();
        }
        accepted += static_cast<long>(last.accepted());
        refused += static_cast<long>(last.refused());
      });
      v1::PublishStreamRequest req;
      v1::PublishRequest one;
      one.set_topic("bench.grpc." + std::to_string(s));
      one.set_payload(std::string(static_cast<size_t>(o.size), 'x'));
      if (o.batch <= 1) {
        *req.mutable_message() = one;
      } else {
        for (int b = 0; b < o.batch; ++b) *req.add_batch() = one;
      }
      grpc::WriteOptions hint;
      hint.set_buffer_hint();  // let gRPC coalesce writes into fewer frames
      const long per = std::max(1, o.batch);
      for (long i = 0; i < o.messages; i += per) {
        if (!stream->Write(req, hint)) break;
      }
      stream->WritesDone();
      reader.join();
      grpc::Status st = stream->Finish();
      if (!st.ok()) std::fprintf(stderr, "stream %d: %s\n", s, st.error_message().c_str());
    });
  }
  for (auto& t : threads) t.join();
  const double secs = Seconds(Clock::now() - t0);
  std::printf(
      "{\"mode\":\"stream\",\"streams\":%d,\"batch\":%d,\"size\":%d,\"messages\":%ld,"
      "\"accepted\":%ld,\"refused\":%ld,\"seconds\":%.3f,\"msgs_per_s\":%.0f}\n",
      o.streams, std::max(1, o.batch), o.size, o.messages * o.streams, accepted.load(),
      refused.load(), secs, static_cast<double>(accepted.load()) / secs);
  return accepted.load() == o.messages * o.streams ? 0 : 1;
}

void PrintLatency(const char* mode, const LatencyHistogram& h, long errors, double secs) {
  std::printf(
      "{\"mode\":\"%s\",\"calls\":%llu,\"errors\":%ld,\"calls_per_s\":%.0f,\"p50_us\":%.1f,"
      "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
      mode, static_cast<unsigned long long>(h.total()), errors,
      static_cast<double>(h.total()) / secs, static_cast<double>(h.Quantile(0.5)) / 1e3,
      static_cast<double>(h.Quantile(0.99)) / 1e3, static_cast<double>(h.Quantile(0.999)) / 1e3,
      static_cast<double>(h.max()) / 1e3);
}

// Makes `calls` calls one at a time (`call()` returns whether it succeeded)
// and prints their latency as `mode`. Returns the process exit status.
template <typename Call>
int TimeCalls(const char* mode, long calls, Call&& call) {
  LatencyHistogram h;
  long errors = 0;
  const auto t0 = Clock::now();
  for (long i = 0; i < calls; ++i) {
    const auto s = Clock::now();
    if (!call()) ++errors;
    h.Record(static_cast<uint64_t>((Clock::now() - s).count()));
  }
  PrintLatency(mode, h, errors, Seconds(Clock::now() - t0));
  return errors == 0 ? 0 : 1;
}

int Publish(const Options& o) {
  auto stub =
      v1::Broker::NewStub(grpc::CreateChannel(o.target, grpc::InsecureChannelCredentials()));
  v1::PublishRequest req;
  req.set_topic("bench.unary");
  req.set_payload(std::string(static_cast<size_t>(o.size), 'x'));
  return TimeCalls("publish", o.calls, [&] {
    grpc::ClientContext ctx;
    v1::PublishAck ack;
    return stub->Publish(&ctx, req, &ack).ok();
  });
}

int Request(const Options& o) {
  auto channel = grpc::CreateChannel(o.target, grpc::InsecureChannelCredentials());
  auto stub = v1::Broker::NewStub(channel);
  // The responder: a Connect session in this process, answering each request.
  grpc::ClientContext rctx;
  auto session = stub->Connect(&rctx);
  v1::ClientCommand sub;
  sub.set_id(1);
  sub.mutable_subscribe()->set_pattern("bench.echo");
  session->Write(sub);
  v1::ServerEvent e;
  if (!session->Read(&e) || !e.has_subscribed()) {
    std::fprintf(stderr, "responder could not subscribe\n");
    return 1;
  }
  std::thread responder([&] {
    v1::ServerEvent ev;
    v1::ClientCommand reply;
    reply.set_id(2);
    while (session->Read(&ev)) {
      if (!ev.has_delivery() || !ev.delivery().has_message()) continue;
      reply.mutable_reply()->set_to(ev.delivery().message().reply_to());
      reply.mutable_reply()->set_payload(ev.delivery().message().payload());
      if (!session->Write(reply)) break;
    }
  });
  v1::RequestRequest req;
  req.set_topic("bench.echo");
  req.set_payload(std::string(static_cast<size_t>(o.size), 'x'));
  const int status = TimeCalls("request", o.calls, [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::Message reply;
    return stub->Request(&ctx, req, &reply).ok();
  });
  rctx.TryCancel();
  responder.join();
  session->Finish();
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--target")
      o.target = v;
    else if (k == "--mode")
      o.mode = v;
    else if (k == "--messages")
      o.messages = std::atol(v);
    else if (k == "--size")
      o.size = std::atoi(v);
    else if (k == "--streams")
      o.streams = std::atoi(v);
    else if (k == "--batch")
      o.batch = std::atoi(v);
    else if (k == "--calls")
      o.calls = std::atol(v);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (o.mode == "stream") return Stream(o);
  if (o.mode == "publish") return Publish(o);
  if (o.mode == "request") return Request(o);
  std::fprintf(stderr, "--mode stream|publish|request\n");
  return 2;
}
