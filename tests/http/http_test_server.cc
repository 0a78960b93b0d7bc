// A small HttpServer for tests/http/test_http_server.py: prints its port on
// stdout, serves until SIGTERM/SIGINT.
//
//   http_test_server [--port N] [--workers N] [--header-timeout-ms N]
//                    [--idle-timeout-ms N] [--max-connections N]
//                    [--max-header-bytes N] [--max-body-bytes N]
//
// Routes: GET /hello, POST /echo, GET /slow (answers after 200 ms, from
// another thread), GET /stream (three chunks, 20 ms apart), GET /raw-echo
// (upgrade: echoes raw bytes).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frontends/http/http_server.h"
#include "io/loop.h"

namespace {

using herald::http::Request;
using herald::http::Response;

// Runs delayed work on its own threads; joined before the server stops.
class Delayer {
 public:
  void Run(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back(std::move(fn));
  }
  void JoinAll() {
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// After the upgrade: echoes every byte back.
class RawEcho : public herald::io::ConnectionHandler {
 public:
  explicit RawEcho(herald::io::Connection* conn) : conn_(conn) {}
  void OnData(std::string_view data) override { conn_->Write(std::string(data)); }
  void OnClose(herald::io::CloseReason) override {}

 private:
  herald::io::Connection* conn_;
};

uint64_t Flag(int argc, char** argv, const char* name, uint64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtoull(argv[i + 1], nullptr, 10);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  herald::http::HttpOptions options;
  using std::chrono::milliseconds;
  options.header_timeout = milliseconds(
      Flag(argc, argv, "--header-timeout-ms", uint64_t(options.header_timeout.count())));
  options.idle_timeout =
      milliseconds(Flag(argc, argv, "--idle-timeout-ms", uint64_t(options.idle_timeout.count())));
  options.max_connections = Flag(argc, argv, "--max-connections", options.max_connections);
  options.max_header_bytes = Flag(argc, argv, "--max-header-bytes", options.max_header_bytes);
  options.max_body_bytes = Flag(argc, argv, "--max-body-bytes", options.max_body_bytes);

  Delayer delayer;
  auto router = std::make_shared<herald::http::Router>();
  router->Handle("GET", "/hello", [](Request&, Response res) { res.Send(200, "hello\n"); });
  router->Handle("POST", "/echo", [](Request& req, Response res) {
    const std::string type(req.header("Content-Type").value_or("application/octet-stream"));
    res.Send(200, std::move(req.body), type);
  });
  router->Handle("GET", "/slow", [&delayer](Request& req, Response res) {
    herald::io::Loop* loop = req.loop;
    delayer.Run([loop, res = std::move(res)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      loop->Post([res = std::move(res)]() mutable { res.Send(200, "slow\n"); });
    });
  });
  router->Handle("GET", "/stream", [&delayer](Request& req, Response res) {
    res.StartStream(200, "text/plain");
    herald::io::Loop* loop = req.loop;
    delayer.Run([loop, res = std::move(res)]() mutable {
      for (int i = 1; i <= 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        auto chunk = herald::io::MakeShared("chunk" + std::to_string(i) + "\n");
        loop->Post([res, chunk]() mutable { res.Write(chunk); });
      }
      loop->Post([res = std::move(res)]() mutable { res.End(); });
    });
  });
  router->Handle("GET", "/raw-echo", [](Request& req, Response res) {
    if (!req.upgrade) {
      res.SendError(426, "upgrade_required", "send Connection: Upgrade, Upgrade: echo",
                    {{"Upgrade", "echo"}});
      return;
    }
    // The new handler needs the connection, so take over first, then set it.
    std::optional<Response::Upgraded> up = res.TakeOver(nullptr);
    if (!up) return;
    up->connection->SetHandler(std::make_shared<RawEcho>(up->connection));
    up->connection->Write(std::string(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"));
    if (!up->leftover.empty()) up->connection->Write(std::move(up->leftover));
  });

  herald::io::WorkerPool pool(Flag(argc, argv, "--workers", 2));
  if (herald::Status s = pool.Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  herald::http::HttpServer server(pool, options, router);
  const auto port = static_cast<uint16_t>(Flag(argc, argv, "--port", 0));
  if (herald::Status s = server.Listen("127.0.0.1", port); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("%u\n", server.port());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  delayer.JoinAll();
  server.Stop();
  pool.Stop();
  const auto& st = server.stats();
  std::fprintf(stderr, "requests=%llu connections=%llu\n",
               static_cast<unsigned long long>(st.requests_total.load()),
               static_cast<unsigned long long>(st.connections_total.load()));
  return 0;
}
