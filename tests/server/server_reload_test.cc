// herald::Server's reload entry points, embedded: POST /admin/reload runs
// the embedder's reload handler off the loops and answers its outcome;
// Reload() swaps the fronts' limits for new connections.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "herald/broker.h"
#include "herald/server.h"
#include "tests/support/http_once.h"

namespace herald {
namespace {

using testing::BodyOf;
using testing::HttpOnce;

// A node whose anonymous clients may publish and reload (a reload needs the
// admin grant `>`, never implied by an open node).
ServerOptions AnonymousAdmins() {
  ServerOptions o{.listen = "127.0.0.1:0", .workers = 1};
  o.auth.rules.push_back({.subject = "anonymous", .publish = {">"}, .admin = {">"}});
  return o;
}

// A server whose reload handler applies `next` (what a test sets first).
struct ReloadingServer {
  explicit ReloadingServer(ServerOptions options) : next(options) {
    options.reload_handler = [this] { return server->Reload(next); };
    server.emplace(broker, std::move(options));
  }
  Broker broker;
  ServerOptions next;
  std::optional<Server> server;
};

TEST(ServerReload, WithoutAHandlerThereIsNoReloadEndpoint) {
  Broker broker;
  Server server(broker, {.listen = "127.0.0.1:0", .workers = 1});
  ASSERT_TRUE(server.Start().ok());
  const std::string r = HttpOnce(server.port(), "POST", "/admin/reload");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 404 ")) << r;
  EXPECT_EQ(server.ReloadNow().status().code(), ErrorCode::kUnavailable);
}

TEST(ServerReload, AnAdminRequestAppliesNewLimitsToNewConnections) {
  ReloadingServer rs(AnonymousAdmins());
  rs.next.http.max_body_bytes = 8;
  Server& server = *rs.server;
  ASSERT_TRUE(server.Start().ok());
  EXPECT_TRUE(
      HttpOnce(server.port(), "POST", "/publish/t.a", "0123456789").starts_with("HTTP/1.1 200 "));
  const std::string r = HttpOnce(server.port(), "POST", "/admin/reload");
  ASSERT_TRUE(r.starts_with("HTTP/1.1 200 ")) << r;
  EXPECT_EQ(BodyOf(r),
            "{\"applied\":[\"auth\",\"http\",\"websocket\",\"sse\"],\"needs_restart\":[]}");
  const std::string refused = HttpOnce(server.port(), "POST", "/publish/t.a", "0123456789");
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 413 ")) << refused;
  EXPECT_NE(server.MetricsText().find("herald_reloads_total{result=\"applied\"} 1"),
            std::string::npos);
}

// The handler reads files and may be slow: the loops go on meanwhile, and
// a second request is refused rather than queued behind it.
TEST(ServerReload, ASlowHandlerHoldsNoLoopAndOneReloadRunsAtATime) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  Broker broker;
  ServerOptions options = AnonymousAdmins();
  options.reload_handler = [&]() -> Result<ReloadReport> {
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return Status(ErrorCode::kInvalidArgument, "no such file");
  };
  Server server(broker, options);
  ASSERT_TRUE(server.Start().ok());
  std::string first;
  std::thread asker([&] { first = HttpOnce(server.port(), "POST", "/admin/reload"); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  // The only loop answers while the handler waits.
  const std::string health = HttpOnce(server.port(), "GET", "/healthz");
  EXPECT_TRUE(health.starts_with("HTTP/1.1 200 ")) << health;
  const std::string second = HttpOnce(server.port(), "POST", "/admin/reload");
  EXPECT_TRUE(second.starts_with("HTTP/1.1 503 ")) << second;
  EXPECT_NE(second.find("a reload is in progress"), std::string::npos) << second;
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  asker.join();
  EXPECT_TRUE(first.starts_with("HTTP/1.1 400 ")) << first;
  EXPECT_NE(first.find("no such file"), std::string::npos) << first;
  EXPECT_NE(server.MetricsText().find("herald_reloads_total{result=\"refused\"} 1"),
            std::string::npos);
}

// A drain takes the fronts down on threads of its own: from its start a
// reload finds nothing to apply to (gRPC's front among them).
TEST(ServerReload, AReloadDuringADrainIsRefused) {
  ServerOptions options = AnonymousAdmins();
  options.grpc.listen = "127.0.0.1:0";
  ReloadingServer rs(options);
  rs.next.grpc.ack_every = 7;
  Server& server = *rs.server;
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(server.ReloadNow().ok());
  std::thread drain([&] { server.Drain(std::chrono::milliseconds(1500)); });
  std::string why;
  for (int i = 0; i < 500 && why.find("draining") == std::string::npos; ++i) {
    (void)server.Ready(&why);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_NE(why.find("draining"), std::string::npos) << why;
  EXPECT_EQ(server.ReloadNow().status().code(), ErrorCode::kUnavailable);
  drain.join();
}

}  // namespace
}  // namespace herald
