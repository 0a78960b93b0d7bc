// herald_cluster_bench: delivery across a peer link, measured from C++
// (`make bench-cluster`, bench/cluster/run.sh). A gRPC Subscribe stream on
// --subscribe and publishes on --publish; the same program measures one node
// (both targets the same) and two (different targets), so the run can quote
// the ratio.
//
//   latency     unary Publish, one at a time; each waits until the
//               subscriber has the message: publish-to-delivery p50/p99.
//   throughput  PublishStream, --batch messages per stream message, with at
//               most --window messages not yet at the subscriber (so the
//               figure is what reaches it, not what the publisher can push
//               into queues); the clock stops when the subscriber has the
//               last one.
//
//   herald_cluster_bench --publish 127.0.0.1:9091 --subscribe 127.0.0.1:9092
//       --topic bench.x --mode latency --messages 20000
//
// Prints one JSON object.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "bench/ws_loadgen/histogram.h"
#include "cluster/rendezvous.h"
#include "herald/v1/broker.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using herald::wsbench::LatencyHistogram;
namespace v1 = herald::v1;

struct Options {
  std::string publish = "127.0.0.1:9090";
  std::string subscribe = "127.0.0.1:9090";
  std::string topic = "bench.cluster";
  std::string mode = "latency";
  long messages = 20'000;
  int size = 64;
  int batch = 64;
  long window = 20'000;
};

// The subscriber: counts what arrives and wakes whoever waits for a count.
class Subscriber {
 public:
  Subscriber(const Options& o) {
    auto channel = grpc::CreateChannel(o.subscribe, grpc::InsecureChannelCredentials());
    stub_ = v1::Broker::NewStub(channel);
    v1::SubscribeRequest req;
    req.set_pattern(o.topic);
    reader_ = stub_->Subscribe(&ctx_, req);
    // Headers arrive once the subscription is live (the front's contract).
    reader_->WaitForInitialMetadata();
    thread_ = std::thread([this] {
      v1::SubscribeResponse r;
      while (reader_->Read(&r)) {
        if (!r.has_message()) {
          gaps_.fetch_add(1);
          continue;
        }
        std::lock_guard lock(mu_);
        ++received_;
        last_ = Clock::now();
        cv_.notify_all();
      }
    });
  }
  ~Subscriber() {
    ctx_.TryCancel();
    thread_.join();
  }
  // Waits until `n` messages arrived; the time of the n-th, or nothing.
  std::optional<Clock::time_point> WaitFor(long n, std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return received_ >= n; })) return std::nullopt;
    return last_;
  }
  long gaps() const { return gaps_.load(); }

 private:
  std::unique_ptr<v1::Broker::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  long received_ = 0;
  Clock::time_point last_;
  std::atomic<long> gaps_{0};
};

int Latency(const Options& o) {
  Subscriber sub(o);
  auto stub =
      v1::Broker::NewStub(grpc::CreateChannel(o.publish, grpc::InsecureChannelCredentials()));
  LatencyHistogram h;
  const std::string payload(o.size, 'x');
  long errors = 0;
  const auto t0 = Clock::now();
  for (long i = 0; i < o.messages; ++i) {
    v1::PublishRequest req;
    req.set_topic(o.topic);
    req.set_payload(payload);
    v1::PublishAck ack;
    grpc::ClientContext ctx;
    const auto start = Clock::now();
    if (!stub->Publish(&ctx, req, &ack).ok()) {
      ++errors;
      continue;
    }
    std::optional<Clock::time_point> got = sub.WaitFor(i + 1 - errors, std::chrono::seconds(5));
    if (!got) {
      std::fprintf(stderr, "message %ld never arrived\n", i);
      return 1;
    }
    h.Record(static_cast<uint64_t>(std::chrono::nanoseconds(*got - start).count()));
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "{\"mode\":\"latency\",\"publish\":\"%s\",\"subscribe\":\"%s\",\"messages\":%ld,"
      "\"errors\":%ld,\"gaps\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
      "\"seconds\":%.2f}\n",
      o.publish.c_str(), o.subscribe.c_str(), o.messages, errors, sub.gaps(),
      h.Quantile(0.50) / 1e3, h.Quantile(0.99) / 1e3, h.max() / 1e3, secs);
  return errors == 0 && sub.gaps() == 0 ? 0 : 1;
}

int Throughput(const Options& o) {
  Subscriber sub(o);
  auto stub =
      v1::Broker::NewStub(grpc::CreateChannel(o.publish, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->PublishStream(&ctx);
  std::atomic<long> refused{0};
  std::thread reader([&] {
    v1::PublishStreamResponse r;
    while (stream->Read(&r)) {
      if (r.has_error()) refused.fetch_add(1);
    }
  });
  const std::string payload(o.size, 'x');
  const auto t0 = Clock::now();
  long sent = 0;
  while (sent < o.messages) {
    if (!sub.WaitFor(sent - o.window, std::chrono::seconds(30))) break;
    v1::PublishStreamRequest req;
    const int n = static_cast<int>(std::min<long>(o.batch, o.messages - sent));
    for (int i = 0; i < n; ++i) {
      v1::PublishRequest* m = req.add_batch();
      m->set_topic(o.topic);
      m->set_payload(payload);
    }
    if (!stream->Write(req)) break;
    sent += n;
  }
  stream->WritesDone();
  std::optional<Clock::time_point> last = sub.WaitFor(sent, std::chrono::seconds(60));
  reader.join();
  (void)stream->Finish();
  if (!last || refused.load() != 0) {
    std::fprintf(stderr, "throughput: %ld sent, refused %ld, all arrived: %s\n", sent,
                 refused.load(), last ? "yes" : "no");
    return 1;
  }
  const double secs = std::chrono::duration<double>(*last - t0).count();
  std::printf(
      "{\"mode\":\"throughput\",\"publish\":\"%s\",\"subscribe\":\"%s\",\"messages\":%ld,"
      "\"batch\":%d,\"size\":%d,\"gaps\":%ld,\"seconds\":%.3f,\"msgs_per_s\":%.0f}\n",
      o.publish.c_str(), o.subscribe.c_str(), sent, o.batch, o.size, sub.gaps(), secs,
      static_cast<double>(sent) / secs);
  return sub.gaps() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string owner_of, nodes;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--publish")
      o.publish = v;
    else if (k == "--subscribe")
      o.subscribe = v;
    else if (k == "--topic")
      o.topic = v;
    else if (k == "--mode")
      o.mode = v;
    else if (k == "--messages")
      o.messages = std::atol(v);
    else if (k == "--size")
      o.size = std::atoi(v);
    else if (k == "--batch")
      o.batch = std::atoi(v);
    else if (k == "--owned-by")
      owner_of = v;  // pick a topic this node owns among --nodes
    else if (k == "--nodes")
      nodes = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (!owner_of.empty()) {
    std::vector<std::string> members;
    for (size_t p = 0; p <= nodes.size();) {
      const size_t comma = std::min(nodes.find(',', p), nodes.size());
      members.push_back(nodes.substr(p, comma - p));
      p = comma + 1;
    }
    for (int i = 0;; ++i) {
      std::string t = o.topic + "." + std::to_string(i);
      if (herald::cluster::RendezvousOwner(t, members) == owner_of) {
        o.topic = t;
        break;
      }
    }
  }
  if (o.mode == "latency") return Latency(o);
  if (o.mode == "throughput") return Throughput(o);
  std::fprintf(stderr, "--mode latency|throughput\n");
  return 2;
}
