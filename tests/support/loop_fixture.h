// tests/support/loop_fixture.h — a real event loop, a broker and loopback
// connections, for testing the adapter layer (frontends/) through bytes on
// a socket.
//
//   class JsonEndpointTest : public testing::LoopFixture {};
//   TEST_F(JsonEndpointTest, Something) {
//     Peer client = Connect([&](io::Connection* c) { /* set a handler */ });
//     client.Send(...);
//     EXPECT_EQ(client.Read(n), ...);
//   }
//
// The loop runs on its own thread (io::Loop), exactly as a server worker
// does; the units under test are created on it (Connect's `attach` runs
// there) and the test observes them with OnLoop / WaitFor. Deliveries reach
// the loop through an Inbox wired like server/worker_inboxes.cc. The loop is
// stopped in TearDown, before the broker goes: closing connections release
// their subscriptions.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>

#include "frontends/http/http_options.h"
#include "frontends/http/router.h"
#include "herald/broker.h"
#include "io/connection.h"
#include "io/loop.h"
#include "tests/support/peer.h"

namespace herald::testing {

class LoopFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Runs `task` on the loop thread and waits for it.
  void OnLoop(const std::function<void()>& task);
  // Evaluates `pred` on the loop thread until it holds or `deadline` passes.
  bool WaitFor(const std::function<bool()>& pred,
               std::chrono::milliseconds deadline = Peer::kDeadline);

  // A loopback TCP connection: the server's end adopted on the loop and
  // handed to `attach` there (which sets its handler); the client's end
  // returned. `rcvbuf` > 0 shrinks the client's receive buffer first.
  Peer Connect(const std::function<void(io::Connection*)>& attach, int rcvbuf = 0);
  // A connection served by a real http::HttpSession routing with `router`,
  // set up as http::HttpServer does for an accepted connection.
  Peer ConnectHttp(std::shared_ptr<const http::Router> router, http::HttpOptions options = {},
                   int rcvbuf = 0);
  // The stats of the sessions ConnectHttp made (the last options given).
  const http::HttpStats& http_stats() const { return *http_stats_; }

  // Set in a derived fixture's constructor to change the broker.
  BrokerOptions broker_options_;
  std::unique_ptr<Broker> broker_;
  io::Loop loop_;
  std::shared_ptr<Inbox> inbox_;  // the loop's inbox
  std::shared_ptr<http::HttpStats> http_stats_ = std::make_shared<http::HttpStats>();
};

// One request written as a client would: `extra` holds whole header lines
// ("Name: value\r\n"); a body gets its Content-Length.
std::string HttpRequest(std::string_view method, std::string_view target,
                        std::string_view body = {}, std::string_view extra = {});

// One response read off `peer`: the status line and headers, and a body of
// Content-Length bytes, or of chunks up to the last one. `status` 0 when
// nothing (whole) arrived.
struct HttpAnswer {
  int status = 0;
  std::string head;  // status line and header lines
  std::string body;
  bool Has(std::string_view header_line) const {
    return head.find(header_line) != std::string::npos;
  }
};
HttpAnswer ReadHttpAnswer(Peer& peer, std::chrono::milliseconds deadline = Peer::kDeadline);

// The body of a chunked response still being streamed (an SSE stream), read
// chunk by chunk after its head.
class ChunkedBody {
 public:
  explicit ChunkedBody(Peer& peer) : peer_(peer) {}
  // Reads chunks until `needle` appears in the body; returns and consumes
  // the body up to and including it, or everything read on EOF, the last
  // chunk or the deadline.
  std::string ReadUntil(std::string_view needle,
                        std::chrono::milliseconds deadline = Peer::kDeadline);
  // True once the last chunk (size 0) arrived.
  bool ended() const { return ended_; }

 private:
  Peer& peer_;
  std::string body_;
  bool ended_ = false;
};

}  // namespace herald::testing
