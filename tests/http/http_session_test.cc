// HttpSession on a real loop: requests as bytes on a socket, answers in
// request order however late each is produced, the limits and timeouts of
// HttpOptions — each refusal answered on its own connection only.
#include "frontends/http/http_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>

#include "tests/support/loop_fixture.h"

namespace herald::http {
namespace {

using herald::testing::ChunkedBody;
using herald::testing::HttpAnswer;
using herald::testing::HttpRequest;
using herald::testing::Peer;
using herald::testing::ReadHttpAnswer;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Records the end of a stream (written on the loop, read by the test).
struct Watcher : StreamWatcher {
  std::atomic<bool> closed{false};
  void OnStreamClosed() override { closed = true; }
};

// Echoes bytes after an upgrade.
struct Echo : io::ConnectionHandler {
  io::Connection* conn = nullptr;
  void OnData(std::string_view d) override { conn->Write(std::string(d)); }
  void OnClose(io::CloseReason) override { conn = nullptr; }
};

class HttpSessionTest : public herald::testing::LoopFixture {
 protected:
  void SetUp() override {
    LoopFixture::SetUp();
    router_->Handle("GET", "/hello", [](Request&, Response res) { res.Send(200, "hello\n"); });
    router_->Handle("POST", "/echo", [](Request& req, Response res) {
      res.Send(200, req.body, "application/octet-stream");
    });
    // Answered only when the test says so (OnLoop), to hold the pipeline.
    router_->Handle("GET", "/later", [this](Request&, Response res) { later_.push_back(res); });
    router_->Handle("GET", "/forgotten", [](Request&, Response) {});
    router_->Handle("GET", "/stream", [this](Request&, Response res) {
      res.StartStream(200, "text/plain");
      res.Write("first;");
      res.Watch(watcher_);
      stream_ = res;
    });
    router_->Handle("GET", "/upgrade", [](Request& req, Response res) {
      auto echo = std::make_shared<Echo>();
      std::optional<Response::Upgraded> up = res.TakeOver(echo);
      if (!up) return;
      echo->conn = up->connection;
      up->connection->Write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n");
      if (!up->leftover.empty()) up->connection->Write(up->leftover);
      (void)req;
    });
  }
  void TearDown() override {
    OnLoop([&] {
      later_.clear();
      stream_ = Response();
    });
    LoopFixture::TearDown();
  }
  Peer Open(HttpLimits limits = {}) { return ConnectHttp(router_, std::move(limits)); }

  std::shared_ptr<Router> router_ = std::make_shared<Router>();
  std::vector<Response> later_;  // loop thread only
  Response stream_;              // loop thread only
  std::shared_ptr<Watcher> watcher_ = std::make_shared<Watcher>();
};

TEST_F(HttpSessionTest, RoutedRequestIsAnsweredWithItsBodyAndLength) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/hello"));
  HttpAnswer a = ReadHttpAnswer(c);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "hello\n");
  EXPECT_TRUE(a.Has("Content-Length: 6\r\n"));
  EXPECT_EQ(http_stats().requests_total.load(), 1u);
}

TEST_F(HttpSessionTest, KeepAliveServesManyRequestsOnOneConnection) {
  Peer c = Open();
  for (int i = 0; i < 3; ++i) {
    const std::string body = "n" + std::to_string(i);
    c.Send(HttpRequest("POST", "/echo", body));
    HttpAnswer a = ReadHttpAnswer(c);
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, body);
  }
}

TEST_F(HttpSessionTest, PipelinedRequestsAreAnsweredInOrder) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/later") + HttpRequest("GET", "/hello") +
         HttpRequest("POST", "/echo", "third"));
  // The two quick answers wait behind the first.
  ASSERT_TRUE(WaitFor([&] { return later_.size() == 1; }));
  EXPECT_EQ(c.ReadFor(30ms), "");
  OnLoop([&] { later_[0].Send(200, "first"); });
  EXPECT_EQ(ReadHttpAnswer(c).body, "first");
  EXPECT_EQ(ReadHttpAnswer(c).body, "hello\n");
  EXPECT_EQ(ReadHttpAnswer(c).body, "third");
}

TEST_F(HttpSessionTest, AtMaxPipelinedRequestsTheConnectionStopsReadingAndIsCounted) {
  HttpLimits limits;
  limits.max_pipelined_requests = 2;
  Peer c = Open(limits);
  c.Send(HttpRequest("GET", "/later") + HttpRequest("GET", "/later") +
         HttpRequest("GET", "/hello"));
  ASSERT_TRUE(WaitFor([&] { return later_.size() == 2; }));
  EXPECT_EQ(http_stats().pipeline_pauses.load(), 1u);  // herald_http_pipeline_pauses_total
  EXPECT_EQ(http_stats().requests_total.load(), 2u);   // the third waits unread
  OnLoop([&] {
    later_[0].Send(200, "one");
    later_[1].Send(200, "two");
  });
  EXPECT_EQ(ReadHttpAnswer(c).body, "one");
  EXPECT_EQ(ReadHttpAnswer(c).body, "two");
  EXPECT_EQ(ReadHttpAnswer(c).body, "hello\n");
}

TEST_F(HttpSessionTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/nowhere"));
  EXPECT_EQ(ReadHttpAnswer(c).status, 404);
  c.Send(HttpRequest("DELETE", "/hello"));
  HttpAnswer a = ReadHttpAnswer(c);
  EXPECT_EQ(a.status, 405);
  EXPECT_TRUE(a.Has("Allow: GET, HEAD\r\n")) << a.head;
  c.Send(HttpRequest("GET", "/hello"));  // the connection goes on
  EXPECT_EQ(ReadHttpAnswer(c).status, 200);
}

TEST_F(HttpSessionTest, HeadIsAnsweredWithTheHeadOnly) {
  Peer c = Open();
  c.Send(HttpRequest("HEAD", "/hello") + HttpRequest("GET", "/hello"));
  std::string head = c.ReadUntil("\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("200 OK"));
  EXPECT_THAT(head, HasSubstr("Content-Length: 6\r\n"));
  HttpAnswer next = ReadHttpAnswer(c);  // no body came in between
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, "hello\n");
}

TEST_F(HttpSessionTest, MalformedRequestIs400AndClosesOnlyThatConnection) {
  Peer bad = Open();
  Peer good = Open();
  bad.Send("GET /hello HTTP/1.1\r\nHost test\r\n\r\n");  // no colon
  HttpAnswer a = ReadHttpAnswer(bad);
  EXPECT_EQ(a.status, 400);
  EXPECT_TRUE(bad.ClosedWithin());
  EXPECT_EQ(http_stats().reject_count(RejectReason::kBadRequest), 1u);
  good.Send(HttpRequest("GET", "/hello"));
  EXPECT_EQ(ReadHttpAnswer(good).status, 200);
}

TEST_F(HttpSessionTest, HeadOverTheLimitIs431) {
  Peer c = Open({.max_header_bytes = 1024});
  c.Send(HttpRequest("GET", "/hello", {}, "X-Big: " + std::string(2000, 'b') + "\r\n"));
  EXPECT_EQ(ReadHttpAnswer(c).status, 431);
  EXPECT_TRUE(c.ClosedWithin());
}

TEST_F(HttpSessionTest, DeclaredBodyOverTheLimitIs413BeforeItIsSent) {
  Peer c = Open({.max_body_bytes = 100});
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n");
  HttpAnswer a = ReadHttpAnswer(c);
  EXPECT_EQ(a.status, 413);
  EXPECT_THAT(a.body, HasSubstr("body"));
}

TEST_F(HttpSessionTest, ChunkedRequestBodyIsDecoded) {
  Peer c = Open();
  c.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  HttpAnswer a = ReadHttpAnswer(c);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "hello world");
}

TEST_F(HttpSessionTest, ConnectionCloseIsHonouredAfterTheResponse) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/hello", {}, "Connection: close\r\n"));
  HttpAnswer a = ReadHttpAnswer(c);
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.Has("Connection: close\r\n"));
  EXPECT_TRUE(c.ClosedWithin());
}

TEST_F(HttpSessionTest, IncompleteHeadIsAnswered408AfterTheHeaderTimeout) {
  Peer c = Open({.header_timeout = 50ms});
  const auto start = std::chrono::steady_clock::now();
  c.Send("GET /hello HTTP/1.1\r\nHost: t\r\n");  // and never the blank line
  HttpAnswer a = ReadHttpAnswer(c, 3000ms);
  EXPECT_EQ(a.status, 408);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_TRUE(c.ClosedWithin());
  EXPECT_EQ(http_stats().reject_count(RejectReason::kHeaderTimeout), 1u);
}

TEST_F(HttpSessionTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  Peer c = Open({.idle_timeout = 50ms});
  c.Send(HttpRequest("GET", "/hello"));
  EXPECT_EQ(ReadHttpAnswer(c).status, 200);
  EXPECT_TRUE(c.ClosedWithin(3000ms));
}

TEST_F(HttpSessionTest, RequestsOverTheRateAreAnswered429) {
  Peer c = Open({.max_requests_per_second = 0.001, .request_burst = 2});
  std::string burst;
  for (int i = 0; i < 4; ++i) burst += HttpRequest("GET", "/hello");
  c.Send(burst);
  EXPECT_EQ(ReadHttpAnswer(c).status, 200);
  EXPECT_EQ(ReadHttpAnswer(c).status, 200);
  HttpAnswer refused = ReadHttpAnswer(c);
  EXPECT_EQ(refused.status, 429);
  EXPECT_TRUE(refused.Has("Retry-After: 1\r\n"));
  EXPECT_THAT(refused.body, HasSubstr("rate_limited"));
  EXPECT_EQ(ReadHttpAnswer(c).status, 429);
  EXPECT_EQ(http_stats().reject_count(RejectReason::kRateLimited), 2u);
}

// HttpOptions::max_requests_per_second: a connection past `burst` refusals
// in a row is closed after the last (Respond used to overwrite the refusal's
// close_after, and the connection hung until the idle timeout).
TEST_F(HttpSessionTest, ConnectionPastBurstRefusalsIsClosedAfterTheLast) {
  Peer c = Open({.max_requests_per_second = 0.001, .request_burst = 2});
  std::string burst;
  for (int i = 0; i < 5; ++i) burst += HttpRequest("GET", "/hello");
  c.Send(burst);
  for (int i = 0; i < 4; ++i) ReadHttpAnswer(c);
  HttpAnswer last = ReadHttpAnswer(c);
  EXPECT_EQ(last.status, 429);
  EXPECT_TRUE(last.Has("Connection: close")) << last.head;
  EXPECT_TRUE(c.ClosedWithin());
}

TEST_F(HttpSessionTest, HandlerThatNeverAnswersGets500RatherThanAHungPipeline) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/forgotten") + HttpRequest("GET", "/hello"));
  HttpAnswer a = ReadHttpAnswer(c);
  EXPECT_EQ(a.status, 500);
  EXPECT_THAT(a.body, HasSubstr("without responding"));
  EXPECT_EQ(ReadHttpAnswer(c).status, 200);
}

TEST_F(HttpSessionTest, StreamIsChunkedAndItsWatcherHearsTheClientLeave) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/stream"));
  std::string head = c.ReadUntil("\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("Transfer-Encoding: chunked"));
  ChunkedBody body(c);
  EXPECT_EQ(body.ReadUntil("first;"), "first;");
  OnLoop([&] { stream_.Write("second;"); });
  EXPECT_EQ(body.ReadUntil("second;"), "second;");
  EXPECT_FALSE(watcher_->closed);
  c.Close();
  EXPECT_TRUE(WaitFor([&] { return watcher_->closed.load(); }));
}

TEST_F(HttpSessionTest, EndedStreamSendsTheLastChunkAndTheConnectionServesOn) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/stream"));
  c.ReadUntil("\r\n\r\n");
  ChunkedBody body(c);
  body.ReadUntil("first;");
  OnLoop([&] { stream_.End(); });
  body.ReadUntil("never");
  EXPECT_TRUE(body.ended());
  EXPECT_TRUE(WaitFor([&] { return watcher_->closed.load(); }));
  c.Send(HttpRequest("GET", "/hello"));
  EXPECT_EQ(ReadHttpAnswer(c).status, 200);
}

TEST_F(HttpSessionTest, UpgradeHandsTheConnectionAndTheBytesAfterTheHeadToTheNewHandler) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/upgrade", {}, "Connection: Upgrade\r\nUpgrade: echo\r\n") +
         "early bytes;");
  EXPECT_THAT(c.ReadUntil("\r\n\r\n"), HasSubstr("101 Switching Protocols"));
  EXPECT_EQ(c.ReadUntil("early bytes;"), "early bytes;");
  c.Send("later bytes;");
  EXPECT_EQ(c.ReadUntil("later bytes;"), "later bytes;");
}

TEST_F(HttpSessionTest, PreflightFromAnAllowedOriginIs204AndFromAnotherIs403) {
  HttpOptions o;
  o.cors_origins = {"https://app.example"};
  Peer c = Open(o);
  c.Send(HttpRequest("OPTIONS", "/echo", {},
                     "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n"));
  HttpAnswer ok = ReadHttpAnswer(c);
  EXPECT_EQ(ok.status, 204);
  EXPECT_TRUE(ok.Has("Access-Control-Allow-Origin: https://app.example\r\n")) << ok.head;
  c.Send(HttpRequest("OPTIONS", "/echo", {},
                     "Origin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n"));
  EXPECT_EQ(ReadHttpAnswer(c).status, 403);
  c.Send(HttpRequest("GET", "/hello", {}, "Origin: https://app.example\r\n"));
  EXPECT_TRUE(ReadHttpAnswer(c).Has("Access-Control-Allow-Origin: https://app.example\r\n"));
}

TEST_F(HttpSessionTest, DrainFinishesTheOwedResponseThenCloses) {
  Peer c = Open();
  c.Send(HttpRequest("GET", "/later"));
  ASSERT_TRUE(WaitFor([&] { return later_.size() == 1; }));
  OnLoop([&] { loop_.DrainSome(10); });
  OnLoop([&] { later_[0].Send(200, "owed"); });
  HttpAnswer a = ReadHttpAnswer(c);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "owed");
  EXPECT_TRUE(c.ClosedWithin());
}

}  // namespace
}  // namespace herald::http
