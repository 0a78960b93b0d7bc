// herald::Server embedded in this process, driven over real sockets: the
// HTTP API against responders and subscribers that live in the process.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "herald/broker.h"
#include "herald/server.h"
#include "tests/support/http_once.h"

namespace herald {
namespace {

using namespace std::chrono_literals;

using testing::BodyOf;

std::string Http(uint16_t port, const std::string& method, const std::string& target,
                 const std::string& body = "", const std::string& extra = "") {
  return testing::HttpOnce(port, method, target, body, extra);
}

class EmbeddedServer : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }
  Broker broker_;
  Server server_{broker_, {.listen = "127.0.0.1:0", .workers = 2}};
};

TEST_F(EmbeddedServer, HttpRequestIsAnsweredByAnInProcessResponder) {
  auto sub = broker_.Subscribe("judge.run", [this](const Delivery& d) {
    if (!d.message) return;
    PublishOptions o;
    o.content_type = "application/json";
    (void)broker_.Reply(d.message->reply_to,
                        "{\"verdict\":\"ok\",\"code\":\"" + d.message->payload + "\"}", o);
  });
  ASSERT_TRUE(sub.ok());
  const std::string r =
      Http(server_.port(), "POST", "/request/judge.run?timeout_ms=2000", "print(1)");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 200 ")) << r;
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos) << r;
  EXPECT_EQ(BodyOf(r), "{\"verdict\":\"ok\",\"code\":\"print(1)\"}");
}

TEST_F(EmbeddedServer, HttpRequestTimesOutWith504WhenTheResponderIsSilent) {
  std::atomic<int> seen{0};
  auto sub = broker_.Subscribe("judge.slow", [&](const Delivery&) { seen++; });
  ASSERT_TRUE(sub.ok());
  const std::string r = Http(server_.port(), "POST", "/request/judge.slow?timeout_ms=200", "x");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 504 ")) << r;
  EXPECT_NE(BodyOf(r).find("\"error\":\"timeout\""), std::string::npos) << r;
  EXPECT_EQ(seen.load(), 1);  // the responder did get the request
}

TEST_F(EmbeddedServer, HttpRequestWithoutRespondersIs503) {
  const std::string r = Http(server_.port(), "POST", "/request/nobody.home?timeout_ms=2000", "x");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 503 ")) << r;
  EXPECT_NE(BodyOf(r).find("\"error\":\"no_responders\""), std::string::npos) << r;
}

TEST_F(EmbeddedServer, HttpPublishReachesAnInProcessSubscriberWithItsAck) {
  std::atomic<uint64_t> offset{0};
  auto sub = broker_.Subscribe("orders.>", [&](const Delivery& d) {
    if (d.message && d.message->payload == "paid") offset = d.message->offset;
  });
  ASSERT_TRUE(sub.ok());
  const std::string r = Http(server_.port(), "POST", "/publish/orders.42", "paid");
  ASSERT_TRUE(r.starts_with("HTTP/1.1 200 ")) << r;
  EXPECT_NE(BodyOf(r).find("\"offset\":1"), std::string::npos) << r;
  for (int i = 0; i < 200 && offset.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(offset.load(), 1u);
}

TEST_F(EmbeddedServer, SseStreamIsReleasedWhenItsClientHangsUp) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string req = "GET /sse?topic=ticks HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  char buf[1024];
  ASSERT_GT(read(fd, buf, sizeof(buf)), 0);  // the head and the retry hint
  // Beside the node's own two (its readiness canary's and responder's).
  auto subscriptions = [&] { return broker_.Stats().subscriptions - 2; };
  for (int i = 0; i < 200 && subscriptions() != 1; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(subscriptions(), 1u);
  close(fd);
  for (int i = 0; i < 400 && subscriptions() != 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(subscriptions(), 0u);
}

// Readiness (herald/server.h): ready once the canary came back, and /readyz
// says so; not once stopped. (Draining: ReadinessTest.)
TEST(EmbeddedServerReadiness, ReadyOnceTheCanaryCameBackAndNotOnceStopped) {
  Broker broker;
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.workers = 1;
  options.readiness.interval = 20ms;
  Server server(broker, options);
  std::string why;
  EXPECT_FALSE(server.Ready(&why));  // not started
  ASSERT_TRUE(server.Start().ok());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!server.Ready(&why) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(server.Ready(&why)) << why;
  const std::string answer = Http(server.port(), "GET", "/readyz");
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_NE(BodyOf(answer).find("\"target\":\"local\",\"ok\":true"), std::string::npos);

  server.Stop();
  EXPECT_FALSE(server.Ready(&why));  // stopped
}

}  // namespace
}  // namespace herald
